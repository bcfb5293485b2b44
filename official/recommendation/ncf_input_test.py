import numpy as np
import tensorflow as tf

from official.recommendation import ncf_input


def test_sampler_is_exact_and_uniform():
    rng = np.random.default_rng(0)
    num_users, num_items = 40, 30
    keys = np.unique(rng.integers(0, num_users, 500) * num_items + rng.integers(0, num_items, 500))
    users, items = (keys // num_items).astype(np.int32), (keys % num_items).astype(np.int32)
    # User 39 rates every item but one; user 38 rates nothing.
    users = np.concatenate([users[users < 38], np.full(29, 39, np.int32)])
    items = np.concatenate([items[:len(users) - 29], np.arange(29, dtype=np.int32)])
    order = np.lexsort((items, users))
    users, items = users[order], items[order]
    tables = ncf_input.build_sampler_tables(users, items, num_users, num_items)
    draws = 3000
    query = np.repeat(np.arange(num_users, dtype=np.int32), draws)
    negs = ncf_input.sample_negatives(tf.constant(query), tf.constant(tables.gap_keys),
                                      tf.constant(tables.offsets), num_items,
                                      tf.constant([1, 2])).numpy().reshape(num_users, draws)
    positives = {u: set(items[users == u].tolist()) for u in range(num_users)}
    for u in range(num_users):
        assert not set(negs[u].tolist()) & positives[u], u  # never a training positive
        allowed = sorted(set(range(num_items)) - positives[u])
        counts = np.bincount(negs[u], minlength=num_items)[allowed]
        expected = draws / len(allowed)
        chi2 = ((counts - expected) ** 2 / expected).sum()
        # Chi-square with len(allowed) - 1 dof: mean dof, sd sqrt(2 dof); 6 sd is generous.
        dof = len(allowed) - 1
        assert chi2 < dof + 6 * np.sqrt(2 * max(dof, 1)) + 1, (u, chi2, dof)
    assert set(negs[39].tolist()) == {29}
    again = ncf_input.sample_negatives(tf.constant(query), tf.constant(tables.gap_keys),
                                       tf.constant(tables.offsets), num_items,
                                       tf.constant([1, 2])).numpy().reshape(num_users, draws)
    np.testing.assert_array_equal(again, negs)  # stateless: same seed, same draws
