"""Which export versions the server holds, and swapping in new ones live (TF Serving's shape).

`serve --model_base_path BASE` serves the newest intact version under BASE
(`BASE/<n>/`, written by `ncf_main --export_dir BASE --export_versioned`).
`poll` (every --poll_seconds, and on SIGHUP) looks for a newer one; it is
loaded, checked (the export's manifest of sizes and checksums) and warmed
on a thread of its own at the lowest CPU priority while the current version
keeps answering, then
becomes current in one assignment. Requests that started on the old version
finish on it (each holds its `Servable`); the old version is released once
more than `keep` versions are loaded. A version that fails to load or warm
is logged as one warning line, recorded (state END with its error) and not
tried again; the current version goes on serving.

`status()` is TF Serving's `GET /v1/models/<name>` answer: each version
this process has seen, newest first, with its state (LOADING, AVAILABLE,
END) and status.
"""

import asyncio
import concurrent.futures
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable

from absl import logging

from official.utils.errors import UserError, first_line
from official.utils.misc import saved_model_export

OK = {"error_code": "OK", "error_message": ""}


def _lowest_priority() -> None:
    """Runs the calling thread at the lowest CPU priority (Linux: a thread's own nice).

    A load competes with the requests the current version is answering; at
    nice 19 it takes the cores they leave.
    """
    with contextlib.suppress(AttributeError, OSError):  # elsewhere: normal priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


@contextlib.contextmanager
def _short_gil_slices(seconds: float = 0.0005):
    """Hands the GIL round every `seconds` while a version loads (Python's default: 5 ms).

    Loading a SavedModel is mostly Python; with short slices the event loop
    and the model threads wait less for the interpreter meanwhile.
    """
    before = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


class VersionManager:
    """Loaded versions of one model, the current one, and live reloads.

    Args:
      load: version number, directory -> a warmed `Servable`; raises
        `UserError` (or anything) for a version that cannot serve.
      base: the versions' base directory, or None for one fixed export.
      export_dir: the fixed export (with base None), served as version 1.
      keep: loaded versions kept (the newest; requests may pin any of them).
      on_reload: called with (succeeded: bool, version) after each tried load.
    """

    def __init__(self, load: Callable[[int, str], object], base: str | None = None,
                 export_dir: str | None = None, keep: int = 1,
                 on_reload: Callable[[bool, int], None] | None = None):
        if (base is None) == (export_dir is None):
            raise ValueError("give exactly one of base and export_dir")
        self._load, self.base, self.export_dir = load, base, export_dir
        self.keep, self.on_reload = max(1, keep), on_reload
        self.loaded: dict[int, object] = {}
        self.states: dict[int, tuple[str, dict]] = {}
        self.current = None
        self._loader = concurrent.futures.ThreadPoolExecutor(1, "version-loader",
                                                             initializer=_lowest_priority)
        self._lock = threading.Lock()  # one poll at a time (SIGHUP and the timer)

    def start(self) -> object:
        """Loads the newest intact version (the fixed export); returns its servable.

        Raises:
          UserError: nothing under the base, or no version that loads.
        """
        if self.base is None:
            self._install(1, self._load(1, self.export_dir))
            return self.current
        found = saved_model_export.versions(self.base)
        if not found:
            if os.path.lexists(self.base) and not os.path.isdir(self.base):
                raise UserError(f"--model_base_path {self.base} is a file, not a directory")
            if not os.path.isdir(self.base):
                raise UserError(f"--model_base_path {self.base}: no such directory")
            raise UserError(f"--model_base_path {self.base}: no versions there (write one "
                            "with ncf_main --export_dir BASE --export_versioned)")
        if not self._try_newer(found, newer_than=0):
            raise UserError(f"--model_base_path {self.base}: no version loads (tried "
                            f"{', '.join(map(str, reversed(found)))}; see the warnings above)")
        return self.current

    async def poll(self) -> bool:
        """Loads and swaps in a newer version if there is one (on the loader thread).

        Returns:
          True when a new version became current.
        """
        if self.base is None:
            return False
        return await asyncio.get_running_loop().run_in_executor(self._loader, self.poll_now)

    def poll_now(self) -> bool:
        """`poll`'s work, on the calling thread."""
        with self._lock:
            found = saved_model_export.versions(self.base)
            return self._try_newer(found, self.current.version if self.current else 0)

    def _try_newer(self, found: list[int], newer_than: int) -> bool:
        """Tries versions above `newer_than`, newest first, skipping failed ones."""
        for version in reversed(found):
            if version <= newer_than:
                return False
            if self.states.get(version, ("",))[0] == "END":
                continue  # failed (or released) before: not tried again
            path = os.path.join(self.base, str(version))
            self.states[version] = ("LOADING", OK)
            start = time.perf_counter()
            try:
                with _short_gil_slices():
                    servable = self._load(version, path)
            except Exception as e:  # noqa: BLE001 - any failure keeps the current version
                self.states[version] = ("END", {"error_code": "UNKNOWN",
                                                "error_message": first_line(e)})
                still = (f"; still serving version {self.current.version}"
                         if self.current else "")
                logging.warning("Version %d of %s not loaded: %s%s", version, self.base,
                                first_line(e), still)
                if self.on_reload:
                    self.on_reload(False, version)
                continue
            previous = self.current.version if self.current else None
            self._install(version, servable)
            logging.info("Serving version %d of %s (loaded and warmed in %.1f s%s)", version,
                         self.base, time.perf_counter() - start,
                         f"; was {previous}" if previous is not None else "")
            if self.on_reload:
                self.on_reload(True, version)
            return True
        return False

    def _install(self, version: int, servable) -> None:
        self.loaded[version] = servable
        self.states[version] = ("AVAILABLE", OK)
        self.current = servable  # one assignment: new requests take it from here on
        for old in sorted(self.loaded)[:-self.keep]:
            del self.loaded[old]  # in-flight requests hold their own reference
            self.states[old] = ("END", OK)

    def get(self, version: int | None = None):
        """The current servable, or the loaded `version`.

        Raises:
          KeyError: `version` is not loaded (its message lists the loaded ones).
        """
        if version is None:
            return self.current
        if version not in self.loaded:
            raise KeyError(f"version {version} is not loaded (loaded: "
                           f"{', '.join(map(str, sorted(self.loaded)))})")
        return self.loaded[version]

    def status(self, version: int | None = None) -> dict:
        """TF Serving's model status: every version seen (or just `version`), newest first."""
        versions = sorted(self.states, reverse=True)
        if version is not None:
            versions = [v for v in versions if v == version]
        return {"model_version_status": [
            {"version": str(v), "state": self.states[v][0], "status": self.states[v][1]}
            for v in versions]}

    def close(self) -> None:
        """Stops the loader thread (after a load in progress)."""
        self._loader.shutdown(wait=True)
