"""SavedModel export pieces shared by the programs: raw-id lookups, atomic writes, loading.

An export directory holds the SavedModel and `official_export.json`, written
last: the size and CRC-32C of every file. `load` checks them before
TensorFlow reads anything, so a truncated, flipped or missing file ends in
one line naming the directory instead of a TensorFlow traceback; `write_archive`
replaces only an export of this package (never another directory).

Versioned exports (TF Serving's layout): a base directory holds one export
per version, `BASE/1/`, `BASE/2/`, ... (decimal names; anything else there
is ignored). `write_versioned` writes the next version beside the others,
complete before its number appears, and two writers never take one number.
"""

import errno
import os
import shutil
import tempfile
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from official.utils.errors import UserError, first_line
from official.utils.misc import atomic_io, integrity

EXPORT_MANIFEST = "official_export.json"


def id_dtype(raw_ids: np.ndarray) -> tf.DType:
    """tf.int64 for integer ids, tf.string for text ids."""
    return tf.int64 if np.asarray(raw_ids).dtype.kind in "iu" else tf.string


def index_table(raw_ids: np.ndarray) -> tf.lookup.StaticHashTable:
    """Lookup of raw ids [N] (int64 or string) -> int32 index in `raw_ids` (-1: unknown)."""
    init = tf.lookup.KeyValueTensorInitializer(
        tf.constant(raw_ids, id_dtype(raw_ids)), tf.range(len(raw_ids), dtype=tf.int32))
    return tf.lookup.StaticHashTable(init, default_value=-1)


def check_replaceable(export_dir: str) -> None:
    """Raises unless `export_dir` is absent, empty, or an export of this package.

    Raises:
      UserError: it is a file, or a directory holding something else.
    """
    if os.path.lexists(export_dir) and not os.path.isdir(export_dir):
        raise UserError(f"--export_dir {export_dir} is a file, not a directory")
    if (os.path.isdir(export_dir) and os.listdir(export_dir)
            and not os.path.isfile(os.path.join(export_dir, EXPORT_MANIFEST))):
        raise UserError(f"--export_dir {export_dir} holds files that are not an export of "
                        "this package; choose an empty or new directory")


def write_archive(archive: keras.export.ExportArchive, export_dir: str) -> str:
    """Writes `archive` to `export_dir` atomically (temp dir, then rename); returns the dir."""
    return write_saved_model(lambda tmp: archive.write_out(tmp, verbose=False), export_dir)


def write_saved_model(write: Callable[[str], None], export_dir: str) -> str:
    """Runs `write(tmp)` into a temporary directory, adds the manifest, renames to `export_dir`.

    Args:
      write: writes a SavedModel into the (empty, existing) directory it is given.
      export_dir: the export's final directory; replaced only if it is an
        export of this package (`check_replaceable`).

    Returns:
      `export_dir`.
    """
    check_replaceable(export_dir)
    parent, name = os.path.split(os.path.abspath(export_dir))
    atomic_io.remove_stale_temporaries(parent, name)
    with atomic_io.atomic_directory(export_dir) as tmp:
        write(tmp)
        files = sorted(os.path.relpath(os.path.join(root, f), tmp)
                       for root, _, names in os.walk(tmp) for f in names)
        atomic_io.write_json(os.path.join(tmp, EXPORT_MANIFEST),
                             {"files": integrity.describe(tmp, files)})
    logging.info("Exported SavedModel to %s", export_dir)
    return export_dir


def signatures(export_dir: str) -> dict[str, frozenset[str]]:
    """Signature name -> input names of the SavedModel in `export_dir`, read from its proto.

    Nothing is loaded into TensorFlow, so an export whose ops are not
    registered here (e.g. the census trees' YDF op) can still be told apart.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    return {name: frozenset(sig.inputs) for graph in proto.meta_graphs
            for name, sig in graph.signature_def.items()}


def load(export_dir: str, check: Callable[[dict[str, frozenset[str]]], None] | None = None):
    """`tf.saved_model.load` of an export whose files are intact.

    Args:
      export_dir: the export.
      check: called with `signatures(export_dir)` once the files are
        verified and before TensorFlow loads anything; raises `UserError`
        for an export of the wrong kind.

    Raises:
      UserError: no export there, a file missing or changed, or a SavedModel
        TensorFlow cannot load; the message names the directory.
    """
    manifest = atomic_io.read_json(os.path.join(export_dir, EXPORT_MANIFEST))
    if not isinstance(manifest, dict):
        if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
            raise UserError(f"--export_dir {export_dir}: no SavedModel there (export one "
                            "with --export_dir)")
        raise UserError(f"--export_dir {export_dir}: {EXPORT_MANIFEST} is missing or "
                        "unreadable, so the export cannot be checked; export it again")
    damage = integrity.first_mismatch(export_dir, manifest.get("files"))
    if damage:
        raise UserError(f"--export_dir {export_dir}: the export is damaged ({damage}); "
                        "export it again")
    if check is not None:
        check(signatures(export_dir))
    try:
        return tf.saved_model.load(export_dir)
    except (OSError, ValueError, IndexError, RuntimeError, tf.errors.OpError) as e:
        raise UserError(f"--export_dir {export_dir}: TensorFlow cannot load it "
                        f"({first_line(e)})") from e


def versions(base: str) -> list[int]:
    """The version numbers under `base` (its all-digit subdirectories), ascending."""
    try:
        names = os.listdir(base)
    except OSError:
        return []
    return sorted(int(n) for n in names
                  if n.isdigit() and n.isascii() and os.path.isdir(os.path.join(base, n)))


def check_version_base(base: str, flag: str = "--export_dir") -> None:
    """Raises unless `base` can hold versions: absent, or a directory that is not an export.

    Raises:
      UserError: a file, or an (unversioned) export itself.
    """
    if os.path.lexists(base) and not os.path.isdir(base):
        raise UserError(f"{flag} {base} is a file, not a directory")
    if os.path.isfile(os.path.join(base, EXPORT_MANIFEST)):
        raise UserError(f"{flag} {base} is an unversioned export; versions go in a "
                        "directory of their own (BASE/1, BASE/2, ...): choose another")


def write_versioned(base: str, write: Callable[[str], object]) -> str:
    """Writes the next version of an export under `base`; returns its directory.

    `write(export_dir)` writes one export (e.g. `Task.export`) into a
    staging directory inside `base`; the finished export is then renamed to
    `base/<n>`, n = 1 + the largest version there. A rename onto a number
    another writer took meanwhile fails and the next number is tried, so
    concurrent writers get distinct versions and a server polling `base`
    never sees a half-written one.

    Raises:
      UserError: `base` cannot hold versions (`check_version_base`).
    """
    check_version_base(base)
    os.makedirs(base, exist_ok=True)
    atomic_io.remove_stale_temporaries(base, "version")
    staging = tempfile.mkdtemp(prefix=atomic_io.temp_prefix("version"), dir=base)
    try:
        export_dir = os.path.join(staging, "export")
        write(export_dir)
        while True:
            target = os.path.join(base, str((versions(base) or [0])[-1] + 1))
            try:
                os.rename(export_dir, target)
            except OSError as e:
                if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    continue  # another writer took this number first
                raise
            logging.info("Exported version %s of %s", os.path.basename(target), base)
            return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def export_to(export_dir: str, write: Callable[[str], object], versioned: bool = False) -> str:
    """`write(export_dir)`, or its next version under base `export_dir` when `versioned`.

    Returns:
      The directory the export is in.
    """
    if versioned:
        return write_versioned(export_dir, write)
    write(export_dir)
    return export_dir
