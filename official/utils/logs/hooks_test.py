import time

import pytest

from official.utils.logs import hooks, logger


def test_get_train_hooks_by_name_and_errors():
    got = hooks.get_train_hooks(["LoggingHook", "examplespersecondhook"], model_dir="/tmp")
    assert [type(h).__name__ for h in got] == ["LoggingHook", "ExamplesPerSecondHook"]
    assert hooks.get_train_hooks([]) == []
    with pytest.raises(ValueError, match="must be a list"):
        hooks.get_train_hooks("LoggingHook")
    with pytest.raises(ValueError, match="unknown hook 'StopAtStepHook'"):
        hooks.get_train_hooks(["StopAtStepHook"])


def test_examples_per_second_hook_logs_rates(tmp_path):
    metric_logger = logger.BenchmarkLogger(str(tmp_path))
    hook = hooks.ExamplesPerSecondHook(every_n_steps=10, metric_logger=metric_logger)
    hook.on_train_begin()
    time.sleep(0.05)
    hook.on_steps_end(5, 500, {})  # before the window: nothing
    hook.on_steps_end(10, 1000, {})
    records = logger.read_metrics(str(tmp_path))
    assert [r["name"] for r in records] == ["current_examples_per_sec"]
    assert records[0]["global_step"] == 10 and 0 < records[0]["value"] < 1000 / 0.05
    assert hook.rates == [records[0]["value"]]


def test_logger_without_directory_writes_nothing(tmp_path):
    quiet = logger.BenchmarkLogger(str(tmp_path / "never"), write=False)
    quiet.log_metric("x", 1.0)
    quiet.log_run_info("m", "d", {"a": 1})
    assert not (tmp_path / "never").exists()
