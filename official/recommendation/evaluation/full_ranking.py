"""Full-ranking evaluation: each test user's held-out item ranked against every item.

Sampled HR/NDCG (1 positive among 100 random items, the paper's protocol)
can order models differently from ranking against the whole catalogue
(Krichene & Rendle, KDD 2020). Here every item is scored for every test
user; the user's training items are excluded; the held-out item's rank is
the number of remaining items scored at least as high (ties count against
it, as in the sampled protocol; a non-finite score counts as above it, and a
non-finite score of the held-out item is a miss). Then, with one held-out
item per user (leave-one-out):

  HR@K = mean(rank < K), NDCG@K = mean(1 / log2(rank + 2) if rank < K).

(Recall@K, held-out items in the top K / held-out items, is HR@K itself
under leave-one-out, so it is not reported.)

Beyond accuracy (RecBole's and microsoft/recommenders' habit), from each
user's top K after the exclusions: catalogue coverage@K, the share of items
recommended to at least one user, and the mean popularity percentile of the
recommended items (an item's percentile: the share of items with fewer
training positives, ties counted half; 100 = the most popular). Both come
from one count vector per call (`recommended`), which adds up over chunks
and workers.

Work is batched over users (`users_per_chunk`), so memory stays bounded at
any catalogue size; everything inside a chunk is whole-array numpy.
"""

import dataclasses
from collections.abc import Callable

import numpy as np

from official.recommendation.evaluation import sampled_metrics

# Scored pairs per chunk: bounds the [users, items] score matrix and the
# model's per-pair activations (NeuMF: 2M pairs x 32 floats = 256 MB).
PAIRS_PER_CHUNK = 2_000_000


def seen_pairs(offsets: np.ndarray, train_items: np.ndarray, users: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """(row int64 [S], item [S]) of every training positive of `users` [c]; row indexes users."""
    starts, ends = offsets[users], offsets[users + 1]
    lengths = ends - starts
    rows = np.repeat(np.arange(len(users)), lengths)
    # Position j of the concatenated ranges: starts[row] + (j - first j of row).
    firsts = np.cumsum(lengths) - lengths
    index = np.arange(lengths.sum()) - np.repeat(firsts, lengths) + np.repeat(starts, lengths)
    return rows, train_items[index]


def positive_ranks(scores: np.ndarray, positives: np.ndarray, seen_rows: np.ndarray,
                   seen_items: np.ndarray, recommended: np.ndarray | None = None,
                   top_k: int = 10) -> np.ndarray:
    """Rank of each user's held-out item among the items it has not seen in training.

    Args:
      scores: float [c, I] scores of every item for c users (modified: seen
        items are set to -inf).
      positives: int [c] held-out item of each user.
      seen_rows, seen_items: training positives to exclude (see `seen_pairs`).
      recommended: optional float64 [I] counts, incremented by how often each
        item is in a user's top `top_k` (after the exclusions).
      top_k: K of `recommended`.

    Returns:
      int64 [c]: items other than the held-out one scored >= it or not
      finite; `sampled_metrics.MISS` (a miss at any K) where the held-out item's
      score is not finite.
    """
    rows = np.arange(len(positives))
    finite_target = np.isfinite(scores[rows, positives])
    # A non-finite score ranks above the held-out item (and in the top K).
    np.copyto(scores, np.inf, where=~np.isfinite(scores))
    scores[seen_rows, seen_items] = -np.inf
    if recommended is not None:
        k = min(top_k, scores.shape[1])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        recommended += np.bincount(top.ravel(), minlength=scores.shape[1])
    target = scores[rows, positives].copy()
    scores[rows, positives] = -np.inf  # not counted against itself
    return np.where(finite_target, (scores >= target[:, None]).sum(axis=1), sampled_metrics.MISS)


@dataclasses.dataclass
class RankSums:
    """Sums over users of HR@K (hits), NDCG@K and Recall@K, and the number of users.

    (Recall is summed only with several held-out items per user: `multi_positive`.)
    """

    hits: float = 0.0
    ndcg: float = 0.0
    users: float = 0.0
    recall: float = 0.0

    def __add__(self, other: "RankSums") -> "RankSums":
        return RankSums(self.hits + other.hits, self.ndcg + other.ndcg,
                        self.users + other.users, self.recall + other.recall)


def metric_sums(ranks: np.ndarray, k: int) -> RankSums:
    """HR@k and NDCG@k sums of int ranks [n] (0 = first)."""
    hit = ranks < k
    ndcg = np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0)
    return RankSums(float(hit.sum()), float(ndcg.sum()), float(len(ranks)))


def popularity_percentiles(train_items: np.ndarray, num_items: int) -> np.ndarray:
    """float64 [num_items]: 100 * (items with fewer positives + half the ties) / items."""
    counts = np.bincount(train_items, minlength=num_items)
    ordered = np.sort(counts)
    below = np.searchsorted(ordered, counts, side="left")
    equal = np.searchsorted(ordered, counts, side="right") - below
    return 100.0 * (below + 0.5 * (equal - 1)) / max(num_items - 1, 1)


def beyond_accuracy(recommended: np.ndarray, percentiles: np.ndarray) -> dict[str, float]:
    """Coverage@K and mean popularity percentile from top-K counts [I] (see module doc)."""
    total = recommended.sum()
    return {"Coverage_full": float((recommended > 0).mean()),
            "PopularityPercentile_full": float((recommended * percentiles).sum()
                                               / max(total, 1.0))}


def evaluate(score_all: Callable[[np.ndarray], np.ndarray], users: np.ndarray,
             positives: np.ndarray, offsets: np.ndarray, train_items: np.ndarray,
             num_items: int, k: int, users_per_chunk: int | None = None,
             recommended: np.ndarray | None = None) -> RankSums:
    """Full-ranking metric sums over `users` (see `metric_sums`).

    Args:
      score_all: users int32 [c] -> float32 [c, num_items] scores.
      users: int [n] test users; positives: int [n] their held-out items.
      offsets, train_items: CSR of training positives (`array_ops.csr_offsets`).
      num_items: catalogue size.
      k: cut-off.
      users_per_chunk: users scored per call (default: PAIRS_PER_CHUNK / num_items).
      recommended: optional float64 [num_items] top-k counts to add to.
    """
    chunk = users_per_chunk or max(1, PAIRS_PER_CHUNK // num_items)
    sums = RankSums()
    for lo in range(0, len(users), chunk):
        u = users[lo:lo + chunk]
        scores = np.array(score_all(u.astype(np.int32)), np.float32)
        rows, items = seen_pairs(offsets, train_items, u)
        sums = sums + metric_sums(positive_ranks(scores, positives[lo:lo + chunk], rows, items,
                                           recommended, k), k)
    return sums
