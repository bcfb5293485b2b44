import numpy as np
import pytest

from official.recommendation import ncf_full_ranking as fr


def _oracle(scores, positives, train_users, train_items, k):
    """Per-user loops: rank the held-out item among the items not trained on."""
    hr = ndcg = 0.0
    for u in range(scores.shape[0]):
        seen = set(train_items[train_users == u].tolist())
        target = scores[u, positives[u]]
        others = [scores[u, i] for i in range(scores.shape[1])
                  if i != positives[u] and i not in seen]
        rank = sum(s >= target for s in others)
        if rank < k:
            hr += 1
            ndcg += 1 / np.log2(rank + 2)
    n = scores.shape[0]
    return hr / n, ndcg / n


@pytest.mark.parametrize("chunk", [1, 3, 50])
def test_full_ranking_matches_brute_force_with_ties_and_exclusions(chunk):
    rng = np.random.default_rng(0)
    num_users, num_items = 23, 40
    # Coarse scores so that ties are common.
    scores = rng.integers(0, 6, (num_users, num_items)).astype(np.float32)
    keys = np.unique(rng.integers(0, num_users, 300) * num_items
                     + rng.integers(0, num_items, 300))
    train_users, train_items = keys // num_items, keys % num_items
    positives = np.array([rng.choice(np.setdiff1d(np.arange(num_items),
                                                  train_items[train_users == u]))
                          for u in range(num_users)])
    # A seen item scored far above everything must not count against the positive.
    scores[train_users, train_items] += 100.0
    offsets = fr.csr_offsets(train_users, num_users)
    users = np.arange(num_users)
    sums = fr.evaluate(lambda u: scores[u].copy(), users, positives, offsets, train_items,
                       num_items, k=5, users_per_chunk=chunk)
    hr, ndcg = _oracle(scores, positives, train_users, train_items, 5)
    assert sums[3] == num_users
    assert sums[0] / num_users == pytest.approx(hr)
    assert sums[1] / num_users == pytest.approx(ndcg)
    assert sums[2] == sums[0]  # one held-out item per user: Recall@K = HR@K
    assert 0 < hr < 1


def test_seen_pairs_lists_each_users_training_items():
    train_users = np.array([0, 0, 2, 2, 2, 3])
    train_items = np.array([4, 7, 1, 2, 9, 5])
    offsets = fr.csr_offsets(train_users, 5)
    rows, items = fr.seen_pairs(offsets, train_items, np.array([2, 4, 0]))
    assert rows.tolist() == [0, 0, 0, 2, 2]
    assert items.tolist() == [1, 2, 9, 4, 7]
