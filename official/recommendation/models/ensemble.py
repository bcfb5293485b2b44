"""Score fusion of trained models: one model whose logit is a weighted sum of theirs.

Each member's logits are standardized with a shift and scale measured on
validation (their mean and standard deviation over the validation
candidates), so members with different score scales (iALS's dot products,
EASE's item-item sums, MF's logits) weigh what their weight says:

  logit(u, i) = sum_m w_m (logit_m(u, i) - shift_m) / scale_m,  w_m >= 0, sum w_m = 1.

The weights are chosen on validation (`choose_weights`: every point of a
simplex grid, the single members among them), never on a test set. The
fused model is a `Recommender` like its members: the trainer's evaluator,
the export, `recommend` and `serve` use it unchanged; a new user is folded
into each member its own way and the fused logits are returned.
"""

import itertools

import keras
import numpy as np
from keras import ops

from official.recommendation.evaluation import sampled_metrics


def simplex_grid(members: int, step: float) -> np.ndarray:
    """Every weight vector float64 [G, members] with entries in multiples of `step` summing to 1."""
    if not 0 < step <= 1 or abs(round(1 / step) * step - 1) > 1e-9:
        raise ValueError(f"the fusion step must divide 1, got {step}")
    n = round(1 / step)
    points = [c for c in itertools.product(range(n + 1), repeat=members - 1) if sum(c) <= n]
    grid = np.array([[*c, n - sum(c)] for c in points], np.float64) / n
    return grid


def standardization(scores: np.ndarray) -> tuple[float, float]:
    """(shift, scale) of validation scores float [n, m]: their mean and standard deviation."""
    scale = float(np.std(scores))
    return float(np.mean(scores)), scale if scale > 0 else 1.0


def choose_weights(scores: np.ndarray, items: np.ndarray, top_k: int, metric: str,
                   step: float = 0.1) -> tuple[np.ndarray, list[dict]]:
    """The fusion weights with the best validation `metric` on a simplex grid.

    Args:
      scores: float [M, n, m] the members' standardized validation scores of
        users' candidates (column 0 the held-out positive).
      items: int [n, m] the candidates (ties with the positive are left out,
        as in `sampled_metrics`).
      top_k: K of HR@K / NDCG@K.
      metric: "HR" or "NDCG", what selects.
      step: the grid's step (0.1: 66 points for three members).

    Returns:
      (weights float64 [M], every grid point's {"weights", "HR", "NDCG"}),
      ties going to the earlier point (the grid starts at the last member alone).
    """
    grid = simplex_grid(len(scores), step)
    table, best, best_value = [], None, -np.inf
    for w in grid:
        hr, ndcg = sampled_metrics.hit_rate_and_ndcg(np.tensordot(w, scores, 1), items, top_k)
        table.append({"weights": [round(float(x), 6) for x in w], "HR": hr, "NDCG": ndcg})
        value = hr if metric == "HR" else ndcg
        if value > best_value:
            best, best_value = w, value
    return best, table


class Ensemble(keras.Model):
    """Weighted sum of standardized member logits (module docstring).

    Args:
      members: trained `Recommender`s on the same users and items.
      weights, shifts, scales: float [M] each.
      fold_in: each member's `fold_in.FoldInSettings` (its own objective).
    """

    model_type = "ensemble"

    def __init__(self, members: list, weights, shifts, scales, fold_in=None, **kwargs):
        super().__init__(**kwargs)
        if not (len(members) == len(weights) == len(shifts) == len(scales)) or not members:
            raise ValueError("an ensemble needs one weight, shift and scale per member")
        self.members = list(members)
        self.num_users, self.num_items = members[0].num_users, members[0].num_items
        if any((m.num_users, m.num_items) != (self.num_users, self.num_items) for m in members):
            raise ValueError("ensemble members must share their users and items")
        self.fusion = [(float(w), float(s), float(c))
                       for w, s, c in zip(weights, shifts, scales, strict=True)]
        self.fold_in = list(fold_in) if fold_in is not None else [None] * len(members)
        self.scores_by_user = any(m.scores_by_user for m in members)
        self.built = True

    def _fuse(self, logits):
        """sum_m w_m (logits[m] - shift_m) / scale_m over members with w_m > 0."""
        terms = [w * (x - s) / c for (w, s, c), x in zip(self.fusion, logits, strict=True)
                 if w > 0]
        return terms[0] if len(terms) == 1 else ops.sum(ops.stack(terms), axis=0)

    def call(self, inputs):
        """Logits float32 [B] for {"user_id": int32 [B], "item_id": int32 [B]}."""
        return self._fuse([m(inputs) if w > 0 else None
                           for m, (w, _, _) in zip(self.members, self.fusion, strict=True)])

    def all_item_logits(self, users):
        """Logits float32 [B, I] of int32 users [B] against every item."""
        return self._fuse([m.all_item_logits(users) if w > 0 else None
                           for m, (w, _, _) in zip(self.members, self.fusion, strict=True)])

    def fold_in_logits(self, histories, settings):
        """Logits float32 [B, I] of new users (ragged [B, (H)]): each member's own fold-in."""
        return self._fuse([
            m.fold_in_logits(histories, own or settings) if w > 0 else None
            for m, own, (w, _, _) in zip(self.members, self.fold_in, self.fusion, strict=True)])
