"""Sharded TFRecord buffers of DataFrames, written by a pool of processes.

A buffer is a **directory**::

    <buffer_path>/
      shard-00000-of-00004.tfrecord   blocks of rows (see record_format.py)
      ...
      manifest.json                   rows, columns, dtypes, shapes, shards,
                                      source fingerprint, writer version

Writing happens in a temporary sibling directory (`.<name>.tmp-*`); the
manifest is written last and the directory renamed into place, so a killed
writer never leaves a buffer that a later run accepts. An existing buffer is
reused only if its manifest matches what would be written (same data
fingerprint, columns, dtypes, shapes and writer version) and every shard has
its recorded size and CRC-32C; otherwise it is rebuilt.

Reading (`read_buffer`, in `buffer_reader`, re-exported here) is
`TFRecordDataset -> parse + decode_raw per block
-> rebatch`, returning dicts of tensors with the original dtypes and shapes,
in row order unless shuffled.
"""

import atexit
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from absl import logging

from official.utils.data import record_format
from official.utils.data.buffer_reader import (  # noqa: F401  (the seeds' API, re-exported)
    MANIFEST,
    WRITER_VERSION,
    read_all,
    read_buffer,
    read_manifest,
)
from official.utils.misc import atomic_io, integrity

DEFAULT_ROWS_PER_RECORD = 16384
DEFAULT_ROWS_PER_SHARD = 1_000_000
# Below this many rows the pool costs more than it saves: write in-process.
_MIN_ROWS_FOR_POOL = 200_000
_ROWS_PER_CORE = 50_000
_SUPPORTED_KINDS = "biuf"


# ----------------------------------------------------------------------------
# Sharding (the 2018 contract).
# ----------------------------------------------------------------------------

def shard_bounds(n: int, rows_per_core: int, num_cores: int) -> Iterator[list[tuple[int, int]]]:
    """Row ranges of `iter_shard_dataframe`, without the DataFrame.

    Yields:
      Per round, `min(num_cores, n)` (start, stop) ranges that split a block of
      up to `num_cores * rows_per_core` rows as evenly as possible.
    """
    cores = min(num_cores, n)
    if cores <= 0:
        return
    block = cores * rows_per_core
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        cuts = np.linspace(lo, hi, cores + 1, dtype=np.int64)
        yield [(int(cuts[j]), int(cuts[j + 1])) for j in range(cores)]


def iter_shard_dataframe(df: pd.DataFrame, rows_per_core: int = 1000,
                         num_cores: int | None = None) -> Iterator[list[pd.DataFrame]]:
    """Two-way shard of a DataFrame for a pool of `num_cores` workers.

    Args:
      df: DataFrame to shard.
      rows_per_core: rows each worker gets per round.
      num_cores: workers (default: the CPU count).

    Yields:
      Lists of `min(num_cores, len(df))` consecutive DataFrame slices that
      together cover `num_cores * rows_per_core` rows (the last round fewer).
    """
    cores = num_cores if num_cores is not None else (os.cpu_count() or 1)
    for bounds in shard_bounds(len(df), rows_per_core, cores):
        yield [df[lo:hi] for lo, hi in bounds]


# ----------------------------------------------------------------------------
# Validation and manifests.
# ----------------------------------------------------------------------------

def _column_array(dataframe: pd.DataFrame, column: str) -> np.ndarray:
    """The column as a numeric array [rows, *shape]; ValueError if unsupported."""
    if column not in dataframe.columns:
        raise ValueError(f"column {column!r} is missing from the DataFrame "
                         f"(has {list(dataframe.columns)})")
    series = dataframe[column]
    values = series.to_numpy()
    if values.dtype == object:
        first = values[0]
        if isinstance(first, str | bytes) or not hasattr(first, "__len__"):
            raise ValueError(f"column {column!r} holds {type(first).__name__} objects; only "
                             "int, float, bool and fixed-length numeric vectors are supported")
        try:
            values = np.stack(values)
        except ValueError as e:
            raise ValueError(f"column {column!r} holds vectors of different lengths "
                             "(ragged); fixed-length vectors are required") from e
    if values.dtype.kind not in _SUPPORTED_KINDS or values.dtype.itemsize > 8:
        raise ValueError(f"column {column!r} has unsupported dtype {series.dtype}; "
                         "supported: bool, int, uint, float")
    if values.ndim > 2:
        raise ValueError(f"column {column!r} has rows of rank {values.ndim - 1}; at most "
                         "1-D vectors are supported")
    return np.ascontiguousarray(values)


def _arrays(dataframe: pd.DataFrame, columns: Sequence[str]) -> dict[str, np.ndarray]:
    if dataframe is None or len(dataframe) == 0:
        raise ValueError("cannot write an empty DataFrame to a buffer")
    if not columns:
        raise ValueError("no columns given")
    if len(set(columns)) != len(columns):
        raise ValueError(f"duplicate columns in {list(columns)}")
    return {c: _column_array(dataframe, c) for c in columns}


def _fingerprint(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        a = arrays[name]
        digest.update(f"{name}|{a.dtype.str}|{a.shape}".encode())
        digest.update(memoryview(a).cast("B"))
    return digest.hexdigest()


def _expected_manifest(arrays: dict[str, np.ndarray], rows_per_record: int) -> dict:
    return {
        "writer_version": WRITER_VERSION,
        "rows": int(next(iter(arrays.values())).shape[0]),
        "columns": [{"name": c, "dtype": a.dtype.newbyteorder("<").str,
                     "shape": list(a.shape[1:])} for c, a in arrays.items()],
        "rows_per_record": rows_per_record,
        "fingerprint": _fingerprint(arrays),
    }


# ----------------------------------------------------------------------------
# Writing.
# ----------------------------------------------------------------------------

def _run_pool(tasks: list[dict], work_dir: str) -> list[dict]:
    """Runs one shard_writer process per task; returns the shard stats in order."""
    procs = []
    for i, task in enumerate(tasks):
        task_path = os.path.join(work_dir, f"task-{i}.json")
        with open(task_path, "w") as f:
            json.dump(task, f)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "official.utils.data.shard_writer", task_path],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate()
            if proc.returncode != 0:
                last = (err.strip().splitlines() or ["(no output)"])[-1]
                raise OSError(f"buffer writer process failed: {last}")
            results.extend(json.loads(out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return results


def write_to_buffer(
    dataframe: pd.DataFrame,
    buffer_path: str,
    columns: Sequence[str],
    num_workers: int | None = None,
    rows_per_record: int = DEFAULT_ROWS_PER_RECORD,
    rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
    min_rows_for_pool: int = _MIN_ROWS_FOR_POOL,
) -> str:
    """Writes DataFrame columns as a sharded TFRecord buffer directory (or reuses one).

    Args:
      dataframe: rows to write. Columns may be bool/int/uint/float, or object
        columns holding fixed-length 1-D numeric arrays (e.g. genre vectors).
      buffer_path: the buffer directory to create.
      columns: names of the columns to write, in this order.
      num_workers: writer processes (default: CPU count; 1 writes in-process).
        Small frames are written in-process whatever the value.
      rows_per_record: rows per serialized block.
      rows_per_shard: target rows per shard file; shards are split evenly
        over the workers in rounds, as `iter_shard_dataframe` does.
      min_rows_for_pool: frames with fewer rows are written in-process.

    Returns:
      `buffer_path`.

    Raises:
      ValueError: empty frame, missing column, unsupported dtype, ragged
        vectors — before any file is created.
    """
    if rows_per_record <= 0 or rows_per_shard <= 0:
        raise ValueError("rows_per_record and rows_per_shard must be positive")
    arrays = _arrays(dataframe, columns)
    expected = _expected_manifest(arrays, rows_per_record)
    existing = read_manifest(buffer_path, verify_content=True)
    if existing is not None and {k: existing.get(k) for k in expected} == expected:
        logging.info("Reusing buffer %s (%d rows; manifest matches)", buffer_path,
                     expected["rows"])
        return buffer_path
    if existing is not None:
        logging.info("Rebuilding buffer %s: its manifest does not match the data", buffer_path)

    workers = num_workers if num_workers is not None else (os.cpu_count() or 1)
    n = expected["rows"]
    workers = max(1, min(workers, n))
    per_core = max(1, min(rows_per_shard, -(-n // workers)))
    bounds = [b for group in shard_bounds(n, per_core, workers) for b in group]
    names = [f"shard-{i:05d}-of-{len(bounds):05d}.tfrecord" for i in range(len(bounds))]
    parent = os.path.dirname(os.path.abspath(buffer_path))
    os.makedirs(parent, exist_ok=True)
    logging.info("Writing buffer %s: %d rows, %d shards, %d writer process(es)",
                 buffer_path, n, len(bounds), 1 if n < min_rows_for_pool else workers)
    with atomic_io.atomic_directory(buffer_path) as tmp:
        if workers == 1 or n < min_rows_for_pool:
            stats = [record_format.write_shard(os.path.join(tmp, name), arrays, lo, hi,
                                               rows_per_record)
                     for name, (lo, hi) in zip(names, bounds, strict=True)]
        else:
            with tempfile.TemporaryDirectory(prefix=".inputs", dir=tmp) as inputs:
                paths = {}
                for c, a in arrays.items():
                    paths[c] = os.path.join(inputs, f"{len(paths)}.npy")
                    np.save(paths[c], a)
                tasks = [{"inputs": paths, "rows_per_record": rows_per_record, "shards": []}
                         for _ in range(workers)]
                for i, (name, (lo, hi)) in enumerate(zip(names, bounds, strict=True)):
                    tasks[i % workers]["shards"].append(
                        {"path": os.path.join(tmp, name), "start": lo, "stop": hi})
                order = [i for w in range(workers) for i in range(w, len(bounds), workers)]
                unordered = _run_pool(tasks, inputs)
                stats = [None] * len(bounds)
                for i, s in zip(order, unordered, strict=True):
                    stats[i] = s
        checksums = integrity.describe(tmp, names)
        manifest = dict(expected, shards=[
            dict(file=name, **s, crc32c=checksums[name]["crc32c"])
            for name, s in zip(names, stats, strict=True)])
        atomic_io.write_json(os.path.join(tmp, MANIFEST), manifest)
    logging.debug("Buffer %s complete (%d bytes)", buffer_path,
                 sum(s["bytes"] for s in manifest["shards"]))
    return buffer_path


# ----------------------------------------------------------------------------
# Temporary buffers.
# ----------------------------------------------------------------------------

class TempBufferRegistry:
    """Deletes registered temporary buffers at normal exit and on SIGTERM/SIGINT."""

    def __init__(self) -> None:
        self._paths: list[str] = []
        self._lock = threading.Lock()
        self._installed = False

    def register(self, path: str) -> None:
        """Adds `path`; installs the exit and signal handlers on first use."""
        with self._lock:
            self._paths.append(path)
            if not self._installed:
                self._install()

    def purge(self) -> int:
        """Deletes every registered buffer that still exists; returns how many."""
        with self._lock:
            paths, self._paths = self._paths, []
        removed = 0
        for path in paths:
            if os.path.exists(path):
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        return removed

    def _install(self) -> None:
        self._installed = True
        atexit.register(self.purge)
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)

            def handler(signum, frame, previous=previous):
                self.purge()
                if callable(previous):
                    previous(signum, frame)
                elif previous == signal.SIG_IGN:
                    return
                else:
                    signal.signal(signum, signal.SIG_DFL)
                    os.kill(os.getpid(), signum)

            signal.signal(sig, handler)


_TEMP_BUFFERS = TempBufferRegistry()


def write_to_temp_buffer(dataframe: pd.DataFrame, buffer_folder: str | None,
                         columns: Sequence[str],
                         registry: TempBufferRegistry | None = None, **kwargs) -> str:
    """Writes a buffer under a fresh name that is deleted when the process ends.

    Args:
      dataframe, columns, **kwargs: as for `write_to_buffer`.
      buffer_folder: parent directory (default: the system temp dir).
      registry: cleanup registry (default: the process-wide one).

    Returns:
      Path of the new buffer directory.
    """
    folder = buffer_folder or tempfile.gettempdir()
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"buffer-{uuid.uuid4().hex}")
    (registry or _TEMP_BUFFERS).register(path)
    return write_to_buffer(dataframe, path, columns, **kwargs)
