"""The temporal split: known cuts, users without training data, and bad settings."""

import numpy as np
import pytest

from official.recommendation.data import temporal_split
from official.recommendation.data.implicit_data_test import _log
from official.utils.errors import DataError


def test_one_global_cut_for_test_and_one_before_it_for_validation():
    # Times 1..20 over four users; test_fraction 0.2: test is t >= 17, validation
    # (0.2 / 0.8 of the 16 left = 4) is t >= 13; u4 appears only after the cut.
    users = ["u1"] * 8 + ["u2"] * 8 + ["u3"] * 2 + ["u4"] * 2
    times = list(range(1, 9)) + list(range(9, 17)) + [17, 18] + [19, 20]
    items = [f"i{t % 7}" for t in range(1, 9)] + [f"i{t % 6}" for t in range(9, 17)] + \
        ["i1", "i2", "i3", "i4"]
    # u3 and u4 have no training positive: not evaluated; nobody else is after the cut.
    with pytest.raises(DataError, match="no user has interactions both before and after"):
        temporal_split.from_interactions(_log(users, items, times), 0.2)
    users2 = users + ["u1", "u2", "u2"]
    times2 = times + [21, 22, 23]
    items2 = items + ["i6", "i0", "i5"]
    log = _log(users2, items2, times2)  # duplicates merged: the cut is over positives
    data = temporal_split.from_interactions(log, 0.25)
    cut = np.quantile(log.times, 0.75, method="higher")
    held = {(log.user_ids[u], log.item_ids[i])
            for u, i, t in zip(log.users, log.items, log.times, strict=True) if t >= cut}
    got = set()
    for row, user in enumerate(data.eval_users):
        for item in data.eval_positives[data.eval_offsets[row]:data.eval_offsets[row + 1]]:
            got.add((data.user_ids[user], data.item_ids[item]))
    trained = {data.user_ids[u] for u in data.train_users}
    assert got == {(u, i) for u, i in held if u in trained} and got
    assert (data.train_times < cut).all()
    train, test = temporal_split.split(data, 0.25)
    val_cut = np.quantile(data.train_times, 1 - 0.25 / 0.75, method="higher")
    assert (train.train_times < val_cut).all()
    assert len(train.eval_positives) == int(((data.train_times >= val_cut)
                                             & np.isin(data.train_users,
                                                       train.train_users)).sum())
    assert test.positives is data.eval_positives and len(test.seen_items) == len(data.train_items)


def test_without_times_or_users_on_both_sides_is_one_line():
    with pytest.raises(DataError, match="needs times: give --timestamp_column"):
        temporal_split.from_interactions(_log(["a", "a", "b"], ["x", "y", "x"]), 0.1)
    with pytest.raises(DataError, match="no user has interactions both before and after"):
        temporal_split.from_interactions(_log(["a", "b"], ["x", "y"], [1, 2]), 0.4)
