"""Training from Python: `train(**settings) -> result`, with ncf_main's flags as keywords.

    from official.recommendation import api

    result = api.train(model="ials", dataset="synthetic", data_dir="/tmp/data",
                       model_dir="/tmp/ials", ials_iterations=5, export_dir="/tmp/ials_export")
    print(result["selected_epoch"], result["validation_HR_full"], result["HR_full"])

Every keyword is an `ncf_main` flag (`python -m official.recommendation.ncf_main
--help` lists them) and means what the flag means: the same defaults, the
same checks, the same protocol, the same checkpoints, export and
eval_results.json. A list value is joined with commas; True / False set a
boolean flag. Nothing here reads or changes the process's own `absl.flags`.
"""

from collections.abc import Mapping
from typing import Any

from absl import flags

from official.recommendation import ncf_flags
from official.utils.errors import UserError, first_line


def _argument(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"--{name}" if value else f"--no{name}"
    if isinstance(value, list | tuple):
        value = ",".join(str(v) for v in value)
    return f"--{name}={value}"


def parse(settings: Mapping[str, Any]) -> flags.FlagValues:
    """Fresh ncf_main flags holding `settings` (flag name -> value), parsed and checked.

    Raises:
      UserError: an unknown flag or a bad value, named as the command line
        would name it.
    """
    fv = flags.FlagValues()
    ncf_flags.define_ncf_flags(fv)
    try:
        fv(["ncf_main", *(_argument(k, v) for k, v in settings.items())])
    except flags.Error as e:
        raise UserError(first_line(e, 300)) from e
    return fv


def train(**settings: Any) -> dict:
    """Trains, selects, evaluates (and exports) exactly as `ncf_main` with these flags.

    Args:
      **settings: ncf_main flag values by name (`model="ease"`,
        `ease_lambda=[250, 500]`, `interactions="plays.csv"`, ...).

    Returns:
      The run's result, as written to `<model_dir>/eval_results.json`: test
      metrics by name ("HR", "NDCG_full", ...), "validation_<name>" of the
      selected epoch, "selected_epoch", "epoch", "top_k", "eval_protocol",
      and what a fit chose ("ease_lambda"). With `model="auto"` (and
      `time_budget=...`): the winner's, with "model", "settings", "trials"
      (docs/auto.md); `report=True` also writes `<model_dir>/report.html`.

    Raises:
      UserError: bad settings or data (the message the command line prints).
    """
    from official.recommendation import ncf_main

    return ncf_main.run_from_flags(parse(settings))
