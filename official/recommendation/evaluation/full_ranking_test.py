import numpy as np
import pytest

from official.recommendation.evaluation import full_ranking as fr
from official.utils.misc import array_ops


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


def random_split(rng, num_users, num_items, draws):
    """Random training pairs (sorted by user) and one unseen held-out item per user."""
    keys = np.unique(rng.integers(0, num_users, draws) * num_items
                     + rng.integers(0, num_items, draws))
    train_users, train_items = keys // num_items, keys % num_items
    positives = np.array([rng.choice(np.setdiff1d(np.arange(num_items),
                                                  train_items[train_users == u]))
                          for u in range(num_users)])
    return train_users, train_items, positives


@pytest.mark.parametrize("chunk", [1, 3, 50])
def test_full_ranking_matches_brute_force_with_ties_and_exclusions(chunk):
    rng = np.random.default_rng(0)
    num_users, num_items = 23, 40
    # Coarse scores so that ties are common.
    scores = rng.integers(0, 6, (num_users, num_items)).astype(np.float32)
    train_users, train_items, positives = random_split(rng, num_users, num_items, 300)
    # A seen item scored far above everything must not count against the positive.
    scores[train_users, train_items] += 100.0
    offsets = array_ops.csr_offsets(train_users, num_users)
    users = np.arange(num_users)
    sums = fr.evaluate(lambda u: scores[u].copy(), users, positives, offsets, train_items,
                       num_items, k=5, users_per_chunk=chunk)
    hr, ndcg = _oracle(scores, positives, train_users, train_items, 5)
    assert sums.users == num_users
    assert sums.hits / num_users == pytest.approx(hr)
    assert sums.ndcg / num_users == pytest.approx(ndcg)
    assert 0 < hr < 1


def test_seen_pairs_lists_each_users_training_items():
    train_users = np.array([0, 0, 2, 2, 2, 3])
    train_items = np.array([4, 7, 1, 2, 9, 5])
    offsets = array_ops.csr_offsets(train_users, 5)
    rows, items = fr.seen_pairs(offsets, train_items, np.array([2, 4, 0]))
    assert rows.tolist() == [0, 0, 0, 2, 2]
    assert items.tolist() == [1, 2, 9, 4, 7]


def test_coverage_and_popularity_percentile_match_brute_force():
    rng = np.random.default_rng(1)
    num_users, num_items, k = 17, 30, 4
    scores = rng.random((num_users, num_items)).astype(np.float32)  # no ties
    train_users, train_items, positives = random_split(rng, num_users, num_items, 200)
    offsets = array_ops.csr_offsets(train_users, num_users)
    recommended = np.zeros(num_items)
    fr.evaluate(lambda u: scores[u].copy(), np.arange(num_users), positives, offsets,
                train_items, num_items, k, users_per_chunk=5, recommended=recommended)
    # Oracle: each user's k best unseen items (the held-out one may be among them).
    counts = np.bincount(train_items, minlength=num_items)
    pct = [100 * (sum(c < counts[i] for c in counts) + 0.5 * (sum(c == counts[i] for c in counts)
                                                             - 1)) / (num_items - 1)
           for i in range(num_items)]
    shown = []
    for u in range(num_users):
        seen = set(train_items[train_users == u].tolist())
        ranked = [i for i in np.argsort(-scores[u]) if i not in seen]
        shown += ranked[:k]
    np.testing.assert_allclose(fr.popularity_percentiles(train_items, num_items), pct)
    out = fr.beyond_accuracy(recommended, fr.popularity_percentiles(train_items, num_items))
    assert out["Coverage_full"] == pytest.approx(len(set(shown)) / num_items)
    assert out["PopularityPercentile_full"] == pytest.approx(np.mean([pct[i] for i in shown]))
    assert recommended.sum() == num_users * k


def test_popularity_percentile_known_answer():
    # counts: item0 3, item1 1, item2 1, item3 0 -> 100, (1 + 0.5) / 3, same, 0.
    pct = fr.popularity_percentiles(np.array([0, 0, 0, 1, 2]), 4)
    np.testing.assert_allclose(pct, [100.0, 50.0, 50.0, 0.0])
    # A most-popular recommender recommends only the top item: coverage 1/4, percentile 100.
    out = fr.beyond_accuracy(np.array([5.0, 0, 0, 0]), pct)
    assert out == {"Coverage_full": 0.25, "PopularityPercentile_full": 100.0}


def test_non_finite_scores_never_hit_and_rank_above_the_held_out_item():
    rng = np.random.default_rng(1)
    num_users, num_items = 30, 25
    scores = rng.normal(size=(num_users, num_items))
    spoiled = rng.random(scores.shape) < 0.15
    scores[spoiled] = rng.choice([np.nan, np.inf, -np.inf], spoiled.sum())
    train_users, train_items, positives = random_split(rng, num_users, num_items, 200)
    offsets = array_ops.csr_offsets(train_users, num_users)
    sums = fr.evaluate(lambda u: scores[u].copy(), np.arange(num_users), positives, offsets,
                       train_items, num_items, k=5)
    hr = ndcg = 0.0
    for u in range(num_users):  # the oracle, with the non-finite rules spelled out
        target = scores[u, positives[u]]
        if not np.isfinite(target):
            continue
        seen = set(train_items[train_users == u].tolist())
        rank = sum(not np.isfinite(scores[u, i]) or scores[u, i] >= target
                   for i in range(num_items) if i != positives[u] and i not in seen)
        if rank < 5:
            hr, ndcg = hr + 1, ndcg + 1 / np.log2(rank + 2)
    assert sums.hits == hr and sums.ndcg == pytest.approx(ndcg)
    assert (~np.isfinite(scores[np.arange(num_users), positives])).any() and hr > 0
    everything_nan = fr.evaluate(lambda u: np.full((len(u), num_items), np.nan),
                                 np.arange(num_users), positives, offsets, train_items,
                                 num_items, k=5)
    assert everything_nan.hits == 0 and everything_nan.ndcg == 0
