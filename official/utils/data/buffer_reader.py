"""Reading sharded TFRecord buffers written by `file_io` (see its module docstring).

`read_buffer` is `TFRecordDataset -> parse + decode_raw per block ->
rebatch`, returning dicts of tensors with the original dtypes and shapes, in
row order unless shuffled; `read_manifest` is how a reader (or the writer,
deciding whether to reuse a buffer) knows a buffer is complete.
"""

import os

import numpy as np
from absl import logging

from official.utils.misc import atomic_io, integrity

WRITER_VERSION = 2  # 2: a CRC-32C of every shard file in the manifest
MANIFEST = "manifest.json"


def read_manifest(buffer_path: str, verify_content: bool = False) -> dict | None:
    """The buffer's manifest if the buffer is complete, else None.

    Args:
      buffer_path: the buffer directory.
      verify_content: also check every shard's CRC-32C (a read of the
        buffer; done once per run where a buffer is reused, not per epoch).
        Without it, shard sizes are checked.
    """
    manifest = atomic_io.read_json(os.path.join(buffer_path, MANIFEST))
    if not isinstance(manifest, dict) or manifest.get("writer_version") != WRITER_VERSION:
        return None
    shards = manifest.get("shards") or []
    if not shards or not all(isinstance(s, dict) for s in shards):
        return None
    recorded = {s.get("file"): {"bytes": s.get("bytes"), "crc32c": s.get("crc32c")}
                for s in shards}
    if verify_content:
        changed = integrity.first_mismatch(buffer_path, recorded)
    else:
        changed = next((n for n, r in recorded.items()
                        if not os.path.isfile(os.path.join(buffer_path, n))
                        or os.path.getsize(os.path.join(buffer_path, n)) != r["bytes"]), None)
    if changed:
        logging.warning("Buffer %s: %s", buffer_path, changed)
        return None
    return manifest


def read_buffer(buffer_path: str, batch_size: int, shuffle: bool = False,
                seed: int | None = None, drop_remainder: bool = False,
                shard_index: int = 0, num_shards: int = 1,
                shuffle_buffer_blocks: int = 16):
    """A `tf.data.Dataset` of feature dicts read from a buffer.

    Args:
      buffer_path: a complete buffer directory.
      batch_size: rows per element.
      shuffle: shuffle shard order, block order (within a window of
        `shuffle_buffer_blocks` blocks) and rows within each block.
        Unshuffled, rows come back in the order they were written.
      seed: seed for the shuffles.
      drop_remainder: drop a final partial batch.
      shard_index, num_shards: read only every `num_shards`-th shard file
        starting at `shard_index` (one part per worker).

    Returns:
      Dataset of {column: Tensor [batch, *shape]} with the written dtypes.

    Raises:
      FileNotFoundError: no complete buffer at `buffer_path`.
    """
    import tensorflow as tf

    manifest = read_manifest(buffer_path)
    if manifest is None:
        raise FileNotFoundError(f"{buffer_path}: no complete buffer (missing or bad manifest)")
    files = [os.path.join(buffer_path, s["file"]) for s in manifest["shards"]]
    if num_shards > 1:
        if len(files) < num_shards:
            raise ValueError(f"{buffer_path} has {len(files)} shard files; cannot split them "
                             f"over {num_shards} readers")
        files = files[shard_index::num_shards]
    spec = {c["name"]: (tf.dtypes.as_dtype(np.dtype(c["dtype"])), c["shape"])
            for c in manifest["columns"]}
    features = {name: tf.io.FixedLenFeature([], tf.string) for name in spec}

    def decode(record):
        raw = tf.io.parse_single_example(record, features)
        return {name: tf.reshape(tf.io.decode_raw(raw[name], dtype), [-1, *shape])
                for name, (dtype, shape) in spec.items()}

    def decode_and_permute(position, record):
        # Stateless, keyed by (seed, block position): the same seed gives the
        # same order in any process, also after a resume.
        out = decode(record)
        rows = tf.shape(next(iter(out.values())))[0]
        perm = tf.random.experimental.stateless_shuffle(
            tf.range(rows), seed=tf.stack([tf.constant(seed or 0, tf.int64), position]))
        return {k: tf.gather(v, perm) for k, v in out.items()}

    if shuffle:
        ds = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed)
        ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)),
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=seed is not None)
        ds = ds.shuffle(shuffle_buffer_blocks, seed=seed).enumerate()
        ds = ds.map(decode_and_permute, num_parallel_calls=tf.data.AUTOTUNE,
                    deterministic=True)
    else:
        ds = tf.data.TFRecordDataset(files).map(decode, num_parallel_calls=tf.data.AUTOTUNE,
                                                deterministic=True)
    ds = ds.rebatch(batch_size, drop_remainder=drop_remainder)
    return ds.prefetch(tf.data.AUTOTUNE)


def read_all(buffer_path: str) -> dict[str, np.ndarray]:
    """Reads a whole, content-verified buffer into numpy arrays (row order)."""
    manifest = read_manifest(buffer_path, verify_content=True)
    if manifest is None:
        raise FileNotFoundError(f"{buffer_path}: no intact buffer (missing or bad manifest, "
                                "or a shard changed)")
    parts = [b for b in read_buffer(buffer_path, batch_size=max(1, manifest["rows"]))
             .as_numpy_iterator()]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
