"""Gradient-boosted trees in the census harness: learning, selection reports, export."""

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from official.utils.errors import UserError
from official.utils.logs import logger as logger_lib
from official.wide_deep import census_dataset as census
from official.wide_deep import census_features as cf
from official.wide_deep import census_gbt, census_main
from official.wide_deep.conftest import example_bytes

# Starts processes or clusters, or trains real models for a while: not in make test-fast.
pytestmark = pytest.mark.slow


def run(mirror, tmp_path, *args):
    fv = flags.FlagValues()
    census_main.define_census_main_flags(fv)
    fv(["census_main", "--model_type=gbt", f"--data_dir={tmp_path / 'data'}",
        f"--data_url={mirror}", f"--model_dir={tmp_path / 'm'}", "--num_trees=60", *args])
    return census_main.run_from_flags(fv)


def test_gbt_beats_the_majority_and_its_export_answers_raw_requests(mirror, tmp_path):
    result = run(mirror, tmp_path, f"--export_dir={tmp_path / 'e'}",
                 f"--benchmark_log_dir={tmp_path / 'bench'}")
    assert result["accuracy"] > result["accuracy_baseline"] + 0.08, result
    assert result["auc"] > 0.85 and result["selected_epoch"] == 1
    names = {r["name"] for r in logger_lib.read_metrics(str(tmp_path / "bench"))}
    assert {"validation_accuracy", "validation_auc", "test_accuracy"} <= names
    # The forest restored from the checkpoint predicts what the export serves.
    forest = census_gbt.Forest()
    tf.train.Checkpoint(model=forest).read(
        str(tmp_path / "m" / "best-1" / "weights")).expect_partial()
    rows = census.load(str(tmp_path / "data" / census.EVAL_FILE))
    live = forest.trained().predict(census_gbt.frame(rows).drop(columns=census_gbt.LABEL))
    loaded = tf.saved_model.load(str(tmp_path / "e"))
    raw = {c: tf.constant(v) for c, v in cf.raw_tensors(rows).items()}
    served = loaded.predict_raw(raw)
    np.testing.assert_allclose(served["probabilities"].numpy(), live, rtol=1e-5, atol=1e-6)
    from_examples = loaded.serving_default(
        tf.constant([example_bytes(r) for _, r in rows.iloc[:50].iterrows()]))
    np.testing.assert_allclose(from_examples["probabilities"].numpy(), live[:50], rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(tf.sigmoid(served["logits"]).numpy(), live, atol=1e-5)
    accuracy = ((served["classes"].numpy() == 1) == (cf.labels(rows) > 0.5)).mean()
    assert accuracy == pytest.approx(result["accuracy"])
    # A rerun resumes: nothing is trained again and the same numbers are reported.
    again = run(mirror, tmp_path)
    assert again["accuracy"] == result["accuracy"] and again["epoch"] == 1


def test_recommend_and_serve_name_a_census_export_in_one_line(mirror, tmp_path):
    import subprocess
    import sys

    from official.recommendation import recommend

    run(mirror, tmp_path, f"--export_dir={tmp_path / 'e'}", "--num_trees=5",
        "--noevaluate_test")
    message = (f"--export_dir {tmp_path / 'e'} is a census model export (census_main); "
               "recommend and serve need an ncf_main export")
    with pytest.raises(UserError) as error:
        recommend.load_export(str(tmp_path / "e"))
    assert str(error.value) == message
    proc = subprocess.run([sys.executable, "-m", "official.recommendation.serve",
                           f"--export_dir={tmp_path / 'e'}", "--port=0"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and proc.stderr.splitlines()[-1] == f"error: {message}"
    assert "Traceback" not in proc.stderr and "please report" not in proc.stderr


def test_gbt_trains_once(mirror, tmp_path):
    with pytest.raises(UserError, match="trains the forest once"):
        run(mirror, tmp_path, "--train_epochs=3")


def test_logits_of_known_probabilities():
    np.testing.assert_allclose(census_gbt.logits_of(np.array([0.5, 0.75, 0.0, 1.0])),
                               [0.0, np.log(3.0), -census_gbt.MAX_LOGIT, census_gbt.MAX_LOGIT],
                               atol=1e-9)
