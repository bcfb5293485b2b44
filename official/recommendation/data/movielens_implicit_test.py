import glob
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from official.datasets import movielens
from official.datasets import movielens_synthetic as synth
from official.recommendation.data import implicit_data
from official.recommendation.data import movielens_implicit as md
from official.utils.errors import DataError


def hand_table():
    """User 10: 20 ratings (kept); user 20: 19 (dropped); user 30: 21 with a tie at the end."""
    rows = []
    for j in range(20):
        rows.append((10, 100 + j, 4.0, 1000 + j))  # latest: item 119 at t=1019
    for j in range(19):
        rows.append((20, 100 + j, 3.0, 2000 + j))
    for j in range(19):
        rows.append((30, 200 + j, 5.0, 3000 + j))
    rows.append((30, 250, 2.0, 5000))  # tie at the latest timestamp ...
    rows.append((30, 240, 1.0, 5000))  # ... the later row wins
    return pd.DataFrame(rows, columns=movielens.RATING_COLUMNS)


def test_preprocess_known_answers():
    data = md.preprocess(hand_table(), num_eval_negatives=5, seed=1)
    assert data.user_ids.tolist() == [10, 30]
    items = sorted({100 + j for j in range(20)} | {200 + j for j in range(19)} | {240, 250})
    assert data.item_ids.tolist() == items
    index = {raw: i for i, raw in enumerate(items)}
    assert data.eval_items[:, 0].tolist() == [index[119], index[240]]
    train = set(zip(data.train_users.tolist(), data.train_items.tolist(), strict=True))
    assert len(train) == 19 + 20
    assert (0, index[119]) not in train and (1, index[240]) not in train
    assert (1, index[250]) in train
    rated = {0: {index[100 + j] for j in range(20)},
             1: {index[200 + j] for j in range(19)} | {index[240], index[250]}}
    for u in (0, 1):
        negs = data.eval_items[u, 1:].tolist()
        assert len(set(negs)) == 5 and not set(negs) & rated[u]
    again = md.preprocess(hand_table(), num_eval_negatives=5, seed=1)
    np.testing.assert_array_equal(again.eval_items, data.eval_items)
    other = md.preprocess(hand_table(), num_eval_negatives=5, seed=2)
    assert not np.array_equal(other.eval_items, data.eval_items)


def test_no_user_with_enough_ratings():
    df = hand_table()
    with pytest.raises(DataError, match="no user has at least 20 ratings"):
        md.preprocess(df[df.user_id == 20])


def test_eval_negatives_uniform_and_exact():
    rng = np.random.default_rng(0)
    num_users, num_items = 300, 50
    rated = np.unique(rng.integers(0, num_users, 3000) * num_items
                      + rng.integers(0, num_items, 3000))
    negs = implicit_data.sample_negatives_without_replacement(rated, num_users, num_items, 20, rng)
    keys = np.arange(num_users)[:, None] * num_items + negs
    assert not np.isin(keys, rated).any()
    assert all(len(set(row)) == 20 for row in negs.tolist())
    with pytest.raises(DataError, match="unrated items"):
        implicit_data.sample_negatives_without_replacement(rated, num_users, num_items, 49, rng)


def test_cache_reuse_and_rebuild(tmp_path):
    spec = synth.SyntheticSpec(100, 150, 4000, seed=0)
    movielens.download("synthetic", str(tmp_path), synthetic=spec)
    first = md.load_movielens(str(tmp_path), "synthetic", 50, seed=0)
    path = md.cache_dir(str(tmp_path), "synthetic", 50, 0)
    mtime = os.stat(os.path.join(path, "meta.json")).st_mtime_ns
    second = md.load_movielens(str(tmp_path), "synthetic", 50, seed=0)
    assert os.stat(os.path.join(path, "meta.json")).st_mtime_ns == mtime
    np.testing.assert_array_equal(first.eval_items, second.eval_items)
    np.testing.assert_array_equal(first.train_items, second.train_items)
    assert md.cache_dir(str(tmp_path), "synthetic", 20, 0) != path
    assert md.cache_dir(str(tmp_path), "synthetic", 50, 1) != path
    assert md.load_movielens(str(tmp_path), "synthetic", 20, seed=0).eval_items.shape == (100, 21)


def _flip_byte(path, offset):
    data = bytearray(pathlib.Path(path).read_bytes())
    data[offset] ^= 0x01
    pathlib.Path(path).write_bytes(bytes(data))


def _edit_meta(path, **values):
    meta = json.loads(pathlib.Path(path).read_text())
    meta.update(values)
    pathlib.Path(path).write_text(json.dumps(meta))


@pytest.mark.parametrize("damage", ["truncate train.npz", "flip train.npz", "flip eval shard",
                                    "edit num_items", "garbage meta.json"])
def test_a_damaged_cache_is_rebuilt_never_used(tmp_path, damage):
    spec = synth.SyntheticSpec(100, 150, 4000, seed=0)
    movielens.download("synthetic", str(tmp_path), synthetic=spec)
    good = md.load_movielens(str(tmp_path), "synthetic", 50, seed=0)
    path = md.cache_dir(str(tmp_path), "synthetic", 50, 0)
    npz, meta = os.path.join(path, "train.npz"), os.path.join(path, "meta.json")
    shard = sorted(glob.glob(os.path.join(path, "eval", "shard-*")))[0]
    if damage == "truncate train.npz":
        os.truncate(npz, os.path.getsize(npz) // 2)
    elif damage == "flip train.npz":
        _flip_byte(npz, os.path.getsize(npz) // 2)
    elif damage == "flip eval shard":
        _flip_byte(shard, os.path.getsize(shard) // 2)
    elif damage == "edit num_items":
        _edit_meta(meta, num_items=5000)
    else:
        with open(meta, "w") as f:
            f.write("{garbage")
    again = md.load_movielens(str(tmp_path), "synthetic", 50, seed=0)
    assert again.num_items == good.num_items == 150
    for name in ("train_users", "train_items", "eval_users", "eval_items", "item_ids"):
        np.testing.assert_array_equal(getattr(again, name), getattr(good, name))
    assert json.loads(pathlib.Path(meta).read_text())["num_items"] == 150  # rewritten whole
    assert md._load_cache(path) is not None  # the rebuilt cache is intact


def test_temporaries_of_a_killed_cache_build_are_removed(tmp_path):
    spec = synth.SyntheticSpec(100, 150, 4000, seed=0)
    movielens.download("synthetic", str(tmp_path), synthetic=spec)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = tmp_path / "synthetic" / f".ncf-abc.tmp-{dead.pid}-xyz"
    leftover.mkdir()
    (leftover / "train.npz").write_bytes(b"partial")
    md.load_movielens(str(tmp_path), "synthetic", 50, seed=0)
    assert not leftover.exists()
