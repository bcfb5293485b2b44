"""Finished runs as the report reads them: one `Entry` per trial (or one for a plain run).

A `--model auto` run has `search.json` (every trial) beside
`eval_results.json`; a plain run has `history.json` (every evaluation
cycle) beside it. Nothing here trains or evaluates: the report shows what
the runs measured, and the numbers are those of the JSON files.
"""

import dataclasses
import os
from typing import Any

from official.recommendation.config.configs import RANKING_METRICS
from official.recommendation.search import space
from official.utils.errors import UserError
from official.utils.logs import history
from official.utils.misc import atomic_io
from official.utils.run_api import EVAL_RESULTS

SEARCH_JSON = "search.json"  # written by `search.auto`


@dataclasses.dataclass
class Entry:
    """One trained model: a trial of a search, or a plain run.

    Attributes:
      label: how the leaderboard names it ("trial 3", or the run's name).
      model: its registry model.
      settings: its searched (or main) flag values.
      state: "complete", "pruned" or "fail".
      value: its best validation selection metric (None: none).
      metrics: validation metrics of its selected epoch.
      selected_epoch, epochs: the selected and the trained epochs.
      curve: [epoch, seconds since it started, validation value] per epoch.
      started: seconds after its run started that it started.
      seconds: its wall time; peak_rss_mb: the peak memory (None: not measured).
      winner: the model its run reports and exports.
      note: why it stopped early, or its error.
    """

    label: str
    model: str
    settings: dict
    state: str
    value: float | None
    metrics: dict
    selected_epoch: int
    epochs: int
    curve: list
    started: float = 0.0
    seconds: float | None = None
    peak_rss_mb: float | None = None
    winner: bool = False
    note: str = ""


@dataclasses.dataclass
class Run:
    """A finished run: its entries, its selection metric and the winner's test metrics."""

    name: str
    model_dir: str
    metric: str  # "HR@10"
    entries: list[Entry]
    test: dict[str, float]
    result: dict[str, Any]
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def winner(self) -> Entry | None:
        """The entry the run reports."""
        return next((e for e in self.entries if e.winner), None)


def test_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The test metrics of eval_results.json (unprefixed ranking metrics)."""
    return {k: float(result[k]) for k in RANKING_METRICS if k in result}


def _searched(model: str, facts: dict[str, Any]) -> dict[str, Any]:
    try:
        fam = space.family(model)
    except ValueError:
        return {}
    return {p.flag: facts[p.flag] for p in fam.params if p.flag in facts}


def load(model_dir: str, name: str | None = None) -> Run:
    """The finished run in `model_dir`.

    Raises:
      UserError: it holds no eval_results.json (not a finished run).
    """
    result = atomic_io.read_json(os.path.join(model_dir, EVAL_RESULTS))
    if not isinstance(result, dict):
        raise UserError(f"{model_dir}: no {EVAL_RESULTS} (not a finished ncf_main run)")
    name = name or os.path.basename(os.path.normpath(model_dir))
    search = atomic_io.read_json(os.path.join(model_dir, SEARCH_JSON))
    if isinstance(search, dict):
        return _auto_run(name, model_dir, result, search)
    return _plain_run(name, model_dir, result)


def _auto_run(name: str, model_dir: str, result: dict, search: dict) -> Run:
    entries = []
    for t in search.get("trials", []):
        entries.append(Entry(
            f"trial {t['number']}", t.get("model") or "?", t.get("settings") or {},
            t.get("state", "?"), t.get("value"), t.get("metrics") or {},
            t.get("selected_epoch") or 0, t.get("epochs") or 0, t.get("curve") or [],
            t.get("started") or 0.0, t.get("seconds"), t.get("peak_rss_mb"),
            t["number"] == search.get("winner"),
            "" if t.get("stopped") == t.get("state") else t.get("stopped") or t.get("error")
            or ""))
    tried = {e.model for e in entries}
    notes = [f"{'no further' if family in tried else 'no'} {family} trial: the next (about "
             f"{seconds:.0f} s) did not fit the time left"
             for family, seconds in (search.get("skipped") or {}).items()]
    return Run(name, model_dir, search.get("selection_metric", "?"), entries,
               test_metrics(result), result, notes)


def _plain_run(name: str, model_dir: str, result: dict) -> Run:
    found = history.read(model_dir)
    facts, cycles = found.get("facts", {}), found.get("cycles", [])
    metric = facts.get("selection_metric") or "HR"
    validated = any(k.startswith("validation_") for k in result)
    prefix = "validation_" if validated else ""
    keys = [f"{prefix}{metric}", f"{prefix}{metric}_full"]
    key = next((k for k in keys if any(k in c for c in cycles) or k in result), keys[0])
    curve = [[c["epoch"], c["seconds"], c[key]] for c in cycles if key in c]
    metrics = {k.removeprefix(prefix): v for k, v in result.items()
               if k.startswith(prefix) and isinstance(v, int | float) and k != "epoch"}
    if not validated:
        metrics = test_metrics(result)
    model = facts.get("model") or "?"
    entry = Entry(name, model, _searched(model, facts), "complete", result.get(key),
                  metrics, result.get("selected_epoch") or result.get("epoch") or 0,
                  result.get("epoch") or 0, curve,
                  seconds=curve[-1][1] if curve else None, winner=True)
    label = f"{metric}@{result.get('top_k', 10)}"
    return Run(name, model_dir, label, [entry], test_metrics(result) if validated else {},
               result)
