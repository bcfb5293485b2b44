"""Train and evaluate NCF (NeuMF, GMF or MLP) on MovieLens implicit feedback.

    python -m official.recommendation.ncf_main --dataset ml-1m --model_dir /tmp/ncf

Trains in cycles of --epochs_between_evals epochs, evaluates HR@K / NDCG@K
after each (leave-one-out, 1 positive + --num_eval_negatives sampled items),
checkpoints to --model_dir after every cycle and resumes from there on a
rerun. See README.md for the protocol, flags and measured results.
"""

import dataclasses
import json
import os
import shutil
import time

import numpy as np
from absl import flags, logging

from official.datasets import movielens
from official.recommendation import (
    movielens_dataset,
    ncf_export,
    ncf_recipes,
    ncf_schedule,
    ncf_trainer,
    ncf_validation,
    neumf_model,
)
from official.recommendation.ncf_trainer import NCFTrainer, TrainConfig
from official.utils.errors import UserError
from official.utils.flags import core as flags_core
from official.utils.logs import hooks as hooks_lib
from official.utils.logs import logger as logger_lib
from official.utils.logs import progress as progress_lib
from official.utils.misc import atomic_io, checkpoints, distribution_utils


def define_ncf_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Registers every flag of ncf_main in `fv`."""
    fd = flags_core.bind(fv)
    flags_core.define_base(stop_threshold=False, flag_values=fv)
    flags_core.define_benchmark(flag_values=fv)
    distribution_utils.define_distribution_flags(fv)
    movielens.define_data_download_flags(data_dir=False, flag_values=fv)
    for name, value in (("dataset", movielens.schema.ML_1M), ("model_dir", "/tmp/ncf"),
                        ("train_epochs", 10), ("batch_size", 16384), ("hooks", [])):
        fv.set_default(name, value)
    w = flags_core.help_wrap
    fd.DEFINE_enum("model", "neumf", list(ncf_trainer.MODEL_TYPES),
                   w("Model: neumf (GMF + MLP), gmf or mlp; or a baseline in the same "
                     "harness: mf (dot-product matrix factorization with biases, same "
                     "negatives and loss; --num_factors, --mf_regularization), popularity "
                     "(most-popular ranking, nothing to train), ials (implicit alternating "
                     "least squares on every user-item pair; --num_factors, --ials_*) or "
                     "ease (closed-form item-item model; --ease_lambda)."))
    fd.DEFINE_enum("eval_protocol", "sampled", list(ncf_trainer.EVAL_PROTOCOLS),
                   w("sampled: HR/NDCG@top_k of the held-out item among "
                     "--num_eval_negatives sampled items (the paper). full: HR/NDCG/"
                     "Recall@top_k against every item the user did not train on "
                     "(HR_full, NDCG_full, Recall_full). both: all of them."))
    fd.DEFINE_integer("num_factors", 32, w("Latent factors of the GMF embeddings (of MF "
                                           "with --model mf, of iALS with --model ials)."),
                      lower_bound=1)
    fd.DEFINE_float("ials_alpha", 9.0,
                    w("iALS: extra confidence of a positive pair; its squared error weighs "
                      "1 + alpha, an unobserved pair's 1 (Hu et al. 2008). `implicit`'s alpha "
                      "is 1 + this."), lower_bound=0.0)
    fd.DEFINE_float("ials_regularization", 0.01,
                    w("iALS: L2 weight lambda on each factor row, scaled by the row's total "
                      "loss weight to the power --ials_frequency_scaling; must be > 0."))
    fd.DEFINE_float("ials_frequency_scaling", 1.0,
                    w("iALS: exponent nu of the frequency scaling of the regularization "
                      "(user u: lambda * (items + alpha * |I_u|)^nu; Rendle et al. 2022 use "
                      "1, `implicit` and Hu et al. 0)."), lower_bound=0.0)
    fd.DEFINE_integer("ials_iterations", 16,
                      w("iALS: sweeps (each solves every user row, then every item row); "
                        "one sweep is one epoch for evaluation, checkpoints and selection, "
                        "and replaces --train_epochs."), lower_bound=1)
    fd.DEFINE_integer("ials_cg_steps", 0,
                      w("iALS: 0 solves every row exactly (batched Cholesky); n > 0 takes n "
                        "conjugate-gradient steps per row and sweep from its current value "
                        "(cheaper, inexact; `implicit` takes 3)."), lower_bound=0)
    fd.DEFINE_list("ease_lambda", ["1000"],
                   w("EASE: L2 weight lambda of the item-item matrix; several "
                     "comma-separated values are fitted one per epoch (replacing "
                     "--train_epochs) and the best by validation is selected."))
    fd.DEFINE_string("layers", "64,32,16",
                        w("MLP layer sizes; the first (even) is the concatenated user + item "
                          "embedding size."))
    fd.DEFINE_float("mf_regularization", 0.0, w("L2 weight on GMF embedding rows."),
                       lower_bound=0.0)
    fd.DEFINE_float("mlp_regularization", 0.0, w("L2 weight on MLP embedding rows."),
                       lower_bound=0.0)
    fd.DEFINE_integer("num_neg", 4, w("Training negatives per positive, redrawn every "
                                         "epoch."), lower_bound=1)
    fd.DEFINE_float("learning_rate", 0.004, w("Adam learning rate (the peak, after "
                                              "warm-up)."), lower_bound=0.0)
    fd.DEFINE_float("beta1", 0.9, w("Adam beta_1."), lower_bound=0.0, upper_bound=1.0)
    fd.DEFINE_float("beta2", 0.999, w("Adam beta_2."), lower_bound=0.0, upper_bound=1.0)
    fd.DEFINE_float("epsilon", 1e-8, w("Adam epsilon."), lower_bound=0.0)
    fd.DEFINE_float("hr_threshold", None, w("Stop once HR@top_k reaches this value (the "
                                            "validation HR with --validation)."))
    fd.DEFINE_enum("recipe", None, list(ncf_recipes.RECIPES),
                   w("Set the flags of a named recipe (flags given on the command line "
                     "still win): " + ncf_recipes.describe()))
    fd.DEFINE_boolean("validation", True,
                      w("Hold out each user's latest training positive (ties and unknown "
                        "times: a seeded draw) with its own sampled negatives, evaluate it "
                        "every cycle, and report, export and stop on the best validation "
                        "epoch; the test set is evaluated once, after selection. "
                        "--novalidation evaluates the test set every cycle (2018 "
                        "behaviour) and reports the last epoch."))
    fd.DEFINE_boolean("evaluate_test", True,
                      w("Evaluate the test set after selection. --noevaluate_test tunes on "
                        "validation alone (with --ncf_split the test files are then not "
                        "read, nor needed)."))
    fd.DEFINE_enum("selection_metric", "HR", ["HR", "NDCG"],
                   w("Validation metric (@top_k) that selects the epoch."))
    fd.DEFINE_integer("early_stopping_patience", 0,
                      w("Stop after this many epochs without a better validation "
                        "--selection_metric; 0 trains every epoch."), lower_bound=0)
    fd.DEFINE_boolean("retrain_on_full", False,
                      w("After selection, train a fresh model on train + validation for the "
                        "selected number of epochs (in model_dir/retrain) and report and "
                        "export that one, as Rendle et al. (2020) did."))
    fd.DEFINE_enum("lr_schedule", "cosine", list(ncf_schedule.SCHEDULES),
                   w("Learning rate after warm-up: constant, or cosine decay to "
                     "--final_lr_fraction of --learning_rate at --train_epochs."))
    fd.DEFINE_float("warmup_epochs", 1.0, w("Linear learning-rate warm-up, in epochs."),
                    lower_bound=0.0)
    fd.DEFINE_float("final_lr_fraction", 0.0,
                    w("Cosine schedule: the last epoch's learning rate as a fraction of "
                      "--learning_rate."), lower_bound=0.0, upper_bound=1.0)
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
    fd.register_multi_flags_validator(
        ["validation", "evaluate_test", "early_stopping_patience", "retrain_on_full"],
        lambda f: f["validation"] or (f["evaluate_test"] and not f["early_stopping_patience"]
                                      and not f["retrain_on_full"]),
        message="--noevaluate_test, --early_stopping_patience and --retrain_on_full need "
                "--validation")
    fd.register_validator(
        "ease_lambda", lambda v: _positive_floats(v) is not None,
        message="--ease_lambda must be comma-separated positive numbers")
    fd.register_validator(
        "ials_regularization", lambda v: v > 0, message="--ials_regularization must be > 0")
    fd.register_validator(
        "layers", lambda v: _layers_ok(v),
        message="--layers must be comma-separated positive integers, the first even")
    fd.register_multi_flags_validator(
        ["pretrained_gmf", "pretrained_mlp", "model"],
        lambda f: (f["pretrained_gmf"] is None) == (f["pretrained_mlp"] is None)
        and (f["pretrained_gmf"] is None or f["model"] == "neumf"),
        message="--pretrained_gmf and --pretrained_mlp go together, with --model neumf")


def _positive_floats(values) -> tuple[float, ...] | None:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        return None
    return out if out and all(v > 0 and np.isfinite(v) for v in out) else None


def _layers_ok(text: str) -> bool:
    try:
        neumf_model.parse_layers(text)
        return True
    except ValueError:
        return False


def load_data(f) -> movielens_dataset.NCFData:
    """The NCF data named by the settings (downloading if allowed and needed)."""
    if f.ncf_split:
        return movielens_dataset.read_ncf_split(
            f.ncf_split, with_test=not f.validation or f.evaluate_test)
    movielens.ensure(f.dataset, f.data_dir, f.data_url, movielens.synthetic_spec_from_flags(f),
                     f.download_if_missing)
    return movielens_dataset.load_movielens(f.data_dir, f.dataset, f.num_eval_negatives,
                                            f.seed)


def split_data(f, full: movielens_dataset.NCFData
               ) -> tuple[movielens_dataset.NCFData, ncf_validation.EvalSet | None]:
    """(what the trainer sees, the test set kept from it until selection is done).

    With validation the trainer's evaluation set is the validation split and
    the test set is returned apart; without, the trainer evaluates the test
    set every cycle (the 2018 behaviour) and nothing is returned apart.
    """
    if not f.validation:
        return full, None
    negatives = full.num_eval_negatives if len(full.eval_users) else f.num_eval_negatives
    train, test = ncf_validation.split(full, negatives, f.seed)
    logging.info("Validation: %d users hold out their latest training positive, with %d "
                 "sampled negatives each; the test set is read after selection",
                 len(train.eval_users), negatives)
    return train, (test if f.evaluate_test and len(test) else None)


def config_from_flags(f) -> TrainConfig:
    """TrainConfig from the run's settings (flags with the recipe applied)."""
    return TrainConfig(
        model_type=f.model, num_factors=f.num_factors,
        layers=tuple(neumf_model.parse_layers(f.layers)),
        mf_regularization=f.mf_regularization, mlp_regularization=f.mlp_regularization,
        num_neg=f.num_neg, batch_size=f.batch_size, learning_rate=f.learning_rate,
        beta1=f.beta1, beta2=f.beta2, epsilon=f.epsilon, seed=f.seed,
        steps_per_call=f.steps_per_call, jit_compile=f.jit_compile, optimizer=f.optimizer,
        lr_schedule=f.lr_schedule, warmup_epochs=f.warmup_epochs,
        schedule_epochs=f.train_epochs, final_lr_fraction=f.final_lr_fraction,
        ials_alpha=f.ials_alpha, ials_regularization=f.ials_regularization,
        ials_exponent=f.ials_frequency_scaling, ials_cg_steps=f.ials_cg_steps,
        ease_lambdas=tuple(float(v) for v in f.ease_lambda))


def solver_epochs(f) -> None:
    """IALS trains --ials_iterations sweeps and EASE one fit per --ease_lambda value."""
    epochs = {"ials": f.ials_iterations, "ease": len(f.ease_lambda)}.get(f.model)
    if epochs is not None and epochs != f.train_epochs:
        logging.info("--model %s: %d epochs (%s), not --train_epochs %d", f.model, epochs,
                     "sweeps" if f.model == "ials" else "one per --ease_lambda", f.train_epochs)
        f.train_epochs = epochs


def _settings(f):
    return ncf_recipes.resolve(f) if isinstance(f, flags.FlagValues) else f


def run(fv) -> dict:
    """Runs what the flags ask: one training, or each stage of a multi-stage recipe."""
    cfg = _settings(fv)
    recipe = ncf_recipes.RECIPES.get(cfg.recipe) if cfg.recipe else None
    if recipe is None or not recipe.stages or not isinstance(fv, flags.FlagValues):
        return run_ncf(cfg)
    if cfg.clean and os.path.isdir(cfg.model_dir):
        logging.info("--clean: removing %s", cfg.model_dir)
        shutil.rmtree(cfg.model_dir)
    dirs, result = {}, None
    for number, stage in enumerate(recipe.stages, 1):
        settings = ncf_recipes.stage_settings(cfg, fv, stage, dirs)
        logging.info("Recipe %s, stage %d of %d: %s in %s", cfg.recipe, number,
                     len(recipe.stages), settings.model, settings.model_dir)
        result = run_ncf(settings)
        dirs[stage.name] = settings.model_dir
    return result


def run_ncf(f) -> dict:
    """Trains, selects on validation, and reports one model as the settings say.

    Args:
      f: the run's settings (parsed flags, or `ncf_recipes.resolve` of them).

    Returns:
      The selected model's metrics: test HR / NDCG / eval_loss (when the test
      set is evaluated), validation_* metrics, selected_epoch and epoch (the
      last trained).
    """
    f = _settings(f)
    solver_epochs(f)
    # The strategy comes first: TF_CONFIG and logical devices must be settled
    # before TensorFlow runs any operation.
    strategy, cluster = distribution_utils.strategy_from_flags(f)
    import tensorflow as tf

    chief = cluster.is_chief
    if f.clean and chief and os.path.isdir(f.model_dir):
        logging.info("--clean: removing %s", f.model_dir)
        shutil.rmtree(f.model_dir)
    full = load_data(f)
    data, test_set = split_data(f, full)
    config = config_from_flags(f)
    trainer = _make_trainer(data, config, strategy, cluster)
    logging.info("Strategy %s: %d replica(s), worker %d of %d%s", type(strategy).__name__,
                 trainer.num_replicas, cluster.worker_index, cluster.num_workers,
                 " (chief)" if chief else "")
    if f.pretrained_gmf:
        from official.recommendation import ncf_pretrain

        ncf_pretrain.init_from_pretrained(trainer, f.pretrained_gmf, f.pretrained_mlp)

    os.makedirs(f.model_dir, exist_ok=True)
    selection = checkpoints.Selection()
    manager = checkpoints.WorkerCheckpoints(trainer.checkpoint(selection=selection),
                                            f.model_dir, chief)
    best = checkpoints.BestWeights(trainer.model, f.model_dir, chief)
    metric_logger = logger_lib.BenchmarkLogger(f.benchmark_log_dir, write=chief)
    metric_logger.log_run_info("ncf", f.dataset if not f.ncf_split else f.ncf_split,
                               run_facts(f, full, data), f.benchmark_test_id)
    writer = (tf.summary.create_file_writer(os.path.join(f.model_dir, "summaries")) if chief
              else tf.summary.create_noop_writer())
    prefix = "validation_" if f.validation else ""
    with distribution_utils.worker_failures(cluster):
        epoch, last_loss = _train_cycles(f, trainer, selection, manager, best, metric_logger,
                                         writer, prefix, chief)
        result = _report(f, trainer, selection, best, epoch, test_set, full, strategy,
                         cluster, metric_logger, writer)
    if last_loss is not None:
        result["loss"] = last_loss
    final = result.pop("_model", trainer)
    if chief:
        atomic_io.write_json(os.path.join(f.model_dir, "eval_results.json"), result)
    if f.export_dir and chief:
        ncf_export.export(final.single_device_model(), full.user_ids, full.item_ids,
                          f.export_dir, export_item_info(f, full))
    return result


def _make_trainer(data, config, strategy, cluster) -> NCFTrainer:
    try:
        return NCFTrainer(data, config, strategy, cluster)
    except (ValueError, MemoryError) as e:
        raise UserError(str(e)) from e


def run_facts(f, full: movielens_dataset.NCFData, data: movielens_dataset.NCFData) -> dict:
    """benchmark_run.log's parameters: what the run actually used."""
    facts = {k: getattr(f, k) for k in (
        "dataset", "model", "batch_size", "learning_rate", "num_factors", "layers", "num_neg",
        "train_epochs", "epochs_between_evals", "seed", "top_k", "optimizer", "recipe",
        "validation", "selection_metric", "early_stopping_patience", "retrain_on_full",
        "lr_schedule", "warmup_epochs", "beta1", "beta2", "mf_regularization",
        "mlp_regularization", "pretrained_gmf", "pretrained_mlp", "ncf_split", "ials_alpha",
        "ials_regularization", "ials_frequency_scaling", "ials_cg_steps", "ease_lambda")}
    # The split files fix the number of test negatives; --num_eval_negatives
    # applies only where the package samples them.
    facts["num_eval_negatives"] = (full.num_eval_negatives if len(full.eval_users)
                                   else None)
    facts["num_validation_negatives"] = data.num_eval_negatives if f.validation else None
    facts["validation_users"] = int(len(data.eval_users)) if f.validation else 0
    facts["train_positives"] = int(len(data.train_users))
    return facts


def _train_cycles(f, trainer, selection, manager, best, metric_logger, writer, prefix,
                  chief) -> int:
    """Train / evaluate cycles until train_epochs, early stopping or the threshold.

    Returns:
      (the last trained epoch, the last training loss of this process or None).
    """
    if not trainer.trains:
        logging.info("%s has nothing to train: evaluating only", f.model)
        return f.train_epochs, None
    config = trainer.config
    logging.info("Training %s on %d users, %d items, %d positives: %d steps of %d examples "
                 "per epoch", config.model_type, trainer.data.num_users,
                 trainer.data.num_items, trainer.num_positives, trainer.steps_per_epoch,
                 trainer.examples_per_step)
    hooks = hooks_lib.get_train_hooks(f.hooks if chief else [], model_dir=f.model_dir,
                                      metric_logger=metric_logger)
    epoch = int(trainer.epoch.numpy())
    for hook in hooks:
        hook.on_train_begin()
    global_step = epoch * trainer.steps_per_epoch
    first_step = global_step
    step_examples = trainer.examples_per_step

    def progress(n, bar):
        nonlocal global_step
        global_step += n
        bar.update(n)
        for hook in hooks:
            hook.on_steps_end(global_step, (global_step - first_step) * step_examples, {})

    key = f.selection_metric if f.validation else None
    losses = []
    while epoch < f.train_epochs and not int(selection.stopped.numpy()):
        cycle_epochs = min(f.epochs_between_evals, f.train_epochs - epoch)
        start = time.perf_counter()
        examples = 0
        desc = (f"epoch {epoch + 1}" if cycle_epochs == 1
                else f"epochs {epoch + 1}-{epoch + cycle_epochs}")
        with progress_lib.bar(cycle_epochs * trainer.steps_per_epoch, desc, "steps",
                              enabled=chief) as bar:
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
        trainer.epoch.assign(epoch)
        value = result.get(key, result.get(f"{key}_full")) if key else None
        if key and selection.update(epoch, value):
            best.save(epoch)
        stop = _stop_reason(f, selection, epoch, result)
        if stop:
            logging.info("%s; stopping after epoch %d", stop, epoch)
            selection.stopped.assign(1)
        manager.save(epoch)
        best.prune(int(selection.best_epoch.numpy()))
        metrics = {f"{prefix}{k}": v for k, v in result.items()}
        metrics.update(loss=losses[-1], examples_per_second=examples / train_s)
        _log_cycle(metric_logger, writer, metrics, epoch, global_step, f.top_k, train_s,
                   eval_s)
    for hook in hooks:
        hook.on_train_end()
    return epoch, (losses[-1] if losses else None)


def _stop_reason(f, selection, epoch: int, result: dict) -> str | None:
    hr = result.get("HR", result.get("HR_full"))
    what = "validation HR" if f.validation else "HR"
    if f.hr_threshold is not None and hr >= f.hr_threshold:
        return f"{what} {hr:.4f} reached --hr_threshold {f.hr_threshold:.4f}"
    patience = f.early_stopping_patience
    if f.validation and patience and selection.epochs_since_best(epoch) >= patience:
        return (f"no better validation {f.selection_metric} for {patience} epochs (best "
                f"{float(selection.best_value.numpy()):.4f} at epoch "
                f"{int(selection.best_epoch.numpy())})")
    return None


def _report(f, trainer, selection, best, epoch, test_set, full, strategy, cluster,
            metric_logger, writer) -> dict:
    """The selected model's validation and test metrics (restoring its weights)."""
    result = {"epoch": epoch}
    if not f.validation:
        result.update(trainer.evaluate(f.top_k, f.eval_protocol))
        return result
    selected = int(selection.best_epoch.numpy())
    if trainer.trains and selected:
        best.restore(selected)
    result["selected_epoch"] = selected if trainer.trains else 0
    validation = trainer.evaluate(f.top_k, f.eval_protocol)
    result.update({f"validation_{k}": v for k, v in validation.items()})
    final = trainer
    if f.retrain_on_full and trainer.trains and selected:
        final = _retrain(f, full, selected, strategy, cluster)
        result["retrained_epochs"] = selected
    if test_set is not None:
        result.update(final.evaluate(f.top_k, f.eval_protocol, test_set))
    step = selected * trainer.steps_per_epoch
    names = [n for n in (*METRIC_NAMES, *(f"validation_{m}" for m in METRIC_NAMES))
             if n in result and n not in ("loss", "examples_per_second")]
    logger_lib.log_cycle(
        metric_logger, writer, {("test_" if n in METRIC_NAMES else "selected_") + n: result[n]
                                for n in names} | {"selected_epoch": result["selected_epoch"]},
        step, {"selected_epoch": result["selected_epoch"], "top_k": f.top_k,
               "retrained_on_full": final is not trainer})
    logging.info("Selected epoch %d by validation %s: %s", result["selected_epoch"],
                 f.selection_metric, ", ".join(f"{n} = {result[n]:.4f}" for n in names))
    result["_model"] = final
    return result


def _retrain(f, full, epochs: int, strategy, cluster) -> NCFTrainer:
    """A fresh model trained on train + validation for the selected number of epochs."""
    data = dataclasses.replace(full, eval_users=np.zeros(0, np.int32),
                               eval_items=np.zeros((0, 1), np.int32))
    config = dataclasses.replace(config_from_flags(f), schedule_epochs=epochs)
    trainer = _make_trainer(data, config, strategy, cluster)
    if f.pretrained_gmf:
        from official.recommendation import ncf_pretrain

        ncf_pretrain.init_from_pretrained(trainer, f.pretrained_gmf, f.pretrained_mlp)
    model_dir = os.path.join(f.model_dir, "retrain")
    os.makedirs(model_dir, exist_ok=True)
    manager = checkpoints.WorkerCheckpoints(trainer.checkpoint(), model_dir,
                                            cluster.is_chief)
    epoch = int(trainer.epoch.numpy())
    if trainer.independent_epochs:  # EASE: only the selected lambda's fit matters
        epoch = max(epoch, epochs - 1)
    logging.info("Retraining on train + validation (%d positives) for %d epochs in %s",
                 trainer.num_positives, epochs, model_dir)
    with progress_lib.bar((epochs - epoch) * trainer.steps_per_epoch, "retrain", "steps",
                      enabled=cluster.is_chief) as bar:
        while epoch < epochs:
            trainer.train_epoch(epoch, bar.update, prefetch_until=epochs)
            epoch += 1
            trainer.epoch.assign(epoch)
            manager.save(epoch)
    return trainer


def export_item_info(f, data: movielens_dataset.NCFData) -> ncf_export.ItemInfo:
    """What the export's `recommend` needs: every rated pair, titles and genres."""
    users = np.concatenate([data.train_users, data.eval_users])
    items = np.concatenate([data.train_items, data.eval_items[:, 0]])
    order = np.argsort(users, kind="stable")
    info = ncf_export.ItemInfo(users[order], items[order])
    if not f.ncf_split:  # the authors' split files carry no titles
        info.titles, info.genres = ncf_export.titles_and_genres(f.data_dir, f.dataset,
                                                                data.item_ids)
    return info


RANKING_METRICS = ("HR", "NDCG", "HR_full", "NDCG_full", "Recall_full", "Coverage_full",
                   "PopularityPercentile_full")  # reported @top_k
METRIC_NAMES = (*RANKING_METRICS, "loss", "eval_loss", "examples_per_second")


def _log_cycle(metric_logger, writer, metrics, epoch, step, top_k, train_s, eval_s) -> None:
    def ranking(name):
        return name.removeprefix("validation_") in RANKING_METRICS

    logging.info("Epoch %d: %s (train %.1fs, eval %.2fs)", epoch, ", ".join(
        f"{n}@{top_k} = {v:.4f}" if ranking(n) else f"{n} = {v:.4f}"
        for n, v in metrics.items()), train_s, eval_s)
    logger_lib.log_cycle(metric_logger, writer, metrics, step,
                         {"epoch": epoch, "top_k": top_k},
                         {"examples_per_second": "examples/s"})


def main(_) -> None:
    """Entry point: reads the flags and runs NCF (or each stage of the recipe)."""
    result = run(flags.FLAGS)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                      for k, v in result.items()}))
    k = flags.FLAGS.top_k
    shown = [(f"validation {n}", result[f"validation_{n}"]) for n in RANKING_METRICS
             if f"validation_{n}" in result] + [
        (f"test {n}" if "selected_epoch" in result else n, result[n])
        for n in RANKING_METRICS if n in result]
    if "selected_epoch" in result:
        print(f"selected epoch {result['selected_epoch']} (by validation "
              f"{flags.FLAGS.selection_metric}):")
    print(", ".join(f"{n}@{k} = {v:.4f}" for n, v in shown))


def cli_main() -> None:
    """Console entry point (`official-ncf`): defines the flags, runs `main`."""
    from official.utils.misc import cli

    define_ncf_flags()
    cli.run(main)


if __name__ == "__main__":
    cli_main()
