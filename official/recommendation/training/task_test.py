"""NCF Tasks through the shared loop: selection, refit, recipes, solvers (real runs)."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from official.recommendation import ncf_flags, ncf_main
from official.recommendation.config import recipes
from official.recommendation.conftest import load_data, parse, run, train_config
from official.recommendation.data import validation_split
from official.recommendation.evaluation import sampled_metrics
from official.recommendation.training import task
from official.recommendation.training.trainer import build_trainer
from official.utils.errors import UserError
from official.utils.logs import logger as logger_lib

# Starts processes or clusters, or trains real models for a while: not in make test-fast.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


# Settings under which the validation HR peaks early on SMALL (lr 0.01, constant).
OVERFIT = ["--learning_rate=0.01", "--lr_schedule=constant", "--warmup_epochs=0",
           "--num_factors=32", "--layers=64,32", "--train_epochs=6"]


def restored_trainer(fv, data, prefix):
    trainer = build_trainer(data, train_config(fv))
    tf.train.Checkpoint(model=trainer.model).read(prefix).expect_partial()
    return trainer


def test_reports_and_exports_the_validation_best_epoch(data_dir, tmp_path):
    model_dir, bench, export = tmp_path / "m", tmp_path / "bench", tmp_path / "export"
    fv = parse(f"--data_dir={data_dir}", f"--model_dir={model_dir}", *OVERFIT,
               f"--benchmark_log_dir={bench}", f"--export_dir={export}")
    result = ncf_main.run_from_flags(fv)
    curve = [r["value"] for r in logger_lib.read_metrics(str(bench))
             if r["name"] == "validation_HR"]
    best = int(np.argmax(curve)) + 1
    assert len(curve) == 6 and best < 6, curve  # peaks early: selection matters
    assert result["selected_epoch"] == best and result["epoch"] == 6
    assert result["validation_HR"] == pytest.approx(max(curve))
    assert json.loads((model_dir / "eval_results.json").read_text())["selected_epoch"] == best
    assert sorted(p.name for p in model_dir.glob("best-*")) == [f"best-{best}"]
    # The test metrics are the selected weights' on the test set, ...
    full = load_data(fv)
    train, test = validation_split.split(full, full.num_eval_negatives, 0)
    chosen = restored_trainer(fv, train, str(model_dir / f"best-{best}" / "weights"))
    assert chosen.evaluate(eval_set=test)["HR"] == pytest.approx(result["HR"], abs=1e-6)
    # ... and the export scores with them, not with the last epoch's.
    users, items = np.arange(60), full.eval_items[:60, 0]
    served = tf.saved_model.load(str(export)).signatures["serving_default"](
        user_id=tf.constant(full.user_ids[users]), item_id=tf.constant(full.item_ids[items]))
    chosen_scores = tf.sigmoid(chosen.score(users.astype(np.int32), items)).numpy()
    np.testing.assert_allclose(served["score"].numpy(), chosen_scores, rtol=1e-5, atol=1e-6)
    last = restored_trainer(fv, train, tf.train.latest_checkpoint(str(model_dir / "checkpoints")))
    last_scores = tf.sigmoid(last.score(users.astype(np.int32), items)).numpy()
    assert np.abs(last_scores - chosen_scores).max() > 1e-3


def test_early_stopping_and_resume_keep_the_selection(data_dir, tmp_path):
    args = [*OVERFIT, "--train_epochs=12", "--early_stopping_patience=2"]
    result = run(data_dir, tmp_path / "m", *args)
    assert result["epoch"] == result["selected_epoch"] + 2 < 12
    # A rerun finds the run finished: same selection, no more training, the same keys
    # (the last training loss comes from the checkpoint).
    again = run(data_dir, tmp_path / "m", *args)
    assert again == result


def test_retrain_on_full_trains_the_selected_number_of_epochs(data_dir, tmp_path):
    model_dir, export = tmp_path / "m", tmp_path / "export"
    fv = parse(f"--data_dir={data_dir}", f"--model_dir={model_dir}", *OVERFIT,
               "--train_epochs=4", "--retrain_on_full", f"--export_dir={export}")
    result = ncf_main.run_from_flags(fv)
    selected = result["selected_epoch"]
    assert result["retrained_epochs"] == selected >= 1
    latest = tf.train.latest_checkpoint(str(model_dir / "retrain" / "checkpoints"))
    assert latest.endswith(f"ckpt-{selected}")
    # The retrained model saw train + validation: every training positive of the data.
    full = load_data(fv)
    retrained = restored_trainer(fv, full, latest)
    assert retrained.num_positives == len(full.train_users)
    test = validation_split.split(full, full.num_eval_negatives, 0)[1]
    assert retrained.evaluate(eval_set=test)["HR"] == pytest.approx(result["HR"], abs=1e-6)
    users, items = np.arange(40), full.eval_items[:40, 0]
    served = tf.saved_model.load(str(export)).signatures["serving_default"](
        user_id=tf.constant(full.user_ids[users]), item_id=tf.constant(full.item_ids[items]))
    np.testing.assert_allclose(
        served["score"].numpy(), tf.sigmoid(retrained.score(users.astype(np.int32), items)),
        rtol=1e-5, atol=1e-6)


def test_pretraining_recipe_equals_its_stages_by_hand(data_dir, tmp_path):
    common = ["--train_epochs=2", "--num_factors=8", "--layers=32,16"]
    fv = parse(f"--data_dir={data_dir}", f"--model_dir={tmp_path / 'recipe'}",
               "--recipe=neumf_pretrained", *common)
    recipe = ncf_main.run_from_flags(fv)
    base = recipes.RECIPES["neumf_pretrained"]
    shared = [f"--{k}={v}" for k, v in base.values.items()
              if k not in ("batch_size", "num_factors", "layers")]
    by_hand = {}
    for stage in base.stages:
        # SMALL and `common` set these on the command line, where they beat the recipe.
        own = [f"--{k}={v}" for k, v in stage.values.items()
               if k not in ("train_epochs", "learning_rate", "batch_size")]
        extra = []
        if stage.pretrained:
            extra = [f"--pretrained_gmf={by_hand['pretrain_gmf']}",
                     f"--pretrained_mlp={by_hand['pretrain_mlp']}"]
        model_dir = tmp_path / "hand" / (stage.name or "final")
        result = run(data_dir, model_dir, *shared, *own, *common, *extra)
        by_hand[stage.name] = str(model_dir)
    assert recipe == result
    assert (tmp_path / "recipe" / "pretrain_gmf" / "eval_results.json").exists()
    assert recipe["HR"] > 0.3


def test_trainer_data_holds_no_test_pair(data_dir):
    fv = parse(f"--data_dir={data_dir}")
    full = load_data(fv)
    train, test = task.split_data(ncf_flags.configs(fv)[0].data, full)
    # What the trainer is built from: training positives minus validation, and
    # the validation set as its evaluation set; the test set is only returned apart.
    keys = set((train.train_users.astype(np.int64) * full.num_items + train.train_items).tolist())
    test_keys = (test.users.astype(np.int64) * full.num_items + test.items[:, 0]).tolist()
    assert not keys & set(test_keys)
    assert not np.array_equal(train.eval_items[:, 0], full.eval_items[:, 0])
    assert len(keys) == len(full.train_users) - len(train.eval_users)
    np.testing.assert_array_equal(test.items, full.eval_items)


def test_noevaluate_test_reports_validation_only(data_dir, tmp_path):
    bench = tmp_path / "bench"
    result = run(data_dir, tmp_path / "m", "--train_epochs=1", "--noevaluate_test",
                 f"--benchmark_log_dir={bench}")
    assert "HR" not in result and result["validation_HR"] > 0.2
    names = {r["name"] for r in logger_lib.read_metrics(str(bench))}
    assert "selected_validation_HR" in names and not any(n.startswith("test_") for n in names)


def test_ials_and_ease_in_the_same_harness(data_dir, tmp_path):
    bench = tmp_path / "bench"
    pop = run(data_dir, tmp_path / "pop", "--model=popularity", "--eval_protocol=both")
    ials = run(data_dir, tmp_path / "ials", "--model=ials", "--ials_iterations=4",
               "--ials_alpha=4", "--ials_regularization=0.01", "--eval_protocol=both",
               "--train_epochs=99", f"--export_dir={tmp_path / 'ials_export'}")
    ease = run(data_dir, tmp_path / "ease", "--model=ease", "--ease_lambda=1,30,1000,100000",
               "--eval_protocol=both", f"--benchmark_log_dir={bench}",
               f"--export_dir={tmp_path / 'ease_export'}")
    for result in (ials, ease):
        assert result["HR"] > pop["HR"] + 0.08 and result["HR_full"] > pop["HR_full"] + 0.05
        assert result["Coverage_full"] > pop["Coverage_full"]
    assert ials["epoch"] == 4  # --ials_iterations, not --train_epochs
    # EASE: one fit chooses among the lambdas; oracle: each fitted alone on the same split.
    records = logger_lib.read_metrics(str(bench))
    fits = [r for r in records if r["name"] == "validation_HR"]
    assert len(fits) == 1 and ease["epoch"] == ease["selected_epoch"] == 1
    cfg = ncf_flags.configs(parse(f"--data_dir={data_dir}", "--model=ease"))[0]
    split, _ = task.split_data(cfg.data, task.load_data(cfg.data))
    per_lambda = {}
    for lam in (1.0, 30.0, 1000.0, 100000.0):
        alone = build_trainer(split, dataclasses.replace(cfg.train, ease_lambdas=(lam,)))
        alone.train_epoch(0)
        per_lambda[lam] = alone.evaluate()["HR"]
    chosen = fits[0]["extras"]["ease_lambda"]
    assert per_lambda[chosen] == max(per_lambda.values())
    assert ease["validation_HR"] == pytest.approx(max(per_lambda.values()))
    assert min(per_lambda.values()) < max(per_lambda.values())  # lambda matters
    # Both exports score like the selected model (the test HR recomputed from them).
    data = load_data(parse(f"--data_dir={data_dir}"))
    for name, result in (("ials", ials), ("ease", ease)):
        serve = tf.saved_model.load(str(tmp_path / f"{name}_export")).signatures[
            "serving_default"]
        items = data.eval_items
        users = np.broadcast_to(np.arange(data.num_users)[:, None], items.shape)
        scores = serve(user_id=tf.constant(data.user_ids[users.reshape(-1)]),
                       item_id=tf.constant(data.item_ids[items.reshape(-1)]))["score"]
        hr, _ = sampled_metrics.hit_rate_and_ndcg(scores.numpy().reshape(items.shape), items, 10)
        assert hr == pytest.approx(result["HR"], abs=1e-6), name


def test_ials_resume_equals_uninterrupted_and_ease_retrains_once(data_dir, tmp_path):
    args = ["--model=ials", "--ials_alpha=4", "--eval_protocol=both"]
    full = run(data_dir, tmp_path / "full", *args, "--ials_iterations=5")
    run(data_dir, tmp_path / "resumed", *args, "--ials_iterations=2")
    resumed = run(data_dir, tmp_path / "resumed", *args, "--ials_iterations=5")
    for key in ("selected_epoch", "HR", "NDCG", "HR_full", "validation_HR", "loss"):
        assert resumed[key] == pytest.approx(full[key], rel=1e-6, abs=1e-7), key
    ease = run(data_dir, tmp_path / "ease", "--model=ease", "--ease_lambda=10,100",
               "--retrain_on_full")
    assert ease["retrained_epochs"] == ease["selected_epoch"] == 1
    # The retrain fits only the selected lambda: one fit, one checkpoint, holding that lambda.
    retrain = tmp_path / "ease" / "retrain" / "checkpoints"
    assert tf.train.latest_checkpoint(str(retrain)).endswith("-1")
    assert len([n for n in os.listdir(retrain) if n.endswith(".index")]) == 1
    reader = tf.train.load_checkpoint(str(retrain))
    fitted = [reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
              if "fitted_lambda" in k]
    best = tf.train.load_checkpoint(str(tmp_path / "ease" / "checkpoints"))
    assert len(fitted) == 1 and fitted[0] in (10.0, 100.0)
    assert fitted == [best.get_tensor(k) for k in best.get_variable_to_shape_map()
                      if "fitted_lambda" in k]


def test_ease_too_large_for_memory_is_a_user_error():
    from official.recommendation.config.configs import TrainConfig
    from official.recommendation.data.implicit_data import NCFData
    from official.utils.errors import UserError
    from official.utils.misc import distribution_utils

    items = 2**21  # 64 TiB of dense matrices
    data = NCFData(2, items, np.array([0, 1], np.int32), np.array([0, 5], np.int32),
                   np.arange(2, dtype=np.int32), np.zeros((2, 2), np.int32), np.arange(2),
                   np.arange(items))
    config = TrainConfig(model_type="ease")
    with pytest.raises(UserError, match=r"EASE needs 65536.0 GiB for 2097152 items"):
        task.make_trainer(data, config, None, distribution_utils.SINGLE)


def test_top_k_beyond_the_candidates_is_refused_before_training(data_dir, tmp_path):
    with pytest.raises(UserError, match=r"--top_k 500 is not below the 101 candidates"):
        run(data_dir, tmp_path / "m", "--top_k=500")
    with pytest.raises(UserError, match=r"--top_k 300 is not below the 300 items"):
        run(data_dir, tmp_path / "m", "--top_k=300", "--eval_protocol=full")
    assert not (tmp_path / "m").exists()
