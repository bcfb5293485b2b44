"""The MovieLens rating-regressor Task: data, model (`movielens_models`), training, export.

Trains the model's rating / 5 with Adam on the squared error (plus the
model's weight penalty). Reports RMSE and MAE on the 1-5 scale, with
`rmse_baseline` (predicting the training mean) beside them.

The export has `serving_default(user_id: int64 [N], item_id: int64 [N],
genres: float32 [N, 19], timestamp: int64 [N]) -> {"rating"}` on raw
MovieLens ids and Unix seconds; an unknown id fails with "unknown user_id" /
"unknown item_id".
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from official.datasets import movielens
from official.utils.errors import UserError
from official.utils.misc import saved_model_export
from official.utils.misc.distribution_utils import SINGLE, Cluster
from official.wide_deep import movielens_dataset
from official.wide_deep.batch_training import BatchTask
from official.wide_deep.movielens_models import MODEL_TYPES, FactorizationModel, RatingModel


@dataclasses.dataclass(frozen=True)
class RegressorConfig:
    """Settings of a rating-regressor run.

    Attributes:
      source: the MovieLens dataset and where it is (downloaded if allowed).
      batch_size: global examples per step; None: `auto_batch_size` of the
        training rows.
      learning_rate: Adam's; None: `auto_learning_rate` of the batch size.
      seed: split, initialization and shuffling.
      model_type: one of `movielens_models.MODEL_TYPES`.
      dim: factor dimensions of the `mf` and `svdpp` models.
      l2: their weight decay of the factor and bias tables (`FactorizationModel`).
      l2_implicit: `svdpp`'s weight decay of the implicit factors.
      validation_fraction: share of the training 80% held out for selection;
        0: none (the test 20% is evaluated every cycle).
      evaluate_test: evaluate the test 20% after selection.
    """

    source: movielens.MovieLensSource
    batch_size: int | None = 256
    learning_rate: float | None = 0.001
    seed: int = 0
    validation_fraction: float = 0.1
    evaluate_test: bool = True
    model_type: str = "svdpp"
    dim: int = 32
    l2: float = 1e-4
    l2_implicit: float = 1e-3


SMALL_DATA_ROWS = 100_000  # up to this many training rows, batches of 256
LARGE_DATA_STEPS = 64  # above, the smallest power-of-two batch with at most this many steps


def auto_batch_size(num_train: int) -> int:
    """The default batch: 256 for up to 100,000 training rows, else <= 64 steps an epoch.

    72,000 training rows (ml-100k) -> 256; 720,000 (ml-1m) -> 16384. Small
    data needs many small steps to converge within --train_epochs; on large
    data svdpp's implicit term (the rated items of every distinct user of a
    batch) costs nearly the same per step whatever the batch, so an epoch of
    few large steps is fastest (ml-1m-sized, 2 cores: 75 s an epoch at 256,
    15 s at 4096, 6 s at 16384, reaching the same validation RMSE within
    0.001).
    """
    if num_train <= SMALL_DATA_ROWS:
        return 256
    size = 256
    while -(-num_train // size) > LARGE_DATA_STEPS:
        size *= 2
    return size


def auto_learning_rate(batch_size: int) -> float:
    """Adam's default rate for a batch: 0.001 * (batch / 256)^0.6 (0.0121 at 16384)."""
    return 0.001 * (batch_size / 256) ** 0.6


class MovieLensTask(BatchTask):
    """MovieLens data, model and export (a `run_loop.Task`)."""

    name = "movielens"

    def __init__(self, config: RegressorConfig, strategy=None, cluster: Cluster = SINGLE):
        """Downloads the data if needed, writes the buffers, builds the model in scope."""
        if config.model_type not in MODEL_TYPES:
            raise UserError(f"--model_type must be one of {MODEL_TYPES}, got "
                            f"{config.model_type!r}")
        source = config.source
        movielens.ensure_source(source)
        self.dataset_name = source.dataset
        self.model_kind = f"movielens_main --model_type {config.model_type}"
        self.data = movielens_dataset.build(source.data_dir, source.dataset, config.seed,
                                            config.validation_fraction)
        if config.batch_size is None or config.learning_rate is None:
            batch = (auto_batch_size(self.data.num_train) if config.batch_size is None
                     else config.batch_size)
            rate = (auto_learning_rate(batch) if config.learning_rate is None
                    else config.learning_rate)
            config = dataclasses.replace(config, batch_size=batch, learning_rate=rate)
            logging.info("Batch size %d, learning rate %g (chosen for %d training rows; "
                         "--batch_size / --learning_rate override)", batch, rate,
                         self.data.num_train)
        self.config = config
        self.divergence_hint = f"--learning_rate {config.learning_rate:g} may be too high"
        self.validation_buffer = self.data.validation_buffer
        self.eval_buffer = (self.data.eval_buffer if config.evaluate_test
                            or not self.validation_buffer else None)
        self.train_buffer = self.data.train_buffer
        super().__init__(config.batch_size, self.data.num_train, config.seed, strategy,
                         cluster)
        keras.utils.set_random_seed(config.seed)
        with self.strategy.scope():
            num_users, num_items = len(self.data.user_ids), len(self.data.item_ids)
            if config.model_type in ("mf", "svdpp"):
                implicit = config.model_type == "svdpp"
                self.model = FactorizationModel(
                    num_users, num_items, self.data.train_label_mean * movielens.schema.MAX_RATING,
                    config.dim, config.l2, self.data.num_train if implicit else 0,
                    config.l2_implicit)
                if implicit:
                    self.model.set_rated(self.data.train_users, self.data.train_items)
            else:
                self.model = RatingModel(num_users, num_items)
            self.optimizer = keras.optimizers.Adam(config.learning_rate)
            self.optimizer.build(self.model.trainable_variables)

    def run_facts(self) -> dict:
        """benchmark_run.log's parameters."""
        facts = {k: getattr(self.config, k) for k in ("model_type", "batch_size",
                                                      "learning_rate", "seed",
                                                      "validation_fraction")}
        if self.config.model_type != "deep":
            facts.update(dim=self.config.dim, l2=self.config.l2)
        if self.config.model_type == "svdpp":
            facts.update(l2_implicit=self.config.l2_implicit)
        return facts

    def checkpointables(self) -> dict:
        """Model, optimizer and dropout RNG state for the checkpoint.

        Keras' dropout seed states are model variables that tf.train.Checkpoint
        does not track by itself; without them a resumed run would draw other
        dropout masks than an uninterrupted one.
        """
        seeds = [v.value for v in self.model.variables if "seed_generator_state" in v.path]
        return {"model": self.model, "optimizer": self.optimizer, "dropout_seeds": seeds}

    def train_step(self, batch, normalizer):
        """One Adam step on the squared error of rating / 5, summed / `normalizer`, plus penalty.

        The model's weight penalty is split over the replicas (their
        gradients are summed), so a step adds it once.

        Args:
          batch: this replica's rows.
          normalizer: float32 scalar, examples in the global step (all replicas).

        Returns:
          (squared error sum, examples) of this replica.
        """
        with tf.GradientTape() as tape:
            pred = self.model(batch, training=True)
            errors = tf.square(pred - batch["label"])
            loss = (tf.reduce_sum(errors) / normalizer
                    + self.model.penalty() / self.strategy.num_replicas_in_sync)
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
