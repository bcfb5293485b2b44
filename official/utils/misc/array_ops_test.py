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
