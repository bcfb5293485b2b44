"""The MovieLens rating-regressor Task (the 2018 `DNNRegressor` recipe in Keras 3).

Predicts rating / 5 from a user embedding (16-d) and an item embedding (64-d),
both clipped to norm sqrt(dim) as the seeds' `max_norm` did, the genre
multi-hot and the standardized timestamp, through sigmoid layers of 256, 256,
256, 128 units with dropout 0.3, trained with Adam on the squared error.
Reports RMSE and MAE on the 1-5 scale, with `rmse_baseline` (predicting the
training mean) beside them.

The export has `serving_default(user_id: int64 [N], item_id: int64 [N],
genres: float32 [N, 19], timestamp: int64 [N]) -> {"rating"}` on raw
MovieLens ids and Unix seconds; an unknown id fails with "unknown user_id" /
"unknown item_id".
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from official.datasets import movielens
from official.utils.misc import saved_model_export
from official.utils.misc.distribution_utils import SINGLE, Cluster
from official.wide_deep import movielens_dataset
from official.wide_deep.batch_training import BatchTask


@dataclasses.dataclass(frozen=True)
class RegressorConfig:
    """Settings of a rating-regressor run.

    Attributes:
      source: the MovieLens dataset and where it is (downloaded if allowed).
      batch_size: global examples per step.
      learning_rate: Adam's.
      seed: split, initialization and shuffling.
      validation_fraction: share of the training 80% held out for selection;
        0: none (the test 20% is evaluated every cycle).
      evaluate_test: evaluate the test 20% after selection.
    """

    source: movielens.MovieLensSource
    batch_size: int = 256
    learning_rate: float = 0.001
    seed: int = 0
    validation_fraction: float = 0.1
    evaluate_test: bool = True


HIDDEN_UNITS = (256, 256, 256, 128)
USER_DIM, ITEM_DIM = 16, 64


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

    def get_config(self):
        """Constructor arguments, for Keras serialization."""
        return {**super().get_config(), "num_users": self.num_users,
                "num_items": self.num_items, "dropout": self.dropout_rate}


class MovieLensTask(BatchTask):
    """MovieLens data, model and export (a `run_loop.Task`)."""

    name = "movielens"

    def __init__(self, config: RegressorConfig, strategy=None, cluster: Cluster = SINGLE):
        """Downloads the data if needed, writes the buffers, builds the model in scope."""
        source = config.source
        movielens.ensure_source(source)
        self.dataset_name, self.config = source.dataset, config
        self.data = movielens_dataset.build(source.data_dir, source.dataset, config.seed,
                                            config.validation_fraction)
        self.validation_buffer = self.data.validation_buffer
        self.eval_buffer = (self.data.eval_buffer if config.evaluate_test
                            or not self.validation_buffer else None)
        self.train_buffer = self.data.train_buffer
        super().__init__(config.batch_size, self.data.num_train, config.seed, strategy,
                         cluster)
        keras.utils.set_random_seed(config.seed)
        with self.strategy.scope():
            self.model = RatingModel(len(self.data.user_ids), len(self.data.item_ids))
            self.optimizer = keras.optimizers.Adam(config.learning_rate)
            self.optimizer.build(self.model.trainable_variables)

    def run_facts(self) -> dict:
        """benchmark_run.log's parameters."""
        return {"model_type": "deep", "batch_size": self.config.batch_size,
                "learning_rate": self.config.learning_rate, "seed": self.config.seed,
                "validation_fraction": self.config.validation_fraction}

    def checkpointables(self) -> dict:
        """Model, optimizer and dropout RNG state for the checkpoint.

        Keras' dropout seed states are model variables that tf.train.Checkpoint
        does not track by itself; without them a resumed run would draw other
        dropout masks than an uninterrupted one.
        """
        seeds = [v.value for v in self.model.variables if "seed_generator_state" in v.path]
        return {"model": self.model, "optimizer": self.optimizer, "dropout_seeds": seeds}

    def train_step(self, batch, normalizer):
        """One Adam step on the squared error of rating / 5, summed / `normalizer`.

        Args:
          batch: this replica's rows.
          normalizer: float32 scalar, examples in the global step (all replicas).

        Returns:
          (squared error sum, examples) of this replica.
        """
        with tf.GradientTape() as tape:
            pred = self.model(batch, training=True)
            errors = tf.square(pred - batch["label"])
            loss = tf.reduce_sum(errors) / normalizer
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables, strict=True))
        return tf.reduce_sum(errors), tf.cast(tf.shape(pred)[0], tf.float32)

    def metrics(self, pred: np.ndarray, label: np.ndarray) -> dict:
        """RMSE, MAE (1-5 scale), eval_loss and the predict-the-mean baseline RMSE.

        Args:
          pred: predicted rating / 5, float32 [N]; label: true rating / 5, [N].
        """
        scale = movielens.schema.MAX_RATING
        err = (pred - label) * scale
        base = (self.data.train_label_mean - label) * scale
        return {"rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err))),
                "eval_loss": float(np.mean((pred - label) ** 2)),
                "rmse_baseline": float(np.sqrt(np.mean(base ** 2)))}

    def export(self, export_dir: str) -> None:
        """SavedModel serving ratings on raw ids (see the module docstring)."""
        model, data = self.model, self.data
        tables = [saved_model_export.index_table(ids) for ids in (data.user_ids, data.item_ids)]
        archive = keras.export.ExportArchive()
        archive.track(model)
        for table in tables:
            archive.track(table)

        def serve(user_id, item_id, genres, timestamp):
            users, items = tables[0].lookup(user_id), tables[1].lookup(item_id)
            checks = [tf.debugging.assert_non_negative(users, message="unknown user_id"),
                      tf.debugging.assert_non_negative(items, message="unknown item_id")]
            with tf.control_dependencies(checks):
                t = (tf.cast(timestamp, tf.float32) - data.timestamp_mean) / data.timestamp_std
                pred = model({"user": users, "item": items, "genres": genres, "timestamp": t})
            return {"rating": pred * movielens.schema.MAX_RATING}

        archive.add_endpoint("serving_default", serve, input_signature=[
            tf.TensorSpec([None], tf.int64, name="user_id"),
            tf.TensorSpec([None], tf.int64, name="item_id"),
            tf.TensorSpec([None, movielens.N_GENRE], tf.float32, name="genres"),
            tf.TensorSpec([None], tf.int64, name="timestamp")])
        saved_model_export.write_archive(archive, export_dir)
