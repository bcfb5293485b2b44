"""Rating models of the MovieLens regressor (Keras 3); each predicts rating / 5.

* `RatingModel` (`--model_type deep`, the seeds' 2018 `DNNRegressor`): a
  user embedding (16-d) and an item embedding (64-d), both clipped to norm
  sqrt(dim) as the seeds' `max_norm` did, the genre multi-hot and the
  standardized timestamp, through sigmoid layers of 256, 256, 256, 128
  units with dropout 0.3.
* `FactorizationModel` (`--model_type mf`): biased matrix factorization,
    rating = mean + b_user + b_item + <p_user, q_item>,
  with `dim`-d factors and an L2 penalty (weight decay) on every embedding
  row, `penalty()`, added to the loss by the task.
* the same with implicit feedback (`--model_type svdpp`, Koren's SVD++,
  KDD 2008): the user vector becomes
    p_user + |N(user)|^-1/2 * sum of y_j over the items j in N(user),
  N(user) being the items the user rated in the training split (which
  items, not the ratings), with its own penalty weight on the y table.

Both take {"user": int32 [B], "item": int32 [B], "genres": float32 [B, 19],
"timestamp": float32 [B]} (the factorization ignores genres and timestamp)
and return float32 [B].
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from official.datasets import movielens

HIDDEN_UNITS = (256, 256, 256, 128)
USER_DIM, ITEM_DIM = 16, 64
MODEL_TYPES = ("deep", "mf", "svdpp")


def _clip_norm(x, max_norm: float):
    norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
    return x * ops.minimum(1.0, max_norm / ops.maximum(norm, 1e-12))


@keras.saving.register_keras_serializable(package="official")
class RatingModel(keras.Model):
    """rating / 5 [B] from {"user", "item", "genres" [B, 19], "timestamp"}."""

    def __init__(self, num_users: int, num_items: int, dropout: float = 0.3, **kwargs):
        super().__init__(**kwargs)
        self.num_users, self.num_items, self.dropout_rate = num_users, num_items, dropout
        self.user_embedding = keras.layers.Embedding(num_users, USER_DIM, name="user_emb")
        self.item_embedding = keras.layers.Embedding(num_items, ITEM_DIM, name="item_emb")
        layers = []
        for units in HIDDEN_UNITS:
            layers += [keras.layers.Dense(units, activation="sigmoid"),
                       keras.layers.Dropout(dropout)]
        self.tower = keras.Sequential([*layers, keras.layers.Dense(1)], name="tower")
        self.user_embedding.build((None,))
        self.item_embedding.build((None,))
        self.tower.build((None, USER_DIM + ITEM_DIM + movielens.N_GENRE + 1))
        self.built = True

    def call(self, inputs, training=False):
        """Predicted rating / 5, float32 [B]."""
        u = _clip_norm(self.user_embedding(inputs["user"]), np.sqrt(USER_DIM))
        i = _clip_norm(self.item_embedding(inputs["item"]), np.sqrt(ITEM_DIM))
        x = ops.concatenate([u, i, ops.cast(inputs["genres"], "float32"),
                             ops.expand_dims(ops.cast(inputs["timestamp"], "float32"), 1)], 1)
        return self.tower(x, training=training)[:, 0]

    def penalty(self):
        """No weight penalty (the seeds' recipe regularizes with dropout)."""
        return 0.0

    def get_config(self):
        """Constructor arguments, for Keras serialization."""
        return {**super().get_config(), "num_users": self.num_users,
                "num_items": self.num_items, "dropout": self.dropout_rate}


@keras.saving.register_keras_serializable(package="official")
class FactorizationModel(keras.Model):
    """Biased matrix factorization: (mean + b_u + b_i + <p_u, q_i>) / 5, float32 [B].

    Args:
      num_users, num_items: rows of the user and item tables.
      mean_rating: the training ratings' mean (1-5 scale), the global bias.
      dim: factor dimensions.
      l2: weight of the penalty sum(||table||^2) over the four tables, in
        rating^2 units per training step (a step's loss is the mean squared
        error of its batch).
      num_rated: > 0 adds the implicit-feedback term (SVD++) over that many
        (user, item) training pairs, given by `set_rated`.
      l2_implicit: penalty weight of the implicit factors y.
    """

    def __init__(self, num_users: int, num_items: int, mean_rating: float = 3.5,
                 dim: int = 32, l2: float = 1e-4, num_rated: int = 0,
                 l2_implicit: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.num_users, self.num_items = num_users, num_items
        self.mean_rating, self.dim, self.l2 = float(mean_rating), dim, float(l2)
        self.num_rated, self.l2_implicit = num_rated, float(l2_implicit)
        factors = keras.initializers.RandomNormal(stddev=0.01)
        self.user_factors = keras.layers.Embedding(num_users, dim, embeddings_initializer=factors,
                                                   name="user_factors")
        self.item_factors = keras.layers.Embedding(num_items, dim, embeddings_initializer=factors,
                                                   name="item_factors")
        self.user_bias = keras.layers.Embedding(num_users, 1, embeddings_initializer="zeros",
                                                name="user_bias")
        self.item_bias = keras.layers.Embedding(num_items, 1, embeddings_initializer="zeros",
                                                name="item_bias")
        if num_rated:
            self.implicit_factors = keras.layers.Embedding(
                num_items, dim, embeddings_initializer=factors, name="implicit_factors")
            self.implicit_factors.build((None,))
            # N(user) as a ragged [num_users, None] table: items sorted by user, row splits.
            self.rated_items = self.add_weight(shape=(num_rated,), dtype="int32",
                                               initializer="zeros", trainable=False,
                                               name="rated_items")
            self.rated_splits = self.add_weight(shape=(num_users + 1,), dtype="int64",
                                                initializer="zeros", trainable=False,
                                                name="rated_splits")
        for table in self.tables():
            table.build((None,))
        self.built = True

    def set_rated(self, users: np.ndarray, items: np.ndarray) -> None:
        """Sets N(user) from the training pairs: users, items int [num_rated] indices."""
        order = np.lexsort((items, users))
        counts = np.bincount(users, minlength=self.num_users)
        self.rated_items.assign(np.asarray(items)[order].astype(np.int32))
        self.rated_splits.assign(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))

    def user_vectors(self, user):
        """float32 [B, dim]: p_user, plus the implicit term under SVD++."""
        vectors = self.user_factors(user)
        if not self.num_rated:
            return vectors
        # Once per distinct user of the batch (a user's N holds hundreds of items, and
        # large batches repeat users): the rows of N(user) in rated_items, flattened,
        # which user each is for, then one fused gather + segment sum scaled by
        # |N|^-1/2 (zeros for an empty N).
        distinct, which = tf.unique(user)
        splits = self.rated_splits.value
        positions = tf.ragged.range(tf.gather(splits, distinct),
                                    tf.gather(splits, distinct + 1))
        implicit = tf.sparse.segment_sqrt_n(
            self.implicit_factors.embeddings, tf.gather(self.rated_items.value,
                                                        positions.flat_values),
            tf.cast(positions.value_rowids(), tf.int32), num_segments=tf.size(distinct))
        return vectors + tf.gather(implicit, which)

    def tables(self) -> list:
        """The four embedding layers (factors, then biases)."""
        return [self.user_factors, self.item_factors, self.user_bias, self.item_bias]

    def call(self, inputs, training=False):
        """Predicted rating / 5, float32 [B]."""
        user, item = inputs["user"], inputs["item"]
        dot = ops.sum(self.user_vectors(user) * self.item_factors(item), axis=1)
        rating = (self.mean_rating + self.user_bias(user)[:, 0] + self.item_bias(item)[:, 0]
                  + dot)
        return rating / movielens.schema.MAX_RATING

    def penalty(self):
        """float32 scalar: l2 * squared entries of the tables (+ l2_implicit * of y), / 25.

        The division puts it on the rating / 5 scale of the task's loss.
        """
        total = self.l2 * sum(ops.sum(ops.square(t.embeddings)) for t in self.tables())
        if self.num_rated:
            total += self.l2_implicit * ops.sum(ops.square(self.implicit_factors.embeddings))
        return total / movielens.schema.MAX_RATING ** 2

    def get_config(self):
        """Constructor arguments, for Keras serialization."""
        return {**super().get_config(), "num_users": self.num_users,
                "num_items": self.num_items, "mean_rating": self.mean_rating, "dim": self.dim,
                "l2": self.l2, "num_rated": self.num_rated, "l2_implicit": self.l2_implicit}
