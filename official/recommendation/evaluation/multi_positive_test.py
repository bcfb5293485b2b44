"""Several held-out items per user: Liang et al.'s Recall@K and NDCG@K against brute force."""

import numpy as np
import pytest

from official.recommendation.evaluation import full_ranking, multi_positive
from official.utils.misc import array_ops


def brute_force(scores, seen, held, k):
    """Per user: rank every unseen item by (score desc, index asc); Liang et al.'s metrics."""
    hr = recall = ndcg = 0.0
    for row, (s, train, test) in enumerate(zip(scores, seen, held, strict=True)):
        ranked = sorted((i for i in range(len(s)) if i not in train),
                        key=lambda i: (-s[i] if np.isfinite(s[i]) else -np.inf, i))[:k]
        hits = [j for j, i in enumerate(ranked) if i in test]
        hr += bool(hits)
        recall += len(hits) / min(k, len(test))
        dcg = sum(1 / np.log2(j + 2) for j in hits)
        ndcg += dcg / sum(1 / np.log2(j + 2) for j in range(min(k, len(test))))
        del row
    return hr, ndcg, recall


@pytest.mark.parametrize("k", [1, 3, 10])
def test_metrics_equal_brute_force_with_ties_and_nan(k):
    rng = np.random.default_rng(k)
    users, items = 23, 17
    scores = rng.integers(0, 5, (users, items)).astype(np.float32)  # many ties
    scores[2, 4] = np.nan
    seen = [set(rng.choice(items, rng.integers(0, 5), replace=False).tolist())
            for _ in range(users)]
    held = [set(rng.choice(sorted(set(range(items)) - s), rng.integers(1, 6),
                           replace=False).tolist()) for s in seen]
    seen_users = np.concatenate([[u] * len(s) for u, s in enumerate(seen)]).astype(np.int64)
    seen_items = np.concatenate([sorted(s) for s in seen]).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(h) for h in held])]).astype(np.int64)
    positives = np.concatenate([sorted(h) for h in held]).astype(np.int32)
    recommended = np.zeros(items)
    sums = multi_positive.evaluate(lambda u: scores[u], np.arange(users), offsets, positives,
                                   array_ops.csr_offsets(seen_users, users), seen_items,
                                   items, k, recommended)
    hr, ndcg, recall = brute_force(scores, seen, held, k)
    assert (sums.hits, sums.users) == (hr, users)
    assert sums.ndcg == pytest.approx(ndcg) and sums.recall == pytest.approx(recall)
    assert recommended.sum() == users * k


def test_one_held_out_item_gives_the_leave_one_out_metrics():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(40, 30)).astype(np.float32)
    positives = rng.integers(0, 30, 40)
    no_seen = np.zeros(41, np.int64)
    multi = multi_positive.evaluate(lambda u: scores[u], np.arange(40), np.arange(41),
                                    positives.astype(np.int32), no_seen, np.zeros(0, np.int64),
                                    30, 5)
    single = full_ranking.evaluate(lambda u: scores[u].copy(), np.arange(40), positives,
                                   no_seen, np.zeros(0, np.int64), 30, 5)
    assert multi.hits == single.hits and multi.recall == single.hits
    assert multi.ndcg == pytest.approx(single.ndcg)
