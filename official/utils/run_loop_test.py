"""The shared loop on a scripted task: known answers for selection, stopping, resume, hooks."""

import contextlib
import errno
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from official.utils import run_loop
from official.utils.errors import UserError
from official.utils.logs import logger as logger_lib
from official.utils.misc import atomic_io, run_dirs
from official.utils.misc.distribution_utils import DistributionConfig
from official.utils.testing import small_fs
from official.utils.testing.scripted_task import CURVE, Scripted, run


def test_selects_restores_and_exports_the_best_validation_epoch(tmp_path):
    bench = tmp_path / "bench"
    result = run(tmp_path, export_dir=str(tmp_path / "e"), benchmark_log_dir=str(bench))
    # The task's metric_extras (top_k) are part of the result, as in eval_results.json.
    assert result == {"epoch": 4, "selected_epoch": 2, "validation_HR": 0.5, "HR": 20.0,
                      "loss": 0.25, "top_k": 1}
    assert json.loads((tmp_path / "m" / "eval_results.json").read_text()) == result
    assert (tmp_path / "e" / "w").read_text() == "2"
    assert sorted(p.name for p in (tmp_path / "m").glob("best-*")) == ["best-2"]
    records = logger_lib.read_metrics(str(bench))
    assert [r["value"] for r in records if r["name"] == "validation_HR"] == CURVE[:4]
    test = [r for r in records if r["name"] == "test_HR"]
    assert len(test) == 1 and test[0]["extras"] == {"selected_epoch": 2, "top_k": 1,
                                                    "retrained_on_full": False}
    facts = json.loads((bench / logger_lib.RUN_LOG).read_text())["run_parameters"]
    assert {p["name"]: p["value"] for p in facts} == {"what": "scripted", "train_epochs": 4,
                                                      "epochs_between_evals": 1}


def test_early_stopping_then_a_rerun_trains_nothing_and_reports_the_same(tmp_path):
    first = run(tmp_path, train_epochs=6, early_stopping_patience=2)
    assert (first["epoch"], first["selected_epoch"]) == (4, 2)  # 2 epochs without a better HR
    task = Scripted(CURVE)
    again = run(tmp_path, task, train_epochs=6, early_stopping_patience=2)
    # The same keys and values, the last training loss too (recorded in the checkpoint).
    assert task.trained == [] and again == first


def test_resume_equals_an_uninterrupted_run(tmp_path):
    straight = run(tmp_path / "a", train_epochs=5, epochs_between_evals=2)
    run(tmp_path / "b", train_epochs=2, epochs_between_evals=2)
    task = Scripted(CURVE)
    resumed = run(tmp_path / "b", task, train_epochs=5, epochs_between_evals=2)
    assert task.trained == [2, 3, 4]
    # Cycles end at epochs 2, 4, 5 in both runs: the same epochs are evaluated.
    assert resumed == straight


def test_stop_threshold_without_validation_reports_the_last_epoch(tmp_path):
    result = run(tmp_path, validation=False, train_epochs=6, stop_metrics=("HR_full", "HR"),
                 stop_threshold=0.5)
    assert result["epoch"] == 2 and result["HR"] == 0.5 and "selected_epoch" not in result
    assert result["loss"] == 0.5 and result["examples_per_second"] > 0


def test_refit_trains_the_selected_number_of_epochs_and_is_exported(tmp_path):
    result = run(tmp_path, retrain_on_full=True, export_dir=str(tmp_path / "e"))
    assert result["retrained_epochs"] == 2 and result["HR"] == 20.0  # the refit's weights
    assert tf.train.latest_checkpoint(str(tmp_path / "m" / "retrain" / "checkpoints")).endswith(
        "ckpt-2")
    assert (tmp_path / "e" / "w").read_text() == "2"


def test_refit_for_a_fixed_number_of_epochs(tmp_path):
    # A published setting fixes the refit's epochs: 3, though validation selected 2.
    result = run(tmp_path, retrain_on_full=True, retrain_epochs=3)
    assert result["selected_epoch"] == 2 and result["retrained_epochs"] == 3
    assert result["HR"] == 30.0  # the refit's weights after 3 epochs


def test_nothing_to_train_is_evaluated_once(tmp_path):
    task = Scripted(CURVE, trains=False)
    result = run(tmp_path, task, validation=False)
    assert task.trained == [] and result == {"HR": 0.0, "epoch": 4, "top_k": 1}


def test_hooks_run_for_every_task(tmp_path):
    bench = tmp_path / "bench"
    run(tmp_path, hooks=("ExamplesPerSecondHook",), benchmark_log_dir=str(bench),
        train_epochs=2)
    steps = [r["global_step"] for r in logger_lib.read_metrics(str(bench))
             if r["name"] == "current_examples_per_sec"]
    assert steps == [200, 400]


def test_unknown_hook_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown hook 'NoSuchHook'"):
        run(tmp_path, hooks=("NoSuchHook",))


def run_cli_style(tmp_path, model_dir, **config):
    """`run_loop.run` as a program calls it: strategy, pre-flight, lock, clean, build."""
    config = dict(model_dir=str(model_dir), train_epochs=2) | config
    return run_loop.run(run_loop.RunConfig(**config), DistributionConfig("default"),
                        lambda strategy, cluster: Scripted(CURVE))


def test_clean_removes_only_a_directory_the_package_created(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(UserError, match="was not created by this package"):
        run_cli_style(tmp_path, mine, clean=True)
    assert (mine / "thesis.tex").read_text() == "years of work"
    ours = tmp_path / "ours"
    run_cli_style(tmp_path, ours)
    assert (ours / run_dirs.MARKER).exists() and (ours / "checkpoints").exists()
    (ours / "old.txt").write_text("from an earlier run")
    run_cli_style(tmp_path, ours, clean=True)
    assert not (ours / "old.txt").exists() and (ours / "checkpoints").exists()


def test_a_second_run_on_a_model_dir_fails_at_once_naming_the_holder(tmp_path):
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from official.utils.misc import locks\n"
         "with locks.hold(sys.argv[1], 'x'):\n print('held', flush=True); time.sleep(60)",
         str(model_dir / run_dirs.LOCK)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=f"is in use by process {holder.pid}"):
            run_cli_style(tmp_path, model_dir)
        assert os.listdir(model_dir) == [run_dirs.LOCK]  # nothing written
    finally:
        holder.kill()
        holder.wait()
    assert run_cli_style(tmp_path, model_dir)["epoch"] == 2  # the lock died with its holder


def test_unwritable_outputs_fail_before_any_work_leaving_nothing(tmp_path):
    (tmp_path / "file").write_text("x")
    cases = {"model_dir": str(tmp_path / "file" / "m"),
             "benchmark_log_dir": str(tmp_path / "file" / "b"),
             "export_dir": str(tmp_path / "file" / "e")}
    for name, path in cases.items():
        config = {"model_dir": str(tmp_path / "m2")} | {name: path}
        with pytest.raises(UserError, match=f"--{name} {path} is not writable: a file is in "
                                            "the way"):
            run_cli_style(tmp_path, **config)
        assert sorted(os.listdir(tmp_path)) == ["file"]  # nothing created, nothing trained


def test_read_only_and_full_file_systems_are_one_line(tmp_path, monkeypatch):
    with small_fs.mounted(str(tmp_path / "ro"), read_only=True) as mounted:
        if not mounted:  # no tmpfs for this user: the same error, injected
            monkeypatch.setattr(atomic_io, "temp_path_for", _raise(errno.EROFS))
        with pytest.raises(UserError, match="is not writable: Read-only file system"):
            run_cli_style(tmp_path, tmp_path / "ro" / "m")
    monkeypatch.undo()
    with small_fs.mounted(str(tmp_path / "full"), size_bytes=64 << 10) as mounted:
        if mounted:
            _fill(tmp_path / "full" / "filler")
        else:
            monkeypatch.setattr(atomic_io, "temp_path_for", _raise(errno.ENOSPC))
        with pytest.raises(UserError, match="is not writable: No space left on device"):
            run_cli_style(tmp_path, tmp_path / "full" / "m")


def _fill(path):
    """Writes `path` until its file system is full."""
    with open(path, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 4096)


def _raise(number):
    def fail(*_):
        raise OSError(number, os.strerror(number))
    return fail


def test_lower_is_better_selects_the_minimum(tmp_path):
    # An RMSE-like curve with its minimum at epoch 3: patience 2 stops at epoch 5.
    rmse = [0.9, 0.8, 0.7, 0.75, 0.8, 0.6]
    result = run(tmp_path, Scripted(rmse), train_epochs=6, selection_lower_is_better=True,
                 early_stopping_patience=2)
    assert (result["selected_epoch"], result["epoch"]) == (3, 5)
    assert result["validation_HR"] == 0.7 and result["HR"] == 30.0  # epoch 3's weights
