"""Train and evaluate NCF (NeuMF, GMF or MLP) on MovieLens implicit feedback.

    python -m official.recommendation.ncf_main --dataset ml-1m --model_dir /tmp/ncf

Trains in cycles of --epochs_between_evals epochs, evaluates HR@K / NDCG@K
after each (leave-one-out, 1 positive + --num_eval_negatives sampled items),
checkpoints to --model_dir after every cycle and resumes from there on a
rerun. See README.md for the protocol, flags and measured results.
"""

import json
import os
import shutil
import time

import tqdm
from absl import flags, logging

from official.datasets import movielens
from official.recommendation import movielens_dataset, ncf_export, ncf_trainer, neumf_model
from official.recommendation.ncf_trainer import NCFTrainer, TrainConfig
from official.utils.errors import UserError
from official.utils.flags import core as flags_core
from official.utils.logs import hooks as hooks_lib
from official.utils.logs import logger as logger_lib
from official.utils.misc import atomic_io, checkpoints, distribution_utils


def define_ncf_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Registers every flag of ncf_main in `fv`."""
    fd = flags_core.bind(fv)
    flags_core.define_base(stop_threshold=False, flag_values=fv)
    flags_core.define_benchmark(flag_values=fv)
    distribution_utils.define_distribution_flags(fv)
    movielens.define_data_download_flags(data_dir=False, flag_values=fv)
    for name, value in (("dataset", movielens.schema.ML_1M), ("model_dir", "/tmp/ncf"),
                        ("train_epochs", 20), ("batch_size", 256), ("hooks", [])):
        fv.set_default(name, value)
    w = flags_core.help_wrap
    fd.DEFINE_enum("model", "neumf", list(ncf_trainer.MODEL_TYPES),
                   w("Model: neumf (GMF + MLP), gmf or mlp; or a baseline in the same "
                     "harness: mf (dot-product matrix factorization with biases, same "
                     "negatives and loss; --num_factors, --mf_regularization) or popularity "
                     "(most-popular ranking, nothing to train)."))
    fd.DEFINE_enum("eval_protocol", "sampled", list(ncf_trainer.EVAL_PROTOCOLS),
                   w("sampled: HR/NDCG@top_k of the held-out item among "
                     "--num_eval_negatives sampled items (the paper). full: HR/NDCG/"
                     "Recall@top_k against every item the user did not train on "
                     "(HR_full, NDCG_full, Recall_full). both: all of them."))
    fd.DEFINE_integer("num_factors", 8, w("Latent factors of the GMF embeddings."),
                         lower_bound=1)
    fd.DEFINE_string("layers", "64,32,16,8",
                        w("MLP layer sizes; the first (even) is the concatenated user + item "
                          "embedding size."))
    fd.DEFINE_float("mf_regularization", 0.0, w("L2 weight on GMF embedding rows."),
                       lower_bound=0.0)
    fd.DEFINE_float("mlp_regularization", 0.0, w("L2 weight on MLP embedding rows."),
                       lower_bound=0.0)
    fd.DEFINE_integer("num_neg", 4, w("Training negatives per positive, redrawn every "
                                         "epoch."), lower_bound=1)
    fd.DEFINE_float("learning_rate", 0.001, w("Adam learning rate."), lower_bound=0.0)
    fd.DEFINE_float("beta1", 0.9, w("Adam beta_1."), lower_bound=0.0, upper_bound=1.0)
    fd.DEFINE_float("beta2", 0.999, w("Adam beta_2."), lower_bound=0.0, upper_bound=1.0)
    fd.DEFINE_float("epsilon", 1e-8, w("Adam epsilon."), lower_bound=0.0)
    fd.DEFINE_float("hr_threshold", None, w("Stop once HR@top_k reaches this value."))
    fd.DEFINE_integer("top_k", 10, w("K of HR@K and NDCG@K."), lower_bound=1)
    fd.DEFINE_integer("num_eval_negatives", 100, w("Sampled evaluation negatives per "
                                                      "user."), lower_bound=1)
    fd.DEFINE_integer("seed", 0, w("Seed of initialization, negatives and shuffling; a "
                                      "CPU run with the same seed repeats exactly."))
    fd.DEFINE_boolean("download_if_missing", True,
                         w("Download (or generate, for synthetic) the dataset if missing."))
    fd.DEFINE_string("ncf_split", None,
                        w("Use the NCF authors' split: PREFIX.train.rating, "
                          "PREFIX.test.rating and PREFIX.test.negative (0-based ids)."))
    fd.DEFINE_string("pretrained_gmf", None, w("model_dir of a trained GMF run to "
                                                  "initialize NeuMF from (with "
                                                  "--pretrained_mlp)."))
    fd.DEFINE_string("pretrained_mlp", None, w("model_dir of a trained MLP run to "
                                                  "initialize NeuMF from."))
    fd.DEFINE_integer("steps_per_call", 64,
                      w("Training steps per compiled call: the input pipeline stacks this "
                        "many steps, and with --jit_compile the loop over them is one XLA "
                        "program (fewer, larger calls cost less per step)."),
                      lower_bound=1)
    fd.DEFINE_enum("optimizer", "adam", ["adam", "lazy_adam"],
                   w("adam: dense Adam on all weights (the paper). lazy_adam: Adam on the "
                     "dense layers and, for the embedding tables, only on the rows in the "
                     "batch -- much faster at ml-20m scale (see README)."))
    fd.DEFINE_boolean("jit_compile", True, w("Compile the training step (forward, backward, "
                                             "Adam) with XLA; --nojit_compile to disable."))
    fd.register_validator(
        "layers", lambda v: _layers_ok(v),
        message="--layers must be comma-separated positive integers, the first even")
    fd.register_multi_flags_validator(
        ["pretrained_gmf", "pretrained_mlp", "model"],
        lambda f: (f["pretrained_gmf"] is None) == (f["pretrained_mlp"] is None)
        and (f["pretrained_gmf"] is None or f["model"] == "neumf"),
        message="--pretrained_gmf and --pretrained_mlp go together, with --model neumf")


def _layers_ok(text: str) -> bool:
    try:
        neumf_model.parse_layers(text)
        return True
    except ValueError:
        return False


def load_data(f) -> movielens_dataset.NCFData:
    """The NCF data named by the flags (downloading if allowed and needed)."""
    if f.ncf_split:
        return movielens_dataset.read_ncf_split(f.ncf_split)
    movielens.ensure(f.dataset, f.data_dir, f.data_url, movielens.synthetic_spec_from_flags(f),
                     f.download_if_missing)
    return movielens_dataset.load_movielens(f.data_dir, f.dataset, f.num_eval_negatives,
                                            f.seed)


def config_from_flags(f) -> TrainConfig:
    """TrainConfig from the parsed flags."""
    return TrainConfig(
        model_type=f.model, num_factors=f.num_factors,
        layers=tuple(neumf_model.parse_layers(f.layers)),
        mf_regularization=f.mf_regularization, mlp_regularization=f.mlp_regularization,
        num_neg=f.num_neg, batch_size=f.batch_size, learning_rate=f.learning_rate,
        beta1=f.beta1, beta2=f.beta2, epsilon=f.epsilon, seed=f.seed,
        steps_per_call=f.steps_per_call, jit_compile=f.jit_compile, optimizer=f.optimizer)


def run_ncf(f) -> dict:
    """Runs training / evaluation cycles as configured by flag values `f`.

    Returns:
      The last evaluation: {"HR", "NDCG", "eval_loss", "epoch"}.
    """
    # The strategy comes first: TF_CONFIG and logical devices must be settled
    # before TensorFlow runs any operation.
    strategy, cluster = distribution_utils.strategy_from_flags(f)
    import tensorflow as tf

    chief = cluster.is_chief
    if f.clean and chief and os.path.isdir(f.model_dir):
        logging.info("--clean: removing %s", f.model_dir)
        shutil.rmtree(f.model_dir)
    data = load_data(f)
    config = config_from_flags(f)
    try:
        trainer = NCFTrainer(data, config, strategy, cluster)
    except ValueError as e:
        raise UserError(str(e)) from e
    logging.info("Strategy %s: %d replica(s), worker %d of %d%s", type(strategy).__name__,
                 trainer.num_replicas, cluster.worker_index, cluster.num_workers,
                 " (chief)" if chief else "")
    if not trainer.trains:
        logging.info("%s has nothing to train: evaluating only", f.model)
    if f.pretrained_gmf:
        from official.recommendation import ncf_pretrain

        ncf_pretrain.init_from_pretrained(trainer, f.pretrained_gmf, f.pretrained_mlp)

    os.makedirs(f.model_dir, exist_ok=True)
    manager = checkpoints.WorkerCheckpoints(trainer.checkpoint(), f.model_dir, chief)

    metric_logger = logger_lib.BenchmarkLogger(f.benchmark_log_dir, write=chief)
    run_params = {k: getattr(f, k) for k in (
        "dataset", "model", "batch_size", "learning_rate", "num_factors", "layers", "num_neg",
        "train_epochs", "epochs_between_evals", "seed", "num_eval_negatives", "top_k",
        "optimizer")}
    metric_logger.log_run_info("ncf", f.dataset if not f.ncf_split else f.ncf_split,
                               run_params, f.benchmark_test_id)
    hooks = hooks_lib.get_train_hooks(f.hooks if chief else [], model_dir=f.model_dir,
                                      metric_logger=metric_logger)
    writer = (tf.summary.create_file_writer(os.path.join(f.model_dir, "summaries")) if chief
              else tf.summary.create_noop_writer())
    logging.info("Training %s on %d users, %d items, %d positives: %d steps of %d examples "
                 "per epoch", config.model_type, data.num_users, data.num_items,
                 trainer.num_positives, trainer.steps_per_epoch,
                 trainer.positives_per_step * (1 + config.num_neg))

    result = None
    epoch = int(trainer.epoch.numpy()) if trainer.trains else f.train_epochs
    for hook in hooks:
        hook.on_train_begin()
    global_step = epoch * trainer.steps_per_epoch
    first_step = global_step
    step_examples = trainer.positives_per_step * (1 + config.num_neg)

    def progress(n, bar):
        nonlocal global_step
        global_step += n
        bar.update(n)
        for hook in hooks:
            hook.on_steps_end(global_step, (global_step - first_step) * step_examples, {})

    with distribution_utils.worker_failures(cluster):
        while epoch < f.train_epochs:
            cycle_epochs = min(f.epochs_between_evals, f.train_epochs - epoch)
            start = time.perf_counter()
            losses, examples = [], 0
            with tqdm.tqdm(total=cycle_epochs * trainer.steps_per_epoch, unit="step",
                           desc=f"epochs {epoch + 1}-{epoch + cycle_epochs}",
                           disable=None if chief else True, leave=False) as bar:
                for e in range(epoch, epoch + cycle_epochs):
                    loss, n = trainer.train_epoch(e, lambda n, bar=bar: progress(n, bar),
                                                  prefetch_until=f.train_epochs)
                    losses.append(loss)
                    examples += n
            train_s = time.perf_counter() - start
            epoch += cycle_epochs
            eval_start = time.perf_counter()
            result = trainer.evaluate(f.top_k, f.eval_protocol)
            eval_s = time.perf_counter() - eval_start
            result.update(loss=losses[-1], examples_per_second=examples / train_s, epoch=epoch)
            trainer.epoch.assign(epoch)
            manager.save(epoch)
            _log_cycle(metric_logger, writer, result, epoch, global_step, f.top_k, train_s, eval_s)
            hr = result.get("HR", result.get("HR_full"))
            if f.hr_threshold is not None and hr >= f.hr_threshold:
                logging.info("HR %.4f reached --hr_threshold %.4f; stopping", hr,
                             f.hr_threshold)
                break
    for hook in hooks:
        hook.on_train_end()
    if result is None:  # Nothing left to train: report the restored model.
        result = dict(trainer.evaluate(f.top_k, f.eval_protocol), epoch=epoch)
    if chief:
        atomic_io.write_json(os.path.join(f.model_dir, "eval_results.json"), result)
    if f.export_dir and chief:
        ncf_export.export(trainer.single_device_model(), data.user_ids, data.item_ids,
                          f.export_dir, export_item_info(f, data))
    return result


def export_item_info(f, data: movielens_dataset.NCFData) -> ncf_export.ItemInfo:
    """What the export's `recommend` needs: every rated pair, titles and genres."""
    import numpy as np

    users = np.concatenate([data.train_users, data.eval_users])
    items = np.concatenate([data.train_items, data.eval_items[:, 0]])
    order = np.argsort(users, kind="stable")
    info = ncf_export.ItemInfo(users[order], items[order])
    if not f.ncf_split:  # the authors' split files carry no titles
        info.titles, info.genres = ncf_export.titles_and_genres(f.data_dir, f.dataset,
                                                                data.item_ids)
    return info


RANKING_METRICS = ("HR", "NDCG", "HR_full", "NDCG_full", "Recall_full")  # reported @top_k
METRIC_NAMES = (*RANKING_METRICS, "loss", "eval_loss", "examples_per_second")


def _log_cycle(metric_logger, writer, result, epoch, step, top_k, train_s, eval_s) -> None:
    names = [n for n in METRIC_NAMES if n in result]
    logging.info("Epoch %d: %s (train %.1fs, eval %.2fs)", epoch, ", ".join(
        f"{n}@{top_k} = {result[n]:.4f}" if n in RANKING_METRICS else f"{n} = {result[n]:.4f}"
        for n in names), train_s, eval_s)
    logger_lib.log_cycle(metric_logger, writer, {n: result[n] for n in names}, step,
                         {"epoch": epoch, "top_k": top_k},
                         {"examples_per_second": "examples/s"})


def main(_) -> None:
    """Entry point: reads the flags and runs NCF."""
    result = run_ncf(flags.FLAGS)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                      for k, v in result.items()}))
    k = flags.FLAGS.top_k
    print(", ".join(f"{n}@{k} = {result[n]:.4f}" for n in RANKING_METRICS if n in result))


if __name__ == "__main__":
    from official.utils.misc import cli

    define_ncf_flags()
    cli.run(main)
