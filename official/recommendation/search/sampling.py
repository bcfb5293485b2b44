"""How `--model auto` picks each trial's family and settings, and prunes bad trials.

Built on Optuna's public sampler and pruner interfaces:

* `PortfolioSampler`: a trial's *slot* is its number less the vacated trials
  before it (a trial killed with its process fails, and its rerun takes the
  same slot; one that ended in an error keeps its own). Slots 0..F-1 are
  the F families' first trials (their warm settings; a family whose first
  trial would not fit the time left is skipped); later slots pick a family
  by `next_family` and draw its settings: near the family's best settings
  so far for its next `LOCAL_TRIALS` trials (`perturb`; a few trials gain
  more there than from draws over the whole space), then from a TPE sampler
  over the family's trials, seeded by the slot. Every choice depends only on
  the seed, the slot and the finished trials, so a killed study that is
  resumed makes the same choices as one that was not, and two processes
  sharing a study never run the same slot twice (Optuna numbers trials atomically).
* `FamilyPruner`: stops a trial whose best validation value so far is below
  the median of its own family's finished trials at the same epoch.
"""

import zlib
from collections.abc import Collection, Sequence

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from official.recommendation.search.space import NAMES, Family

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# A family is searched further while its best is within this share of the best.
MARGIN = 0.05
# A family's first trials after its warm start perturb its best settings; then TPE.
LOCAL_TRIALS = 3


def vacated(trial: FrozenTrial) -> bool:
    """Whether the trial failed without an error of its own; its slot goes to the next.

    Such a trial was killed with its process, or never started for lack of time.
    """
    return trial.state == TrialState.FAIL and "error" not in trial.user_attrs


def slot(trials: Sequence[FrozenTrial], number: int) -> int:
    """Trial `number`'s slot: its number less the vacated trials numbered before it.

    A trial that ended in an error (diverged, say) keeps its slot: the next
    one draws other settings.
    """
    return number - sum(1 for t in trials if t.number < number and vacated(t))


def best_so_far(trial: FrozenTrial, step: int | None = None) -> float | None:
    """The trial's value, or its best reported value up to `step` (None if none)."""
    if step is None and trial.state == TrialState.COMPLETE and trial.value is not None:
        return trial.value
    values = [v for s, v in trial.intermediate_values.items() if step is None or s <= step]
    return max(values) if values else None


def next_family(trials: Sequence[FrozenTrial], families: Sequence[Family],
                number: int, excluded: Collection[str] = ()) -> str | None:
    """The family of a trial after the first trials: the strongest families, shared out.

    Families with settings to search whose best finished value is within
    `MARGIN` of the best are eligible (the best always is); among them the
    one with the fewest trials so far per weight is taken (weights 3, 2, 1,
    ... by rank), ties to the better.

    Args:
      trials: the study's trials.
      families: the portfolio.
      number: the trial's number (only trials before it are counted).
      excluded: families not to pick (their next trial would not fit the budget).

    Returns:
      The family's name; None when every eligible family is excluded.
    """
    best: dict[str, float] = {}
    count: dict[str, int] = {}
    for t in trials:
        name = t.params.get("model")
        if t.number >= number or name is None or t.state == TrialState.FAIL:
            continue
        count[name] = count.get(name, 0) + 1
        value = best_so_far(t) if t.state in FINISHED else None
        if value is not None:
            best[name] = max(best.get(name, -np.inf), value)
    tunable = [f.name for f in families if f.params]
    ranked = sorted((n for n in tunable if n in best), key=lambda n: -best[n])
    if not ranked:
        ranked = tunable or [families[0].name]
    top = best.get(ranked[0], 0.0)
    eligible = [n for n in ranked if best.get(n, 0.0) >= top - MARGIN * abs(top)
                and n not in excluded]
    if not eligible:
        return None
    weight = {n: max(1, 3 - i) for i, n in enumerate(eligible)}
    return min(eligible, key=lambda n: (count.get(n, 0) / weight[n], eligible.index(n)))


class PortfolioSampler(optuna.samplers.BaseSampler):
    """Warm starts, then the strongest families with TPE, seeded per slot (module doc).

    Args:
      families: the portfolio, in the order of their first trials.
      seed: the run's --seed.
      n_startup_trials: finished trials before TPE models the results instead
        of drawing at random; default: as many as there are families (by the
        time a family gets to TPE, the study has that many).
    """

    def __init__(self, families: Sequence[Family], seed: int,
                 n_startup_trials: int | None = None):
        self._families = tuple(families)
        self._seed = seed
        self._startup = len(self._families) if n_startup_trials is None else n_startup_trials
        self._slots: dict[int, tuple[int, optuna.samplers.TPESampler]] = {}
        self._family_runs: dict[int, list[FrozenTrial]] = {}  # trial -> its family's done
        # Families whose next trial would not fit the time left (set by the search).
        self.excluded: set[str] = set()

    def _state(self, study, trial) -> tuple[int, optuna.samplers.TPESampler]:
        if trial.number not in self._slots:
            s = slot(study.get_trials(deepcopy=False), trial.number)
            tpe = optuna.samplers.TPESampler(seed=self._seed * 100_003 + s,
                                             n_startup_trials=self._startup,
                                             constant_liar=True)
            self._slots[trial.number] = (s, tpe)
        return self._slots[trial.number]

    def _warm(self) -> tuple[Family, ...]:
        """The families still to get a first trial in slot order: every one not excluded.

        A family is excluded only at its own slot (its first trial would not
        fit the time left), so the slots before keep their families.
        """
        return tuple(f for f in self._families if f.name not in self.excluded)

    def warm_slots(self) -> int:
        """How many slots are first trials."""
        return len(self._warm())

    def slot_of(self, study, trial) -> int:
        """The slot of a trial of this sampler's study."""
        return self._state(study, trial)[0]

    def infer_relative_search_space(self, study, trial):
        """None: every parameter is sampled independently (define-by-run)."""
        return {}

    def sample_relative(self, study, trial, search_space):
        """Nothing: see `infer_relative_search_space`."""
        return {}

    def sample_independent(self, study, trial, param_name, param_distribution):
        """The family ("model"), a warm setting, or TPE's draw seeded by the slot."""
        s, tpe = self._state(study, trial)
        warm = self._warm()
        if param_name == "model":
            if s < len(warm):
                return warm[s].name
            name = next_family(study.get_trials(deepcopy=False), self._families, trial.number,
                               self.excluded)
            # None left: an excluded one, which the search takes as its end.
            return name if name is not None else sorted(self.excluded or NAMES)[0]
        name, _, flag = param_name.partition(".")
        if s < len(warm) and warm[s].name == name:
            return warm[s].param(flag).warm
        if trial.number not in self._family_runs:  # read once per trial, not per parameter
            self._family_runs[trial.number] = [
                t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.number < trial.number and t.params.get("model") == name
                and t.value is not None]
        ran = [t for t in self._family_runs[trial.number] if param_name in t.params]
        if 0 < len(ran) <= LOCAL_TRIALS:
            best = max(ran, key=lambda t: (t.value, -t.number))
            rng = np.random.default_rng([self._seed, s, zlib.crc32(param_name.encode())])
            return perturb(best.params[param_name], param_distribution, rng)
        return tpe.sample_independent(study, trial, param_name, param_distribution)


def perturb(value, distribution, rng: np.random.Generator):
    """A value near `value` in `distribution` (Optuna's), drawn with `rng`.

    A log-uniform float is multiplied by e^N(0, 0.7) (within a factor 2 two
    times in three) and clipped to its range; a choice moves one step to
    either side or stays (choices are ordered).

    Raises:
      ValueError: another kind of distribution.
    """
    if isinstance(distribution, optuna.distributions.FloatDistribution) and distribution.log:
        return float(np.clip(value * np.exp(rng.normal(0.0, 0.7)), distribution.low,
                             distribution.high))
    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        choices = list(distribution.choices)
        i = int(np.clip(choices.index(value) + rng.integers(-1, 2), 0, len(choices) - 1))
        return choices[i]
    raise ValueError(f"no perturbation for {distribution}")


class FamilyPruner(optuna.pruners.BasePruner):
    """Prunes a trial below the median of its family's finished trials at its epoch.

    Args:
      min_epochs: never prune before this many epochs.
      min_trials: how many finished trials of the family it takes to judge.
    """

    def __init__(self, min_epochs: int = 2, min_trials: int = 2):
        self.min_epochs, self.min_trials = min_epochs, min_trials

    def prune(self, study, trial: FrozenTrial) -> bool:
        """True when the trial's best so far is below its family's median at this epoch."""
        step = trial.last_step
        if step is None or step < self.min_epochs:
            return False
        family = trial.params.get("model")
        peers = [best_so_far(t, step) for t in study.get_trials(deepcopy=False,
                                                                 states=FINISHED)
                 if t.params.get("model") == family]
        peers = [v for v in peers if v is not None]
        mine = best_so_far(trial, step)
        if len(peers) < self.min_trials or mine is None:
            return False
        return mine < float(np.median(peers))
