"""Train / evaluate / export loop shared by census_main and movielens_main.

What the Estimator API gave, rebuilt: checkpoints in `<model_dir>/checkpoints`
restored at start (a rerun resumes; `--clean` starts fresh), cycles of
`--epochs_between_evals` epochs each followed by an evaluation, metrics to
the console, `<benchmark_log_dir>/metric.log` and TensorBoard
(`<model_dir>/summaries`), early stop on `--stop_threshold`, and a
SavedModel in `--export_dir`.

A task (`census_main.CensusTask`, `movielens_main.MovieLensTask`) provides:
`train_dataset(epoch)`, `train_step(batch) -> (loss_sum, count)`,
`evaluate() -> dict`, `checkpoint_items() -> dict`, `export(dir)`,
`stop_metric` (name compared with --stop_threshold, or None) and `name`.
"""

import os
import shutil
import time

import tensorflow as tf
import tqdm
from absl import flags, logging

from official.utils.flags import core as flags_core
from official.utils.logs import logger as logger_lib
from official.utils.misc import atomic_io, checkpoints


def define_wide_deep_flags(model_types: tuple[str, ...] = ("wide", "deep", "wide_deep"),
                           default_model_type: str = "wide_deep",
                           fv: flags.FlagValues = flags.FLAGS) -> None:
    """Registers the flags shared by the Wide & Deep programs."""
    flags_core.define_base(flag_values=fv)
    flags_core.define_benchmark(flag_values=fv)
    fd = flags_core.bind(fv)
    fd.DEFINE_enum("model_type", default_model_type, list(model_types),
                   flags_core.help_wrap("Model: " + ", ".join(model_types) + "."))
    fd.DEFINE_boolean("download_if_missing", True,
                      flags_core.help_wrap("Download (and clean) the data if missing."))
    fd.DEFINE_integer("seed", 0, flags_core.help_wrap("Seed of initialization and shuffling."))
    fv.set_default("hooks", [])


def run_loop(task, f) -> dict:
    """Runs training cycles for `task` as configured by flag values `f`.

    Returns:
      The last evaluation's metrics plus "epoch".
    """
    if f.clean and os.path.isdir(f.model_dir):
        logging.info("--clean: removing %s", f.model_dir)
        shutil.rmtree(f.model_dir)
    os.makedirs(f.model_dir, exist_ok=True)
    epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    ckpt = tf.train.Checkpoint(epoch=epoch_var, **task.checkpoint_items())
    manager = checkpoints.restore_latest(ckpt, f.model_dir)
    metric_logger = logger_lib.BenchmarkLogger(f.benchmark_log_dir)
    metric_logger.log_run_info(task.name, task.dataset_name, {
        k: getattr(f, k) for k in ("model_type", "batch_size", "train_epochs",
                                   "epochs_between_evals", "seed")}, f.benchmark_test_id)
    writer = tf.summary.create_file_writer(os.path.join(f.model_dir, "summaries"))
    step_fn = tf.function(task.train_step)

    epoch = int(epoch_var.numpy())
    result = None
    while epoch < f.train_epochs:
        cycle = min(f.epochs_between_evals, f.train_epochs - epoch)
        start, total, count = time.perf_counter(), 0.0, 0.0
        with tqdm.tqdm(total=cycle, unit="epoch", desc=f"{task.name} epochs {epoch + 1}-"
                       f"{epoch + cycle}", disable=None, leave=False) as bar:
            for e in range(epoch, epoch + cycle):
                for batch in task.train_dataset(e):
                    t, c = step_fn(batch)
                    total += float(t)
                    count += float(c)
                bar.update(1)
        train_s = time.perf_counter() - start
        epoch += cycle
        result = dict(task.evaluate(), loss=total / max(count, 1.0),
                      examples_per_second=count / train_s)
        epoch_var.assign(epoch)
        manager.save(checkpoint_number=epoch)
        logging.info("%s epoch %d: %s", task.name, epoch,
                     ", ".join(f"{k} = {v:.4f}" for k, v in result.items()))
        logger_lib.log_cycle(metric_logger, writer, result, epoch, {"epoch": epoch},
                             {"examples_per_second": "examples/s"})
        if (f.stop_threshold is not None and task.stop_metric
                and result[task.stop_metric] >= f.stop_threshold):
            logging.info("%s %.4f reached --stop_threshold; stopping", task.stop_metric,
                         result[task.stop_metric])
            break
    if result is None:  # Nothing left to train: report the restored model.
        result = task.evaluate()
    result["epoch"] = epoch
    atomic_io.write_json(os.path.join(f.model_dir, "eval_results.json"), result)
    if f.export_dir:
        task.export(f.export_dir)
    return result


def print_result(result: dict) -> None:
    """Prints the final metrics on one line (`name = value, ...`)."""
    print(", ".join(f"{k} = {v:.4f}" if isinstance(v, float) else f"{k} = {v}"
                    for k, v in result.items()))
