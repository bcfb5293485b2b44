"""The shared loop on a scripted task: known answers for selection, stopping, resume, hooks."""

import json
import os

import pytest
import tensorflow as tf

from official.utils import run_loop
from official.utils.logs import logger as logger_lib

STEPS = 200  # steps per epoch: ExamplesPerSecondHook logs every 100 steps


class Scripted:
    """A Task whose 'weights' count trained epochs and whose metrics follow a script.

    evaluate() gives curve[w - 1] as HR; evaluate_test() gives 10 * w, so the
    test result tells which epoch's weights were restored.
    """

    name, dataset_name, independent_epochs = "scripted", "none", False
    steps_per_epoch, examples_per_step, metric_extras = STEPS, 3, {"top_k": 1}

    def __init__(self, curve, trains=True):
        self.curve, self.trains = list(curve), trains
        self.model = tf.Module()
        self.model.w = tf.Variable(0.0)
        self.trained = []

    def checkpointables(self):
        return {"model": self.model}

    def train_epoch(self, epoch, progress, prefetch_until):
        assert epoch == int(self.model.w.numpy())  # resumed where the checkpoint left off
        self.model.w.assign_add(1.0)
        self.trained.append(epoch)
        progress(STEPS)
        return 1.0 / (epoch + 1), STEPS * 3

    def evaluate(self):
        w = int(self.model.w.numpy())
        return {"HR": self.curve[w - 1] if w else 0.0}

    def evaluate_test(self):
        return {"HR": 10.0 * float(self.model.w.numpy())}

    def refit(self, epochs):
        return Scripted(self.curve)

    def export(self, export_dir):
        os.makedirs(export_dir, exist_ok=True)
        with open(os.path.join(export_dir, "w"), "w") as f:
            f.write(str(int(self.model.w.numpy())))

    def run_facts(self):
        return {"what": "scripted"}

    def metric_label(self, name):
        return f"{name}@1"


CURVE = [0.1, 0.5, 0.3, 0.2, 0.1, 0.05]


def run(tmp_path, task=None, **config):
    config = dict(model_dir=str(tmp_path / "m"), train_epochs=4, validation=True,
                  selection_metrics=("HR",)) | config
    return run_loop.train_and_report(task or Scripted(CURVE), run_loop.RunConfig(**config))


def test_selects_restores_and_exports_the_best_validation_epoch(tmp_path):
    bench = tmp_path / "bench"
    result = run(tmp_path, export_dir=str(tmp_path / "e"), benchmark_log_dir=str(bench))
    assert result == {"epoch": 4, "selected_epoch": 2, "validation_HR": 0.5, "HR": 20.0,
                      "loss": 0.25}
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
    assert task.trained == [] and again == {k: v for k, v in first.items() if k != "loss"}


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


def test_nothing_to_train_is_evaluated_once(tmp_path):
    task = Scripted(CURVE, trains=False)
    result = run(tmp_path, task, validation=False)
    assert task.trained == [] and result == {"HR": 0.0, "epoch": 4}


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
