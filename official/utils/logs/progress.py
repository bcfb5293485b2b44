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
      final_line: write a line at the end even when the job was shorter than
        one interval (False: a caller that reports the job's end itself).
    """

    def __init__(self, total: float | None, desc: str, unit: str,
                 interval: float = INTERVAL_S, write: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, final_line: bool = True):
        self.final_line = final_line
        self.total, self.desc, self.unit = total, desc, unit
        self.interval, self.clock = interval, clock
        self.write = write or (lambda line: logging.info("%s", line))
        self.n, self._written = 0, None
        self.start = self.last = clock()

    def _line(self) -> str:
        done = (f"{_count(self.n)}/{_count(self.total)} {self.unit}" if self.total
                else f"{_count(self.n)} {self.unit}")
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        elapsed = self.clock() - self.start
        left = ""
        if self.total and 0 < self.n < self.total:
            left = f", about {_duration(elapsed * (self.total - self.n) / self.n)} left"
        return f"{self.desc}: {done}{share}, {elapsed:.1f} s{left}"

    def update(self, n: float = 1) -> None:
        """Counts n more units; writes a line if `interval` has passed since the last."""
        self.n += n
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            self._write()

    def close(self) -> None:
        """Writes the final line, unless the last line already said the same count.

        Without `final_line`, only a job that already wrote lines gets one.
        """
        if self.n != self._written and (self.final_line or self._written is not None):
            self._write()

    def _write(self) -> None:
        self._written = self.n
        self.write(self._line())

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()


def _duration(seconds: float) -> str:
    """"45 s", "3 min", "1 h 5 min"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


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
        interactive: bool | None = None, final_line: bool = True, **tqdm_kwargs):
    """A tqdm bar on a terminal, `LineProgress` otherwise, nothing if not `enabled`.

    Args:
      total, desc, unit: as tqdm's.
      enabled: False shows nothing (a non-chief worker).
      interactive: a terminal bar; default whether stderr is a terminal.
      final_line: as `LineProgress`'s (a terminal bar disappears either way).
      **tqdm_kwargs: further tqdm options (unit_scale, initial, ...).
    """
    if not enabled:
        return _Off()
    if sys.stderr.isatty() if interactive is None else interactive:
        return tqdm.tqdm(total=total, desc=desc, unit=unit, leave=False, **tqdm_kwargs)
    progress = LineProgress(total, desc, unit, final_line=final_line)
    progress.n = tqdm_kwargs.get("initial", 0)
    return progress
