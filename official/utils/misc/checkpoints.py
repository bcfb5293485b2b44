"""model_dir checkpoints: restore at start (resume), with a clear error on mismatch."""

import os

import tensorflow as tf
from absl import logging

from official.utils.errors import UserError


def restore_latest(checkpoint: tf.train.Checkpoint, model_dir: str, max_to_keep: int = 3
                   ) -> tf.train.CheckpointManager:
    """Returns a manager for `<model_dir>/checkpoints`, restoring the latest checkpoint.

    Raises:
      UserError: the latest checkpoint belongs to another model or data.
    """
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(model_dir, "checkpoints"),
                                         max_to_keep=max_to_keep)
    if manager.latest_checkpoint:
        try:
            checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        except (ValueError, AssertionError, tf.errors.OpError) as e:
            raise UserError(f"{model_dir} holds a checkpoint of a different model or data "
                            f"({str(e).splitlines()[0][:200]}); use --clean or another "
                            "--model_dir") from e
        logging.info("Resumed from %s", manager.latest_checkpoint)
    return manager
