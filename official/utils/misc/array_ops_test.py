import numpy as np

from official.utils.misc import array_ops


def test_isin_sorted_matches_numpy():
    rng = np.random.default_rng(0)
    ref = np.unique(rng.integers(0, 1000, 300))
    values = rng.integers(-5, 1005, (40, 7))
    np.testing.assert_array_equal(array_ops.isin_sorted(values, ref), np.isin(values, ref))
    assert not array_ops.isin_sorted(np.array([1, 2]), np.array([], dtype=np.int64)).any()


def test_sorted_unique_matches_numpy():
    rng = np.random.default_rng(1)
    for values in (rng.integers(0, 50, 1000), np.array([3]), np.array([], np.int64),
                   rng.integers(-(2**40), 2**40, 5000)):
        np.testing.assert_array_equal(array_ops.sorted_unique(values), np.unique(values))


def test_sorted_unique_max_matches_a_dict_oracle():
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 50, 400)
    values = rng.integers(-1, 1000, 400)
    got_keys, got_max = array_ops.sorted_unique_max(keys, values)
    oracle = {}
    for k, v in zip(keys.tolist(), values.tolist(), strict=True):
        oracle[k] = max(oracle.get(k, v), v)
    assert got_keys.tolist() == sorted(oracle)
    assert got_max.tolist() == [oracle[k] for k in sorted(oracle)]
    empty_keys, empty_max = array_ops.sorted_unique_max(np.zeros(0, int), np.zeros(0, int))
    assert empty_keys.size == 0 and empty_max.size == 0
