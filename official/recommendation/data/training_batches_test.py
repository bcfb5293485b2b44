import numpy as np
import pytest
import tensorflow as tf

from official.recommendation.data import training_batches


def random_positives(num_users, num_items, draws, seed):
    """(sorted keys user * num_items + item, users int32, items int32) of random pairs."""
    rng = np.random.default_rng(seed)
    keys = np.unique(rng.integers(0, num_users, draws) * num_items
                     + rng.integers(0, num_items, draws))
    return keys, (keys // num_items).astype(np.int32), (keys % num_items).astype(np.int32)

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
    tables = training_batches.build_sampler_tables(users, items, num_users, num_items)
    draws = 3000
    query = np.repeat(np.arange(num_users, dtype=np.int32), draws)
    negs = training_batches.sample_negatives(tf.constant(query), tf.constant(tables.gap_keys),
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
    again = training_batches.sample_negatives(tf.constant(query), tf.constant(tables.gap_keys),
                                       tf.constant(tables.offsets), num_items,
                                       tf.constant([1, 2])).numpy().reshape(num_users, draws)
    np.testing.assert_array_equal(again, negs)  # stateless: same seed, same draws


def test_chunked_epoch_negatives_are_exact(monkeypatch):
    monkeypatch.setattr(training_batches, "SAMPLE_CHUNK_POSITIVES", 37)  # many small chunks
    num_users, num_items = 50, 40
    keys, users, items = random_positives(num_users, num_items, 900, seed=3)
    batches = training_batches.EpochBatches(users, items, num_users, num_items, num_neg=4,
                                     positives_per_step=64, seed=0)
    assert len(batches.chunks) > 5
    starts = [int(c[0]) for c in batches.chunks]
    assert all(users[s] != users[s - 1] for s in starts[1:])  # no user split across chunks
    perm, negatives = batches.epoch_tensors(tf.constant(0, tf.int64))
    negatives = negatives.numpy()
    assert negatives.shape == (len(users), 4)
    positives = set(keys.tolist())
    neg_keys = users[:, None].astype(np.int64) * num_items + negatives
    assert not positives & set(neg_keys.reshape(-1).tolist())
    assert sorted(perm.numpy()[:len(users)].tolist()) == list(range(len(users)))


def test_user_chunks_cover_all_users():
    offsets = np.array([0, 5, 5, 9, 30, 31, 40])
    # Users 0-2 hold 9 positives; user 3 alone exceeds 10 but is never split.
    assert training_batches._user_chunks(offsets, 100, 10) == [(0, 3), (3, 4), (4, 6)]
    # A huge catalogue limits users per chunk so that relative keys fit in int32.
    assert training_batches._user_chunks(offsets, 10**9, 10**6) == [(u, u + 1) for u in range(6)]


@pytest.mark.parametrize("steps_per_call", [1, 3, 100])
def test_batches_have_sorted_users_and_cover_each_positive_once(steps_per_call):
    num_users, num_items = 30, 50
    keys, users, items = random_positives(num_users, num_items, 700, seed=5)
    batches = training_batches.EpochBatches(users, items, num_users, num_items, num_neg=2,
                                     positives_per_step=64, seed=0,
                                     steps_per_call=steps_per_call)
    steps = -(-len(keys) // 64)
    assert batches.steps_per_epoch == steps and steps > 3
    k = min(steps_per_call, steps)
    assert batches.steps_per_call == k and batches.calls_per_epoch == -(-steps // k)
    seen, real_steps = [], []
    for stacked_u, stacked_it, stacked_w, num_steps in batches.dataset(0, 1):
        assert stacked_u.shape == (k, 64) and stacked_it.shape == (k, 64, 3)
        real_steps.append(int(num_steps))
        for s in range(k):
            u, it, w = stacked_u[s].numpy(), stacked_it[s].numpy(), stacked_w[s].numpy()
            if s >= num_steps:  # past the epoch's end: all padding
                assert not w.any()
                continue
            assert w.sum() > 0
            assert (np.diff(u[w > 0]) >= 0).all()  # users sorted within the step
            assert (np.diff(w) >= 0).all()  # padding rows (weight 0) come first
            seen += (u[w > 0].astype(np.int64) * num_items + it[w > 0, 0]).tolist()
    assert sum(real_steps) == steps and real_steps[:-1] == [k] * (len(real_steps) - 1)
    assert sorted(seen) == keys.tolist()
