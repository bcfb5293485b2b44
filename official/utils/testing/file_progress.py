"""A pytest plugin: one line per finished test file, with its time, instead of dots.

    [ 12/64 files   2:05] official/utils/run_loop_test.py: 14 passed, 9.3 s

Loaded by `-p official.utils.testing.file_progress` (pyproject's addopts).
It works with and without pytest-xdist (whose controller learns the test
ids from the workers' collections); passed tests print no dot, failures
and errors still print pytest's letters and its summary.
"""

import collections
import time

import pytest


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


class FileProgress:
    """Counts finished tests per file and writes a line when a file's last one ends."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.start = time.monotonic()
        self.totals: collections.Counter = collections.Counter()
        self.done: collections.Counter = collections.Counter()
        self.seconds: collections.Counter = collections.Counter()
        self.outcomes: dict[str, collections.Counter] = collections.defaultdict(
            collections.Counter)
        self.files_done = 0

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Without xdist: the ids this process will run."""
        if session.items and not self.totals:
            self.totals.update(_file(item.nodeid) for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids: list[str]) -> None:
        """Under xdist: every worker collects the same ids; the first report counts."""
        if not self.totals:
            self.totals.update(_file(i) for i in ids)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Adds a phase's time and outcome; a file's line once its last teardown ends."""
        name = _file(report.nodeid)
        self.seconds[name] += report.duration
        if report.when == "call" or report.outcome != "passed":
            self.outcomes[name][report.outcome] += 1
        if report.when != "teardown":
            return
        self.done[name] += 1
        if self.done[name] != self.totals.get(name):
            return
        self.files_done += 1
        minutes, seconds = divmod(int(time.monotonic() - self.start), 60)
        counts = ", ".join(f"{n} {outcome}" for outcome, n in self.outcomes[name].items())
        width = len(str(len(self.totals)))
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(f"[{self.files_done:{width}d}/{len(self.totals)} files "
                                f"{minutes:3d}:{seconds:02d}] {name}: {counts}, "
                                f"{self.seconds[name]:.1f} s")

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config):
        """No dot for a passed test (the file's line reports it)."""
        if report.passed and report.when == "call":
            return "passed", "", "PASSED"
        return None


def pytest_configure(config: pytest.Config) -> None:
    """Registers the plugin in the main process (xdist workers report to it)."""
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(FileProgress(config), "file-progress")
