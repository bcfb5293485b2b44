"""The model registry: the one place a model's name maps to its code (no TensorFlow).

Flags, configs, the trainers, fold-in and the export ask this registry; none
of them branches on a model's name. Adding a model is one file (a
`keras.Model` implementing `interface.Recommender`, with a `build` function)
plus one line in `MODELS`.

Builders are imported when first used, so `--help` and the flag modules stay
free of TensorFlow.
"""

import dataclasses
import importlib
import types
from collections.abc import Callable, Mapping
from typing import Any

from official.recommendation.models.interface import LEARNS

_M = "official.recommendation.models"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How the harness builds, trains and describes one model.

    Attributes:
      build: "module:function" of `function(num_users, num_items, config,
        train_users, train_items) -> Recommender`; `config` is a
        `config.configs.TrainConfig`, the training positives are int32 [P]
        arrays (a "counts" model is fitted on them here).
      learns: "sgd", "solver" or "counts" (see `interface`).
      summary: what it is, in --model's help.
      solver: for "solver" models, "module:function" of `function(model,
        train_users, train_items, config, train_weights) -> interface.Solver`
        (`train_weights`: float [P] a log's weights, or None).
      epochs_flag: the integer flag that sets its number of epochs instead
        of --train_epochs (iALS: its sweeps).
      epochs: a fixed number of epochs instead of --train_epochs (EASE: 1,
        one fit that chooses its lambda among the candidates itself).
      divergence_hint: the likely cause named when its training loss is not
        finite; formatted with the `TrainConfig`'s fields.
    """

    build: str
    learns: str
    summary: str
    solver: str | None = None
    epochs_flag: str | None = None
    epochs: int | None = None
    divergence_hint: str = "--learning_rate {learning_rate:g} may be too high"

    def __post_init__(self):
        if self.learns not in LEARNS or (self.learns == "solver") != (self.solver is not None):
            raise ValueError(f"a model learns by one of {LEARNS}, with a solver exactly when "
                             f"it is 'solver'; got {self}")


MODELS: Mapping[str, ModelSpec] = types.MappingProxyType({
    "neumf": ModelSpec(f"{_M}.neumf:build", "sgd", "GMF + MLP (the paper)"),
    "gmf": ModelSpec(f"{_M}.neumf:build", "sgd", "NeuMF's GMF tower alone"),
    "mlp": ModelSpec(f"{_M}.neumf:build", "sgd", "NeuMF's MLP tower alone"),
    "mf": ModelSpec(f"{_M}.baselines:build_mf", "sgd",
                    "dot-product matrix factorization with biases, same negatives and loss "
                    "(--num_factors, --mf_regularization)"),
    "popularity": ModelSpec(f"{_M}.baselines:build_popularity", "counts",
                            "most-popular ranking, nothing to train"),
    "ials": ModelSpec(f"{_M}.ials:build", "solver",
                      "implicit alternating least squares on every user-item pair "
                      "(--num_factors, --ials_*)", solver=f"{_M}.ials:build_solver",
                      epochs_flag="ials_iterations",
                      divergence_hint="--ials_alpha {ials_alpha:g} may be too large or "
                                      "--ials_regularization {ials_regularization:g} too small"),
    "ease": ModelSpec(f"{_M}.ease:build", "solver", "closed-form item-item model "
                      "(--ease_lambda)", solver=f"{_M}.ease:build_solver",
                      epochs=1,
                      divergence_hint="an --ease_lambda may be too small for this data"),
})


def names() -> tuple[str, ...]:
    """The registered model names, in registry order."""
    return tuple(MODELS)


def spec(name: str) -> ModelSpec:
    """The entry of model `name`.

    Raises:
      ValueError: no such model.
    """
    if name not in MODELS:
        raise ValueError(f"model_type must be one of {names()}, got {name!r}")
    return MODELS[name]


def _resolve(target: str) -> Callable[..., Any]:
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


def build(config, num_users: int, num_items: int, train_users=None, train_items=None):
    """The `Recommender` of `config.model_type`, built (and fitted, for "counts").

    Args:
      config: a `TrainConfig`.
      num_users, num_items: sizes of the id spaces.
      train_users, train_items: int32 [P] training positives, or None (a
        model to restore weights into).
    """
    return _resolve(spec(config.model_type).build)(num_users, num_items, config, train_users,
                                                   train_items)


def build_solver(config, model, train_users, train_items, train_weights=None):
    """The `interface.Solver` fitting `model` (a "solver" model) on the positives [P]."""
    return _resolve(spec(config.model_type).solver)(model, train_users, train_items, config,
                                                    train_weights)


def epochs(name: str, settings: Mapping[str, Any], train_epochs: int) -> int:
    """Epochs model `name` trains: its fixed `epochs`, else its `epochs_flag`'s value.

    Models with neither train `train_epochs`.
    """
    entry = spec(name)
    if entry.epochs is not None:
        return entry.epochs
    return train_epochs if entry.epochs_flag is None else int(settings[entry.epochs_flag])


def divergence_hint(config) -> str:
    """The likely cause of a non-finite training loss of `config`'s model (a `TrainConfig`)."""
    return spec(config.model_type).divergence_hint.format(**dataclasses.asdict(config))


def describe() -> str:
    """--model's help: every model and its summary."""
    return "; ".join(f"{name}: {s.summary}" for name, s in MODELS.items())
