"""Output directories of a run: pre-flight checks, ownership marker, --clean.

* `check_writable` creates a directory if needed and writes and removes a
  probe file in it (then removes what it created), so an unwritable,
  read-only or full location fails in one line before any heavy work.
* A directory the package creates, or finds empty, gets a marker file
  (`.official-owned`); `--clean` removes only a directory that has one, and
  otherwise refuses in one line: never anything of the user's.
"""

import contextlib
import errno
import os
import shutil

from absl import logging

from official.utils.errors import UserError
from official.utils.misc import atomic_io

MARKER = ".official-owned"
LOCK = ".lock"


def check_writable(path: str, flag: str) -> None:
    """Creates `path` if missing and checks a file can be written there.

    Args:
      path: a directory.
      flag: the flag that named it, for the message.

    Raises:
      UserError: it cannot be created or written (a file in the way, no
        permission, a read-only or full file system).
    """
    created = []
    try:
        missing = os.path.abspath(path)
        while not os.path.exists(missing) and missing != os.path.dirname(missing):
            created.append(missing)
            missing = os.path.dirname(missing)
        os.makedirs(path, exist_ok=True)
        probe = atomic_io.temp_path_for(os.path.join(path, "write-probe"))
        with open(probe, "wb") as f:
            f.write(b"probe")
            f.flush()
            os.fsync(f.fileno())
        os.unlink(probe)
    except OSError as e:
        reason = ("a file is in the way" if e.errno in (errno.ENOTDIR, errno.EEXIST)
                  else e.strerror or str(e))
        raise UserError(f"{flag} {path} is not writable: {reason}") from e
    finally:
        for directory in created:  # leave no trace: the run creates them when it writes
            with contextlib.suppress(OSError):
                os.rmdir(directory)


def claim(path: str) -> None:
    """Creates `path`, marking it as the package's if it is new or empty."""
    empty = not os.path.isdir(path) or not [n for n in os.listdir(path) if n != LOCK]
    os.makedirs(path, exist_ok=True)
    if empty and not os.path.exists(os.path.join(path, MARKER)):
        with atomic_io.atomic_write(os.path.join(path, MARKER), "w") as f:
            f.write("created by the official recommendation package; --clean may remove "
                    "this directory\n")


def is_owned(path: str) -> bool:
    """True if `path` carries the package's marker."""
    return os.path.isfile(os.path.join(path, MARKER))


def remove_if_unused(path: str) -> None:
    """Removes a directory this run created that holds nothing but the marker and lock."""
    if os.path.isdir(path) and set(os.listdir(path)) <= {MARKER, LOCK}:
        shutil.rmtree(path, ignore_errors=True)


def clean(path: str, flag: str = "--model_dir") -> None:
    """`--clean`: empties a directory the package owns (keeping a held lock file).

    Raises:
      UserError: `path` holds files but no marker (not created by this package).
    """
    if not os.path.isdir(path):
        return
    names = [n for n in os.listdir(path) if n not in (LOCK, MARKER)]
    if not names:
        return
    if not is_owned(path):
        raise UserError(f"--clean: {flag} {path} was not created by this package (no {MARKER} "
                        "in it); remove it yourself or choose another directory")
    logging.info("--clean: removing the contents of %s", path)
    for name in names:
        full = os.path.join(path, name)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        else:
            os.unlink(full)
