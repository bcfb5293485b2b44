"""The one train / evaluate / select / checkpoint / export loop of every program.

What the Estimator API gave, on Keras 3 and `tf.distribute`, for all three programs:

* `--clean` (chief only) before anything is written, then checkpoints in
  `<model_dir>/checkpoints` restored at start: a rerun resumes;
* cycles of `epochs_between_evals` epochs, each followed by an evaluation, a
  progress bar and the `--hooks` after every compiled call;
* each cycle's metrics to the log, `<benchmark_log_dir>/metric.log`, TensorBoard
  (`<model_dir>/summaries`) and `<model_dir>/history.json` (the report's curves);
* stop threshold; with validation, selection of the best epoch (`best-<epoch>/`
  weights), early stopping, the selected weights restored, an optional refit on
  train + validation (`<model_dir>/retrain`), the test set read once, last;
* `eval_results.json` and the export, written by the chief.

A program supplies a `Task` (see the protocol), its `RunConfig` and a
`distribution_utils.DistributionConfig`.
"""

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf
from absl import logging

from official.utils.logs import history, run_summary, terminal
from official.utils.logs import hooks as hooks_lib
from official.utils.logs import logger as logger_lib
from official.utils.logs import progress as progress_lib
from official.utils.misc import (
    atomic_io,
    checkpoints,
    distribution_utils,
    locks,
    replica_ops,
    run_dirs,
    saved_model_export,
)
from official.utils.retraining import check_finite_loss, retrain
from official.utils.run_api import EVAL_RESULTS, RunConfig, Task

RETRAIN_DIR = "retrain"


def preflight(config: RunConfig) -> None:
    """Checks every output location is writable before any heavy work.

    Raises:
      UserError: one line naming the location (and the flag that set it).
    """
    outputs = [("--model_dir", config.model_dir), ("--data_dir", config.data_dir),
               ("--benchmark_log_dir", config.benchmark_log_dir)]
    for flag, path in outputs:
        if path:
            run_dirs.check_writable(path, flag)
    if config.export_dir and config.export_versioned:
        saved_model_export.check_version_base(config.export_dir)
        run_dirs.check_writable(config.export_dir, "--export_dir")
    elif config.export_dir:
        saved_model_export.check_replaceable(config.export_dir)
        run_dirs.check_writable(config.export_dir, "--export_dir")


def run(config: RunConfig, distribution: distribution_utils.DistributionConfig,
        build_task: Callable[[Any, distribution_utils.Cluster], Task]) -> dict:
    """Chooses the strategy, checks and claims the outputs, builds the task, runs the loop.

    The chief checks every output location (`preflight`), locks model_dir for
    the run (a second run on it fails at once, naming this process), applies
    `--clean` (only to a directory the package created) and marks a new
    model_dir as the package's. A run that fails before training leaves no
    model_dir it created behind.

    Args:
      config: the run's settings.
      distribution: the strategy's settings (settled before any other
        TensorFlow operation).
      build_task: (strategy, cluster) -> Task; it builds its variables under
        the strategy's scope.

    Returns:
      As `train_and_report`.
    """
    strategy, cluster = distribution_utils.make_strategy(distribution)
    if not cluster.is_chief:
        return train_and_report(build_task(strategy, cluster), config, strategy, cluster)
    preflight(config)
    created = not os.path.exists(config.model_dir)
    if not config.clean:  # --clean logs what it empties
        logging.info("Checkpoints and results go to %s%s", config.model_dir, "" if created
                     else " (it exists: a run there resumes; --clean starts over)")
    os.makedirs(config.model_dir, exist_ok=True)
    try:
        with locks.hold(os.path.join(config.model_dir, run_dirs.LOCK),
                        f"--model_dir {config.model_dir}"):
            if config.clean:
                run_dirs.clean(config.model_dir)
            run_dirs.claim(config.model_dir)
            task = build_task(strategy, cluster)
            return train_and_report(task, config, strategy, cluster)
    except BaseException:
        if created:
            run_dirs.remove_if_unused(config.model_dir)
        raise


def run_stages(stages: Sequence[tuple[RunConfig, Callable[[Any, distribution_utils.Cluster],
                                                            Task]]],
               distribution: distribution_utils.DistributionConfig, top_dir: str,
               clean: bool = False) -> dict:
    """Runs sub-runs in order (a recipe's stages), each in its own model_dir under `top_dir`.

    The loop owns `top_dir` as it owns a single run's model_dir: the chief
    checks it is writable, empties it with `clean` (only if the package
    created it) and marks it as the package's; then each stage is a `run`
    (its own lock, resume and selection). A stage reads an earlier stage's
    result through `selected_weights(stage model_dir)`.

    Args:
      stages: (RunConfig, build_task) of each stage, in order; each RunConfig's
        model_dir is inside `top_dir`.
      distribution: the strategy's settings (the same for every stage).
      top_dir: the directory holding every stage's model_dir.
      clean: empty `top_dir` first.

    Returns:
      The last stage's result (see `train_and_report`).
    """
    if distribution.cluster.is_chief:
        run_dirs.check_writable(top_dir, "--model_dir")
        if clean:
            run_dirs.clean(top_dir)
        run_dirs.claim(top_dir)
    result = {}
    for number, (config, build_task) in enumerate(stages, 1):
        logging.info("Stage %d of %d in %s", number, len(stages), config.model_dir)
        result = run(config, distribution, build_task)
    return result


def selected_weights(model_dir: str) -> str | None:
    """The checkpoint prefix of a finished run's result: its selected epoch's weights.

    A run that selected an epoch on validation gives `best-<epoch>/`; one
    that did not, its latest checkpoint; None when there is neither.
    """
    results = atomic_io.read_json(os.path.join(model_dir, EVAL_RESULTS)) or {}
    epoch = results.get("selected_epoch")
    if epoch:
        prefix = checkpoints.BestWeights.weights_prefix(model_dir, epoch)
        if tf.io.gfile.exists(prefix + ".index"):
            return prefix
    return tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))


@dataclasses.dataclass
class _Run:
    """What one run of the loop holds."""

    task: Task
    config: RunConfig
    strategy: Any
    cluster: distribution_utils.Cluster
    epoch: Any  # tf.Variable: completed epochs
    info: checkpoints.RunInfo
    selection: checkpoints.Selection
    manager: checkpoints.WorkerCheckpoints
    best: checkpoints.BestWeights
    logger: logger_lib.BenchmarkLogger
    writer: Any


def train_and_report(task: Task, config: RunConfig, strategy=None,
                     cluster: distribution_utils.Cluster = distribution_utils.SINGLE) -> dict:
    """Trains `task` in cycles, selects, reports and exports as `config` says.

    Returns:
      Without validation: the last evaluation's metrics (with the last cycle's
      loss and examples_per_second when this process trained) and "epoch".
      With validation: the test metrics (when evaluated), validation_*
      metrics of the selected epoch, "selected_epoch", "epoch" (the last
      trained), "retrained_epochs" after a refit and "loss" (the last
      training loss, when this process trained).
    """
    strategy = strategy or tf.distribute.get_strategy()
    chief = cluster.is_chief
    os.makedirs(config.model_dir, exist_ok=True)
    with strategy.scope():
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    selection = checkpoints.Selection(config.selection_lower_is_better)
    info = checkpoints.RunInfo(task.model_kind)
    checkpoint = tf.train.Checkpoint(epoch=epoch, selection=selection, **task.checkpointables())
    run_state = _Run(
        task, config, strategy, cluster, epoch, info, selection,
        checkpoints.WorkerCheckpoints(checkpoint, config.model_dir, chief, run_info=info),
        checkpoints.BestWeights(task.model, config.model_dir, chief),
        logger_lib.BenchmarkLogger(config.benchmark_log_dir, write=chief),
        tf.summary.create_file_writer(os.path.join(config.model_dir, "summaries")) if chief
        else tf.summary.create_noop_writer())
    facts = {**task.run_facts(), "train_epochs": config.train_epochs,
             "epochs_between_evals": config.epochs_between_evals}
    run_state.logger.log_run_info(task.name, task.dataset_name, facts,
                                  config.benchmark_test_id)
    with replica_ops.worker_failures(cluster):
        last_cycle = _train_cycles(run_state)
        result, final = _report(run_state, last_cycle)
    if chief:
        atomic_io.write_json(os.path.join(config.model_dir, EVAL_RESULTS), result)
    if config.export_dir and chief:
        saved_model_export.export_to(config.export_dir, final.export, config.export_versioned)
    return result


def _first(metrics: dict, names: tuple[str, ...]) -> tuple[str, float] | None:
    for name in names:
        if name in metrics:
            return name, metrics[name]
    return None


def _train_cycles(r: _Run) -> dict | None:
    """Train / evaluate cycles until train_epochs, early stopping or the threshold.

    Returns:
      The last cycle's metrics (evaluation, loss, examples_per_second), or
      None when this process trained nothing.
    """
    task, config = r.task, r.config
    if not task.trains:
        logging.info("%s has nothing to train: evaluating only", task.name)
        r.epoch.assign(config.train_epochs)
        return None
    hooks = hooks_lib.get_train_hooks(config.hooks if r.cluster.is_chief else [],
                                      model_dir=config.model_dir, metric_logger=r.logger)
    epoch = int(r.epoch.numpy())
    for hook in hooks:
        hook.on_train_begin()
    step = first_step = epoch * task.steps_per_epoch

    def progress(n: int, bar) -> None:
        nonlocal step
        step += n
        bar.update(n)
        for hook in hooks:
            hook.on_steps_end(step, (step - first_step) * task.examples_per_step, {})

    prefix = "validation_" if config.validation else ""
    metrics = None
    while epoch < config.train_epochs and not int(r.selection.stopped.numpy()):
        cycle = min(config.epochs_between_evals, config.train_epochs - epoch)
        start, examples = time.perf_counter(), 0
        desc = f"epoch {epoch + 1}" if cycle == 1 else f"epochs {epoch + 1}-{epoch + cycle}"
        # The cycle's metrics line reports its end (and time).
        with progress_lib.bar(cycle * task.steps_per_epoch, desc, "steps",
                              enabled=r.cluster.is_chief, final_line=False) as bar:
            for e in range(epoch, epoch + cycle):
                loss, n = task.train_epoch(e, lambda n, bar=bar: progress(n, bar),
                                           config.train_epochs)
                check_finite_loss(task, e + 1, loss)
                examples += n
        train_s = time.perf_counter() - start
        epoch += cycle
        eval_start = time.perf_counter()
        result = task.evaluate()
        eval_s = time.perf_counter() - eval_start
        r.epoch.assign(epoch)
        selected = _first(result, config.selection_metrics) if config.validation else None
        if selected and r.selection.update(epoch, selected[1]):
            r.best.save(epoch)
        stop = _stop_reason(r, epoch, result)
        if stop:
            logging.info("%s; stopping after epoch %d", stop, epoch)
            r.selection.stopped.assign(1)
        r.info.last_loss.assign(loss)
        r.info.last_examples_per_second.assign(examples / train_s)
        r.manager.save(epoch)
        r.best.prune(int(r.selection.best_epoch.numpy()))
        metrics = {f"{prefix}{k}": v for k, v in result.items()}
        metrics.update(loss=loss, examples_per_second=examples / train_s)
        _log_cycle(r, metrics, epoch, step, train_s, eval_s)
    for hook in hooks:
        hook.on_train_end()
    return metrics


def _last_cycle_of(r: _Run) -> dict:
    """The last trained cycle's loss and speed as the checkpoint recorded them (resumed runs)."""
    if not r.task.trains:
        return {}
    return {"loss": float(r.info.last_loss.numpy()),
            "examples_per_second": float(r.info.last_examples_per_second.numpy())}


def _stop_reason(r: _Run, epoch: int, result: dict) -> str | None:
    config = r.config
    reached = _first(result, config.stop_metrics)
    if config.stop_threshold is not None and reached and reached[1] >= config.stop_threshold:
        what = ("validation " if config.validation else "") + reached[0]
        return (f"{what} {reached[1]:.4f} reached {config.stop_flag} "
                f"{config.stop_threshold:.4f}")
    patience = config.early_stopping_patience
    if config.validation and patience and r.selection.epochs_since_best(epoch) >= patience:
        return (f"no better validation {config.selection_metrics[0]} for {patience} epochs "
                f"(best {float(r.selection.best_value.numpy()):.4f} at epoch "
                f"{int(r.selection.best_epoch.numpy())})")
    return None


def _log_cycle(r: _Run, metrics: dict, epoch: int, step: int, train_s: float,
               eval_s: float) -> None:
    def label(name: str) -> str:
        bare = name.removeprefix("validation_")
        return name[:len(name) - len(bare)] + r.task.metric_label(bare)

    logging.info("Epoch %d: %s (train %.1f s, eval %.1f s)", epoch, ", ".join(
        f"{label(n)} = {terminal.human(v)}" for n, v in metrics.items()), train_s, eval_s)
    logger_lib.log_cycle(r.logger, r.writer, metrics, step,
                         {"epoch": epoch, **r.task.metric_extras},
                         {"examples_per_second": "examples/s"})
    if r.cluster.is_chief:  # the report's curves
        history.append(r.config.model_dir, epoch, train_s + eval_s, metrics, r.task.run_facts())


def _report(r: _Run, last_cycle: dict | None) -> tuple[dict, Task]:
    """The reported metrics, and the task whose model is exported."""
    task, config = r.task, r.config
    epoch = int(r.epoch.numpy())
    if not config.validation:
        return {**(last_cycle or {**task.evaluate(), **_last_cycle_of(r)}), "epoch": epoch,
                **task.metric_extras}, task
    selected = int(r.selection.best_epoch.numpy()) if task.trains else 0
    if selected:
        r.best.restore(selected)
    validation = task.evaluate()
    final = task
    refit_epochs = config.retrain_epochs or selected
    if config.retrain_on_full and selected:
        final = retrain(task, refit_epochs, r.strategy, r.cluster,
                        os.path.join(config.model_dir, RETRAIN_DIR))
    test = final.evaluate_test()
    # Test metrics first (what a user reads first), then validation, then epochs.
    result = {**(test or {}), **{f"validation_{k}": v for k, v in validation.items()},
              "epoch": epoch, "selected_epoch": selected, **task.metric_extras}
    if final is not task:
        result["retrained_epochs"] = refit_epochs
    reported = ({f"test_{k}": v for k, v in (test or {}).items()}
                | {f"selected_validation_{k}": v for k, v in validation.items()})
    logger_lib.log_cycle(r.logger, r.writer, reported | {"selected_epoch": selected},
                         selected * task.steps_per_epoch,
                         {"selected_epoch": selected, **task.metric_extras,
                          "retrained_on_full": final is not task})
    # The numbers are in the program's closing summary, metric.log and eval_results.json.
    first = _first(validation, config.selection_metrics)
    logging.info("Selected epoch %d%s by validation %s", selected,
                 run_summary.settings_note(task.chosen_settings()),
                 f"{task.metric_label(first[0])} = {terminal.human(first[1])}" if first
                 else "-")
    if task.trains:
        result["loss"] = (last_cycle or _last_cycle_of(r))["loss"]
    return result, final
