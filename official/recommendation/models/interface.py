"""The one interface of a recommender in the harness (no TensorFlow).

Every model (NeuMF, GMF, MLP, MF, popularity, iALS, EASE, or one you add)
is a `keras.Model` that implements `Recommender`; how it learns is said by
its registry entry (`registry.ModelSpec.learns`):

* "sgd": Adam steps on sampled negatives (`training.sgd_trainer`); the model
  also implements `SGDRecommender`;
* "solver": sweeps or closed-form fits by a `Solver` the registry builds
  (`training.solver_trainer`);
* "counts": fitted when it is built; nothing to train (popularity).

Shapes below: B users or pairs, I = `num_items`, H history items, n rows of
m grouped items (a positive and its sampled negatives).
"""

from collections.abc import Callable
from typing import Any, Protocol

LEARNS = ("sgd", "solver", "counts")


class Recommender(Protocol):
    """What training, evaluation, export and fold-in ask of every model.

    Attributes:
      model_type: its registry name ("neumf", "ials", ...).
      num_users, num_items: the sizes of its id spaces (0-based int32 indices).
      scores_by_user: True when scoring a user's items goes through
        `all_item_logits` (EASE: a user's history row times a matrix); False
        when pairs are scored directly.
    """

    model_type: str
    num_users: int
    num_items: int
    scores_by_user: bool

    def __call__(self, inputs: dict) -> Any:
        """Logits float32 [B] of {"user_id": int32 [B], "item_id": int32 [B]}."""

    def all_item_logits(self, users: Any) -> Any:
        """Logits float32 [B, I] of int32 users [B] against every item."""

    def fold_in_logits(self, histories: Any, settings: Any) -> Any:
        """Logits float32 [B, I] of B new users who rated `histories`.

        `histories` is a `tf.RaggedTensor` of int32 item indices [B, (H)], no
        repeats within a row (rows may be empty). In-graph (the export serves
        it); `settings` is a `serving.fold_in.FoldInSettings`. The item side
        stays frozen, and each user's row equals what it gets alone.
        """


class SGDRecommender(Recommender, Protocol):
    """A model trained by SGD on sampled negatives (sigmoid cross-entropy).

    Attributes:
      user_table, item_table: the fused per-user and per-item rows [U, W]
        and [I, W] (lazy Adam updates only the rows a step touches).
    """

    user_table: Any
    item_table: Any

    def grouped_logits(self, users: Any, items: Any) -> tuple[Any, Any, Any]:
        """(logits float32 [n, m], user rows [n, W], item rows [n, m, W]).

        Args:
          users: int32 [n]; items: int32 [n, m].
        """

    def grouped_logits_from_rows(self, u: Any, it: Any) -> Any:
        """Logits float32 [n, m] of gathered rows u [n, W] and it [n, m, W]."""

    def grouped_regularization(self, u: Any, it: Any) -> Any:
        """The L2 term of those rows (float32 scalar; per row, so replicas' shares add up)."""


class Solver(Protocol):
    """Fits a "solver" model in place, one epoch a call (an iALS sweep; EASE's one fit).

    A solver may choose among candidate settings inside a fit (EASE: its
    lambdas) by `judge`, the validation score of the model as it stands
    (higher is better); `selected_settings` then names what it chose, so a
    refit on train + validation fits that choice alone.
    """

    def fit_epoch(self, epoch: int, judge: Callable[[], float] | None = None) -> float:
        """Fits epoch `epoch` (0-based); returns the objective per training positive."""

    def selected_settings(self) -> dict[str, Any]:
        """`TrainConfig` fields that reproduce the fitted choice ({} when nothing is chosen)."""
