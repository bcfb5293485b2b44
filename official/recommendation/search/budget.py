"""The time budget of `--model auto`: when a trial may start and when it must stop.

The budget is the wall-clock time of the command. A share of it is kept
back for the winner's refit on train + validation, its test evaluation,
export and report (`reserve`: the refit of the best trial so far, or of the
running trial should its next epoch be selected, whichever is larger --
re-estimated after every epoch); the search itself gets the rest:

* a new trial starts only if its estimate (the median duration of its
  family's earlier trials, else of all trials) fits in what is left;
* a running trial stops at an epoch boundary when its next epoch (estimated
  by its last) would not fit.

`clock` is injectable, so the rules are tested without waiting.
"""

import os
import statistics
import time
from collections.abc import Callable, Sequence

# Export, report and start-up of the final step, in seconds, before anything is measured.
FINAL_OVERHEAD_S = 15.0


def process_start(clock: Callable[[], float] = time.monotonic) -> float:
    """The `clock` reading when this process started (Linux; elsewhere: now).

    The budget covers the whole command, Python and TensorFlow start-up included.
    """
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        age = max(uptime - ticks / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError):
        age = 0.0
    return clock() - age


class Budget:
    """Seconds left of a wall-clock budget, less a reserve for the final step.

    Args:
      seconds: the whole budget (the command's wall time).
      clock: monotonic seconds (default `time.monotonic`).
      start: the clock reading the budget counts from (default: now).
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic,
                 start: float | None = None):
        self.seconds = float(seconds)
        self._clock = clock
        self._start = clock() if start is None else start
        self.reserve = FINAL_OVERHEAD_S

    def elapsed(self) -> float:
        """Seconds since the start."""
        return self._clock() - self._start

    def left_for_search(self) -> float:
        """Seconds the search may still use (negative once overspent)."""
        return self.seconds - self.reserve - self.elapsed()

    def can_start(self, estimate: float) -> bool:
        """Whether a trial estimated at `estimate` seconds fits in what is left."""
        left = self.left_for_search()
        return left > 0 and left >= estimate

    def epoch_fits(self, epoch_seconds: float) -> bool:
        """Whether one more epoch of `epoch_seconds` fits in what is left."""
        return self.left_for_search() >= epoch_seconds

    def set_reserve(self, refit_seconds: float) -> None:
        """Keeps `refit_seconds` (the winner's refit, estimated) plus the final overhead."""
        self.reserve = FINAL_OVERHEAD_S + max(refit_seconds, 0.0)


def trial_estimate(durations: Sequence[tuple[str, float]], family: str) -> float:
    """A trial's expected seconds: the median of its family's, else of all (0 if none).

    Args:
      durations: (family, seconds) of finished trials.
      family: the next trial's family.
    """
    own = [s for f, s in durations if f == family]
    every = [s for _, s in durations]
    if own:
        return statistics.median(own)
    return statistics.median(every) if every else 0.0


def refit_estimate(train_seconds: float, selected_epoch: int, epochs_run: int,
                   eval_seconds: float) -> float:
    """Seconds of the winner's refit on train + validation and its one test evaluation.

    Args:
      train_seconds: the winner trial's training seconds over `epochs_run` epochs.
      selected_epoch: the epochs the refit trains.
      epochs_run: epochs the trial trained.
      eval_seconds: one evaluation's seconds.
    """
    per_epoch = train_seconds / max(epochs_run, 1)
    # Train + validation holds one more positive per user: a few percent more work.
    return 1.1 * per_epoch * selected_epoch + 2.0 * eval_seconds
