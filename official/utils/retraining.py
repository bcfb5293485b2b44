"""Two steps every training loop shares: the divergence check and the refit on train + validation.

`run_loop` uses both for every program; `--model auto` uses them for its
trials and its winner (`recommendation.search`).
"""

import math
import os

import tensorflow as tf
from absl import logging

from official.utils.errors import UserError
from official.utils.logs import progress as progress_lib
from official.utils.misc import checkpoints, distribution_utils
from official.utils.run_api import Task


def check_finite_loss(task: Task, epoch: int, loss: float) -> None:
    """Ends a diverged run: a non-finite training loss is one line, before anything is saved.

    Called after every trained epoch (solvers: every sweep or fit, whose
    loss is computed from the factors, so non-finite factors show here too),
    before its checkpoint, `best-<epoch>` or export could be written.

    Raises:
      UserError: `loss` is nan or +-inf; names the epoch and the likely cause.
    """
    if not math.isfinite(loss):
        raise UserError(f"training diverged in epoch {epoch}: the training loss is {loss} "
                        f"({task.divergence_hint}); nothing of epoch {epoch} was saved or "
                        "exported")



def retrain(task: Task, epochs: int, strategy=None,
            cluster: distribution_utils.Cluster = distribution_utils.SINGLE,
            model_dir: str | None = None) -> Task:
    """`task.refit(epochs)` trained on train + validation; checkpointed in `model_dir` if given.

    A rerun resumes from `model_dir`'s checkpoint (a run's `retrain/`).
    """
    refit, epoch, save = task.refit(epochs), 0, None
    if model_dir:
        os.makedirs(model_dir, exist_ok=True)
        with (strategy or tf.distribute.get_strategy()).scope():
            epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        manager = checkpoints.WorkerCheckpoints(
            tf.train.Checkpoint(epoch=epoch_var, **refit.checkpointables()), model_dir,
            cluster.is_chief, run_info=checkpoints.RunInfo(refit.model_kind))
        epoch = int(epoch_var.numpy())
        save = lambda e: (epoch_var.assign(e), manager.save(e))  # noqa: E731
    logging.info("Retraining on train + validation for %d epochs%s", epochs,
                 f" in {model_dir}" if model_dir else "")
    with progress_lib.bar((epochs - epoch) * refit.steps_per_epoch, "retrain", "steps",
                          enabled=cluster.is_chief) as bar:
        while epoch < epochs:
            check_finite_loss(refit, epoch + 1, refit.train_epoch(epoch, bar.update, epochs)[0])
            epoch += 1
            if save:
                save(epoch)
    return refit
