"""Advisory file locks (fcntl) that say which process holds them.

`hold(path)` takes an exclusive lock on `path` and writes this process's pid
into it; a second process either fails at once with one line naming the
holder's pid (`wait=False`: two trainings on one model_dir) or waits for it
(`wait=True`: two runs preparing one dataset, the second then finds it
complete). The kernel releases the lock when the process ends, also on
`kill -9`, so a stale lock file never blocks anyone.
"""

import contextlib
import fcntl
import os
from collections.abc import Iterator

from absl import logging

from official.utils.errors import UserError


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 64).decode(errors="replace").strip()
    return text if text.isdigit() else "unknown"


@contextlib.contextmanager
def hold(path: str, what: str, wait: bool = False) -> Iterator[None]:
    """Holds an exclusive lock on `path` (created if missing) for the block.

    Args:
      path: the lock file.
      what: what is locked, for messages ("model_dir /tmp/ncf").
      wait: wait for another holder instead of failing.

    Raises:
      UserError: `wait` is False and another process holds the lock.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if not wait:
                raise UserError(f"{what} is in use by process {holder} (another run); wait "
                                "for it to finish or choose another directory") from None
            logging.info("Waiting for process %s, which is using %s", holder, what)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
