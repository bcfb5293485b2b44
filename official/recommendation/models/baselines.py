"""Baselines for NCF's harness: most-popular ranking and dot-product MF with biases.

Both follow the interface of `neumf.NeuMF` that the trainer, the
evaluation and the export use: `call({"user_id", "item_id"}) -> logits [B]`,
`grouped_logits(users [n], items [n, m]) -> (logits [n, m], user rows,
item rows)`, `grouped_logits_from_rows`, `grouped_regularization`,
`all_item_logits(users [n]) -> [n, num_items]`, and `user_table` /
`item_table` (one fused table per side).

* `MF`: logit = p_u · q_i + b_u + b_i + b, trained with the same sampled
  negatives and sigmoid cross-entropy as NeuMF (Rendle et al., RecSys 2020,
  "Neural Collaborative Filtering vs. Matrix Factorization Revisited").
  Fused rows: user = [p_u | b_u], item = [q_i | b_i].
* `Popularity`: logit = log(1 + training positives of the item), the same
  for every user; nothing to train.
"""

import keras
import numpy as np
from keras import ops

from official.recommendation.config.configs import checked_sizes
from official.recommendation.serving import fold_in


def build_mf(num_users: int, num_items: int, config, train_users=None, train_items=None
             ) -> "MF":
    """The registry's builder of `MF` (`config.num_factors`, `config.mf_regularization`)."""
    del train_users, train_items  # trained, not fitted here
    stddev = 0.01 if config.init_stddev is None else config.init_stddev
    return MF(num_users, num_items, config.num_factors, config.mf_regularization, stddev,
              config.mf_regularize_biases)


def build_popularity(num_users: int, num_items: int, config, train_users=None,
                     train_items=None) -> "Popularity":
    """The registry's builder of `Popularity`, fitted on `train_items` when given."""
    del config, train_users
    model = Popularity(num_users, num_items)
    if train_items is not None:
        model.fit_counts(train_items)
    return model


class FactorModel(keras.Model):
    """Base of the factor scorers: checked sizes and two tables of factor rows.

    Args:
      num_users, num_items, num_factors: sizes (positive).
      width: row width of `user_table` [num_users, width] and `item_table`
        [num_items, width].
      initializer: Keras initializer of both tables.
      trainable: whether optimizers train them (False: a solver writes them).
      kind: the tables' weight names are `user_<kind>` and `item_<kind>`.
    """

    def __init__(self, num_users: int, num_items: int, num_factors: int, width: int,
                 initializer, trainable: bool, kind: str, **kwargs):
        super().__init__(**kwargs)
        self.num_users, self.num_items, self.num_factors = checked_sizes(
            num_users, num_items, num_factors)
        self.user_table = self.add_weight(shape=(self.num_users, width),
                                          initializer=initializer, trainable=trainable,
                                          name=f"user_{kind}")
        self.item_table = self.add_weight(shape=(self.num_items, width),
                                          initializer=initializer, trainable=trainable,
                                          name=f"item_{kind}")


@keras.saving.register_keras_serializable(package="official")
class MF(FactorModel):
    """Dot-product matrix factorization with user, item and global biases."""

    model_type = "mf"
    scores_by_user = False

    def fold_in_logits(self, histories, settings):
        """Logits float32 [B, I] of new users (int32 ragged [B, (H)]): `fold_in.factor_logits`."""
        return fold_in.factor_logits(self, histories, settings)

    def __init__(self, num_users: int, num_items: int, num_factors: int = 8,
                 regularization: float = 0.0, init_stddev: float = 0.01,
                 regularize_biases: bool = False, **kwargs):
        normal = keras.initializers.RandomNormal(0.0, init_stddev)

        def factors_then_zero_bias(shape, dtype=None):  # [rows, F + 1]: biases start at 0
            return ops.pad(normal((shape[0], shape[1] - 1), dtype), [[0, 0], [0, 1]])

        super().__init__(num_users, num_items, num_factors, num_factors + 1,
                         factors_then_zero_bias, True, "embedding", **kwargs)
        self.regularization = float(regularization)
        self.init_stddev = float(init_stddev)
        self.regularize_biases = bool(regularize_biases)
        self.bias = self.add_weight(shape=(), initializer="zeros", name="bias")
        self.built = True

    def _logits(self, u, i):
        f = self.num_factors
        return ops.sum(u[..., :f] * i[..., :f], axis=-1) + u[..., f] + i[..., f] + self.bias

    def grouped_logits(self, users, items):
        """(logits [n, m], user rows [n, F+1], item rows [n, m, F+1])."""
        u = ops.take(self.user_table, users, axis=0)
        it = ops.take(self.item_table, items, axis=0)
        return self.grouped_logits_from_rows(u, it), u, it

    def grouped_logits_from_rows(self, u, it):
        """Logits [n, m] from gathered rows u [n, F+1], it [n, m, F+1]."""
        return self._logits(u[:, None, :], it)

    def grouped_regularization(self, u, it):
        """L2 per pair of the flattened pairs (each user row counts m times).

        On the factors; with `regularize_biases` on the user, item and global
        biases too, each counted once per pair (Rendle et al. 2020's
        per-example SGD regularizes every parameter an example touches).
        """
        if not self.regularization:
            return 0.0
        f = self.num_factors + (1 if self.regularize_biases else 0)
        m = ops.cast(ops.shape(it)[1], u.dtype)
        total = m * ops.sum(ops.square(u[:, :f])) + ops.sum(ops.square(it[:, :, :f]))
        if self.regularize_biases:
            pairs = m * ops.cast(ops.shape(u)[0], u.dtype)
            total += pairs * ops.square(self.bias)
        return self.regularization * total

    def all_item_logits(self, users):
        """Logits float32 [n, num_items] of each user against every item."""
        return self.all_item_logits_from_rows(ops.take(self.user_table, users, axis=0))

    def all_item_logits_from_rows(self, u):
        """`all_item_logits` of user rows u float32 [n, F+1] (e.g. folded-in users)."""
        items = ops.convert_to_tensor(self.item_table)
        f = self.num_factors
        return (ops.matmul(u[:, :f], ops.transpose(items[:, :f])) + u[:, f:] + items[:, f]
                + self.bias)

    def call(self, inputs):
        """Logits float32 [B] for inputs {"user_id": int [B], "item_id": int [B]}."""
        u = ops.take(self.user_table, inputs["user_id"], axis=0)
        i = ops.take(self.item_table, inputs["item_id"], axis=0)
        return self._logits(u, i)

    def get_config(self):
        """Constructor arguments, for Keras serialization."""
        return {**super().get_config(), "num_users": self.num_users,
                "num_items": self.num_items, "num_factors": self.num_factors,
                "regularization": self.regularization, "init_stddev": self.init_stddev,
                "regularize_biases": self.regularize_biases}


@keras.saving.register_keras_serializable(package="official")
class Popularity(keras.Model):
    """Most-popular ranking: every user gets the items with the most training positives."""

    model_type = "popularity"
    scores_by_user = False

    def fold_in_logits(self, histories, settings):
        """Logits float32 [B, I] of new users (ragged [B, (H)]): the same as everyone's."""
        del settings
        return ops.broadcast_to(self.item_scores[None], (histories.nrows(), self.num_items))

    def __init__(self, num_users: int, num_items: int, **kwargs):
        super().__init__(**kwargs)
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.item_scores = self.add_weight(shape=(num_items,), initializer="zeros",
                                           trainable=False, name="item_scores")
        self.built = True

    def fit_counts(self, train_items: np.ndarray) -> None:
        """Sets the scores from the training positives' item indices (int [P])."""
        counts = np.bincount(train_items, minlength=self.num_items)
        self.item_scores.assign(np.log1p(counts).astype(np.float32))

    def all_item_logits(self, users):
        """Scores float32 [n, num_items] (the same row for every user)."""
        return ops.broadcast_to(self.item_scores[None, :], (ops.shape(users)[0], self.num_items))

    def call(self, inputs):
        """Scores float32 [B] for inputs {"user_id": int [B], "item_id": int [B]}."""
        return ops.take(self.item_scores, inputs["item_id"], axis=0)

    def get_config(self):
        """Constructor arguments, for Keras serialization."""
        return {**super().get_config(), "num_users": self.num_users,
                "num_items": self.num_items}
