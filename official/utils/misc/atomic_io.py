"""Atomic file writes: write under a temporary name, then rename.

A reader never sees a half-written file under its final name: either the old
file (or none) or the complete new one. A crash leaves at most a temporary
file whose name starts with `.` and contains `.tmp-<pid>-`, which readers
ignore and `remove_stale_temporaries` removes once its writer is dead.
"""

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from typing import IO, Any

TMP_MARKER = ".tmp-"
# A temporary whose writer cannot be identified is stale after this long.
STALE_AFTER_S = 24 * 3600


def temp_prefix(name: str) -> str:
    """`.<name>.tmp-<pid>-`: the prefix of this process's temporaries for `name`."""
    return f".{name}{TMP_MARKER}{os.getpid()}-"


def temp_path_for(path: str) -> str:
    """Returns a fresh temporary path in the same directory as `path`."""
    directory, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(name), dir=directory)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600; use normal perms.
    return tmp


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "wb", **open_kwargs: Any) -> Iterator[IO]:
    """Opens a temporary file that replaces `path` only if the block succeeds.

    Args:
      path: final file path. Its directory must exist.
      mode: "w" or "wb" (text or binary).
      **open_kwargs: passed to `open` (e.g. `encoding`, `newline`).

    Yields:
      The open temporary file.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write supports modes 'w' and 'wb', got {mode!r}")
    tmp = temp_path_for(path)
    try:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_directory(path: str) -> Iterator[str]:
    """Yields a temporary directory that replaces directory `path` on success.

    An existing `path` is removed only after the new content is complete.
    """
    parent, name = os.path.split(os.path.abspath(path))
    tmp = tempfile.mkdtemp(prefix=temp_prefix(name), dir=parent)
    os.chmod(tmp, 0o777 & ~_current_umask())  # mkdtemp makes 0700; use normal perms.
    try:
        yield tmp
        if os.path.isdir(path):
            old = tempfile.mkdtemp(prefix=temp_prefix(f"{name}.old"), dir=parent)
            os.rmdir(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_json(path: str, obj: Any) -> None:
    """Writes `obj` as indented JSON to `path` atomically."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def read_json(path: str) -> Any | None:
    """Returns the JSON content of `path`, or None if missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _writer_dead(name: str) -> bool:
    """True if the process named in a temporary's name (`.x.tmp-<pid>-...`) has ended.

    False while it runs, and for a name without a pid (its writer is unknown).
    """
    pid = name.split(TMP_MARKER, 1)[1].split("-", 1)[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # another user's live process
    return False


def remove_stale_temporaries(directory: str, name: str | None = None,
                             now: float | None = None) -> int:
    """Deletes leftover temporaries of killed writers in `directory`.

    A temporary is removed when the process named in it (`.x.tmp-<pid>-...`)
    no longer runs, or when it is older than `STALE_AFTER_S` (its writer
    unknown, or the pid reused). A live writer's temporaries are never
    touched, so concurrent runs on one directory do not break each other.

    Args:
      directory: where to look.
      name: only the temporaries of this name (`.<name>.tmp-...`); default all.
      now: the current time (tests pass their own).

    Returns:
      The number of entries removed.
    """
    removed = 0
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return 0
    now = time.time() if now is None else now
    prefix = f".{name}{TMP_MARKER}" if name else "."
    for entry in names:
        if not (entry.startswith(prefix) and TMP_MARKER in entry):
            continue
        full = os.path.join(directory, entry)
        try:
            age = now - os.lstat(full).st_mtime
        except FileNotFoundError:
            continue
        if not _writer_dead(entry) and age < STALE_AFTER_S:
            continue
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(full)
        removed += 1
    return removed
