import logging
import sys

from official.utils.logs import terminal


def record(level, path, message="saved 3 files", exc_info=None):
    return logging.LogRecord("absl", level, path, 12, message, None, exc_info)


def test_terminal_lines_carry_the_time_and_the_level_only_when_not_info():
    formatter = terminal.TerminalFormatter()
    info = record(logging.INFO, "/x/official/utils/run_loop.py")
    info.created = 0.0  # 1970-01-01 00:00:00 UTC; the line shows local time
    text = formatter.format(info)
    assert len(text) == len("00:00:00 saved 3 files") and text.endswith(" saved 3 files")
    assert text[2] == ":" and text[5] == ":"
    warning = formatter.format(record(logging.WARNING, "/x/official/a.py", "disk low"))
    assert warning[8:] == " WARNING disk low"
    try:
        raise ValueError("boom")
    except ValueError:
        failed = formatter.format(record(logging.ERROR, "/x/a.py", "failed", sys.exc_info()))
    assert failed.splitlines()[0][8:] == " ERROR failed" and "ValueError: boom" in failed


def test_library_internals_are_dropped_below_warning_only():
    site = "/venv/lib/python3.11/site-packages"
    assert terminal.is_internal(record(logging.INFO,
                                       f"{site}/tensorflow/python/saved_model/saver.py"))
    assert terminal.is_internal(record(logging.DEBUG, f"{site}/keras/src/export/archive.py"))
    assert not terminal.is_internal(record(logging.WARNING, f"{site}/tensorflow/x.py"))
    assert not terminal.is_internal(record(logging.INFO, "/work/official/utils/run_loop.py"))


def test_numbers_for_people():
    assert [terminal.human(v) for v in (3271492.6211, 15516.8, 999999, 0.64671, 12, -4567.0)] \
        == ["3.27M", "15.5k", "1.00M", "0.6467", "12", "-4.57k"]
