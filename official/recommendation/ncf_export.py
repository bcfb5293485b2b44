"""SavedModel export of a trained NCF model, keyed by raw MovieLens ids.

Written with `keras.export.ExportArchive`. Endpoints (also SavedModel
signatures):

* `serving_default(user_id: int64 [N], item_id: int64 [N])` ->
  `{"score": float32 [N] (probability), "logit": float32 [N]}`. Ids are raw
  MovieLens ids, not internal indices. An id that was not in the training
  data makes the call fail with `InvalidArgumentError: unknown user_id ...`
  or `unknown item_id ...` (no silent fallback).
* `id_maps()` -> `{"user_ids": int64 [U], "item_ids": int64 [I]}`: the raw id
  of each internal index, so tools can enumerate users and items from the
  export alone.
"""

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from official.utils.misc import atomic_io


def _index_table(raw_ids: np.ndarray) -> tf.lookup.StaticHashTable:
    init = tf.lookup.KeyValueTensorInitializer(
        tf.constant(raw_ids, tf.int64), tf.range(len(raw_ids), dtype=tf.int32))
    return tf.lookup.StaticHashTable(init, default_value=-1)


def build_archive(model, user_ids: np.ndarray, item_ids: np.ndarray
                  ) -> keras.export.ExportArchive:
    """An ExportArchive serving `model` on raw ids (see the module docstring)."""
    user_table, item_table = _index_table(user_ids), _index_table(item_ids)
    user_var = tf.Variable(user_ids.astype(np.int64), trainable=False, name="user_ids")
    item_var = tf.Variable(item_ids.astype(np.int64), trainable=False, name="item_ids")
    archive = keras.export.ExportArchive()
    archive.track(model)
    for resource in (user_table, item_table, user_var, item_var):
        archive.track(resource)

    def serve(user_id, item_id):
        users = user_table.lookup(user_id)
        items = item_table.lookup(item_id)
        checks = [
            tf.debugging.assert_non_negative(
                users, message="unknown user_id (not in the training data)"),
            tf.debugging.assert_non_negative(
                items, message="unknown item_id (not in the training data)"),
        ]
        with tf.control_dependencies(checks):
            logits = model({"user_id": users, "item_id": items})
        return {"score": tf.sigmoid(logits), "logit": logits}

    archive.add_endpoint("serving_default", serve, input_signature=[
        tf.TensorSpec([None], tf.int64, name="user_id"),
        tf.TensorSpec([None], tf.int64, name="item_id")])
    archive.add_endpoint("id_maps", lambda: {"user_ids": tf.identity(user_var),
                                             "item_ids": tf.identity(item_var)},
                         input_signature=[])
    return archive


def export(model, user_ids: np.ndarray, item_ids: np.ndarray, export_dir: str) -> str:
    """Writes the SavedModel to `export_dir` atomically (temp dir, then rename)."""
    archive = build_archive(model, user_ids, item_ids)
    with atomic_io.atomic_directory(export_dir) as tmp:
        archive.write_out(tmp, verbose=False)
    logging.info("Exported SavedModel to %s", export_dir)
    return export_dir
