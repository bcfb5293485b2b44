"""End-to-end NCF runs on small synthetic data (real TensorFlow, real files)."""

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from official.recommendation import ncf_main
from official.recommendation.conftest import SMALL, load_data, parse, run, train_config
from official.recommendation.data import validation_split
from official.recommendation.evaluation import sampled_metrics
from official.recommendation.training import pretraining
from official.recommendation.training.trainer import build_trainer
from official.utils.logs import logger as logger_lib

# Starts processes or clusters, or trains real models for a while: not in make test-fast.
pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


def test_learns_far_above_random_and_popularity(data_dir, tmp_path):
    bench = tmp_path / "bench"
    result = run(data_dir, tmp_path / "m", "--train_epochs=4", "--epochs_between_evals=2",
                 f"--benchmark_log_dir={bench}")
    data = load_data(parse(f"--data_dir={data_dir}"))
    popularity = np.bincount(data.train_items, minlength=data.num_items).astype(float)
    pop_hr, _ = sampled_metrics.hit_rate_and_ndcg(popularity[data.eval_items], data.eval_items, 10)
    random_hr = 10 / 101
    assert result["HR"] > 4 * random_hr
    assert result["HR"] > pop_hr + 0.15, (result, pop_hr)
    assert result["NDCG"] > 0.25 and result["eval_loss"] > 0.01
    # Metrics: one JSON line per metric and cycle, with the documented fields.
    records = logger_lib.read_metrics(str(bench))
    names = [r["name"] for r in records]
    for name in ("validation_HR", "validation_NDCG", "loss", "validation_eval_loss",
                 "examples_per_second"):
        assert names.count(name) == 2
    for name in ("test_HR", "test_NDCG", "selected_validation_HR", "selected_epoch"):
        assert names.count(name) == 1
    assert set(records[0]) == {"name", "value", "unit", "global_step", "timestamp", "extras"}
    test_hr = [r for r in records if r["name"] == "test_HR"][0]
    assert test_hr["value"] == pytest.approx(result["HR"])
    assert test_hr["extras"]["selected_epoch"] == result["selected_epoch"]
    run_info = json.loads((bench / logger_lib.RUN_LOG).read_text())
    assert run_info["model_name"] == "ncf" and run_info["machine_config"]["cpu_count"] >= 1
    params = {p["name"]: p["value"] for p in run_info["run_parameters"]}
    assert params["num_eval_negatives"] == data.num_eval_negatives
    assert params["validation_users"] == data.num_users
    assert any(n.startswith("events.out") for n in os.listdir(tmp_path / "m" / "summaries"))


def test_same_seed_same_metrics_other_seed_differs(data_dir, tmp_path):
    a = run(data_dir, tmp_path / "a", "--train_epochs=1", "--seed=3")
    b = run(data_dir, tmp_path / "b", "--train_epochs=1", "--seed=3")
    c = run(data_dir, tmp_path / "c", "--train_epochs=1", "--seed=4")
    assert (a["HR"], a["NDCG"], a["validation_eval_loss"]) == (
        b["HR"], b["NDCG"], b["validation_eval_loss"])
    assert a["validation_eval_loss"] != c["validation_eval_loss"]


def test_resume_after_sigkill_matches_uninterrupted(data_dir, tmp_path):
    # Batch 256: epochs of about half a second, so the kill lands mid-training.
    # A constant rate: the cosine schedule's length is --train_epochs, which the
    # killed run sets differently.
    args = ["--train_epochs=4", "--epochs_between_evals=1", "--seed=5", "--batch_size=256",
            "--learning_rate=0.001", "--lr_schedule=constant"]
    full = run(data_dir, tmp_path / "full", *args)
    model_dir = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "official.recommendation.ncf_main", *SMALL,
         f"--data_dir={data_dir}", f"--model_dir={model_dir}", *args,
         "--train_epochs=400"],  # would run for minutes; it is killed mid-cycle
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt_dir = model_dir / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline and not (ckpt_dir / "ckpt-2.index").exists():
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # inside cycle 3
    assert proc.wait() == -signal.SIGKILL
    latest = tf.train.latest_checkpoint(str(ckpt_dir))
    assert latest is not None and int(latest.rsplit("-", 1)[1]) < 4
    resumed = run(data_dir, model_dir, *args)
    assert resumed["epoch"] == 4
    assert resumed["HR"] == pytest.approx(full["HR"], abs=1e-6)
    assert resumed["NDCG"] == pytest.approx(full["NDCG"], abs=1e-6)
    # A rerun with nothing left to train reports the same model; --clean starts over.
    again = run(data_dir, model_dir, *args)
    assert again["HR"] == pytest.approx(full["HR"], abs=1e-6)
    fresh = run(data_dir, model_dir, "--train_epochs=1", "--clean")
    assert fresh["epoch"] == 1


def test_export_reload_scores_raw_ids(data_dir, tmp_path):
    fv = parse(f"--data_dir={data_dir}", f"--model_dir={tmp_path / 'm'}", "--train_epochs=1",
               f"--export_dir={tmp_path / 'export'}")
    ncf_main.run_from_flags(fv)
    data = load_data(fv)
    trainer = build_trainer(data, train_config(fv))
    tf.train.Checkpoint(model=trainer.model).restore(
        tf.train.latest_checkpoint(str(tmp_path / "m" / "checkpoints"))).expect_partial()
    users, items = np.arange(50), data.eval_items[:50, 0]
    live = tf.sigmoid(trainer.score(users.astype(np.int32), items)).numpy()
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    serve = loaded.signatures["serving_default"]
    out = serve(user_id=tf.constant(data.user_ids[users]),
                item_id=tf.constant(data.item_ids[items]))
    np.testing.assert_allclose(out["score"].numpy(), live, rtol=1e-5, atol=1e-6)
    maps = loaded.id_maps()
    np.testing.assert_array_equal(maps["user_ids"].numpy(), data.user_ids)
    with pytest.raises(tf.errors.InvalidArgumentError, match="unknown user_id"):
        serve(user_id=tf.constant([10**9], tf.int64), item_id=tf.constant(data.item_ids[:1]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="unknown item_id"):
        serve(user_id=tf.constant(data.user_ids[:1]), item_id=tf.constant([-7], tf.int64))


def test_hr_threshold_stops_early(data_dir, tmp_path):
    result = run(data_dir, tmp_path / "m", "--train_epochs=10", "--hr_threshold=0.2")
    assert result["epoch"] == 1 and result["validation_HR"] >= 0.2
    # The 2018 behaviour: no validation, the threshold on the test HR.
    legacy = run(data_dir, tmp_path / "l", "--train_epochs=10", "--hr_threshold=0.2",
                 "--novalidation")
    assert legacy["epoch"] == 1 and legacy["HR"] >= 0.2 and "selected_epoch" not in legacy


def test_pretrained_gmf_and_mlp_initialize_neumf(data_dir, tmp_path):
    run(data_dir, tmp_path / "gmf", "--model=gmf", "--train_epochs=1")
    run(data_dir, tmp_path / "mlp", "--model=mlp", "--train_epochs=1")
    fv = parse(f"--data_dir={data_dir}", f"--model_dir={tmp_path / 'n'}")
    data = load_data(fv)
    config = train_config(fv)
    neumf = build_trainer(data, config)
    pretraining.init_from_pretrained(neumf, str(tmp_path / "gmf"), str(tmp_path / "mlp"))
    gmf = build_trainer(data, train_config(parse(f"--data_dir={data_dir}",
                                                            "--model=gmf")))
    tf.train.Checkpoint(model=gmf.model).restore(
        tf.train.latest_checkpoint(str(tmp_path / "gmf" / "checkpoints"))).expect_partial()
    np.testing.assert_allclose(neumf.model.user_table.numpy()[:, :8],
                               gmf.model.user_table.numpy())
    # The combined model starts where the two pretrained ones are: well above random.
    assert neumf.evaluate()["HR"] > 0.3
    result = run(data_dir, tmp_path / "n2", "--train_epochs=1",
                 f"--pretrained_gmf={tmp_path / 'gmf'}", f"--pretrained_mlp={tmp_path / 'mlp'}")
    assert result["HR"] > 0.3


def test_wrong_checkpoint_is_a_clear_error(data_dir, tmp_path):
    run(data_dir, tmp_path / "m", "--train_epochs=1", "--model=gmf")
    with pytest.raises(Exception, match="holds a checkpoint of ncf_main --model gmf, not of "
                                        "ncf_main --model mlp"):
        run(data_dir, tmp_path / "m", "--train_epochs=2", "--model=mlp")
    # The same model kind with other shapes: its variables tell.
    with pytest.raises(Exception, match="different model or data"):
        run(data_dir, tmp_path / "m", "--train_epochs=2", "--model=gmf", "--num_factors=16")


def few_ratings_zip():
    lines = "".join(f"{u}\t{i}\t3\t{1000 + i}\n" for u in range(1, 6) for i in range(1, 6))
    item = "".join(f"{i}|Movie {i} (1999)|01-Jan-1999||imdb-link|" + "|".join(["0"] * 19) + "\n"
                   for i in range(1, 6))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ml-100k/u.data", lines)
        zf.writestr("ml-100k/u.item", item)
    return buf.getvalue()


def test_cli_bad_inputs_end_in_one_line(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "ml-100k.zip").write_bytes(few_ratings_zip())
    split = tmp_path / "split"
    (tmp_path / "split.train.rating").write_text("0\t1\t5\t1\n0\t3\t4\t1\n")
    (tmp_path / "split.test.rating").write_text("0\t2\t5\t2\n")
    (tmp_path / "split.test.negative").write_text("(0,2)\t3\tx\n")
    cases = [
        (["--layers=63,32"], "--layers"),
        (["--batch_size=0"], "--batch_size"),
        (["--dataset=ml-2m"], "ml-2m"),
        (["--ncf_split=" + str(tmp_path / "nothing")], "nothing.train.rating: file not found"),
        (["--ncf_split=" + str(split)], "split.test.negative line 1"),
        (["--dataset=ml-100k", f"--data_url={mirror}"], "no user has at least 20 ratings"),
    ]
    script = ("import sys; from official.recommendation import ncf_flags, ncf_main; "
              "from official.utils.misc import cli; ncf_flags.define_ncf_flags(); "
              "sys.argv[0] = 'ncf_main'; cli.run(ncf_main.main)")
    for args, message in cases:
        res = subprocess.run(
            [sys.executable, "-c", script, f"--data_dir={tmp_path / 'd'}",
             f"--model_dir={tmp_path / 'm'}", *args],
            capture_output=True, text=True, timeout=120)
        assert res.returncode != 0, args
        assert message in res.stderr, (args, res.stderr[-2000:])
        assert "Traceback" not in res.stderr, (args, res.stderr[-2000:])
    assert not (tmp_path / "m" / "checkpoints").exists()


def test_bad_ials_and_ease_flags_are_rejected():
    # Flag errors end in one line like the CLI cases above; checked in-process.
    for args, message in ((["--model=ease", "--ease_lambda=100,0"], "--ease_lambda must be"),
                          (["--model=ease", "--ease_lambda=abc"], "--ease_lambda must be"),
                          (["--model=ials", "--ials_regularization=0"],
                           "--ials_regularization must be > 0"),
                          (["--model=ease", "--ease_lambda=10,100", "--novalidation"],
                           "several --ease_lambda values are chosen among by validation"),
                          (["--split=temporal"], "--split temporal splits an --interactions"),
                          (["--split=temporal", "--interactions=x.csv",
                            "--eval_protocol=sampled"], "evaluates by full ranking"),
                          (["--interactions=x.csv", "--ncf_split=y"],
                           "--interactions or --ncf_split, not both"),
                          (["--interactions=x.csv", "--min_rating=3"],
                           "--min_rating needs --rating_column")):
        with pytest.raises(flags.IllegalFlagValueError, match=message):
            parse(*args)
    # One lambda needs no validation; other models ignore --ease_lambda.
    assert parse("--model=ease", "--ease_lambda=10", "--novalidation").ease_lambda == ["10"]
    assert parse("--model=mf", "--ease_lambda=10,100", "--novalidation").model == "mf"


def test_lazy_adam_learns_and_resumes_exactly(data_dir, tmp_path):
    args = ["--optimizer=lazy_adam", "--seed=2", "--lr_schedule=constant"]
    straight = run(data_dir, tmp_path / "a", "--train_epochs=3", *args)
    run(data_dir, tmp_path / "b", "--train_epochs=2", *args)
    resumed = run(data_dir, tmp_path / "b", "--train_epochs=3", *args)
    assert resumed["HR"] == pytest.approx(straight["HR"], abs=1e-6)
    assert resumed["NDCG"] == pytest.approx(straight["NDCG"], abs=1e-6)
    assert straight["HR"] > 0.45  # far above random (0.099) and popularity (~0.34)


def test_baselines_in_the_same_harness_both_protocols(data_dir, tmp_path):
    pop = run(data_dir, tmp_path / "pop", "--model=popularity", "--eval_protocol=both")
    mf = run(data_dir, tmp_path / "mf", "--model=mf", "--train_epochs=4",
             "--lr_schedule=constant", "--warmup_epochs=0",
             "--eval_protocol=both")
    data = load_data(parse(f"--data_dir={data_dir}"))
    # Popularity counts the positives it trains on: the training split less validation.
    train, _ = validation_split.split(data, data.num_eval_negatives, 0)
    counts = np.bincount(train.train_items, minlength=data.num_items).astype(float)
    pop_hr, pop_ndcg = sampled_metrics.hit_rate_and_ndcg(counts[data.eval_items], data.eval_items,
                                                     10)
    assert (pop["HR"], pop["NDCG"]) == pytest.approx((pop_hr, pop_ndcg))  # known answer
    assert set(mf) >= {"HR", "NDCG", "HR_full", "NDCG_full"}
    assert mf["HR"] > pop["HR"] + 0.08 and mf["HR_full"] > pop["HR_full"] + 0.05
    # Beyond accuracy: most-popular recommends the head of the catalogue, MF spreads out.
    assert pop["PopularityPercentile_full"] > 95 > mf["PopularityPercentile_full"]
    assert 0 < pop["Coverage_full"] < mf["Coverage_full"] <= 1
    # Ranking against all items is harder than against 100 sampled ones.
    assert mf["HR_full"] < mf["HR"] and pop["HR_full"] < pop["HR"]
