"""The portfolio `--model auto` searches: model families, their first trial, their spaces.

No TensorFlow and no Optuna here: a `Family` is data. Each family's first
trial (its "warm start") is its default or recipe settings, so the search is
never worse on validation than the best family at those settings; later
trials draw from the family's small space (README, "--model auto").

Parameter names in a study are "<family>.<flag>" ("ials.num_factors"), so
the sampler models each family's settings from that family's trials only.
"""

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class Param:
    """One searched flag.

    Attributes:
      flag: the ncf_main flag it sets (settings key).
      kind: "log" (float, log-uniform in [low, high]) or "choice" (one of `choices`).
      warm: its value in the family's first trial.
      low, high: the range of a "log" parameter.
      choices: the values of a "choice" parameter.
    """

    flag: str
    kind: str
    warm: Any
    low: float = 0.0
    high: float = 0.0
    choices: tuple = ()

    def describe(self) -> str:
        """"learning_rate 0.001-0.016 (log)" or "num_factors {32, 64}", for docs and logs."""
        if self.kind == "log":
            return f"{self.flag} {self.low:g}-{self.high:g} (log)"
        return f"{self.flag} {{{', '.join(str(c) for c in self.choices)}}}"


@dataclasses.dataclass(frozen=True)
class Family:
    """A model family of the portfolio.

    Attributes:
      name: the registry model it trains (`--model`).
      params: the searched flags.
      fixed: flag values every trial of the family uses.
      about: where its first trial's values come from.
    """

    name: str
    params: tuple[Param, ...] = ()
    fixed: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    about: str = ""

    def warm_settings(self) -> dict[str, Any]:
        """The flag values of the family's first trial."""
        return {**self.fixed, **{p.flag: p.warm for p in self.params}}

    def param(self, flag: str) -> Param:
        """The searched parameter setting `flag`."""
        return next(p for p in self.params if p.flag == flag)


def _log(flag, warm, low, high):
    return Param(flag, "log", warm, low=low, high=high)


def _choice(flag, warm, *choices):
    return Param(flag, "choice", warm, choices=tuple(choices))


# Cheapest first (on ml-1m: popularity 1 s, EASE 13 s, iALS 80 s, NeuMF 76 s, MF 130 s):
# the first trials give every family a result early.
FAMILIES: tuple[Family, ...] = (
    Family("popularity", fixed={"train_epochs": 1}, about="nothing to set"),
    Family("ease", (_log("ease_lambda", 1000.0, 50.0, 20000.0),), fixed={"train_epochs": 1},
           about="lambda 1000, the ml-1m recipe's choice"),
    Family("ials", (_choice("num_factors", 128, 32, 64, 128, 256),
                    _log("ials_alpha", 9.0, 0.3, 30.0),
                    _log("ials_regularization", 0.01, 1e-4, 0.1)),
           fixed={"ials_iterations": 12, "train_epochs": 12, "ials_frequency_scaling": 1.0},
           about="the `ials` recipe (12 sweeps at most)"),
    Family("neumf", (_choice("num_factors", 32, 8, 16, 32, 64),
                     _choice("layers", "64,32,16", "64,32,16", "128,64,32", "256,128,64"),
                     _log("learning_rate", 0.004, 0.001, 0.016),
                     _choice("mf_regularization", 0.0, 0.0, 1e-4, 1e-3, 4e-3),
                     _choice("num_neg", 4, 4, 8),
                     _choice("train_epochs", 10, 10, 20)),
           about="ncf_main's defaults"),
    Family("mf", (_choice("num_factors", 128, 32, 64, 128, 256),
                  _log("learning_rate", 0.004, 0.001, 0.016),
                  _log("mf_regularization", 0.002, 1e-4, 0.01),
                  _choice("num_neg", 8, 4, 8, 16),
                  _choice("train_epochs", 10, 10, 20, 30)),
           fixed={"lr_schedule": "cosine", "warmup_epochs": 1.0},
           about="the `mf_tuned` recipe at 10 epochs (its 20 cost a 600 s budget's half "
                 "on ml-1m)"),
)

NAMES = tuple(f.name for f in FAMILIES)


def family(name: str) -> Family:
    """The family training model `name`.

    Raises:
      ValueError: not a family of the portfolio.
    """
    for f in FAMILIES:
        if f.name == name:
            return f
    raise ValueError(f"--auto_models: {name!r} is not one of {', '.join(NAMES)}")


def portfolio(names: Sequence[str]) -> tuple[Family, ...]:
    """The families named, in the portfolio's order (cheapest first), each once."""
    wanted = {family(n).name for n in names}
    return tuple(f for f in FAMILIES if f.name in wanted)


def settings_of(fam: Family, params: Mapping[str, Any],
                fixed_by_user: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The flag values of one trial: the family's fixed values and its sampled params.

    Args:
      fam: the trial's family.
      params: the study's parameters of the trial ("<family>.<flag>" -> value).
      fixed_by_user: flags given on the command line; they win over the search.
    """
    fixed_by_user = fixed_by_user or {}
    out = {"model": fam.name, **fam.fixed}
    for p in fam.params:
        if p.flag not in fixed_by_user:
            out[p.flag] = params[f"{fam.name}.{p.flag}"]
    if "ease_lambda" in out:  # a list flag: one candidate per trial
        out["ease_lambda"] = [f"{float(out['ease_lambda']):g}"]
    if "mf_regularization" in out and fam.name == "neumf":  # one L2 for both towers
        out["mlp_regularization"] = out["mf_regularization"]
    out.update(fixed_by_user)
    return out


def searched_flags(families: Collection[Family]) -> frozenset[str]:
    """Every flag some family of `families` sets."""
    return frozenset(p.flag for f in families for p in f.params) | frozenset(
        k for f in families for k in f.fixed) | {"mlp_regularization"}


def describe(families: Sequence[Family] = FAMILIES) -> str:
    """One line per family: what is searched and where its first trial comes from."""
    return "\n".join(
        f"{f.name}: " + ("; ".join(p.describe() for p in f.params) or "-")
        + f" (first trial: {f.about})" for f in families)
