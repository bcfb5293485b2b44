"""model_dir checkpoints: restore at start (resume), with a clear error on mismatch."""

import os
import shutil
import tempfile

import tensorflow as tf
from absl import logging

from official.utils.errors import UserError
from official.utils.misc import atomic_io


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


class Selection(tf.Module):
    """Best-validation bookkeeping, saved in the run's checkpoint (so resume keeps it).

    Attributes (tf.Variables): `best_epoch` (0: none yet), `best_value`,
    `stopped` (1 once early stopping or the threshold ended training).
    """

    def __init__(self):
        super().__init__(name="selection")
        self.best_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="best_epoch")
        self.best_value = tf.Variable(-float("inf"), dtype=tf.float64, trainable=False,
                                      name="best_value")
        self.stopped = tf.Variable(0, dtype=tf.int64, trainable=False, name="stopped")

    def update(self, epoch: int, value: float) -> bool:
        """Records `value` of `epoch`; True if it is a new best (strictly higher)."""
        if value > float(self.best_value.numpy()):
            self.best_epoch.assign(epoch)
            self.best_value.assign(value)
            return True
        return False

    def epochs_since_best(self, epoch: int) -> int:
        """Epochs trained after the best one."""
        return epoch - int(self.best_epoch.numpy())


class BestWeights:
    """The selected epoch's model weights, kept apart from the rolling checkpoints.

    `<model_dir>/best-<epoch>/` holds a `tf.train.Checkpoint(model=...)`;
    each is written under a temporary name and renamed, and older ones are
    removed only by `prune` (call it after the run's checkpoint, which names
    the best epoch, is saved), so an interrupted run always finds the one
    its checkpoint names.
    """

    PREFIX = "best-"

    def __init__(self, model, model_dir: str, is_chief: bool = True):
        self.checkpoint = tf.train.Checkpoint(model=model)
        self.model_dir, self.is_chief = model_dir, is_chief

    @classmethod
    def weights_prefix(cls, model_dir: str, epoch: int) -> str:
        """Checkpoint prefix of epoch `epoch`'s weights in `model_dir`."""
        return os.path.join(model_dir, f"{cls.PREFIX}{epoch}", "weights")

    def path(self, epoch: int) -> str:
        """Directory of epoch `epoch`'s weights."""
        return os.path.dirname(self.weights_prefix(self.model_dir, epoch))

    def save(self, epoch: int) -> None:
        """Writes the model's current weights as epoch `epoch`'s (chief only lands)."""
        scratch = tempfile.mkdtemp(prefix=atomic_io.temp_prefix(f"{self.PREFIX}{epoch}"),
                                   dir=self.model_dir if self.is_chief else None)
        try:
            self.checkpoint.write(os.path.join(scratch, "weights"))
            if self.is_chief:
                final = self.path(epoch)
                if os.path.isdir(final):
                    shutil.rmtree(final)
                os.replace(scratch, final)
        finally:
            if os.path.isdir(scratch):
                shutil.rmtree(scratch, ignore_errors=True)

    def restore(self, epoch: int) -> None:
        """Loads epoch `epoch`'s weights into the model.

        Raises:
          UserError: they are missing or do not match the model.
        """
        prefix = self.weights_prefix(self.model_dir, epoch)
        if not tf.io.gfile.exists(prefix + ".index"):
            raise UserError(f"{self.path(epoch)}: the selected epoch's weights are missing; "
                            "use --clean to train again")
        try:
            self.checkpoint.read(prefix).assert_existing_objects_matched()
        except (ValueError, AssertionError, tf.errors.OpError) as e:
            raise UserError(f"{self.path(epoch)}: cannot restore the selected epoch's weights "
                            f"({str(e).splitlines()[0][:200]})") from e

    def prune(self, keep: int) -> None:
        """Removes every `best-<epoch>` directory but `keep`'s (chief only)."""
        if not self.is_chief or not os.path.isdir(self.model_dir):
            return
        for name in os.listdir(self.model_dir):
            if name.startswith(self.PREFIX) and name != f"{self.PREFIX}{keep}":
                shutil.rmtree(os.path.join(self.model_dir, name), ignore_errors=True)
