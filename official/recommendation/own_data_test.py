"""Your own log with string ids through ncf_main, every model, recommend and serve (real runs)."""

import datetime
import json
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from official.datasets import movielens_synthetic as synth
from official.recommendation import recommend
from official.recommendation.conftest import parse
from official.recommendation.ncf_main import run_from_flags
from official.recommendation.serve_test import _call, _start

# Starts processes or clusters, or trains real models for a while: not in make test-fast.
pytestmark = pytest.mark.slow


def write_log(directory):
    """A play log shaped like a product's: string ids, item column first, ISO times.

    Users `u00001`.. (leading zeros), items `B0000123`, a duplicate of every 10th
    row, hyphenated column names, and an items file with quoted titles.
    """
    ratings, movies = synth.generate_frames(synth.SyntheticSpec(150, 90, 5000, seed=7))
    users = np.char.add("u", np.char.zfill(ratings["user_id"].to_numpy().astype(str), 5))
    items = np.char.add("B", np.char.zfill(ratings["item_id"].to_numpy().astype(str), 7))
    when = [datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
            for t in ratings["timestamp"].to_numpy()[:5]]  # the format, on a few rows
    times = np.datetime_as_string(ratings["timestamp"].to_numpy().astype("datetime64[s]"))
    assert times[:5].tolist() == when
    lines = [f"{i},{u},{t},{p}" for i, u, t, p in zip(
        items, users, times, ratings["rating"].to_numpy(), strict=True)]
    lines += lines[::10]
    log = directory / "plays.csv"
    log.write_text("item-id,user-id,played-at,plays\n" + "\n".join(lines) + "\n")
    titles = directory / "catalog.csv"
    ids = np.char.add("B", np.char.zfill(movies["item_id"].to_numpy().astype(str), 7))
    titles.write_text("item-id,title\n" + "".join(
        f'{i},"{t}"\n' for i, t in zip(ids, movies["titles"], strict=True)))
    return log, titles


def flags_for(tmp, log, titles):
    return [f"--interactions={log}", "--user_column=user-id", "--item_column=item-id",
            "--timestamp_column=played-at", "--weight_column=plays", f"--items={titles}",
            "--item_title_column=title", "--min_user_interactions=3",
            f"--data_dir={tmp / 'data'}", "--hooks=", "--batch_size=1024"]


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("own")
    log, titles = write_log(tmp)
    return tmp, flags_for(tmp, log, titles)


def test_every_model_runs_on_a_string_id_log_and_learns(own):
    tmp, base = own
    results = {}
    for model, extra in (("popularity", []), ("ials", ["--ials_iterations=3"]),
                         ("ease", ["--ease_lambda=10,100"]), ("mf", ["--train_epochs=3"]),
                         ("gmf", ["--train_epochs=2"]), ("mlp", ["--train_epochs=2"]),
                         ("neumf", ["--train_epochs=2", "--early_stopping_patience=1",
                                    "--retrain_on_full"])):
        results[model] = run_from_flags(parse(*base, f"--model={model}",
                                              f"--model_dir={tmp / model}", *extra))
    for model, result in results.items():
        # Full ranking by default on your own data: no sampled metric is reported.
        assert "HR" not in result and "NDCG_full" in result, model
        assert 0 <= result["NDCG_full"] <= result["HR_full"] <= 1, model
    best = max(results[m]["validation_NDCG_full"] for m in ("ials", "ease", "mf"))
    assert best > results["popularity"]["validation_NDCG_full"] + 0.02
    assert results["neumf"]["retrained_epochs"] == results["neumf"]["selected_epoch"]
    # The temporal split: every held-out item counts (Recall@K beside HR@K).
    temporal = run_from_flags(parse(*base, "--model=ials", "--ials_iterations=2",
                                    "--split=temporal", "--test_fraction=0.2",
                                    f"--model_dir={tmp / 'temporal'}"))
    assert 0 < temporal["Recall_full"] <= 1 and 0 < temporal["validation_Recall_full"] <= 1
    assert temporal["NDCG_full"] <= temporal["HR_full"]


def test_string_ids_round_trip_through_export_recommend_and_serve(own):
    tmp, base = own
    run_from_flags(parse(*base, "--model=ials", "--ials_iterations=3",
                         f"--model_dir={tmp / 'exp'}", f"--export_dir={tmp / 'export'}"))
    export = recommend.load_export(str(tmp / "export"))
    maps = export.id_maps()
    users = [u.decode() for u in maps["user_ids"].numpy()]
    items = [i.decode() for i in maps["item_ids"].numpy()]
    assert users[0].startswith("u0") and items[0].startswith("B0")  # leading zeros kept
    user = users[3]
    res = subprocess.run([sys.executable, "-m", "official.recommendation.recommend",
                          f"--export_dir={tmp / 'export'}", f"--user_id={user}", "--top_k=3",
                          "--output_format=json"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    record = json.loads(res.stdout)
    direct = export.recommend(user_id=tf.constant([user]), k=tf.constant(3))
    expected = [i.decode() for i in direct["item_id"].numpy()[0]]
    assert record["user_id"] == user
    assert [r["item_id"] for r in record["recommendations"]] == expected
    assert all(r["title"].startswith(("Synthetic Movie", "Movie", "Misérables"))
               for r in record["recommendations"])
    res = subprocess.run([sys.executable, "-m", "official.recommendation.recommend",
                          f"--export_dir={tmp / 'export'}", "--user_id=u99999"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "unknown user_id u99999" in res.stderr
    # A new user by raw item ids (fold-in); an unknown one is reported, not an error.
    res = subprocess.run([sys.executable, "-m", "official.recommendation.recommend",
                          f"--export_dir={tmp / 'export'}", f"--rated={items[0]},{items[5]},nope",
                          "--top_k=2", "--output_format=json"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    record = json.loads(res.stdout)
    assert record["history"] == [items[0], items[5], "nope"]
    assert record["unknown_item_ids"] == ["nope"] and record["rated"] == 2
    direct = export.recommend_for_history(item_id=tf.constant([items[0], items[5], "nope"]),
                                          k=tf.constant(2))
    assert [r["item_id"] for r in record["recommendations"]] == [
        i.decode() for i in direct["item_id"].numpy()]
    proc, url = _start(tmp / "export")
    try:
        status, body = _call(f"{url}/recommend?user_id={user}&k=3")
        assert status == 200 and body["user_id"] == user
        assert [r["item_id"] for r in body["recommendations"]] == expected
        status, body = _call(f"{url}/recommend?user_id=u99999")
        assert status == 400 and "unknown user_id u99999" in body["error"]
        status, body = _call(f"{url}/recommend", {"history": [items[0], items[5], "nope"],
                                                  "k": 2})
        assert status == 200 and body["unknown_item_ids"] == ["nope"] and body["rated"] == 2
        assert {r["item_id"] for r in body["recommendations"]} <= set(items)
        status, body = _call(f"{url}/v1/models/ncf:predict",
                             {"instances": [{"user_id": user, "item_id": items[1]}]})
        score = export.serving_default(user_id=tf.constant([user]),
                                       item_id=tf.constant([items[1]]))["score"].numpy()[0]
        assert status == 200 and body["predictions"][0]["score"] == pytest.approx(score)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
