"""What a person reads on the terminal: short log lines, no library internals, round numbers.

absl writes every line as `I1205 18:25:00.639 139999912168320 file.py:84] ...`
and TensorFlow logs its saver and SavedModel internals at INFO ("Sharding
callback duration", "unsupported characters which will be renamed",
"Writing fingerprint"). `configure` gives the terminal `12:25:00 message`
(the level named only when it is not INFO), drops INFO and DEBUG lines of
TensorFlow, Keras and YDF, and, with `--log_dir`, keeps absl's full format
in `<log_dir>/<program>.log` (every line, internals included).
"""

import contextlib
import logging as std_logging
import math
import os
import sys

from absl import logging

# Library code whose INFO lines are internals to a user of this package.
_INTERNAL_PACKAGES = ("tensorflow", "keras", "ydf", "tensorboard")


class TerminalFormatter(std_logging.Formatter):
    """`HH:MM:SS message`, with `WARNING` / `ERROR` / `DEBUG` after the time when not INFO."""

    def format(self, record: std_logging.LogRecord) -> str:
        """The record as one short line (a traceback, if any, on the lines after)."""
        stamp = self.formatTime(record, "%H:%M:%S")
        level = "" if record.levelno == std_logging.INFO else f" {record.levelname}"
        text = f"{stamp}{level} {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def is_internal(record: std_logging.LogRecord) -> bool:
    """True for an INFO or DEBUG line logged from inside TensorFlow, Keras or YDF."""
    if record.levelno >= std_logging.WARNING:
        return False
    parts = os.path.normpath(record.pathname or "").split(os.sep)
    return any(p in _INTERNAL_PACKAGES for p in parts[:-1])


class _DropInternals(std_logging.Filter):
    def filter(self, record: std_logging.LogRecord) -> bool:
        return not is_internal(record)


def configure(program: str, log_dir: str | None = None) -> str | None:
    """Sets the terminal format and filter; with `log_dir`, also a full-format log file.

    Args:
      program: the program's name (the log file's stem).
      log_dir: absl's `--log_dir`, or None / "" for the terminal only.

    Returns:
      The log file's path, or None.
    """
    handler = logging.get_absl_handler().python_handler
    handler.setFormatter(TerminalFormatter())
    if not any(isinstance(f, _DropInternals) for f in handler.filters):
        handler.addFilter(_DropInternals())
    if not log_dir:
        return None
    os.makedirs(log_dir, exist_ok=True)
    path = os.path.join(log_dir, f"{program}.log")
    to_file = std_logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.PythonFormatter())
    std_logging.getLogger().addHandler(to_file)
    return path


def silence_stderr() -> None:
    """Sends everything written to stderr from now on to /dev/null (fd 2 and sys.stderr).

    Called after a program's one error line, so that TensorFlow's shutdown
    messages and warnings of objects torn down at exit cannot follow it.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115  (lives until the process exits)


def human(value: float) -> str:
    """A number for people: 3 significant digits with k / M / G from 1,000 on, else 4 decimals.

    `human(3271492.6211)` is "3.27M"; `human(0.64671)` is "0.6467"; an int
    below 1,000 stays as it is.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if abs(value) < 1000:
        return str(value) if isinstance(value, int) else f"{value:.4f}"
    rounded = float(f"{value:.3g}")  # 999,999 -> 1.00M, not 1000k
    suffix, scale = next((s, f) for s, f in (("G", 1e9), ("M", 1e6), ("k", 1e3))
                         if abs(rounded) >= f or s == "k")
    scaled = rounded / scale
    digits = max(0, 2 - int(math.floor(math.log10(abs(scaled)))))
    return f"{scaled:.{digits}f}{suffix}"
