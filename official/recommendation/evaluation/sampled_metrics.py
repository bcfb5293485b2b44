"""HR@K, NDCG@K and evaluation loss on a score matrix, vectorized.

Protocol (He et al. 2017): each user has one held-out positive and N sampled
negatives. The positive's rank is the number of negatives scored **at least**
as high (ties count against the positive); a negative that is the positive
item itself is ignored. HR@K = mean(rank < K); NDCG@K = mean(1/log2(rank + 2)
if rank < K else 0).

Metrics never reward a diverged model: a non-finite score of the positive
(nan, +-inf) is a miss at any K (rank `MISS`), and a non-finite negative
counts as scored above the positive.
"""

import numpy as np

MISS = np.iinfo(np.int64).max  # the rank of a positive whose score is not finite


def positive_rank(scores: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Rank of column 0 among the row's valid negatives.

    Args:
      scores: float [U, 1 + N]; column 0 scores the positive.
      items: int [U, 1 + N]; the items scored (to ignore negatives equal to
        the positive).

    Returns:
      int64 [U]: negatives with score >= the positive's or not finite; `MISS`
      where the positive's score is not finite.
    """
    valid = items[:, 1:] != items[:, :1]
    negatives, positive = scores[:, 1:], scores[:, :1]
    above = (negatives >= positive) | ~np.isfinite(negatives)
    rank = (above & valid).sum(axis=1)
    return np.where(np.isfinite(positive[:, 0]), rank, MISS)


def hit_rate_and_ndcg(scores: np.ndarray, items: np.ndarray, k: int) -> tuple[float, float]:
    """(HR@k, NDCG@k) averaged over users; see the module docstring."""
    if k <= 0:
        raise ValueError(f"top_k must be positive, got {k}")
    rank = positive_rank(scores, items)
    hit = rank < k
    ndcg = np.where(hit, 1.0 / np.log2(rank + 2.0), 0.0)
    return float(hit.mean()), float(ndcg.mean())


def evaluation_loss(logits: np.ndarray, items: np.ndarray) -> float:
    """Mean sigmoid cross-entropy over the scored pairs (label 1 for column 0).

    Negatives equal to the positive item are left out, as in the ranking.
    """
    labels = np.zeros_like(logits, dtype=np.float64)
    labels[:, 0] = 1.0
    weights = np.ones_like(labels)
    weights[:, 1:] = items[:, 1:] != items[:, :1]
    x = logits.astype(np.float64)
    # Stable BCE with logits: max(x, 0) - x * y + log(1 + exp(-|x|)).
    losses = np.maximum(x, 0) - x * labels + np.log1p(np.exp(-np.abs(x)))
    return float((losses * weights).sum() / weights.sum())
