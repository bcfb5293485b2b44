"""Tiny real file systems for fault tests: a full disk, a read-only mount.

`mount(path, size_bytes, read_only)` mounts a tmpfs at `path` when this
process may (root on Linux, as in CI); otherwise it returns False and the
test injects the same `OSError` at the write call instead, asserting the
same outcome either way.
"""

import contextlib
import os
import subprocess
from collections.abc import Iterator


@contextlib.contextmanager
def mounted(path: str, size_bytes: int = 256 << 10, read_only: bool = False
            ) -> Iterator[bool]:
    """Yields True with a tmpfs of `size_bytes` mounted at `path` (made), else False."""
    os.makedirs(path, exist_ok=True)
    options = f"size={size_bytes}" + (",ro" if read_only else "")
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", path],
                        capture_output=True).returncode == 0 if os.geteuid() == 0 else False
    try:
        yield ok
    finally:
        if ok:
            subprocess.run(["umount", "-l", path], capture_output=True)
