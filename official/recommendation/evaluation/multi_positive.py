"""Full ranking with several held-out items per user (the temporal split).

As Liang et al. (2018, "Variational Autoencoders for Collaborative
Filtering") define them, with P_u the user's held-out items and r_1, r_2,
... its ranking of every item it did not train on (training positives
excluded; ties broken toward the lower item index; a non-finite score ranks
first):

  HR@K     = 1 if any of r_1..r_K is in P_u
  Recall@K = |{r_1..r_K} & P_u| / min(K, |P_u|)
  NDCG@K   = sum_{j <= K, r_j in P_u} 1 / log2(j + 1)
             / sum_{j <= min(K, |P_u|)} 1 / log2(j + 1)

each averaged over users. With one held-out item HR, Recall and NDCG are
the leave-one-out metrics of `full_ranking`.
"""

from collections.abc import Callable

import numpy as np

from official.recommendation.evaluation.full_ranking import PAIRS_PER_CHUNK, RankSums, seen_pairs


def top_k_lists(scores: np.ndarray, k: int) -> np.ndarray:
    """int64 [c, k'] item indices of each row's k' = min(k, I) best scores, best first.

    Ties go to the lower index (scores float [c, I], NaN-free).
    """
    k = min(k, scores.shape[1])
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1:k]  # each row's k-th best score
    above = scores > kth
    # Of the items tied at the k-th score, the lowest indices fill the list.
    tied = scores == kth
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= k - above.sum(axis=1, keepdims=True)))
    top = np.nonzero(chosen)[1].reshape(len(scores), k)
    order = np.lexsort((top, -np.take_along_axis(scores, top, axis=1)), axis=1)
    return np.take_along_axis(top, order, axis=1)


def sums(top: np.ndarray, held_rows: np.ndarray, held_items: np.ndarray,
         counts: np.ndarray, k: int, num_items: int) -> RankSums:
    """HR, NDCG and Recall sums of top-k lists [c, k'] and held-out pairs (row, item) [H]."""
    c = len(top)
    is_held = np.zeros((c, num_items), bool)
    is_held[held_rows, held_items] = True
    hit = np.take_along_axis(is_held, top, axis=1)  # [c, k']
    gains = 1.0 / np.log2(np.arange(top.shape[1]) + 2.0)
    ideal = np.cumsum(gains)[np.minimum(counts, top.shape[1]) - 1]
    return RankSums(float(hit.any(axis=1).sum()), float((hit @ gains / ideal).sum()),
                    float(c), float((hit.sum(axis=1) / np.minimum(counts, k)).sum()))


def evaluate(score_all: Callable[[np.ndarray], np.ndarray], users: np.ndarray,
             offsets: np.ndarray, positives: np.ndarray, seen_offsets: np.ndarray,
             seen_items: np.ndarray, num_items: int, k: int,
             recommended: np.ndarray | None = None) -> RankSums:
    """Metric sums over `users` [n] with held-out CSR (`offsets` [n + 1], `positives`).

    Args:
      score_all: users int32 [c] -> float32 [c, num_items] scores.
      users: int [n] evaluated users.
      offsets, positives: each user's held-out items (rows of `users`).
      seen_offsets, seen_items: CSR of training positives, by user id.
      num_items, k: catalogue size and cut-off.
      recommended: optional float64 [num_items] top-k counts to add to.
    """
    chunk = max(1, PAIRS_PER_CHUNK // num_items)
    total = RankSums()
    for lo in range(0, len(users), chunk):
        u = users[lo:lo + chunk]
        scores = np.array(score_all(u.astype(np.int32)), np.float32)
        np.copyto(scores, np.inf, where=~np.isfinite(scores))  # non-finite ranks first
        rows, items = seen_pairs(seen_offsets, seen_items, u)
        scores[rows, items] = -np.inf
        top = top_k_lists(scores, k)
        if recommended is not None:
            recommended += np.bincount(top.ravel(), minlength=num_items)
        held_rows, held_items = seen_pairs(offsets, positives, np.arange(lo, lo + len(u)))
        counts = np.diff(offsets[lo:lo + len(u) + 1])
        total = total + sums(top, held_rows, held_items, counts, k, num_items)
    return total
