import numpy as np
import pytest

from official.recommendation.data import validation_split
from official.recommendation.data.implicit_data import NCFData
from official.utils.errors import DataError


def brute_latest(users, times, num_users):
    """Per user: the set of positives with the largest time (all of them if unknown)."""
    out = {}
    for u in range(num_users):
        idx = [j for j in range(len(users)) if users[j] == u]
        if len(idx) < 2:
            out[u] = None
            continue
        top = max(times[j] for j in idx)
        out[u] = {j for j in idx if times[j] == top}
    return out


def test_latest_per_user_matches_brute_force_and_draws_ties_uniformly():
    rng = np.random.default_rng(0)
    users = np.sort(rng.integers(0, 40, 400))
    times = rng.integers(0, 5, 400)  # many ties
    times[users >= 30] = -1  # unknown: any positive of the user
    oracle = brute_latest(users, times, 42)
    picks = {u: set() for u in range(42)}
    for seed in range(60):
        index = validation_split.latest_per_user(users, times, 42, np.random.default_rng(seed))
        for u in range(42):
            if oracle[u] is None:
                assert index[u] == -1
            else:
                assert index[u] in oracle[u]
                picks[u].add(int(index[u]))
    # The seeded draw reaches every tied candidate (not always the first).
    tied = [u for u in range(42) if oracle[u] and len(oracle[u]) >= 2]
    assert tied and all(picks[u] == oracle[u] for u in tied if len(oracle[u]) <= 4)


def make_data():
    # user 0: items 0..5 with times (5 latest); user 1: items 2..9, all unknown;
    # user 2: one positive (nothing held out).
    users = np.array([0] * 6 + [1] * 8 + [2], np.int32)
    items = np.array([0, 1, 2, 3, 4, 5, 2, 3, 4, 5, 6, 7, 8, 9, 0], np.int32)
    times = np.array([10, 11, 12, 13, 15, 14] + [-1] * 8 + [7], np.int64)
    test_items = np.array([[10, 11, 12], [11, 12, 13], [1, 12, 13]], np.int32)
    return NCFData(3, 20, users, items, np.arange(3, dtype=np.int32), test_items,
                   np.arange(3), np.arange(20), times)


def test_split_holds_out_latest_training_positive_and_keeps_test_apart():
    data = make_data()
    train, test = validation_split.split(data, 5, seed=3)
    assert train.eval_users.tolist() == [0, 1]
    assert train.eval_items[0, 0] == 4  # user 0's latest (time 15)
    assert 2 <= train.eval_items[1, 0] <= 9
    # The trainer's data holds no test pair and no validation pair.
    pairs = set(zip(train.train_users.tolist(), train.train_items.tolist(), strict=True))
    assert len(pairs) == len(data.train_users) - 2
    assert (0, 4) not in pairs and (1, int(train.eval_items[1, 0])) not in pairs
    for u, row in enumerate(data.eval_items.tolist()):
        assert (u, row[0]) not in pairs
    # Validation negatives: distinct, never a training positive of the user.
    for row, u in zip(train.eval_items.tolist(), train.eval_users.tolist(), strict=True):
        negs = row[1:]
        assert len(set(negs)) == 5
        assert not set(negs) & set(data.train_items[data.train_users == u].tolist())
    # The test set is the data's, and excludes every training positive in full ranking.
    np.testing.assert_array_equal(test.items, data.eval_items)
    np.testing.assert_array_equal(test.seen_items, data.train_items)
    again, _ = validation_split.split(data, 5, seed=3)
    np.testing.assert_array_equal(again.eval_items, train.eval_items)


def test_split_needs_a_user_with_two_positives():
    data = make_data()
    one = NCFData(1, 20, np.array([0], np.int32), np.array([3], np.int32),
                  np.array([0], np.int32), data.eval_items[:1], np.arange(1), np.arange(20))
    with pytest.raises(DataError, match="no user has two training positives"):
        validation_split.split(one, 5, seed=0)
