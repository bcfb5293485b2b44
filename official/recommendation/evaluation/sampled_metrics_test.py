import math

import numpy as np
import pytest

from official.recommendation.evaluation import sampled_metrics


def oracle(scores, items, k):
    """Loops: a non-finite positive misses; a non-finite negative ranks above the positive."""
    hits, ndcgs = [], []
    for s, it in zip(scores, items, strict=True):
        if not math.isfinite(s[0]):
            hits.append(0.0)
            ndcgs.append(0.0)
            continue
        rank = sum(1 for j in range(1, len(s))
                   if it[j] != it[0] and (not math.isfinite(s[j]) or s[j] >= s[0]))
        hits.append(1.0 if rank < k else 0.0)
        ndcgs.append(1 / math.log2(rank + 2) if rank < k else 0.0)
    return np.mean(hits), np.mean(ndcgs)


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_oracle_with_ties(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 8, (200, 31)).astype(np.float32)  # many ties
    items = rng.integers(0, 40, (200, 31))
    hr, ndcg = sampled_metrics.hit_rate_and_ndcg(scores, items, k=10)
    want_hr, want_ndcg = oracle(scores, items, 10)
    assert hr == pytest.approx(want_hr) and ndcg == pytest.approx(want_ndcg)


def test_hand_computed_values():
    scores = np.array([[0.9, 0.1, 0.2, 0.3],   # rank 0: hit, ndcg 1
                       [0.5, 0.5, 0.1, 0.1],   # tie counts against: rank 1, ndcg 1/log2(3)
                       [0.1, 0.9, 0.8, 0.7],   # rank 3: miss at k=2
                       [0.4, 0.9, 0.1, 0.1]])  # negative 1 equals the positive: ignored
    items = np.array([[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4], [7, 7, 3, 4]])
    hr, ndcg = sampled_metrics.hit_rate_and_ndcg(scores, items, k=2)
    assert hr == pytest.approx(3 / 4)
    assert ndcg == pytest.approx((1 + 1 / math.log2(3) + 0 + 1) / 4)
    with pytest.raises(ValueError, match="top_k"):
        sampled_metrics.hit_rate_and_ndcg(scores, items, k=0)


def test_evaluation_loss_is_mean_bce():
    logits = np.array([[2.0, -1.0, 0.5]])
    items = np.array([[1, 2, 3]])
    want = np.mean([math.log1p(math.exp(-2.0)), math.log1p(math.exp(-1.0)),
                    math.log1p(math.exp(0.5))])
    assert sampled_metrics.evaluation_loss(logits, items) == pytest.approx(want)
    assert sampled_metrics.evaluation_loss(logits, items) > 0


@pytest.mark.parametrize("seed", range(3))
def test_non_finite_scores_match_the_oracle_and_never_hit(seed):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(300, 21))
    spoiled = rng.random(scores.shape) < 0.1
    scores[spoiled] = rng.choice([np.nan, np.inf, -np.inf], spoiled.sum())
    items = rng.integers(0, 40, scores.shape)
    for k in (1, 10, 21, 50):
        hr, ndcg = sampled_metrics.hit_rate_and_ndcg(scores, items, k)
        assert (hr, ndcg) == pytest.approx(oracle(scores, items, k))
    # A diverged model (every score nan) is a miss everywhere, even at K past the candidates.
    nan = np.full((5, 11), np.nan)
    assert sampled_metrics.hit_rate_and_ndcg(nan, np.arange(55).reshape(5, 11), 100) == (0.0, 0.0)
    assert (sampled_metrics.positive_rank(nan, np.arange(55).reshape(5, 11))
            == sampled_metrics.MISS).all()
