"""model_dir checkpoints: restore at start (resume), fall back past damage, clear errors."""

import math
import os
import re
import shutil
import tempfile

import tensorflow as tf
from absl import logging

from official.utils.errors import UserError, first_line
from official.utils.misc import atomic_io

# Errors of reading a damaged checkpoint (flipped bytes: DataLossError; a
# truncated index: OpError; truncated data: IndexError). A model that does not
# match raises ValueError (shapes) or AssertionError (structure) instead.
_DAMAGED = (tf.errors.OpError, IndexError)
STATE_FILE = "checkpoint"
_STATE_LINE = re.compile(
    r'^(model_checkpoint_path|all_model_checkpoint_paths): "([^"]+)"$'
    r"|^(all_model_checkpoint_timestamps|last_preserved_timestamp): [\d.e+-]+$")
_CKPT_INDEX = re.compile(r"^ckpt-(\d+)\.index$")


def repair_state_file(directory: str) -> None:
    """Rewrites a missing, unreadable or stale `checkpoint` state file from the files present.

    TensorFlow ignores a garbage state file (a run would silently start
    over) and fails on an empty one; both are rebuilt here from the
    `ckpt-<n>.index` files in `directory`, newest last.
    """
    present = sorted((int(m.group(1)) for m in map(_CKPT_INDEX.match, os.listdir(directory))
                      if m), key=int) if os.path.isdir(directory) else []
    if not present:
        return
    path = os.path.join(directory, STATE_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError):
        lines = []
    parsed = [_STATE_LINE.match(line) for line in lines]
    listed = [m.group(2) for m in parsed if m and m.group(2)]
    intact = (lines and all(parsed) and parsed[0].group(1) == "model_checkpoint_path"
              and all(os.path.isfile(os.path.join(directory, os.path.basename(p) + ".index"))
                      for p in listed))
    if intact:
        return
    names = [f"ckpt-{n}" for n in present]
    # Timestamps too: without them CheckpointManager treats every listed
    # checkpoint as preserved and leaves it out of `checkpoints`.
    stamps = [os.path.getmtime(os.path.join(directory, f"{n}.index")) for n in names]
    text = (f'model_checkpoint_path: "{names[-1]}"\n'
            + "".join(f'all_model_checkpoint_paths: "{n}"\n' for n in names)
            + "".join(f"all_model_checkpoint_timestamps: {t!r}\n" for t in stamps)
            + f"last_preserved_timestamp: {min(stamps) - 1.0!r}\n")
    with atomic_io.atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text)
    logging.warning("%s was missing, unreadable or stale; rebuilt it from %s", path,
                    ", ".join(names))


class RunInfo(tf.Module):
    """What a run's checkpoint records about the run itself.

    Attributes (tf.Variables): `model_kind` (tf.string, e.g. "ncf_main
    --model gmf": a model_dir holding another kind is refused before
    anything is restored), `last_loss` and `last_examples_per_second` of the
    last trained cycle (float64, nan before one), so a resumed run that has
    nothing left to train reports the same keys as an uninterrupted one.

    Args:
      kind: the model kind of this run.
    """

    def __init__(self, kind: str):
        super().__init__(name="run_info")
        self.kind = kind
        self.model_kind = tf.Variable(kind, dtype=tf.string, trainable=False,
                                      name="model_kind")
        self.last_loss = tf.Variable(math.nan, dtype=tf.float64, trainable=False,
                                     name="last_loss")
        self.last_examples_per_second = tf.Variable(math.nan, dtype=tf.float64,
                                                    trainable=False,
                                                    name="last_examples_per_second")


RUN_INFO = "run_info"  # the RunInfo's name in a run's checkpoint
_KIND_KEY = f"{RUN_INFO}/model_kind/.ATTRIBUTES/VARIABLE_VALUE"


def recorded_kind(path: str) -> str | None:
    """The model kind a checkpoint records (None: written before kinds were recorded).

    Raises:
      tf.errors.OpError: the checkpoint cannot be read.
    """
    reader = tf.train.load_checkpoint(path)
    return reader.get_tensor(_KIND_KEY).decode() if reader.has_tensor(_KIND_KEY) else None


def restore_latest(checkpoint: tf.train.Checkpoint, model_dir: str, max_to_keep: int = 3,
                   run_info: RunInfo | None = None) -> tf.train.CheckpointManager:
    """Returns a manager for `<model_dir>/checkpoints`, restoring the newest intact checkpoint.

    A damaged newest checkpoint (unreadable, truncated, flipped bytes) falls
    back to the one before, with one warning naming both.

    Args:
      checkpoint: what to restore and save.
      model_dir: the run's directory.
      max_to_keep: rolling checkpoints kept.
      run_info: saved with the checkpoint (attached to it here); a
        checkpoint recording another model kind is refused. A checkpoint
        written before kinds were recorded is restored without it.

    Raises:
      UserError: the checkpoints belong to another model or data, or none of
        them is intact.
    """
    directory = os.path.join(model_dir, "checkpoints")
    repair_state_file(directory)
    manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep)
    damaged = []
    newest_first = list(reversed(manager.checkpoints))
    if not newest_first and manager.latest_checkpoint:  # a state file listing no others
        newest_first = [manager.latest_checkpoint]
    for path in newest_first:
        try:
            kind = recorded_kind(path) if run_info is not None else None
        except _DAMAGED as e:
            damaged.append((path, first_line(e, 120)))
            continue
        if kind is not None and kind != run_info.kind:
            raise UserError(f"--model_dir {model_dir} holds a checkpoint of {kind}, not of "
                            f"{run_info.kind}; add --clean to start over in it, or choose "
                            "another --model_dir")
        if kind is not None:
            checkpoint.run_info = run_info
        try:
            checkpoint.restore(path).assert_existing_objects_matched()
        except _DAMAGED as e:
            damaged.append((path, first_line(e, 120)))
            continue
        except (ValueError, AssertionError) as e:
            raise UserError(f"{model_dir} holds a checkpoint of a different model or data "
                            f"({first_line(e)}); use --clean or another --model_dir") from e
        if damaged:
            logging.warning("%s is damaged (%s); resumed from %s instead",
                            os.path.basename(damaged[0][0]), damaged[0][1],
                            os.path.basename(path))
        else:
            logging.info("Resumed from %s", path)
        if run_info is not None:
            checkpoint.run_info = run_info
        return manager
    if damaged:
        names = ", ".join(os.path.basename(p) for p, _ in damaged)
        raise UserError(f"{directory}: no intact checkpoint ({names} damaged: "
                        f"{damaged[0][1]}); use --clean or another --model_dir")
    if run_info is not None:
        checkpoint.run_info = run_info
    return manager


class WorkerCheckpoints:
    """Restore from and save to `<model_dir>/checkpoints` on every worker of a run.

    Every worker restores the chief's latest checkpoint and calls `save`
    (under `MultiWorkerMirroredStrategy` a save may run collective ops); only
    the chief's save lands in `model_dir`, the others write to a temporary
    directory that is deleted right after.
    """

    def __init__(self, checkpoint: tf.train.Checkpoint, model_dir: str, is_chief: bool = True,
                 max_to_keep: int = 3, run_info: RunInfo | None = None):
        self.checkpoint, self.is_chief = checkpoint, is_chief
        self.manager = restore_latest(checkpoint, model_dir, max_to_keep, run_info)

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

    Args:
      lower_is_better: the best value is the lowest (a loss, an RMSE), not the
        highest.
    """

    def __init__(self, lower_is_better: bool = False):
        super().__init__(name="selection")
        self.lower_is_better = lower_is_better
        self.best_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="best_epoch")
        self.best_value = tf.Variable(float("inf") if lower_is_better else -float("inf"),
                                      dtype=tf.float64, trainable=False, name="best_value")
        self.stopped = tf.Variable(0, dtype=tf.int64, trainable=False, name="stopped")

    def update(self, epoch: int, value: float) -> bool:
        """Records `value` of `epoch`; True if it is a new best (strictly better).

        A non-finite value (nan, +-inf) is never a best.
        """
        if not math.isfinite(value):
            return False
        best = float(self.best_value.numpy())
        if value < best if self.lower_is_better else value > best:
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

    Other workers of a multi-worker run keep their own copy (identical: the
    replicas are synchronous) in a private temporary directory and restore
    from it, so none reads a `best-<epoch>` the chief may still be writing;
    a best epoch from before a restart comes from `<model_dir>`, complete.
    """

    PREFIX = "best-"

    def __init__(self, model, model_dir: str, is_chief: bool = True):
        self.checkpoint = tf.train.Checkpoint(model=model)
        self.model_dir, self.is_chief = model_dir, is_chief
        # Removed with this object (or at exit) on a non-chief worker.
        self._own = None if is_chief else tempfile.TemporaryDirectory(prefix="worker-best-")

    @classmethod
    def weights_prefix(cls, model_dir: str, epoch: int) -> str:
        """Checkpoint prefix of epoch `epoch`'s weights in `model_dir`."""
        return os.path.join(model_dir, f"{cls.PREFIX}{epoch}", "weights")

    def path(self, epoch: int) -> str:
        """Directory of epoch `epoch`'s weights."""
        return os.path.dirname(self.weights_prefix(self.model_dir, epoch))

    def save(self, epoch: int) -> None:
        """Writes the model's current weights as epoch `epoch`'s (chief only lands)."""
        root = self.model_dir if self.is_chief else self._own.name
        scratch = tempfile.mkdtemp(prefix=atomic_io.temp_prefix(f"{self.PREFIX}{epoch}"),
                                   dir=root)
        try:
            self.checkpoint.write(os.path.join(scratch, "weights"))
            final = os.path.dirname(self.weights_prefix(root, epoch))
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
        if self._own is not None and tf.io.gfile.exists(
                self.weights_prefix(self._own.name, epoch) + ".index"):
            prefix = self.weights_prefix(self._own.name, epoch)  # this worker's own copy
        if not tf.io.gfile.exists(prefix + ".index"):
            raise UserError(f"{self.path(epoch)}: the selected epoch's weights are missing; "
                            "use --clean to train again")
        try:
            self.checkpoint.read(prefix).assert_existing_objects_matched()
        except (ValueError, AssertionError, tf.errors.OpError) as e:
            raise UserError(f"{self.path(epoch)}: cannot restore the selected epoch's weights "
                            f"({first_line(e)})") from e

    def prune(self, keep: int) -> None:
        """Removes every `best-<epoch>` directory but `keep`'s (the chief's or this worker's)."""
        root = self.model_dir if self.is_chief else self._own.name
        if not os.path.isdir(root):
            return
        for name in os.listdir(root):
            if name.startswith(self.PREFIX) and name != f"{self.PREFIX}{keep}":
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
