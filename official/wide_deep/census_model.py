"""Wide, deep and wide & deep census classifiers (Cheng et al., 2016) in Keras 3.

Inputs are the outputs of `census_features.CensusFeatures`.

* wide: a linear model over the wide ids (vocabularies, hashed occupation
  and country, age / capital / hours buckets and the two hashed crosses):
  one 1-wide embedding summed over the 14 ids, plus a bias;
* deep: one-hot vocabularies and capital buckets, an 8-d occupation
  embedding and the standardized numerics through ReLU layers of 100, 75,
  50, 25 units;
* wide_deep: the sum of both logits, trained jointly with one logistic loss.
"""

import keras
from keras import ops

from official.wide_deep import census_features as cf

MODEL_TYPES = ("wide", "deep", "wide_deep")
HIDDEN_UNITS = (100, 75, 50, 25)


@keras.saving.register_keras_serializable(package="official")
class CensusModel(keras.Model):
    """Logit [B] of income > 50K from census feature tensors."""

    def __init__(self, model_type: str = "wide_deep", **kwargs):
        super().__init__(**kwargs)
        if model_type not in MODEL_TYPES:
            raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
        self.model_type = model_type
        self.wide = self.deep = None
        if model_type in ("wide", "wide_deep"):
            self.wide = keras.layers.Embedding(cf.WIDE_VOCAB, 1, embeddings_initializer="zeros",
                                               name="wide_weights")
            self.wide_bias = self.add_weight(shape=(), initializer="zeros", name="wide_bias")
        if model_type in ("deep", "wide_deep"):
            self.occupation_embedding = keras.layers.Embedding(cf.HASH_BUCKETS, 8,
                                                               name="occupation_embedding")
            self.deep = keras.Sequential(
                [keras.layers.Dense(u, activation="relu") for u in HIDDEN_UNITS]
                + [keras.layers.Dense(1)], name="deep_tower")
            self.deep.build((None, sum(cf.ONE_HOT_SIZES) + 8 + len(cf.DEEP_NUMERIC)))
        self.build()

    def build(self, input_shape=None):
        """All shapes follow from the feature layout."""
        if self.wide is not None:
            self.wide.build((None, len(cf.WIDE_SIZES)))
        if self.deep is not None:
            self.occupation_embedding.build((None,))
        self.built = True

    def wide_variables(self) -> list:
        """Variables of the linear part (trained with FTRL by default)."""
        return [self.wide.embeddings, self.wide_bias] if self.wide is not None else []

    def deep_variables(self) -> list:
        """Variables of the DNN part (trained with AdaGrad by default)."""
        if self.deep is None:
            return []
        return [self.occupation_embedding.embeddings, *self.deep.trainable_variables]

    def call(self, features):
        """Logits float32 [B]."""
        logit = 0.0
        if self.wide is not None:
            logit = ops.sum(self.wide(features["wide_ids"])[..., 0], axis=1) + self.wide_bias
        if self.deep is not None:
            one_hots = [ops.one_hot(features["vocab_ids"][:, j], size)
                        for j, size in enumerate(cf.ONE_HOT_SIZES)]
            x = ops.concatenate([*one_hots, self.occupation_embedding(features["occupation"]),
                                 features["numeric"]], axis=1)
            logit = logit + self.deep(x)[:, 0]
        return logit

    def get_config(self):
        """Constructor arguments, for Keras serialization."""
        return {**super().get_config(), "model_type": self.model_type}
