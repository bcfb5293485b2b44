"""ncf_main's flags, and the typed `NCFConfig`s built from them (no TensorFlow).

`define_ncf_flags` registers every flag; `configs` turns the parsed flags
(a recipe's values filled in where a flag was not given) into one
`NCFConfig` per training: one, or one per stage of a multi-stage recipe.
Only `main` (and tests standing in for it) calls these.
"""

import os
import types
from collections.abc import Mapping
from typing import Any

import numpy as np
from absl import flags, logging

from official.datasets import interactions, movielens
from official.recommendation.config import recipes
from official.recommendation.config.configs import (
    EVAL_PROTOCOLS,
    OPTIMIZERS,
    SCHEDULES,
    NCFConfig,
    NCFDataConfig,
    TrainConfig,
    parse_layers,
)
from official.recommendation.models import registry
from official.recommendation.search import search_flags
from official.utils.errors import UserError
from official.utils.flags import core as flags_core

DEFAULTS = TrainConfig()  # the one source of the training defaults


def define_ncf_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Registers every flag of ncf_main in `fv`."""
    fd = flags_core.bind(fv)
    flags_core.define_base(stop_threshold=False, flag_values=fv)
    flags_core.define_benchmark(flag_values=fv)
    flags_core.define_distribution(fv)
    movielens.define_data_download_flags(data_dir=False, flag_values=fv)
    for name, value in (("dataset", movielens.schema.ML_1M), ("train_epochs", 10),
                        ("batch_size", DEFAULTS.batch_size), ("hooks", [])):
        fv.set_default(name, value)
    w = flags_core.help_wrap
    fd.DEFINE_enum("model", DEFAULTS.model_type, [*registry.names(), "auto"],
                   w("Model (models/registry.py): " + registry.describe() + "; auto: the "
                     "best of them on validation within --time_budget (README, "
                     "\"--model auto\")."))
    interactions.define_flags(fv)
    fd.DEFINE_enum("split", "leave_last_out", ["leave_last_out", "temporal"],
                   w("How --interactions is split. leave_last_out: per user, the latest "
                     "interaction is the test item and the one before it the validation "
                     "item (without timestamps: a seeded random pick). temporal: one global "
                     "time cut -- the latest --test_fraction of all interactions is the test "
                     "set, the same share before it validation; users are evaluated on all "
                     "their held-out items (Recall@K beside HR@K and NDCG@K; full ranking)."))
    fd.DEFINE_float("test_fraction", 0.1, w("--split temporal: the share of the latest "
                                            "interactions held out for test (and again for "
                                            "validation)."), lower_bound=0.001,
                    upper_bound=0.49)
    fd.DEFINE_enum("eval_protocol", None, list(EVAL_PROTOCOLS),
                   w("Default: full with --interactions, else sampled. "
                     "sampled: HR/NDCG@top_k of the held-out item among "
                     "--num_eval_negatives sampled items (the paper). full: HR/NDCG/"
                     "and catalogue coverage / popularity of the top_k against every item the user "
                     "did not train on (HR_full, NDCG_full, Coverage_full, "
                     "PopularityPercentile_full). both: all of them."))
    fd.DEFINE_integer("num_factors", DEFAULTS.num_factors,
                      w("Latent factors of the GMF embeddings (of MF with --model mf, of iALS "
                        "with --model ials)."), lower_bound=1)
    for name, default, text, lower in (
            ("ials_alpha", DEFAULTS.ials_alpha,
             "iALS: extra confidence of a positive pair; its squared error weighs 1 + alpha, "
             "an unobserved pair's 1 (Hu et al. 2008). `implicit`'s alpha is 1 + this.", 0.0),
            ("ials_regularization", DEFAULTS.ials_regularization,
             "iALS: L2 weight lambda on each factor row, scaled by the row's total loss weight "
             "to the power --ials_frequency_scaling; must be > 0.", None),
            ("ials_frequency_scaling", DEFAULTS.ials_exponent,
             "iALS: exponent nu of the frequency scaling of the regularization (user u: lambda "
             "* (items + alpha * |I_u|)^nu; Rendle et al. 2022 use 1, `implicit` and Hu et al. "
             "0).", 0.0)):
        fd.DEFINE_float(name, default, w(text), lower_bound=lower)
    fd.DEFINE_integer("ials_iterations", 16,
                      w("iALS: sweeps (each solves every user row, then every item row); "
                        "one sweep is one epoch for evaluation, checkpoints and selection, "
                        "and replaces --train_epochs."), lower_bound=1)
    fd.DEFINE_float("ials_weight_epsilon", DEFAULTS.ials_weight_epsilon,
                    w("iALS with a --weight_column: a positive of summed weight w gets "
                      "confidence 1 + ials_alpha * log(1 + w / epsilon) (Hu et al. 2008, "
                      "eq. 6); without weights every positive gets 1 + ials_alpha."),
                    lower_bound=1e-12)
    fd.DEFINE_integer("ials_cg_steps", DEFAULTS.ials_cg_steps,
                      w("iALS: 0 solves every row exactly (batched Cholesky); n > 0 takes n "
                        "conjugate-gradient steps per row and sweep from its current value "
                        "(cheaper, inexact; `implicit` takes 3)."), lower_bound=0)
    fd.DEFINE_list("ease_lambda", [f"{v:g}" for v in DEFAULTS.ease_lambdas],
                   w("EASE: L2 weight lambda of the item-item matrix. Several "
                     "comma-separated values are candidates: EASE's one fit solves each "
                     "and keeps the one with the best validation --selection_metric "
                     "(needs --validation)."))
    fd.DEFINE_string("layers", ",".join(map(str, DEFAULTS.layers)),
                        w("MLP layer sizes; the first (even) is the concatenated user + item "
                          "embedding size."))
    fd.DEFINE_float("mf_regularization", DEFAULTS.mf_regularization,
                    w("L2 weight on GMF embedding rows."), lower_bound=0.0)
    fd.DEFINE_float("mlp_regularization", DEFAULTS.mlp_regularization,
                    w("L2 weight on MLP embedding rows."), lower_bound=0.0)
    fd.DEFINE_integer("num_neg", DEFAULTS.num_neg,
                      w("Training negatives per positive, redrawn every epoch."), lower_bound=1)
    fd.DEFINE_float("learning_rate", DEFAULTS.learning_rate,
                    w("Adam learning rate (the peak, after warm-up)."), lower_bound=0.0)
    fd.DEFINE_float("beta1", DEFAULTS.beta1, w("Adam beta_1."), lower_bound=0.0, upper_bound=1.0)
    fd.DEFINE_float("beta2", DEFAULTS.beta2, w("Adam beta_2."), lower_bound=0.0, upper_bound=1.0)
    fd.DEFINE_float("epsilon", DEFAULTS.epsilon, w("Adam epsilon."), lower_bound=0.0)
    fd.DEFINE_float("hr_threshold", None, w("Stop once HR@top_k reaches this value (the "
                                            "validation HR with --validation)."))
    fd.DEFINE_enum("recipe", None, list(recipes.RECIPES),
                   w("Set the flags of a named recipe (flags given on the command line "
                     "still win): " + recipes.describe()))
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
    fd.DEFINE_enum("selection_metric", None, ["HR", "NDCG"],
                   w("Validation metric (@top_k) that selects the epoch (and, with --model "
                     "auto, the model). Default: HR, except NDCG (full ranking) for --model "
                     "auto on --interactions."))
    fd.DEFINE_integer("early_stopping_patience", 0,
                      w("Stop after this many epochs without a better validation "
                        "--selection_metric; 0 trains every epoch."), lower_bound=0)
    fd.DEFINE_boolean("retrain_on_full", False,
                      w("After selection, train a fresh model on train + validation for the "
                        "selected number of epochs (in model_dir/retrain) and report and "
                        "export that one, as Rendle et al. (2020) did."))
    fd.DEFINE_integer("retrain_epochs", None,
                      w("With --retrain_on_full: refit for this many epochs instead of the "
                        "selected number (a published setting that fixes its epochs; the "
                        "validation curve is still trained and reported)."), lower_bound=1)
    fd.DEFINE_float("init_stddev", None,
                    w("Standard deviation of the normal initialization of the factor "
                      "tables: per entry for MF (default 0.01); divided by sqrt(num_factors) "
                      "for iALS (default 0.1), as Rendle et al. (2022) do. Other models "
                      "ignore it."), lower_bound=0.0)
    fd.DEFINE_enum("lr_schedule", DEFAULTS.lr_schedule, list(SCHEDULES),
                   w("Learning rate after warm-up: constant, or cosine decay to "
                     "--final_lr_fraction of --learning_rate at --train_epochs."))
    fd.DEFINE_float("warmup_epochs", DEFAULTS.warmup_epochs,
                    w("Linear learning-rate warm-up, in epochs."), lower_bound=0.0)
    fd.DEFINE_float("final_lr_fraction", DEFAULTS.final_lr_fraction,
                    w("Cosine schedule: the last epoch's learning rate as a fraction of "
                      "--learning_rate."), lower_bound=0.0, upper_bound=1.0)
    fd.DEFINE_integer("top_k", 10, w("K of HR@K and NDCG@K."), lower_bound=1)
    fd.DEFINE_integer("num_eval_negatives", 100, w("Sampled evaluation negatives per "
                                                      "user."), lower_bound=1)
    fd.DEFINE_integer("seed", DEFAULTS.seed, w("Seed of initialization, negatives and shuffling; a "
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
    fd.DEFINE_integer("steps_per_call", DEFAULTS.steps_per_call,
                      w("Training steps per compiled call: the input pipeline stacks this "
                        "many steps, and with --jit_compile the loop over them is one XLA "
                        "program (fewer, larger calls cost less per step)."),
                      lower_bound=1)
    fd.DEFINE_enum("optimizer", DEFAULTS.optimizer, list(OPTIMIZERS),
                   w("adam: dense Adam on all weights (the paper). lazy_adam: Adam on the "
                     "dense layers and, for the embedding tables, only on the rows in the "
                     "batch -- much faster at ml-20m scale (see docs/performance.md). sgd: "
                     "plain SGD on the summed (not averaged) loss, so every example's "
                     "gradient is applied with --learning_rate as in per-example SGD "
                     "(Rendle et al. 2020); the examples of one step see the same weights."))
    fd.DEFINE_boolean("mf_regularize_biases", False,
                      w("MF: --mf_regularization also on the user, item and global biases, "
                        "per example, as Rendle et al. (2020) do; default: factors only."))
    fd.DEFINE_boolean("jit_compile", DEFAULTS.jit_compile,
                      w("Compile the training step (forward, backward, Adam) with XLA; "
                        "--nojit_compile to disable."))
    fd.register_multi_flags_validator(
        ["validation", "evaluate_test", "early_stopping_patience", "retrain_on_full"],
        lambda f: f["validation"] or (f["evaluate_test"] and not f["early_stopping_patience"]
                                      and not f["retrain_on_full"]),
        message="--noevaluate_test, --early_stopping_patience and --retrain_on_full need "
                "--validation")
    fd.register_validator(
        "ease_lambda", lambda v: _positive_floats(v) is not None,
        message="--ease_lambda must be comma-separated positive numbers")
    fd.register_multi_flags_validator(
        ["ease_lambda", "validation", "model"],
        lambda f: f["validation"] or f["model"] != "ease" or len(f["ease_lambda"] or ()) <= 1,
        message="several --ease_lambda values are chosen among by validation: give one value "
                "or drop --novalidation")
    fd.register_validator(
        "ials_regularization", lambda v: v > 0, message="--ials_regularization must be > 0")
    fd.register_validator(
        "layers", lambda v: _layers_ok(v),
        message="--layers must be comma-separated positive integers, the first even")
    fd.register_multi_flags_validator(
        ["split", "interactions", "eval_protocol"],
        lambda f: f["split"] == "leave_last_out" or (f["interactions"] and f["eval_protocol"]
                                                     in (None, "full")),
        message="--split temporal splits an --interactions log and evaluates by full "
                "ranking (--eval_protocol full)")
    fd.register_multi_flags_validator(
        ["interactions", "ncf_split"], lambda f: not (f["interactions"] and f["ncf_split"]),
        message="give --interactions or --ncf_split, not both")
    fd.register_multi_flags_validator(
        ["pretrained_gmf", "pretrained_mlp", "model"],
        lambda f: (f["pretrained_gmf"] is None) == (f["pretrained_mlp"] is None)
        and (f["pretrained_gmf"] is None or f["model"] == "neumf"),
        message="--pretrained_gmf and --pretrained_mlp go together, with --model neumf")
    search_flags.define_search_flags(fv)


def _positive_floats(values) -> tuple[float, ...] | None:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        return None
    return out if out and all(v > 0 and np.isfinite(v) for v in out) else None


def _layers_ok(text: str) -> bool:
    try:
        parse_layers(text)
        return True
    except ValueError:
        return False


def config(settings: Mapping[str, Any]) -> NCFConfig:
    """The `NCFConfig` of one training from its settings (flag values by name).

    A model whose registry entry fixes its epochs or names an `epochs_flag`
    trains by it in place of --train_epochs (iALS: --ials_iterations sweeps;
    EASE: one fit, which chooses among the --ease_lambda values itself).
    """
    s = types.SimpleNamespace(**settings)
    if s.retrain_epochs and not s.retrain_on_full:
        raise UserError("--retrain_epochs sets the refit's epochs: it needs --retrain_on_full "
                        "(or a recipe that sets it)")
    metric = s.selection_metric or "HR"
    epochs = registry.epochs(s.model, settings, s.train_epochs)
    if epochs != s.train_epochs:
        flag = registry.spec(s.model).epochs_flag
        logging.info("--model %s: %d epoch(s) (%s), not --train_epochs %d", s.model, epochs,
                     f"by --{flag}" if flag else "fixed", s.train_epochs)
    own = interactions.options_from_flags(settings)
    protocol = s.eval_protocol or ("full" if own else "sampled")
    negatives = 0 if own and protocol == "full" else s.num_eval_negatives
    source = None if s.ncf_split or own else movielens.source_from_flags(s)
    data = NCFDataConfig(source, s.ncf_split, own, s.data_dir, s.split, s.test_fraction,
                         negatives, s.seed, s.validation, s.evaluate_test)
    train = TrainConfig(
        model_type=s.model, num_factors=s.num_factors, layers=tuple(parse_layers(s.layers)),
        mf_regularization=s.mf_regularization, mlp_regularization=s.mlp_regularization,
        num_neg=s.num_neg, batch_size=s.batch_size, learning_rate=s.learning_rate,
        beta1=s.beta1, beta2=s.beta2, epsilon=s.epsilon, seed=s.seed,
        steps_per_call=s.steps_per_call, jit_compile=s.jit_compile, optimizer=s.optimizer,
        lr_schedule=s.lr_schedule, warmup_epochs=s.warmup_epochs, schedule_epochs=epochs,
        final_lr_fraction=s.final_lr_fraction, ials_alpha=s.ials_alpha,
        ials_regularization=s.ials_regularization, ials_exponent=s.ials_frequency_scaling,
        ials_cg_steps=s.ials_cg_steps, ials_weight_epsilon=s.ials_weight_epsilon,
        init_stddev=s.init_stddev, mf_regularize_biases=s.mf_regularize_biases,
        ease_lambdas=tuple(float(v) for v in s.ease_lambda))
    run = flags_core.run_config(
        s, data_dir=None if s.ncf_split else s.data_dir, train_epochs=epochs,
        stop_metrics=("HR", "HR_full"), stop_threshold=s.hr_threshold,
        stop_flag="--hr_threshold", validation=s.validation,
        selection_metrics=(metric, f"{metric}_full"),
        early_stopping_patience=s.early_stopping_patience, retrain_on_full=s.retrain_on_full,
        retrain_epochs=s.retrain_epochs)
    return NCFConfig(data, train, run, flags_core.distribution_config(s), s.top_k,
                     protocol, metric, s.pretrained_gmf, s.pretrained_mlp,
                     s.recipe)


def model_dir(fv: flags.FlagValues, program: str = "ncf_main", name: str | None = None
              ) -> str:
    """--model_dir, or `program`'s default for the data and model (`flags_core.model_dir`).

    `name` names the model in the default (ncf_main: the recipe, else --model).
    """
    if fv.interactions:
        data = os.path.splitext(os.path.basename(fv.interactions.rstrip("/")))[0]
    else:
        data = "authors-split" if fv.ncf_split else fv.dataset
    return flags_core.model_dir(fv, program, data, name or fv.recipe or fv.model)


def configs(fv: flags.FlagValues) -> list[NCFConfig]:
    """One `NCFConfig` per training the parsed flags ask for (a recipe may have stages)."""
    values = fv.flag_values_dict()
    values["model_dir"] = model_dir(fv)
    return [config(v) for v in recipes.trainings(values, flags_core.given(fv))]
