"""Named NCF recipes: sets of flag values chosen on the validation split, one flag each.

`--recipe NAME` sets the flags below to the recipe's values unless the
command line gives them: a recipe is a documented starting point, and any
flag still overrides it. Recipes with `stages` run several trainings in one
command (the paper's pretraining: GMF, then MLP, then NeuMF initialized
from both), each stage in its own sub-directory of --model_dir; the last
stage is the run's result.

Every value here was chosen on the validation split carved out of the NCF
authors' ml-1m training file (`validation_split`), never on a test file; see
README ("NCF recipes") for the validation curves that chose them. The
`*_rendle20xx` recipes are published settings, chosen by their authors on
their own holdout of the same training file, mapped exactly onto our flags.
"""

import dataclasses
import os
from collections.abc import Collection, Mapping
from typing import Any

# The paper's settings (He et al. 2017, Sec. 4.1 and the authors' code):
# batch 256, Adam lr 0.001, 4 negatives, 8 predictive factors.
PAPER = {
    "model": "neumf", "batch_size": 256, "learning_rate": 0.001, "num_neg": 4,
    "num_factors": 8, "layers": "64,32,16,8", "train_epochs": 20, "beta1": 0.9,
    "beta2": 0.999, "epsilon": 1e-8, "lr_schedule": "constant", "warmup_epochs": 0.0,
    "mf_regularization": 0.0, "mlp_regularization": 0.0,
}

# The paper's best ml-1m NeuMF: 64 predictive factors (GMF factors 64, MLP
# tower ending in 64), GMF and MLP pretrained, then NeuMF from both.
_PRETRAIN_COMMON = {"batch_size": 16384, "num_neg": 8, "num_factors": 64,
                    "layers": "256,128,64", "lr_schedule": "cosine", "warmup_epochs": 1.0}

# Dot-product MF after Rendle et al. (RecSys 2020), re-tuned for Adam and
# large batches on the validation split.
MF_TUNED = {
    "model": "mf", "batch_size": 16384, "learning_rate": 0.004, "num_neg": 8,
    "num_factors": 128, "mf_regularization": 0.002, "train_epochs": 20,
    "lr_schedule": "cosine", "warmup_epochs": 1.0,
}

# iALS with frequency-scaled L2 (Rendle et al. 2022); factors, alpha and lambda
# chosen on the validation split (README, "iALS and EASE"). After selection the
# model is refit on train + validation for the selected number of sweeps: the
# validation positive is each user's latest, the most telling for the test.
IALS_TUNED = {
    "model": "ials", "num_factors": 128, "ials_alpha": 9.0, "ials_regularization": 0.01,
    "ials_frequency_scaling": 1.0, "ials_iterations": 12, "selection_metric": "NDCG",
    "retrain_on_full": True,
}


def rendle2022_ials(regularization: float, unobserved_weight: float,
                    stddev: float) -> dict[str, float]:
    """Our iALS flags that minimize exactly the objective of Rendle et al. (2022).

    Their iALS (google-research `ials/ncf_benchmarks/ials.py`) minimizes

      sum_{(u,i) in S} (1 - w_u.h_i)^2 + w0 sum_{u,i} (w_u.h_i)^2
        + lambda sum_u (|I_u| + w0 |I|) |w_u|^2 + lambda sum_i (|U_i| + w0 |U|) |h_i|^2

    from factors drawn N(0, stddev / sqrt(k)). Divided by w0 and with their
    factors = sqrt(c) * ours, c = 1 / (1 + w0), it is c^2 times our objective
    (`models.ials`) with alpha = 1 / w0, frequency scaling nu = 1 and lambda
    = lambda (1 + w0) (the constant c is only the positives' target, 1 / (1 +
    w0) in theirs). Every exact half-sweep minimizes both, so from factors
    that correspond, each sweep of ours is theirs over sqrt(c): the same
    rankings. Our initialization is theirs over sqrt(c): stddev * sqrt(1 + w0)
    (iALS divides by sqrt(k) too).
    """
    return {"ials_alpha": 1.0 / unobserved_weight,
            "ials_regularization": regularization * (1.0 + unobserved_weight),
            "ials_frequency_scaling": 1.0, "init_stddev": stddev * (1.0 + unobserved_weight) ** 0.5}


# The iALS setting Rendle, Krichene, Zhang and Koren (RecSys 2022) publish for
# this split (their README: ials_simple.py --epochs 12 --embedding_dim 192
# --regularization 0.007 --unobserved_weight 0.3 --stddev 0.1), chosen by its
# authors on their own holdout. The validation curve is trained and reported;
# the result is the published 12 sweeps on train + validation (the whole
# training file, as they train). Their rows are exact solves; ours take 3
# conjugate-gradient steps per row and sweep (what `implicit` does): on
# validation the two curves agree to 0.001 HR@10 (docs/ncf.md, "Published
# recipes"), at a quarter of the time; --ials_cg_steps 0 gives the exact ones.
IALS_RENDLE2022 = {
    "model": "ials", "num_factors": 192, "ials_iterations": 12, "retrain_on_full": True,
    "retrain_epochs": 12, "ials_cg_steps": 3, **rendle2022_ials(0.007, 0.3, 0.1),
}

# Dot-product MF as published by Rendle, Krichene, Zhang and Anderson (RecSys
# 2020) for this split (google-research dot_vs_learned_similarity/mf_simple.py
# and README: per-example SGD on the logistic loss, 8 uniform negatives per
# positive, learning rate 0.002, L2 0.005 on every parameter an example
# touches, N(0, 0.1) factors, zero biases, 256 epochs; embedding dimension 192
# = 191 factors + the bias). Their update per example is
# v += lr (g v' - reg v): SGD on the summed loss with L2 reg / 2 per example.
# Our step applies its examples' updates at once (exactly their updates, each
# at the step's starting weights; trainer_test); their code applies them one
# after another, which differs at second order in the rate. No refit: their
# 256 epochs twice would double the time, and the validation positives are
# 0.6% of the training file; the epoch is selected on validation.
MF_RENDLE2020 = {
    "model": "mf", "num_factors": 191, "optimizer": "sgd", "learning_rate": 0.002,
    "num_neg": 8, "mf_regularization": 0.0025, "mf_regularize_biases": True,
    "init_stddev": 0.1, "train_epochs": 256, "lr_schedule": "constant", "warmup_epochs": 0.0,
    "batch_size": 16384,
}

# EASE: lambda chosen from this grid on validation, then refit on train + validation.
EASE_GRID = {"model": "ease", "ease_lambda": ["250", "500", "1000", "2000", "4000"],
             "retrain_on_full": True}


@dataclasses.dataclass(frozen=True)
class Stage:
    """One training of a multi-stage recipe.

    Attributes:
      name: sub-directory of --model_dir (and of --benchmark_log_dir); "" for
        the final stage, which uses --model_dir itself.
      values: flag values of this stage (over the recipe's own).
      pretrained: for NeuMF, the names of the GMF and MLP stages to start from.
    """

    name: str
    values: dict
    pretrained: tuple[str, str] | None = None


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Flag values, and the stages (if several trainings) of one recipe."""

    values: dict
    stages: tuple[Stage, ...] = ()
    about: str = ""


RECIPES = {
    "paper": Recipe(PAPER, about="the paper's NeuMF: batch 256, lr 0.001, 8 factors, "
                                 "20 epochs"),
    "neumf_pretrained": Recipe(
        _PRETRAIN_COMMON,
        stages=(
            Stage("pretrain_gmf", {"model": "gmf", "learning_rate": 0.004,
                                   "train_epochs": 20, "mf_regularization": 0.004}),
            Stage("pretrain_mlp", {"model": "mlp", "learning_rate": 0.004,
                                   "train_epochs": 10}),
            # From pretrained weights, Adam needs a small rate: at 0.0005 the
            # validation HR falls from the first epoch on.
            Stage("", {"model": "neumf", "learning_rate": 0.0001, "train_epochs": 3,
                       "mf_regularization": 0.004},
                  pretrained=("pretrain_gmf", "pretrain_mlp")),
        ),
        about="the paper's best: 64 predictive factors, GMF and MLP pretrained, then "
              "NeuMF from both (three stages in one command)"),
    "mf_tuned": Recipe(MF_TUNED, about="dot-product MF with biases, tuned on validation"),
    "ials": Recipe(IALS_TUNED, about="iALS, 128 factors, alpha 9, frequency-scaled lambda "
                                     "0.01, 12 sweeps, refit on train + validation"),
    "ials_rendle2022": Recipe(IALS_RENDLE2022, about="iALS as published by Rendle et al. "
                                                     "(2022): 192 factors, lambda 0.007, "
                                                     "unobserved weight 0.3, 12 sweeps on the "
                                                     "whole training file"),
    "mf_rendle2020": Recipe(MF_RENDLE2020, about="dot-product MF as published by Rendle "
                                                 "et al. (2020): 192 dimensions, per-example "
                                                 "SGD at 0.002, L2 0.005, 8 negatives, 256 "
                                                 "epochs"),
    "ease": Recipe(EASE_GRID, about="EASE, lambda selected on validation from "
                                    "250-4000, refit on train + validation"),
}


def describe() -> str:
    """One line per recipe, for --help."""
    return ("Every recipe was tuned on validation splits of ml-1m (the NCF authors' "
            "training file): on your own --interactions it is a starting point, not a tuned "
            "setting. " + " ".join(f"{name}: {r.about}." for name, r in RECIPES.items()))


def resolve(values: Mapping[str, Any], given: Collection[str],
            recipe: str | None = None) -> dict[str, Any]:
    """The run's settings: flag values, with the recipe's where a flag was not given.

    Args:
      values: every flag's parsed value, by name.
      given: names of the flags set on the command line.
      recipe: recipe name; default `values["recipe"]`.

    Returns:
      A new dict of settings, one per flag.
    """
    out = dict(values)
    name = recipe if recipe is not None else out.get("recipe")
    if name:
        out.update({k: v for k, v in RECIPES[name].values.items() if k not in given})
    return out


def stage_settings(settings: Mapping[str, Any], given: Collection[str], stage: Stage,
                   stage_dirs: Mapping[str, str]) -> dict[str, Any]:
    """Settings of one stage: the stage's values unless given on the command line.

    `model_dir` / `benchmark_log_dir` become the stage's sub-directories, the
    final stage starts from the pretrained stages' model_dirs, and only the
    final stage exports.
    """
    values = dict(settings)
    for key, value in stage.values.items():
        if key not in given or key == "model":  # a stage's model is what makes it
            values[key] = value
    if stage.name:
        values["model_dir"] = os.path.join(settings["model_dir"], stage.name)
        if settings["benchmark_log_dir"]:
            values["benchmark_log_dir"] = os.path.join(settings["benchmark_log_dir"],
                                                       stage.name)
        values["export_dir"] = None
        values["retrain_on_full"] = False
    if stage.pretrained:
        values["pretrained_gmf"] = stage_dirs[stage.pretrained[0]]
        values["pretrained_mlp"] = stage_dirs[stage.pretrained[1]]
    values["clean"] = False  # --clean removed the whole model_dir once, before stage 1
    return values


def trainings(values: Mapping[str, Any], given: Collection[str]) -> list[dict[str, Any]]:
    """The settings of each training the flags ask for: one, or one per recipe stage."""
    settings = resolve(values, given)
    recipe = RECIPES.get(settings.get("recipe") or "")
    if recipe is None or not recipe.stages:
        return [settings]
    out, dirs = [], {}
    for stage in recipe.stages:
        out.append(stage_settings(settings, given, stage, dirs))
        dirs[stage.name] = out[-1]["model_dir"]
    return out
