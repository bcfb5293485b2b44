"""model_dir checkpoints: restore at start (resume), with a clear error on mismatch."""

import os
import shutil
import tempfile

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


class WorkerCheckpoints:
    """Restore from and save to `<model_dir>/checkpoints` on every worker of a run.

    Every worker restores the chief's latest checkpoint and calls `save`
    (under `MultiWorkerMirroredStrategy` a save may run collective ops); only
    the chief's save lands in `model_dir`, the others write to a temporary
    directory that is deleted right after.
    """

    def __init__(self, checkpoint: tf.train.Checkpoint, model_dir: str, is_chief: bool = True,
                 max_to_keep: int = 3):
        self.checkpoint, self.is_chief = checkpoint, is_chief
        self.manager = restore_latest(checkpoint, model_dir, max_to_keep)

    def save(self, number: int) -> None:
        """Saves checkpoint `number` (the chief into model_dir, others into a temp dir)."""
        if self.is_chief:
            self.manager.save(checkpoint_number=number)
            return
        scratch = tempfile.mkdtemp(prefix="worker-ckpt-")
        try:
            tf.train.CheckpointManager(self.checkpoint, scratch, max_to_keep=1).save(
                checkpoint_number=number)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
