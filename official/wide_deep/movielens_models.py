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

Both take {"user": int32 [B], "item": int32 [B], "genres": float32 [B, 19],
"timestamp": float32 [B]} (the factorization ignores genres and timestamp)
and return float32 [B].
"""

import keras
import numpy as np
from keras import ops

from official.datasets import movielens

HIDDEN_UNITS = (256, 256, 256, 128)
USER_DIM, ITEM_DIM = 16, 64
MODEL_TYPES = ("deep", "mf")


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
    """

    def __init__(self, num_users: int, num_items: int, mean_rating: float = 3.5,
                 dim: int = 32, l2: float = 1e-4, **kwargs):
        super().__init__(**kwargs)
        self.num_users, self.num_items = num_users, num_items
        self.mean_rating, self.dim, self.l2 = float(mean_rating), dim, float(l2)
        factors = keras.initializers.RandomNormal(stddev=0.01)
        self.user_factors = keras.layers.Embedding(num_users, dim, embeddings_initializer=factors,
                                                   name="user_factors")
        self.item_factors = keras.layers.Embedding(num_items, dim, embeddings_initializer=factors,
                                                   name="item_factors")
        self.user_bias = keras.layers.Embedding(num_users, 1, embeddings_initializer="zeros",
                                                name="user_bias")
        self.item_bias = keras.layers.Embedding(num_items, 1, embeddings_initializer="zeros",
                                                name="item_bias")
        for table in self.tables():
            table.build((None,))
        self.built = True

    def tables(self) -> list:
        """The four embedding layers (factors, then biases)."""
        return [self.user_factors, self.item_factors, self.user_bias, self.item_bias]

    def call(self, inputs, training=False):
        """Predicted rating / 5, float32 [B]."""
        user, item = inputs["user"], inputs["item"]
        dot = ops.sum(self.user_factors(user) * self.item_factors(item), axis=1)
        rating = (self.mean_rating + self.user_bias(user)[:, 0] + self.item_bias(item)[:, 0]
                  + dot)
        return rating / movielens.schema.MAX_RATING

    def penalty(self):
        """float32 scalar: l2 * sum of squared entries of every table, on the rating / 5 scale."""
        total = sum(ops.sum(ops.square(t.embeddings)) for t in self.tables())
        return self.l2 * total / movielens.schema.MAX_RATING ** 2

    def get_config(self):
        """Constructor arguments, for Keras serialization."""
        return {**super().get_config(), "num_users": self.num_users,
                "num_items": self.num_items, "mean_rating": self.mean_rating, "dim": self.dim,
                "l2": self.l2}
