"""End-to-end runs of the MovieLens rating regressor on small synthetic data."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from official.datasets import movielens
from official.datasets.movielens_synthetic import SyntheticSpec
from official.utils.logs import logger as logger_lib
from official.wide_deep import movielens_main
from official.wide_deep.movielens_task import MovieLensTask, RegressorConfig

# Starts processes or clusters, or trains real models for a while: not in make test-fast.
pytestmark = pytest.mark.slow

SMALL = ["--dataset=synthetic", "--synthetic_users=300", "--synthetic_items=200",
         "--synthetic_ratings=15000", "--batch_size=128", "--learning_rate=0.003"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


def run(data_dir, model_dir, *args):
    fv = flags.FlagValues()
    movielens_main.define_movielens_main_flags(fv)
    fv(["movielens_main", *SMALL, f"--data_dir={data_dir}", f"--model_dir={model_dir}", *args])
    return movielens_main.run_from_flags(fv)


def test_learns_below_predict_the_mean_and_resumes(data_dir, tmp_path):
    full = run(data_dir, tmp_path / "a", "--train_epochs=6", "--epochs_between_evals=3")
    assert full["rmse"] < 0.93 * full["rmse_baseline"], full
    assert full["mae"] < full["rmse"]
    run(data_dir, tmp_path / "b", "--train_epochs=3", "--epochs_between_evals=3")
    resumed = run(data_dir, tmp_path / "b", "--train_epochs=6", "--epochs_between_evals=3")
    assert resumed["rmse"] == pytest.approx(full["rmse"], rel=1e-5)


def test_export_serves_raw_ids(data_dir, tmp_path):
    run(data_dir, tmp_path / "m", "--train_epochs=1", f"--export_dir={tmp_path / 'e'}")
    source = movielens.MovieLensSource("synthetic", data_dir, synthetic=SyntheticSpec(300, 200,
                                                                                    15000))
    task = MovieLensTask(RegressorConfig(source))
    tf.train.Checkpoint(model=task.model).restore(
        tf.train.latest_checkpoint(str(tmp_path / "m" / "checkpoints"))).expect_partial()
    joint = movielens.csv_to_joint_dataframe(data_dir, "synthetic").iloc[:30]
    genres = movielens.genres_to_multi_hot(joint["genres"]).astype(np.float32)
    users = np.searchsorted(task.data.user_ids, joint["user_id"].to_numpy())
    items = np.searchsorted(task.data.item_ids, joint["item_id"].to_numpy())
    stamp = ((joint["timestamp"].to_numpy() - task.data.timestamp_mean)
             / task.data.timestamp_std).astype(np.float32)
    live = task.model({"user": users, "item": items, "genres": genres,
                       "timestamp": stamp}).numpy() * 5
    loaded = tf.saved_model.load(str(tmp_path / "e"))
    served = loaded.serving_default(
        user_id=tf.constant(joint["user_id"].to_numpy(np.int64)),
        item_id=tf.constant(joint["item_id"].to_numpy(np.int64)),
        genres=tf.constant(genres), timestamp=tf.constant(joint["timestamp"].to_numpy()))
    np.testing.assert_allclose(served["rating"].numpy(), live, rtol=1e-4, atol=1e-4)
    assert 1.0 < served["rating"].numpy().mean() < 5.0
    with pytest.raises(tf.errors.InvalidArgumentError, match="unknown user_id"):
        loaded.serving_default(user_id=tf.constant([10**9], tf.int64),
                               item_id=tf.constant(joint["item_id"].to_numpy(np.int64)[:1]),
                               genres=tf.constant(genres[:1]),
                               timestamp=tf.constant(joint["timestamp"].to_numpy()[:1]))


def test_bias_factorization_beats_the_deep_regressor_on_planted_biases(data_dir, tmp_path):
    # The synthetic ratings are mean + user bias + item bias + a low-rank affinity.
    common = ("--train_epochs=8", "--epochs_between_evals=2", "--noevaluate_test")
    mf = run(data_dir, tmp_path / "mf", "--model_type=mf", *common)
    deep = run(data_dir, tmp_path / "deep", "--model_type=deep", *common)
    assert mf["validation_rmse"] < deep["validation_rmse"] - 0.02, (mf, deep)
    assert mf["validation_rmse"] < 0.9 * mf["validation_rmse_baseline"]


def test_cli_rejects_bad_flags(tmp_path):
    for args, message in ((["--model_type=wide"], "--model_type"),
                          (["--stop_threshold=0.5"], "--stop_threshold is not supported")):
        res = subprocess.run([sys.executable, "-m", "official.wide_deep.movielens_main",
                              f"--data_dir={tmp_path}", *args],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode != 0 and message in res.stderr, res.stderr[-1500:]


def test_the_lowest_validation_rmse_is_selected(data_dir, tmp_path):
    bench = tmp_path / "bench"
    result = run(data_dir, tmp_path / "m", "--train_epochs=3", "--epochs_between_evals=1",
                 f"--benchmark_log_dir={bench}")
    curve = [r["value"] for r in logger_lib.read_metrics(str(bench))
             if r["name"] == "validation_rmse"]
    assert len(curve) == 3 and result["selected_epoch"] == 1 + int(np.argmin(curve))
    assert result["validation_rmse"] == pytest.approx(min(curve))
    records = logger_lib.read_metrics(str(bench))
    test = [r for r in records if r["name"] == "test_rmse"]  # the test set, read once
    assert len(test) == 1 and test[0]["value"] == pytest.approx(result["rmse"])
    assert test[0]["extras"]["selected_epoch"] == result["selected_epoch"]


def test_a_diverged_regressor_stops_in_one_line_with_nothing_exported(data_dir, tmp_path):
    from official.utils.errors import UserError

    with pytest.raises(UserError, match=r"training diverged in epoch 1: .*\(--learning_rate "
                                        r"1e\+38 may be too high\)"):
        run(data_dir, tmp_path / "m", "--learning_rate=1e38", "--train_epochs=2",
            f"--export_dir={tmp_path / 'e'}")
    assert not (tmp_path / "e").exists()
    assert not [n for n in (tmp_path / "m").iterdir() if n.name.startswith("best-")]


@pytest.mark.parametrize("flag", ["--learning_rate=nan", "--mf_l2=inf", "--mf_l2_implicit=nan",
                                  "--validation_fraction=nan"])
def test_non_finite_float_flags_are_refused(flag):
    fv = flags.FlagValues()
    movielens_main.define_movielens_main_flags(fv)
    with pytest.raises(flags.IllegalFlagValueError, match="must be a finite number"):
        fv(["movielens_main", flag])
