"""`ncf_main --model auto`: search the portfolio on validation, refit the winner, report.

    python -m official.recommendation.ncf_main --model auto --time_budget 600 \
        --interactions plays.csv

1. The data is loaded once with the test set left out (`--ncf_split`'s test
   files are not even opened): trials see training positives and the
   validation split only.
2. Trials run until `--max_trials` or the budget (`budget`): each family's
   first trial at its default settings, then the strongest families with
   TPE (`sampling`), pruned on their validation curves; the study is kept in
   an Optuna storage (`study_store`), so a killed run resumes.
3. The best trial on validation is refitted on train + validation, tested
   once and exported (`winner`); `eval_results.json`, `search.json` and
   `report.html` are written.
"""

import gc
import os
from collections.abc import Collection
from typing import Any

import keras
import optuna
from absl import logging
from optuna.trial import TrialState

from official.recommendation import ncf_flags
from official.recommendation.models import ease
from official.recommendation.reporting import runs
from official.recommendation.search import budget as budget_lib
from official.recommendation.search import sampling, space, study_store, trial_run, winner
from official.recommendation.training import task as task_lib
from official.utils import run_loop
from official.utils.errors import UserError
from official.utils.logs import terminal
from official.utils.misc import atomic_io, locks, run_dirs

WINNER_EXPORT = "export"


def selection_metric(values: dict[str, Any]) -> str:
    """--selection_metric, or its default: NDCG (full ranking) on a log, HR otherwise."""
    return values.get("selection_metric") or ("NDCG" if values.get("interactions") else "HR")


def _search_settings(values: dict[str, Any]) -> dict[str, Any]:
    """The flag values every trial starts from: validation on, test never read."""
    return {**values, "validation": True, "evaluate_test": False, "export_dir": None,
            "retrain_on_full": False, "recipe": None, "clean": False,
            "selection_metric": selection_metric(values)}


def _families(values: dict[str, Any], num_items: int) -> tuple[space.Family, ...]:
    """--auto_models, less EASE when its matrices would not fit in memory."""
    chosen = space.portfolio(values["auto_models"])
    if any(f.name == "ease" for f in chosen):
        try:
            ease.check_memory(num_items)
        except MemoryError as e:
            logging.warning("EASE left out of the search: %s", e)
            chosen = tuple(f for f in chosen if f.name != "ease")
    if not chosen:
        raise UserError("--auto_models leaves no model family to search")
    return chosen


def _suggest(trial: optuna.Trial, fam: space.Family, fixed: dict[str, Any]) -> None:
    for p in fam.params:
        if p.flag in fixed:
            continue
        name = f"{fam.name}.{p.flag}"
        if p.kind == "log":
            trial.suggest_float(name, p.low, p.high, log=True)
        else:
            trial.suggest_categorical(name, list(p.choices))


def _describe(settings: dict[str, Any], fam: space.Family) -> str:
    def text(value) -> str:
        if isinstance(value, list):
            return ",".join(map(str, value))
        return terminal.human(value) if isinstance(value, float) else str(value)

    return ", ".join(f"{p.flag} {text(settings[p.flag])}" for p in fam.params) or "-"


class Search:
    """One process's part of a study: trials until the budget or --max_trials.

    Args:
      values: every ncf_main flag's value (model_dir resolved).
      given: flags given on the command line (searched flags among them stay fixed).
      budget: the command's time budget.
    """

    def __init__(self, values: dict[str, Any], given: Collection[str],
                 budget: budget_lib.Budget):
        self.values, self.budget = values, budget
        self.base = _search_settings(values)
        config = ncf_flags.config({**self.base, "model": "popularity"})
        full = task_lib.load_data(config.data)
        self.data, test = task_lib.split_data(config.data, full)
        assert test is None  # evaluate_test is off: the search holds no test set
        task_lib.check_top_k(config, self.data)
        self.families = _families(values, self.data.num_items)
        everything = space.searched_flags(space.FAMILIES)
        self.fixed = {k: values[k] for k in given if k in everything}
        self.config = config  # top_k, protocol and metric: the same for every trial
        self.metric = config.selection_metric
        self.label = f"{self.metric}@{config.top_k}"
        self.fingerprint = {
            "data": config.data.name, "split": config.data.split, "seed": config.data.seed,
            "selection_metric": self.label, "eval_protocol": config.eval_protocol,
            "num_eval_negatives": int(self.data.num_eval_negatives),
            "families": [f.name for f in self.families], "fixed": sorted(self.fixed)}
        self.sampler = sampling.PortfolioSampler(self.families, values["seed"])
        self._ease_estimate = None
        self.skipped: dict[str, float] = {}  # family -> the estimate that did not fit

    def open(self, storage: str, name: str, local: bool) -> optuna.Study:
        """Opens the study and fails the trials a dead process left running."""
        study = study_store.open_study(storage, name, self.fingerprint, self.sampler,
                                       sampling.FamilyPruner())
        stale = study_store.fail_stale_trials(study, local)
        if stale:
            logging.info("%d trial(s) left running by a stopped run will run again", stale)
        return study

    def run(self, study: optuna.Study) -> None:
        """Runs trials until the budget or --max_trials (counted over the whole study)."""
        max_trials = self.values["max_trials"]
        names = [f.name for f in self.families]
        while not (max_trials and study_store.counted(study) >= max_trials):
            trial = study.ask()
            fam = space.family(trial.suggest_categorical("model", names))
            slot = self.sampler.slot_of(study, trial)
            if max_trials and slot >= max_trials:  # another process took the last slot
                study.tell(trial, state=TrialState.FAIL)
                break
            done = slot >= self.sampler.warm_slots() and not fam.params  # nothing to search
            if done or fam.name in self.sampler.excluded:
                study.tell(trial, state=TrialState.FAIL)  # never ran; its slot stays free
                logging.info("Search stops: %s", "no family has settings to search" if done
                             else "no family's next trial fits the time left")
                break
            estimate = self._estimate(study, fam.name)
            if not self.budget.can_start(estimate):
                study.tell(trial, state=TrialState.FAIL)
                self.sampler.excluded.add(fam.name)
                self.skipped[fam.name] = round(estimate, 1)
                logging.info("No time for another %s trial (about %.0f s; %.0f s left)",
                             fam.name, estimate, max(self.budget.left_for_search(), 0))
                continue
            self._run_one(study, trial, fam, slot)

    def _estimate(self, study: optuna.Study, family: str) -> float:
        """Seconds the family's next trial takes: as its earlier trials, else as all.

        EASE's first is its closed form timed at a small size, scaled by items cubed.
        """
        durations = [(t.params["model"], t.user_attrs["seconds"])
                     for t in study.get_trials(deepcopy=False, states=sampling.FINISHED)
                     if "seconds" in t.user_attrs and "model" in t.params]
        if family == "ease" and all(f != "ease" for f, _ in durations):
            if self._ease_estimate is None:
                self._ease_estimate = ease.estimate_fit_seconds(self.data.num_items)
            return self._ease_estimate
        return budget_lib.trial_estimate(durations, family)

    def _run_one(self, study, trial, fam: space.Family, slot: int) -> None:
        _suggest(trial, fam, self.fixed)
        settings = space.settings_of(fam, trial.params, self.fixed)
        trial.set_user_attr(study_store.OWNER, study_store.owner())
        trial.set_user_attr("settings", settings)
        trial.set_user_attr("started", round(self.budget.elapsed(), 3))
        patience = self.values["early_stopping_patience"] or 3

        def report(value: float, epoch: int) -> bool:
            trial.report(value, epoch)
            return trial.should_prune()

        try:
            out = trial_run.run_trial({**self.base, **settings}, self.data, self.budget,
                                      report, patience, self._leader_refit(study))
        except (UserError, MemoryError) as e:
            trial.set_user_attr("error", str(e).splitlines()[0])
            study.tell(trial, state=TrialState.FAIL)
            logging.warning("Trial %d (%s: %s) failed: %s", slot, fam.name,
                            _describe(settings, fam), e)
            return
        finally:
            keras.backend.clear_session()
            gc.collect()
        for key in ("value", "selected_epoch", "epochs", "metrics", "curve", "seconds",
                    "train_seconds", "eval_seconds", "peak_rss_mb", "stopped", "chosen"):
            trial.set_user_attr(key, getattr(out, key))
        pruned = out.stopped == "pruned"
        study.tell(trial, None if pruned else out.value,
                   state=TrialState.PRUNED if pruned else TrialState.COMPLETE)
        self.budget.set_reserve(self._leader_refit(study))
        best = self.best(study)
        note = f"; stopped: {out.stopped}" if out.stopped else ""
        logging.info("Trial %d %s (%s): validation %s %.4f at epoch %d of %d, %.1f s%s%s",
                     slot, fam.name, _describe(settings, fam), self.label, out.value,
                     out.selected_epoch, out.epochs, out.seconds, note,
                     " -- best so far" if best is not None and best.number == trial.number
                     else "")

    def _leader_refit(self, study: optuna.Study) -> float:
        """The estimated refit seconds of the study's best trial (0 when none)."""
        best = self.best(study)
        if best is None:
            return 0.0
        a = best.user_attrs
        return budget_lib.refit_estimate(a["train_seconds"], a["selected_epoch"], a["epochs"],
                                         a["eval_seconds"])

    @staticmethod
    def best(study: optuna.Study):
        """The best finished trial (ties: the earlier), or None."""
        done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.value is not None]
        return max(done, key=lambda t: (t.value, -t.number)) if done else None


def run(values: dict[str, Any], given: Collection[str], started: float | None = None
        ) -> dict:
    """Searches, refits the winner, writes eval_results.json and search.json.

    Args:
      values: every ncf_main flag's value; `model_dir` resolved.
      given: names of the flags given on the command line.
      started: the `time.monotonic()` reading the budget counts from: the
        command's process start (`budget.process_start`); None: now (a call
        from Python, in a process that may have run for hours).

    Returns:
      eval_results.json's content: the winner's test metrics (when read),
      `validation_*` metrics, "selected_epoch", "model", "settings", and the
      search's bookkeeping ("trials", "budget_seconds", "seconds").
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our log says what happened
    budget = budget_lib.Budget(values["time_budget"], start=started)
    model_dir = values["model_dir"]
    export_dir = values["export_dir"] or os.path.join(model_dir, WINNER_EXPORT)
    run_loop.preflight(ncf_flags.config({**_search_settings(values), "model": "popularity",
                                         "export_dir": export_dir}).run)
    created = not os.path.exists(model_dir)
    os.makedirs(model_dir, exist_ok=True)
    try:
        with locks.hold(os.path.join(model_dir, run_dirs.LOCK), f"--model_dir {model_dir}"):
            if values["clean"]:
                run_dirs.clean(model_dir)
            run_dirs.claim(model_dir)
            return _search_and_finish(values, given, budget, export_dir)
    except BaseException:
        if created:
            run_dirs.remove_if_unused(model_dir)
        raise


def _search_and_finish(values, given, budget, export_dir) -> dict:
    model_dir = values["model_dir"]
    search = Search(values, given, budget)
    storage = values["study_storage"] or study_store.default_storage(model_dir)
    study = search.open(storage, values["study_name"], local=not values["study_storage"])
    logging.info("Searching %s for %s s on validation %s (study %r in %s); the test set is "
                 "read once, for the winner", ", ".join(f.name for f in search.families),
                 f"{budget.seconds:g}", search.label, values["study_name"], storage)
    search.run(study)
    best = search.best(study)
    if best is None:
        if not values["study_storage"] and not study_store.counted(study):
            os.remove(os.path.join(model_dir, study_store.STUDY_DB))  # holds nothing
        raise UserError(f"no trial finished within --time_budget {budget.seconds:g} s; give "
                        "the search more time")
    a = best.user_attrs
    search_seconds = budget.elapsed()
    logging.info("Winner: trial %d, %s (%s), validation %s %.4f", best.number,
                 best.params["model"], _describe(a["settings"], space.family(
                     best.params["model"])), search.label, a["value"])
    settings = {**search.base, **a["settings"], "evaluate_test": values["evaluate_test"]}
    final = winner.refit_and_export(settings, a["selected_epoch"], export_dir)
    config = search.config
    trials = study_store.rows(study)
    result = {**(final.test or {}), **{f"validation_{k}": v for k, v in a["metrics"].items()},
              "selected_epoch": a["selected_epoch"], "epoch": a["epochs"],
              "retrained_epochs": final.epochs, "top_k": config.top_k,
              "eval_protocol": config.eval_protocol, "model": best.params["model"],
              "settings": a["settings"], "winner_trial": best.number,
              "trials": len(trials), "budget_seconds": budget.seconds,
              "search_seconds": round(search_seconds, 3),
              "refit_seconds": round(final.seconds, 3),
              "selection_metric": search.label, "export_dir": export_dir}
    atomic_io.write_json(os.path.join(model_dir, runs.SEARCH_JSON), {
        "selection_metric": search.label, "budget_seconds": budget.seconds,
        "study_name": values["study_name"], "storage": storage,
        "winner": best.number, "trials": trials, "skipped": search.skipped})
    result["seconds"] = round(budget.elapsed(), 3)
    atomic_io.write_json(os.path.join(model_dir, run_loop.EVAL_RESULTS), result)
    return result

