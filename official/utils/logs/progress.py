"""Progress that shows on a terminal (a tqdm bar) and in a log file (lines).

tqdm turns itself off when stderr is not a terminal, so a run whose output
goes to a file or a CI log was silent from "Training..." to the first
epoch's metrics. `bar` keeps tqdm on a terminal and otherwise logs one line
every `interval` seconds and one at the end ("epochs 1-3: 604/906 steps
(67%), 12.3 s").
"""

import sys
import time
from collections.abc import Callable

import tqdm
from absl import logging

INTERVAL_S = 10.0


class LineProgress:
    """tqdm's `update` / context-manager interface, reported as log lines.

    Args:
      total: units of the whole job, or None if unknown.
      desc: what is done (starts each line).
      unit: the unit's name.
      interval: seconds between lines.
      write: where lines go (absl INFO by default).
      clock: seconds, monotonic (a test passes its own).
    """

    def __init__(self, total: float | None, desc: str, unit: str,
                 interval: float = INTERVAL_S, write: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.total, self.desc, self.unit = total, desc, unit
        self.interval, self.clock = interval, clock
        self.write = write or (lambda line: logging.info("%s", line))
        self.n = 0
        self.start = self.last = clock()

    def _line(self) -> str:
        done = (f"{_count(self.n)}/{_count(self.total)} {self.unit}" if self.total
                else f"{_count(self.n)} {self.unit}")
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        return f"{self.desc}: {done}{share}, {self.clock() - self.start:.1f} s"

    def update(self, n: float = 1) -> None:
        """Counts n more units; writes a line if `interval` has passed since the last."""
        self.n += n
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            self.write(self._line())

    def close(self) -> None:
        """Writes the final line."""
        self.write(self._line())

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()


def _count(n: float) -> str:
    return f"{int(n):,}" if float(n).is_integer() else f"{n:,.1f}"


class _Off:
    """Progress of a process that reports none (a non-chief worker)."""

    def update(self, n: float = 1) -> None:
        """Does nothing."""

    def __enter__(self) -> "_Off":
        return self

    def __exit__(self, *exc) -> None:
        return None


def bar(total: float | None, desc: str, unit: str, enabled: bool = True,
        interactive: bool | None = None, **tqdm_kwargs):
    """A tqdm bar on a terminal, `LineProgress` otherwise, nothing if not `enabled`.

    Args:
      total, desc, unit: as tqdm's.
      enabled: False shows nothing (a non-chief worker).
      interactive: a terminal bar; default whether stderr is a terminal.
      **tqdm_kwargs: further tqdm options (unit_scale, initial, ...).
    """
    if not enabled:
        return _Off()
    if sys.stderr.isatty() if interactive is None else interactive:
        return tqdm.tqdm(total=total, desc=desc, unit=unit, leave=False, **tqdm_kwargs)
    progress = LineProgress(total, desc, unit)
    progress.n = tqdm_kwargs.get("initial", 0)
    return progress
