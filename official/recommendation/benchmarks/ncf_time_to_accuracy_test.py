import datetime
import json

import numpy as np
import pytest

from official.recommendation import conftest
from official.recommendation.benchmarks import ncf_time_to_accuracy as tta

# Starts processes or clusters, or trains real models for a while: not in make test-fast.
pytestmark = pytest.mark.slow


def record(name, value, at):
    stamp = datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat()
    return {"name": name, "value": value, "timestamp": stamp}


def test_summarize_known_answer():
    start = 1_000_000.0
    records = [record("validation_HR", 0.69, start + 10), record("loss", 0.3, start + 10),
               record("validation_HR", 0.73, start + 14.5),
               record("validation_HR", 0.71, start + 19)]
    out = tta.summarize(records, start, thresholds=(0.70, 0.72, 0.75))
    assert out["time_to_validation_hr"] == {"0.70": 14.5, "0.72": 14.5, "0.75": None}
    assert out["curve"] == [[10.0, 0.69], [14.5, 0.73], [19.0, 0.71]]


def write_split(prefix, num_users=80, num_items=60, seed=0):
    rng = np.random.default_rng(seed)
    train, test, neg = [], [], []
    for u in range(num_users):
        items = rng.choice(num_items, 12, replace=False)
        for j, i in enumerate(items[:-1]):
            train.append(f"{u}\t{i}\t4\t{100 + j}\n")
        test.append(f"{u}\t{items[-1]}\t4\t200\n")
        others = np.setdiff1d(np.arange(num_items), items)
        negs = rng.choice(others, 20, replace=False)
        neg.append(f"({u},{items[-1]})\t" + "\t".join(map(str, negs)) + "\n")
    conftest.write_split(prefix, "".join(neg), "".join(train), "".join(test))


def test_run_recipe_times_its_own_metric_log(tmp_path):
    prefix = str(tmp_path / "tiny")
    write_split(prefix)
    out = tta.run_recipe("default", prefix, str(tmp_path / "work"), True,
                         ["--train_epochs=3", "--batch_size=256", "--hooks="])
    curve = out["curve"]
    assert len(curve) == 3 and all(0 < s <= out["wall_s"] for s, _ in curve)
    assert [s for s, _ in curve] == sorted(s for s, _ in curve)
    best = max(hr for _, hr in curve)
    assert out["validation_HR"] == best and 1 <= out["selected_epoch"] <= 3
    for key, seconds in out["time_to_validation_hr"].items():
        first = next((s for s, hr in curve if hr >= float(key)), None)
        assert seconds == first
    assert 0.0 <= out["HR"] <= 1.0 and "NDCG" in out
    # benchmark_run.log has what was used: the split file's 20 negatives, not the
    # --num_eval_negatives default of 100.
    run_log = json.loads((tmp_path / "work" / "default-logs" / "benchmark_run.log").read_text())
    params = {p["name"]: p["value"] for p in run_log["run_parameters"]}
    assert params["num_eval_negatives"] == 20 and params["num_validation_negatives"] == 20
    assert params["validation_users"] == 80 and params["train_positives"] == 80 * 10


def test_peer_comparison_on_a_tiny_split(tmp_path):
    prefix = str(tmp_path / "tiny")
    write_split(prefix, num_users=120, num_items=150)
    out = tta.peer_comparison(prefix, factors=[8], alpha=5.0, regularization=0.05,
                              iterations=4, cg_steps=[3])["8"]
    assert out["settings"] == {"factors": 8, "implicit_alpha": 5.0, "regularization": 0.05,
                               "iterations": 4}
    ours = out["ours"]
    assert ours["fit_s"] > 0 and 0 <= ours["NDCG"] <= ours["HR"] <= 1
    peer = out["implicit"]
    if "error" in peer:  # CI: the bench extra is not installed
        assert peer["error"].endswith("pip install .[bench]") and "fit_time_ratio" not in out
    else:  # the same objective: close validation numbers
        assert abs(peer["HR"] - ours["HR"]) < 0.1 and out["fit_time_ratio"] > 0
    # 3 CG steps from the same start, same objective: close to the exact fit.
    assert abs(out["ours_cg3"]["HR"] - ours["HR"]) < 0.05


def test_validation_metrics_known_answer():
    from official.recommendation.benchmarks import ials_peer
    from official.recommendation.data.implicit_data import NCFData

    # Two users, 1-d factors: user 0 ranks its positive (item 2) first, user 1 last.
    users = np.array([[1.0], [-1.0]])
    items = np.array([[0.0], [0.5], [3.0], [1.0]])
    data = NCFData(2, 4, np.zeros(0, np.int32), np.zeros(0, np.int32),
                   np.array([0, 1], np.int32), np.array([[2, 0, 1], [2, 0, 1]], np.int32),
                   np.arange(2), np.arange(4))
    out = ials_peer.validation_metrics(users, items, data, top_k=1)
    assert out == {"HR": 0.5, "NDCG": 0.5}
