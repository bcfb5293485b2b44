"""Train / evaluate / export loop shared by census_main and movielens_main.

What the Estimator API gave, rebuilt: checkpoints in `<model_dir>/checkpoints`
restored at start (a rerun resumes; `--clean` starts fresh), cycles of
`--epochs_between_evals` epochs each followed by an evaluation, metrics to
the console, `<benchmark_log_dir>/metric.log` and TensorBoard
(`<model_dir>/summaries`), early stop on `--stop_threshold`, and a
SavedModel in `--export_dir`.

A task (`census_main.CensusTask`, `movielens_main.MovieLensTask`) provides:
`train_dataset(epoch)` (global batches of `--batch_size`),
`train_step(batch, normalizer) -> (loss_sum, count)`, `evaluate() -> dict`,
`checkpoint_items() -> dict`, `export(dir)`, `stop_metric` (name compared
with --stop_threshold, or None) and `name`. The task is built under the
strategy's scope (`run` does the strategy, the data, the task and the loop).

Under a distribution strategy every worker reads the same shuffled stream of
global batches (same seed) and keeps its own `batch_size / workers` rows of
each, split again over its replicas; all workers thus run the same number of
steps and every example is trained once per epoch. Each replica's loss is
normalized by the global example count of the step and the Keras optimizers
all-reduce the gradients. Every worker evaluates the whole evaluation set
with its copy of the (synchronized) model, so accuracy and AUC are exact and
the same everywhere; only the chief writes logs, summaries, results and the
export.
"""

import os
import shutil
import time

import tensorflow as tf
from absl import flags, logging

from official.utils.flags import core as flags_core
from official.utils.logs import logger as logger_lib
from official.utils.logs import progress
from official.utils.misc import atomic_io, checkpoints, distribution_utils


def define_wide_deep_flags(model_types: tuple[str, ...] = ("wide", "deep", "wide_deep"),
                           default_model_type: str = "wide_deep",
                           fv: flags.FlagValues = flags.FLAGS) -> None:
    """Registers the flags shared by the Wide & Deep programs."""
    flags_core.define_base(flag_values=fv)
    flags_core.define_benchmark(flag_values=fv)
    distribution_utils.define_distribution_flags(fv)
    fd = flags_core.bind(fv)
    fd.DEFINE_enum("model_type", default_model_type, list(model_types),
                   flags_core.help_wrap("Model: " + ", ".join(model_types) + "."))
    fd.DEFINE_boolean("download_if_missing", True,
                      flags_core.help_wrap("Download (and clean) the data if missing."))
    fd.DEFINE_integer("seed", 0, flags_core.help_wrap("Seed of initialization and shuffling."))
    fv.set_default("hooks", [])


def run(f, prepare_data, build_task) -> dict:
    """Chooses the strategy, prepares the data, builds the task in scope, runs the loop.

    The strategy comes first (before any other TensorFlow op); --batch_size is
    validated against the number of replicas and --clean removes model_dir
    (chief only) before anything is written.

    Args:
      f: parsed flag values.
      prepare_data: () -> None; downloads or generates the data if needed.
      build_task: () -> task (see the module docstring), called in the
        strategy's scope.

    Returns:
      As `run_loop`.
    """
    strategy, cluster = distribution_utils.strategy_from_flags(f)
    distribution_utils.per_replica_count(f.batch_size, strategy.num_replicas_in_sync)
    if f.clean and cluster.is_chief and os.path.isdir(f.model_dir):
        logging.info("--clean: removing %s", f.model_dir)
        shutil.rmtree(f.model_dir)
    prepare_data()
    with strategy.scope():
        task = build_task()
    return run_loop(task, f, strategy, cluster)


def _step_function(task, strategy, cluster, batch_size: int):
    """tf.function running one global step of `task` under `strategy`."""
    num_local = distribution_utils.num_local_replicas(strategy)
    per_worker = batch_size // cluster.num_workers
    per_replica = batch_size // strategy.num_replicas_in_sync
    first_local = cluster.worker_index * num_local
    offset = cluster.worker_index * per_worker

    def replica_step(batch):
        part = distribution_utils.local_replica_slice(batch, per_replica, num_local,
                                                      first_local)
        rows = tf.cast(tf.shape(part["label"])[0], tf.float32)
        ctx = tf.distribute.get_replica_context()
        total = tf.maximum(ctx.all_reduce(tf.distribute.ReduceOp.SUM, rows), 1.0)
        return task.train_step(part, total)

    @tf.function
    def step(batch):
        if cluster.num_workers > 1:  # this worker's rows of the global batch
            batch = {k: v[offset:offset + per_worker] for k, v in batch.items()}
        loss, count = strategy.run(replica_step, args=(batch,))
        return (tf.add_n(strategy.experimental_local_results(loss)),
                tf.add_n(strategy.experimental_local_results(count)))

    return step


def run_loop(task, f, strategy=None, cluster=distribution_utils.SINGLE) -> dict:
    """Runs training cycles for `task` as configured by flag values `f`.

    Args:
      task: see the module docstring; built under `strategy.scope()`.
      f: parsed flag values.
      strategy, cluster: from `distribution_utils.strategy_from_flags` (None:
        the default strategy).

    Returns:
      The last evaluation's metrics plus "epoch".
    """
    strategy = strategy or tf.distribute.get_strategy()
    chief = cluster.is_chief
    os.makedirs(f.model_dir, exist_ok=True)
    with strategy.scope():
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    ckpt = tf.train.Checkpoint(epoch=epoch_var, **task.checkpoint_items())
    manager = checkpoints.WorkerCheckpoints(ckpt, f.model_dir, chief)
    metric_logger = logger_lib.BenchmarkLogger(f.benchmark_log_dir, write=chief)
    metric_logger.log_run_info(task.name, task.dataset_name, {
        k: getattr(f, k) for k in ("model_type", "batch_size", "train_epochs",
                                   "epochs_between_evals", "seed")}, f.benchmark_test_id)
    writer = (tf.summary.create_file_writer(os.path.join(f.model_dir, "summaries")) if chief
              else tf.summary.create_noop_writer())
    step_fn = _step_function(task, strategy, cluster, f.batch_size)

    epoch = int(epoch_var.numpy())
    result = None
    with distribution_utils.worker_failures(cluster):
        result, epoch = _train_cycles(task, f, step_fn, epoch, epoch_var, manager,
                                      metric_logger, writer, strategy, cluster)
    if result is None:  # Nothing left to train: report the restored model.
        result = task.evaluate()
    result["epoch"] = epoch
    if chief:
        atomic_io.write_json(os.path.join(f.model_dir, "eval_results.json"), result)
    if f.export_dir and chief:
        task.export(f.export_dir)
    return result


def _train_cycles(task, f, step_fn, epoch, epoch_var, manager, metric_logger, writer,
                  strategy, cluster):
    result = None
    while epoch < f.train_epochs:
        cycle = min(f.epochs_between_evals, f.train_epochs - epoch)
        start, total, count = time.perf_counter(), 0.0, 0.0
        with progress.bar(cycle, f"{task.name} epochs {epoch + 1}-{epoch + cycle}", "epochs",
                          enabled=cluster.is_chief) as bar:
            for e in range(epoch, epoch + cycle):
                for batch in task.train_dataset(e):
                    t, c = step_fn(batch)
                    total += float(t)
                    count += float(c)
                bar.update(1)
        train_s = time.perf_counter() - start
        total, count = distribution_utils.all_reduce_sum(strategy, cluster, [total, count])
        epoch += cycle
        result = dict(task.evaluate(), loss=total / max(count, 1.0),
                      examples_per_second=count / train_s)
        epoch_var.assign(epoch)
        manager.save(epoch)
        logging.info("%s epoch %d: %s", task.name, epoch,
                     ", ".join(f"{k} = {v:.4f}" for k, v in result.items()))
        logger_lib.log_cycle(metric_logger, writer, result, epoch, {"epoch": epoch},
                             {"examples_per_second": "examples/s"})
        if (f.stop_threshold is not None and task.stop_metric
                and result[task.stop_metric] >= f.stop_threshold):
            logging.info("%s %.4f reached --stop_threshold; stopping", task.stop_metric,
                         result[task.stop_metric])
            break
    return result, epoch


def print_result(result: dict) -> None:
    """Prints the final metrics on one line (`name = value, ...`)."""
    print(", ".join(f"{k} = {v:.4f}" if isinstance(v, float) else f"{k} = {v}"
                    for k, v in result.items()))
