"""SavedModel export pieces shared by the programs: raw-id lookups and atomic writes."""

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from official.utils.misc import atomic_io


def index_table(raw_ids: np.ndarray) -> tf.lookup.StaticHashTable:
    """Lookup of raw int64 ids [N] -> int32 index in `raw_ids` (-1 for an unknown id)."""
    init = tf.lookup.KeyValueTensorInitializer(
        tf.constant(raw_ids, tf.int64), tf.range(len(raw_ids), dtype=tf.int32))
    return tf.lookup.StaticHashTable(init, default_value=-1)


def write_archive(archive: keras.export.ExportArchive, export_dir: str) -> str:
    """Writes `archive` to `export_dir` atomically (temp dir, then rename); returns the dir."""
    with atomic_io.atomic_directory(export_dir) as tmp:
        archive.write_out(tmp, verbose=False)
    logging.info("Exported SavedModel to %s", export_dir)
    return export_dir
