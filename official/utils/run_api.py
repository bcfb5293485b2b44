"""The contract between a program and the shared loop: `RunConfig` and the `Task` protocol.

`run_loop` runs any `Task` as its `RunConfig` says; this module holds only
the two types and the result's file name (no TensorFlow), so configs can be
built, and results found, before TensorFlow is imported.
"""

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

EVAL_RESULTS = "eval_results.json"  # in model_dir: what a finished run reports


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """How a run trains, evaluates, selects and writes (what the base flags hold).

    Attributes:
      model_dir: checkpoints, summaries, eval_results.json.
      data_dir: where the task writes its data (checked writable), or None.
      train_epochs: epochs to train in all (a resumed run trains the rest).
      epochs_between_evals: epochs per train / evaluate cycle.
      clean: delete model_dir first.
      export_dir: where the chief writes the final model's export, or None.
      export_versioned: `export_dir` is a base directory: the export becomes
        its next version (`saved_model_export.write_versioned`).
      hooks: names of training hooks (`hooks.get_train_hooks`).
      benchmark_log_dir: metric.log / benchmark_run.log directory, or None.
      benchmark_test_id: free-form id in benchmark_run.log.
      stop_metrics: evaluation metrics compared with `stop_threshold` (the
        first one the evaluation reports).
      stop_threshold: stop once that metric reaches this value; None: never.
      stop_flag: the flag that set the threshold, for the log line.
      validation: the task's `evaluate` is a validation set: select the best
        epoch by `selection_metrics`, restore it, then `evaluate_test`.
      selection_metrics: validation metrics that select (the first reported).
      selection_lower_is_better: select the lowest value (a loss, RMSE), not
        the highest.
      early_stopping_patience: stop after this many epochs without a better
        selection metric; 0: never.
      retrain_on_full: after selection, train `task.refit(selected)` for the
        selected number of epochs and report and export that one.
      retrain_epochs: with `retrain_on_full`, refit for this many epochs
        instead of the selected number (published settings that fix the epoch
        count); None: the selected number.
    """

    model_dir: str
    train_epochs: int
    epochs_between_evals: int = 1
    data_dir: str | None = None
    clean: bool = False
    export_dir: str | None = None
    export_versioned: bool = False
    hooks: tuple[str, ...] = ()
    benchmark_log_dir: str | None = None
    benchmark_test_id: str | None = None
    stop_metrics: tuple[str, ...] = ()
    stop_threshold: float | None = None
    stop_flag: str = "--stop_threshold"
    validation: bool = False
    selection_metrics: tuple[str, ...] = ()
    selection_lower_is_better: bool = False
    early_stopping_patience: int = 0
    retrain_on_full: bool = False
    retrain_epochs: int | None = None


class Task(Protocol):
    """What a program gives the loop.

    Attributes:
      name: model name in benchmark_run.log ("ncf", "census", ...).
      dataset_name: dataset name in benchmark_run.log.
      trains: False for a model with nothing to train (evaluated only).
      steps_per_epoch: progress units (steps) of one epoch.
      examples_per_step: examples of one step, for the hooks.
      model: what `best-<epoch>/` keeps (a `tf.train.Checkpoint(model=...)`).
      metric_extras: extras of every metric.log record and of eval_results.json
        (e.g. {"top_k": 10, "eval_protocol": "sampled"}).
      model_kind: what the run's checkpoint records as its model (e.g.
        "ncf_main --model gmf"); a model_dir holding another kind is refused.
      divergence_hint: the likely cause named when the training loss is not
        finite (e.g. "--learning_rate 0.5 may be too high").
    """

    name: str
    dataset_name: str
    trains: bool
    steps_per_epoch: int
    examples_per_step: int
    model: Any
    metric_extras: dict
    model_kind: str
    divergence_hint: str

    def checkpointables(self) -> dict:
        """Trackables of the checkpoint besides the loop's epoch and selection."""

    def train_epoch(self, epoch: int, progress: Callable[[int], None],
                    prefetch_until: int) -> tuple[float, int]:
        """Trains epoch `epoch` (0-based); returns (mean loss, examples of all workers).

        `progress(n)` after every n steps; the input may prepare epochs up to
        `prefetch_until` (exclusive) ahead.
        """

    def evaluate(self) -> dict[str, float]:
        """Metrics of the evaluation set (the validation set under validation)."""

    def evaluate_test(self) -> dict[str, float] | None:
        """Metrics of the test set after selection; None when it is not evaluated."""

    def refit(self, epochs: int) -> "Task":
        """A fresh task on train + validation whose schedule spans `epochs` epochs."""

    def export(self, export_dir: str) -> None:
        """Writes the model's SavedModel to `export_dir`."""

    def run_facts(self) -> dict:
        """benchmark_run.log's run parameters."""

    def chosen_settings(self) -> dict:
        """Settings the fit itself chose by validation (EASE: {"ease_lambda": 500.0}), else {}."""

    def metric_label(self, name: str) -> str:
        """How the log names metric `name` (e.g. "HR@10")."""
