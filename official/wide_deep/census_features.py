"""Census features with Keras preprocessing layers (in place of TF feature columns).

`CensusFeatures` maps raw census features (strings and numbers, as in the
CSV) to model inputs. It runs on whole columns to build training buffers, and
inside the exported SavedModel so serving takes raw features:

* vocabularies (index 0 = out of vocabulary): education, marital_status,
  relationship, workclass, gender, race;
* occupation and native_country hashed into 1,000 buckets each;
* age buckets at 18, 25, 30, ..., 65 (11 buckets);
* capital_gain, capital_loss and hours_per_week buckets (`BUCKETS`: zero
  apart from the rest, then steps where the income rate changes);
* wide crosses hashed into 1,000 buckets: education x occupation and
  age_bucket x education x occupation;
* deep numeric: age, education_num, capital_gain, capital_loss,
  hours_per_week, standardized with training-set mean and std.

The 2018 recipe had the first four vocabularies, occupation, age buckets and
the crosses; gender, race, native_country and the capital / hours buckets
were added in issue 17, selected by validation log loss on a seeded 10% of
adult.data (README, Wide & Deep).

Outputs (batch B):
  "wide_ids": int32 [B, 14] ids in one id space (each feature offset into its
    own range, `WIDE_SIZES`), so a linear model is a 1-wide embedding plus a
    bias;
  "vocab_ids": int32 [B, 8] ids the deep part one-hot encodes (sizes
    `ONE_HOT_SIZES`): the six vocabularies, then the capital_gain and
    capital_loss buckets;
  "occupation": int32 [B] hashed occupation;
  "numeric": float32 [B, 5] standardized numeric features.
"""

import keras
import numpy as np
import pandas as pd
from keras import ops

from official.wide_deep import census_dataset as census

HASH_BUCKETS = 1000
AGE_BOUNDARIES = [18, 25, 30, 35, 40, 45, 50, 55, 60, 65]
VOCABULARIES = {
    "education": census.EDUCATION, "marital_status": census.MARITAL_STATUS,
    "relationship": census.RELATIONSHIP, "workclass": census.WORKCLASS,
    "gender": census.GENDER, "race": census.RACE,
}
BUCKETS = {
    "capital_gain": [1, 2000, 3000, 4000, 5000, 6000, 7000, 7500, 8000, 10000, 15000, 20000,
                     50000],
    "capital_loss": [1, 1500, 1800, 1900, 2000, 2200, 2500],
    "hours_per_week": [20, 30, 35, 40, 41, 45, 50, 60],
}
DEEP_BUCKETS = ["capital_gain", "capital_loss"]  # also one-hot in the deep part
DEEP_NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
VOCAB_SIZES = [len(v) + 1 for v in VOCABULARIES.values()]  # + OOV
BUCKET_SIZES = {name: len(bounds) + 1 for name, bounds in BUCKETS.items()}
ONE_HOT_SIZES = [*VOCAB_SIZES, *(BUCKET_SIZES[n] for n in DEEP_BUCKETS)]
WIDE_SIZES = [*VOCAB_SIZES, HASH_BUCKETS, len(AGE_BOUNDARIES) + 1, HASH_BUCKETS, HASH_BUCKETS,
              *BUCKET_SIZES.values(), HASH_BUCKETS]
WIDE_OFFSETS = np.concatenate([[0], np.cumsum(WIDE_SIZES)[:-1]]).astype(np.int32)
WIDE_VOCAB = int(sum(WIDE_SIZES))
RAW_FEATURES = [c for c in census.CSV_COLUMNS if c != census.LABEL_COLUMN]


@keras.saving.register_keras_serializable(package="official")
class CensusFeatures(keras.layers.Layer):
    """Raw census features -> model inputs (see the module docstring)."""

    def __init__(self, numeric_mean=None, numeric_std=None, **kwargs):
        super().__init__(**kwargs)
        mean = np.zeros(len(DEEP_NUMERIC)) if numeric_mean is None else numeric_mean
        std = np.ones(len(DEEP_NUMERIC)) if numeric_std is None else numeric_std
        self.numeric_mean = [float(x) for x in mean]
        self.numeric_std = [float(x) if x > 0 else 1.0 for x in std]
        self.lookups = {name: keras.layers.StringLookup(vocabulary=vocab, num_oov_indices=1,
                                                        name=f"{name}_lookup")
                        for name, vocab in VOCABULARIES.items()}
        self.occupation_hash = keras.layers.Hashing(HASH_BUCKETS, name="occupation_hash")
        self.country_hash = keras.layers.Hashing(HASH_BUCKETS, name="country_hash")
        self.buckets = {name: keras.layers.Discretization(bin_boundaries=bounds,
                                                          name=f"{name}_buckets")
                        for name, bounds in BUCKETS.items()}
        self.age_buckets = keras.layers.Discretization(bin_boundaries=AGE_BOUNDARIES,
                                                       name="age_buckets")
        self.cross_edu_occ = keras.layers.HashedCrossing(HASH_BUCKETS, name="edu_x_occ")
        self.cross_age_edu_occ = keras.layers.HashedCrossing(HASH_BUCKETS,
                                                             name="age_x_edu_x_occ")

    def call(self, raw):
        """Maps a dict of raw [B] tensors to the model inputs."""
        vocab = [ops.cast(self.lookups[n](raw[n]), "int32") for n in VOCABULARIES]
        occupation = ops.cast(self.occupation_hash(raw["occupation"]), "int32")
        age_bucket = ops.cast(self.age_buckets(ops.cast(raw["age"], "float32")), "int32")
        cross1 = ops.cast(self.cross_edu_occ((raw["education"], raw["occupation"])), "int32")
        cross2 = ops.cast(self.cross_age_edu_occ(
            (age_bucket, raw["education"], raw["occupation"])), "int32")
        buckets = {n: ops.cast(layer(ops.cast(raw[n], "float32")), "int32")
                   for n, layer in self.buckets.items()}
        country = ops.cast(self.country_hash(raw["native_country"]), "int32")
        wide = ops.stack([*vocab, occupation, age_bucket, cross1, cross2, *buckets.values(),
                          country], axis=1)
        numeric = ops.stack([ops.cast(raw[n], "float32") for n in DEEP_NUMERIC], axis=1)
        numeric = (numeric - ops.array(self.numeric_mean, "float32")) / ops.array(
            self.numeric_std, "float32")
        return {"wide_ids": wide + ops.array(WIDE_OFFSETS, "int32"),
                "vocab_ids": ops.stack([*vocab, *(buckets[n] for n in DEEP_BUCKETS)], axis=1),
                "occupation": occupation,
                "numeric": numeric}

    def get_config(self):
        """Constructor arguments, for Keras serialization."""
        return {**super().get_config(), "numeric_mean": self.numeric_mean,
                "numeric_std": self.numeric_std}


def fit_features(train: pd.DataFrame) -> CensusFeatures:
    """A `CensusFeatures` standardizing numeric columns with `train`'s statistics."""
    values = train[DEEP_NUMERIC].to_numpy(np.float64)
    return CensusFeatures(values.mean(axis=0), values.std(axis=0))


def raw_tensors(df: pd.DataFrame) -> dict:
    """Columns of a census frame as arrays the layer accepts (str objects, int64)."""
    return {c: (df[c].to_numpy(np.int64) if c in census.NUMERIC_COLUMNS
                else df[c].astype(str).to_numpy(object)) for c in RAW_FEATURES}


def labels(df: pd.DataFrame) -> np.ndarray:
    """float32 [N]: 1 for `>50K`."""
    return (df[census.LABEL_COLUMN].to_numpy() == census.POSITIVE_LABEL).astype(np.float32)
