"""One trial of `--model auto`: train a family's settings, epoch by epoch, on validation.

The loop (nanoGPT-style, one screen): train an epoch, evaluate validation,
keep the best epoch's weights in memory, report the value to the study
(which may prune the trial), stop early after `patience` epochs without a
better value, or at an epoch boundary when the budget is spent. The data
given here holds the training positives and the validation split only: a
trial cannot read the test set.
"""

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from absl import logging

from official.recommendation import ncf_flags
from official.recommendation.data.implicit_data import NCFData
from official.recommendation.search.budget import Budget, refit_estimate
from official.recommendation.training import task as task_lib
from official.utils import retraining
from official.utils.misc import memory

# Extras of the leaderboard, from a full ranking of the selected epoch's top-K.
BEYOND_ACCURACY = ("Coverage_full", "PopularityPercentile_full")


@dataclasses.dataclass
class TrialOutcome:
    """What one trial found (all on validation).

    Attributes:
      value: the best validation selection metric (None: no epoch finished).
      selected_epoch: the epoch that reached it (1-based).
      epochs: epochs trained.
      metrics: the validation metrics of the selected epoch (and the
        coverage / popularity of its top-K).
      curve: per epoch [epoch, seconds since the trial started, value].
      seconds, train_seconds, eval_seconds: wall time in all, training, one evaluation.
      peak_rss_mb: the process's peak resident memory during the trial.
      stopped: why it stopped before its last epoch ("" if it did not).
      chosen: what the fit chose itself (EASE's lambda), for the refit.
    """

    value: float | None = None
    selected_epoch: int = 0
    epochs: int = 0
    metrics: dict = dataclasses.field(default_factory=dict)
    curve: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    stopped: str = ""
    chosen: dict = dataclasses.field(default_factory=dict)


def run_trial(settings: dict[str, Any], data: NCFData, budget: Budget,
              report: Callable[[float, int], bool], patience: int = 3,
              leader_refit: float = 0.0,
              keep: Callable[[task_lib.NCFTask], None] | None = None) -> TrialOutcome:
    """Trains one trial's settings on `data` (train + validation, no test).

    Args:
      settings: every ncf_main flag's value for this trial.
      data: the search data: training positives, validation as its evaluation set.
      budget: stops the trial at an epoch boundary once spent.
      report: (value, epoch) -> True when the trial should be pruned.
      patience: epochs without a better value before stopping (0: never).
      leader_refit: the estimated refit seconds of the study's best trial. After
        each epoch the budget keeps back the larger of it and this trial's
        refit should its next epoch be selected: any running trial may end
        as the winner, and its refit must still fit.
      keep: called with the trial's task at the end, its model holding the
        selected epoch's weights (an ensemble uses the members' models).

    Raises:
      UserError: the settings cannot train on this data or diverged.
    """
    memory.reset_peak_rss()
    start = time.perf_counter()
    config = ncf_flags.config(settings)
    task = task_lib.NCFTask(config, task_lib.make_trainer(data, config.train), data, None)
    out, best_weights = TrialOutcome(), None
    epochs = config.run.train_epochs if task.trains else 1  # popularity: one evaluation
    for epoch in range(epochs):
        t0 = time.perf_counter()
        loss, _ = task.train_epoch(epoch, None, epochs)
        retraining.check_finite_loss(task, epoch + 1, loss)
        t1 = time.perf_counter()
        metrics = task.evaluate()
        t2 = time.perf_counter()
        out.train_seconds += t1 - t0
        out.eval_seconds = t2 - t1
        out.epochs = epoch + 1
        value = task_lib.selection_value(metrics, config.selection_metric)
        out.curve.append([epoch + 1, round(t2 - start, 3), value])
        logging.debug("  epoch %d: validation %s %.4f", epoch + 1, config.selection_metric,
                      value)
        if out.value is None or value > out.value:
            out.value, out.selected_epoch, out.metrics = value, epoch + 1, metrics
            out.chosen = task.chosen_settings()
            if epoch + 1 < epochs:
                best_weights = task.model.get_weights()
        budget.set_reserve(max(leader_refit, refit_estimate(
            out.train_seconds, out.epochs + 1, out.epochs, out.eval_seconds)))
        pruned = report(value, epoch + 1)
        if epoch + 1 == epochs:
            break
        if pruned:
            out.stopped = "pruned"
        elif patience and out.epochs - out.selected_epoch >= patience:
            out.stopped = f"no better validation value for {patience} epochs"
        elif not budget.epoch_fits(t2 - t0):
            out.stopped = "time budget"
        if out.stopped:
            break
    if best_weights is not None and out.selected_epoch != out.epochs:
        task.model.set_weights(best_weights)
    if not all(k in out.metrics for k in BEYOND_ACCURACY) and task.trainer.data.num_items:
        full = task.evaluator.evaluate(task.trainer.scorer, config.top_k, "full")
        out.metrics.update({k: full[k] for k in BEYOND_ACCURACY})
    out.seconds = time.perf_counter() - start
    out.peak_rss_mb = memory.peak_rss_mb()
    if keep is not None:
        keep(task)
    return out
