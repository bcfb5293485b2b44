"""End-to-end census runs on small synthetic data (real TensorFlow, real files)."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from official.utils.errors import UserError
from official.utils.logs import logger as logger_lib
from official.wide_deep import census_dataset as census
from official.wide_deep import census_features as cf
from official.wide_deep import census_main
from official.wide_deep.census_task import CensusConfig, CensusTask
from official.wide_deep.conftest import example_bytes

# Starts processes or clusters, or trains real models for a while: not in make test-fast.
pytestmark = pytest.mark.slow


def run(mirror, tmp_path, *args):
    fv = flags.FlagValues()
    census_main.define_census_main_flags(fv)
    fv(["census_main", f"--data_dir={tmp_path / 'data'}", f"--data_url={mirror}",
        "--batch_size=128", "--train_epochs=3", *args])
    return census_main.run_from_flags(fv)


@pytest.mark.parametrize("model_type", ["wide", "deep", "wide_deep"])
def test_each_model_type_learns(mirror, tmp_path, model_type):
    result = run(mirror, tmp_path, f"--model_type={model_type}",
                 f"--model_dir={tmp_path / model_type}")
    assert result["accuracy"] > result["accuracy_baseline"] + 0.08, result
    assert result["auc"] > 0.85 and result["eval_loss"] < 0.5


def test_resume_matches_uninterrupted_and_stop_threshold(mirror, tmp_path):
    full = run(mirror, tmp_path, f"--model_dir={tmp_path / 'a'}", "--train_epochs=4",
               "--epochs_between_evals=1")
    run(mirror, tmp_path, f"--model_dir={tmp_path / 'b'}", "--train_epochs=2",
        "--epochs_between_evals=1")
    resumed = run(mirror, tmp_path, f"--model_dir={tmp_path / 'b'}", "--train_epochs=4",
                  "--epochs_between_evals=1")
    assert resumed["epoch"] == 4
    assert resumed["accuracy"] == pytest.approx(full["accuracy"], abs=1e-6)
    assert resumed["eval_loss"] == pytest.approx(full["eval_loss"], rel=1e-5)
    early = run(mirror, tmp_path, f"--model_dir={tmp_path / 'c'}", "--train_epochs=10",
                "--epochs_between_evals=1", "--stop_threshold=0.8")
    assert early["epoch"] < 10 and early["accuracy"] >= 0.8


def test_export_both_signatures_match_the_live_model(mirror, tmp_path):
    fv = flags.FlagValues()
    census_main.define_census_main_flags(fv)
    fv(["census_main", f"--data_dir={tmp_path / 'data'}", f"--data_url={mirror}",
        f"--model_dir={tmp_path / 'm'}", "--train_epochs=1", f"--export_dir={tmp_path / 'e'}"])
    census_main.run_from_flags(fv)
    task = CensusTask(CensusConfig(str(tmp_path / "data"), batch_size=128))
    tf.train.Checkpoint(model=task.model).restore(
        tf.train.latest_checkpoint(str(tmp_path / "m" / "checkpoints"))).expect_partial()
    rows = census.load(str(tmp_path / "data" / census.EVAL_FILE)).iloc[:40]
    live = tf.sigmoid(task.model(task.features(cf.raw_tensors(rows)))).numpy()
    loaded = tf.saved_model.load(str(tmp_path / "e"))
    from_examples = loaded.serving_default(
        tf.constant([example_bytes(r) for _, r in rows.iterrows()]))
    raw = {c: tf.constant(v) for c, v in cf.raw_tensors(rows).items()}
    from_raw = loaded.predict_raw(raw)
    np.testing.assert_allclose(from_examples["probabilities"].numpy(), live, rtol=1e-5)
    np.testing.assert_allclose(from_raw["probabilities"].numpy(), live, rtol=1e-5)
    assert set(from_raw["classes"].numpy().tolist()) <= {0, 1}
    assert 0.1 < live.mean() < 0.9


def test_cli_bad_inputs_end_in_one_line(mirror, tmp_path):
    cases = [
        (["--model_type=linear"], "--model_type"),
        (["--nodownload_if_missing"], "census files missing"),
        ([f"--data_url={tmp_path / 'nowhere'}"],
         f"cannot download census adult.data from {tmp_path / 'nowhere'}/adult.data (file not "
         "found); put adult.data and adult.test in a folder and pass --data_url DIR, or try "
         "--dataset synthetic"),
    ]
    for args, message in cases:
        res = subprocess.run(
            [sys.executable, "-m", "official.wide_deep.census_main",
             f"--data_dir={tmp_path / 'empty'}", f"--model_dir={tmp_path / 'mm'}", *args],
            capture_output=True, text=True, timeout=120)
        assert res.returncode != 0, args
        assert message in res.stderr, (args, res.stderr[-1500:])
        assert "Traceback" not in res.stderr


def test_selected_epoch_is_reported_and_exported(mirror, tmp_path):
    model_dir, export = tmp_path / "m", tmp_path / "e"
    result = run(mirror, tmp_path, f"--model_dir={model_dir}", "--train_epochs=4",
                 "--epochs_between_evals=1", f"--export_dir={export}",
                 f"--benchmark_log_dir={tmp_path / 'bench'}")
    selected = result["selected_epoch"]
    assert 1 <= selected <= 4 and result["epoch"] == 4
    curve = [r["value"] for r in logger_lib.read_metrics(str(tmp_path / "bench"))
             if r["name"] == "validation_eval_loss"]
    assert len(curve) == 4 and selected == 1 + int(np.argmin(curve))  # the lowest loss
    assert result["validation_eval_loss"] == pytest.approx(min(curve))
    # The export is the selected epoch's weights, and so is the reported test accuracy.
    task = CensusTask(CensusConfig(str(tmp_path / "data"), batch_size=128))
    tf.train.Checkpoint(model=task.model).read(
        str(model_dir / f"best-{selected}" / "weights")).expect_partial()
    rows = census.load(str(tmp_path / "data" / census.EVAL_FILE))
    raw = {c: tf.constant(v) for c, v in cf.raw_tensors(rows).items()}
    loaded = tf.saved_model.load(str(export))
    served = loaded.predict_raw(raw)["probabilities"].numpy()
    live = tf.sigmoid(task.model(task.features(cf.raw_tensors(rows)))).numpy()
    np.testing.assert_allclose(served, live, rtol=1e-5, atol=1e-6)
    labels = cf.labels(rows)
    assert ((served > 0.5) == (labels > 0.5)).mean() == pytest.approx(result["accuracy"])


def test_noevaluate_test_tunes_without_the_test_file(mirror, tmp_path):
    only_train = tmp_path / "train-only"
    only_train.mkdir()
    (only_train / census.TRAINING_FILE).write_bytes(
        pathlib.Path(mirror, census.TRAINING_FILE).read_bytes())
    fv = flags.FlagValues()
    census_main.define_census_main_flags(fv)
    fv(["census_main", f"--data_dir={tmp_path / 'data'}", f"--data_url={only_train}",
        "--batch_size=128", "--train_epochs=2", f"--model_dir={tmp_path / 'm'}",
        "--noevaluate_test"])
    result = census_main.run_from_flags(fv)
    assert "accuracy" not in result and result["validation_accuracy"] > 0.7
    assert not (tmp_path / "data" / census.EVAL_FILE).exists()  # neither fetched nor read
    with pytest.raises(flags.IllegalFlagValueError, match="--noevaluate_test needs"):
        fv(["census_main", "--noevaluate_test", "--validation_fraction=0"])
    # No validation set: the default patience is dropped, a given one is an error.
    fresh = flags.FlagValues()
    census_main.define_census_main_flags(fresh)
    fresh(["census_main", "--validation_fraction=0", "--early_stopping_patience=3"])
    with pytest.raises(UserError, match="--early_stopping_patience needs a validation set"):
        census_main.run_from_flags(fresh)
