"""NCF evaluation: sampled and full-ranking metrics of a scorer, summed over workers.

With several workers each scores a contiguous part of the users; their
per-user sums (`EvalSums`) are all-reduced as one array, so every worker
returns the metrics of all users.
"""

import dataclasses
from collections.abc import Callable

import numpy as np

from official.recommendation.config.configs import EVAL_PROTOCOLS
from official.recommendation.data.implicit_data import NCFData
from official.recommendation.data.validation_split import EvalSet
from official.recommendation.evaluation import full_ranking, multi_positive, sampled_metrics
from official.utils.misc import array_ops, replica_ops
from official.utils.misc.distribution_utils import SINGLE, Cluster


@dataclasses.dataclass
class EvalSums:
    """One worker's sums over its users (see `Evaluator.evaluate`).

    Attributes:
      sampled: HR@K and NDCG@K sums and users, sampled protocol.
      loss: evaluation loss sum, sampled protocol.
      full: the same, full-ranking protocol.
      recommended: float64 [num_items] top-K counts (full protocol), or None.
    """

    sampled: full_ranking.RankSums = dataclasses.field(
        default_factory=full_ranking.RankSums)
    loss: float = 0.0
    full: full_ranking.RankSums = dataclasses.field(
        default_factory=full_ranking.RankSums)
    recommended: np.ndarray | None = None

    def to_array(self) -> np.ndarray:
        """float64 [8 + items]: the sums in a fixed order, for the all-reduce."""
        s, f = self.sampled, self.full
        head = [s.hits, s.ndcg, s.users, self.loss, f.hits, f.ndcg, f.users, f.recall]
        tail = self.recommended if self.recommended is not None else np.zeros(0)
        return np.concatenate([np.asarray(head, np.float64), tail])

    @classmethod
    def from_array(cls, values: np.ndarray, full_protocol: bool) -> "EvalSums":
        """Inverse of `to_array`."""
        rank = full_ranking.RankSums
        return cls(rank(*values[0:3]), float(values[3]), rank(*values[4:8]),
                   values[8:] if full_protocol else None)


class Evaluator:
    """Evaluates scorers on one dataset's evaluation sets.

    Args:
      data: the training data (its positives are excluded from full ranking
        and give the items' popularity; its evaluation set is the default).
      strategy, cluster: for the all-reduce over workers.
    """

    def __init__(self, data: NCFData, strategy=None, cluster: Cluster = SINGLE):
        self.data, self.strategy, self.cluster = data, strategy, cluster
        self._seen_offsets = None  # CSR of training positives, built on first full evaluation
        self._percentiles = None  # items' training-popularity percentiles, likewise

    def evaluate(self, scorer, top_k: int = 10, protocol: str = "sampled",
                 eval_set: EvalSet | None = None) -> dict[str, float]:
        """Metrics of the held-out positives.

        Args:
          scorer: has `score(users, items)` (aligned int32 arrays -> logits),
            `score_rows(users [n], items [n, m])`, `score_all(users [n]) ->
            [n, num_items]` and `scores_by_user` (True: score rows via
            `score_rows`).
          top_k: K of the metrics.
          protocol: "sampled": HR, NDCG and eval_loss against the sampled
            evaluation negatives (the paper); "full": HR_full and NDCG_full
            against every item the user has not trained on, and
            Coverage_full / PopularityPercentile_full of the top K (see
            `full_ranking`); "both".
          eval_set: what to evaluate; default the data's evaluation set (the
            validation set when one is held out).
        """
        if protocol not in EVAL_PROTOCOLS:
            raise ValueError(f"protocol must be one of {EVAL_PROTOCOLS}, got {protocol!r}")
        if eval_set is None:
            eval_set = EvalSet(self.data.eval_users, self.data.eval_items,
                               offsets=self.data.eval_offsets,
                               positives=self.data.eval_positives)
        num = len(eval_set.users)
        w, workers = self.cluster.worker_index, self.cluster.num_workers
        lo, hi = num * w // workers, num * (w + 1) // workers
        sampled, full = protocol in ("sampled", "both"), protocol in ("full", "both")
        sums = EvalSums(recommended=np.zeros(self.data.num_items) if full else None)
        if hi > lo and sampled:
            sums.sampled, sums.loss = self._sampled(scorer, eval_set, lo, hi, top_k)
        if hi > lo and full:
            sums.full = self._full(scorer.score_all, eval_set, lo, hi, top_k, sums.recommended)
        sums = EvalSums.from_array(
            replica_ops.all_reduce_sum(self.strategy, self.cluster, sums.to_array()), full)
        out = {}
        if sampled:
            users = max(sums.sampled.users, 1.0)
            out.update(HR=sums.sampled.hits / users, NDCG=sums.sampled.ndcg / users,
                       eval_loss=sums.loss / users)
        if full:
            users = max(sums.full.users, 1.0)
            out.update(HR_full=sums.full.hits / users, NDCG_full=sums.full.ndcg / users)
            if eval_set.offsets is not None:  # several held-out items: Recall differs from HR
                out["Recall_full"] = sums.full.recall / users
            if self._percentiles is None:
                self._percentiles = full_ranking.popularity_percentiles(
                    self.data.train_items, self.data.num_items)
            out.update(full_ranking.beyond_accuracy(sums.recommended, self._percentiles))
        return {k: float(v) for k, v in out.items()}

    @staticmethod
    def _sampled(scorer, eval_set: EvalSet, lo: int, hi: int, top_k: int
                 ) -> tuple[full_ranking.RankSums, float]:
        items = eval_set.items[lo:hi]
        if getattr(scorer, "scores_by_user", False):
            logits = scorer.score_rows(eval_set.users[lo:hi], items)
        else:
            logits = scorer.score(np.broadcast_to(eval_set.users[lo:hi, None], items.shape),
                                  items)
        hr, ndcg = sampled_metrics.hit_rate_and_ndcg(logits, items, top_k)
        n = hi - lo
        return (full_ranking.RankSums(hr * n, ndcg * n, n),
                sampled_metrics.evaluation_loss(logits, items) * n)

    def _full(self, score_all: Callable[[np.ndarray], np.ndarray], eval_set: EvalSet,
              lo: int, hi: int, top_k: int, recommended: np.ndarray
              ) -> full_ranking.RankSums:
        if eval_set.seen_users is not None:
            offsets = array_ops.csr_offsets(eval_set.seen_users, self.data.num_users)
            seen_items = eval_set.seen_items
        else:
            if self._seen_offsets is None:
                self._seen_offsets = array_ops.csr_offsets(self.data.train_users,
                                                                  self.data.num_users)
            offsets, seen_items = self._seen_offsets, self.data.train_items
        if eval_set.offsets is not None:
            held = eval_set.offsets[lo:hi + 1]  # this worker's users' held-out items
            return multi_positive.evaluate(
                score_all, eval_set.users[lo:hi], held - held[0],
                eval_set.positives[held[0]:held[-1]], offsets, seen_items,
                self.data.num_items, top_k, recommended)
        return full_ranking.evaluate(
            score_all, eval_set.users[lo:hi], eval_set.items[lo:hi, 0], offsets, seen_items,
            self.data.num_items, top_k, recommended=recommended)
