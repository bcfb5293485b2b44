"""Leave-last-out from prepared interactions: known answers and the 2018 MovieLens oracle."""

import numpy as np
import pandas as pd

from official.datasets import movielens_synthetic as synth
from official.datasets.interactions_clean import clean
from official.recommendation.data import implicit_data
from official.recommendation.data import movielens_implicit as md


def _log(users, items, times=None, weight=None, min_user=1):
    u_codes, u_ids = pd.factorize(np.asarray(users), sort=True)
    i_codes, i_ids = pd.factorize(np.asarray(items), sort=True)
    return clean(u_codes, i_codes, np.asarray(u_ids).astype(str), np.asarray(i_ids).astype(str),
                 times=None if times is None else np.asarray(times, np.int64),
                 weight=None if weight is None else np.asarray(weight, float), min_user=min_user)


def test_latest_is_the_test_item_ties_to_the_later_row_single_users_train_only():
    # u1: b and c tie at time 5 -> c (the later row); u2 has one positive: not evaluated.
    log = _log(["u1", "u1", "u1", "u2", "u3", "u3"], ["a", "b", "c", "a", "c", "a"],
               [1, 5, 5, 9, 3, 2])
    data = implicit_data.from_interactions(log, 0, seed=0)
    assert data.user_ids[data.eval_users].tolist() == ["u1", "u3"]
    assert data.item_ids[data.eval_items[:, 0]].tolist() == ["c", "c"]
    assert data.eval_items.shape == (2, 1)  # full ranking only: no sampled negatives
    train = sorted(zip(data.user_ids[data.train_users], data.item_ids[data.train_items],
                       strict=True))
    assert train == [("u1", "a"), ("u1", "b"), ("u2", "a"), ("u3", "a")]


def test_without_timestamps_the_pick_is_seeded_uniform():
    users = np.repeat([f"u{i}" for i in range(300)], 4)
    items = np.tile(["a", "b", "c", "d"], 300)
    log = _log(users, items)
    picks = [implicit_data.from_interactions(log, 0, seed).eval_items[:, 0] for seed in (0, 0, 1)]
    np.testing.assert_array_equal(picks[0], picks[1])
    assert (picks[0] != picks[2]).any()
    assert np.bincount(picks[0], minlength=4).min() > 50  # all four items get picked


def test_weights_reach_the_training_positives():
    log = _log(["u", "u", "u", "v", "v"], ["a", "a", "b", "a", "b"], [1, 2, 3, 1, 2],
               weight=[2, 3, 1, 4, 6])
    data = implicit_data.from_interactions(log, 0, seed=0)
    assert data.train_weights.tolist() == [5.0, 4.0]  # (u, a) summed; b is each one's test


def _preprocess_2018(ratings, num_eval_negatives, seed):
    """The package's MovieLens preprocessing before the shared path (the oracle)."""
    user_codes, user_ids = pd.factorize(ratings["user_id"].to_numpy(), sort=True)
    counts = np.bincount(user_codes)
    keep = (counts >= md.MIN_RATINGS)[user_codes]
    user_codes = (np.cumsum(counts >= md.MIN_RATINGS) - 1)[user_codes[keep]]
    user_ids = user_ids[counts >= md.MIN_RATINGS]
    items_raw, times = ratings["item_id"].to_numpy()[keep], ratings["timestamp"].to_numpy()[keep]
    item_idx, item_ids = pd.factorize(items_raw, sort=True)
    nu, ni = len(user_ids), len(item_ids)
    rows = np.arange(len(times))
    key = (times - times.min()) * len(times) + rows
    test_rows = pd.Series(key).groupby(user_codes).max().to_numpy() % len(times)
    test_items = item_idx[test_rows]
    is_test = np.zeros(len(times), bool)
    is_test[test_rows] = True
    keys = user_codes.astype(np.int64) * ni + item_idx
    train = np.unique(keys[~is_test])
    train = train[~np.isin(train, np.arange(nu) * ni + test_items)]
    rated = np.unique(np.concatenate([train, np.arange(nu) * ni + test_items]))
    negatives = implicit_data.sample_negatives_without_replacement(
        rated, nu, ni, num_eval_negatives, np.random.default_rng(seed))
    return train // ni, train % ni, np.concatenate([test_items[:, None], negatives], 1)


def test_movielens_through_the_shared_path_gives_the_2018_arrays():
    ratings, _ = synth.generate_frames(synth.SyntheticSpec(300, 400, 12_000, seed=3))
    ratings = ratings.sample(frac=1.0, random_state=1).reset_index(drop=True)  # any row order
    data = md.preprocess(ratings, num_eval_negatives=30, seed=5)
    users, items, eval_items = _preprocess_2018(ratings, 30, 5)
    np.testing.assert_array_equal(data.train_users, users)
    np.testing.assert_array_equal(data.train_items, items)
    np.testing.assert_array_equal(data.eval_items, eval_items)
    assert data.user_ids.dtype == np.int64 and data.train_weights is None
