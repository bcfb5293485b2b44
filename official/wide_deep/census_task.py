"""The census Task: data, wide / deep / wide & deep model, optimizers and export.

Optimizers: `ftrl_adagrad` (default) trains the wide part with FTRL
(learning rate 0.2) and the deep part with AdaGrad (0.05), as the paper and
the 2018 canned `DNNLinearCombinedClassifier` did; `adam` uses one Adam
(0.001) for both. Reports accuracy, AUC, eval_loss and the majority-class
accuracy (`accuracy_baseline`).

The export holds the feature layer and the model: `serving_default(inputs:
string [N])` takes serialized `tf.train.Example` census records (as the
seeds' parsing receiver did) and `predict_raw(age, workclass, ...)` takes raw
feature tensors; both return `{"probabilities", "logits", "classes"}`.
"""

import dataclasses
import os

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from official.utils.data import file_io
from official.utils.errors import UserError
from official.utils.misc import saved_model_export
from official.utils.misc.distribution_utils import SINGLE, Cluster
from official.wide_deep import census_dataset as census
from official.wide_deep import census_features as cf
from official.wide_deep.batch_training import BatchTask
from official.wide_deep.census_model import CensusModel


@dataclasses.dataclass(frozen=True)
class CensusConfig:
    """Data and model settings of a census run.

    Attributes:
      data_dir: holds (or receives) the cleaned adult.data / adult.test.
      data_url: base URL or directory of the raw files.
      download_if_missing: download and clean the files if missing.
      model_type: "wide", "deep" or "wide_deep" ("gbt" is `census_gbt.CensusGBTTask`).
      optimizer: one of OPTIMIZERS.
      batch_size: global examples per step.
      seed: initialization, shuffling and the validation split.
      validation_fraction: share of adult.data held out (seeded) for selection;
        0: none (adult.test is evaluated every cycle).
      evaluate_test: read and evaluate adult.test after selection; False tunes
        on the validation split alone (adult.test is then not needed).
      dataset: "adult" (downloaded) or "synthetic" (generated offline, in
        `data_dir/synthetic`).
    """

    data_dir: str
    data_url: str = census.DEFAULT_DATA_URL
    download_if_missing: bool = True
    model_type: str = "wide_deep"
    optimizer: str = "ftrl_adagrad"
    batch_size: int = 40
    seed: int = 0
    validation_fraction: float = 0.1
    evaluate_test: bool = True
    dataset: str = "adult"


BUFFER_COLUMNS = ["wide_ids", "vocab_ids", "occupation", "numeric", "label"]
OPTIMIZERS = ("ftrl_adagrad", "adam")


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (ties get average ranks)."""
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    positives = labels > 0.5
    n_pos, n_neg = positives.sum(), (~positives).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def validation_split(df: pd.DataFrame, fraction: float, seed: int
                     ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(training rows, validation rows or None): a seeded `fraction` of `df` held out."""
    if fraction <= 0:
        return df, None
    order = np.random.default_rng(seed).permutation(len(df))
    cut = int(round(fraction * len(df)))
    return df.iloc[np.sort(order[cut:])], df.iloc[np.sort(order[:cut])]


def load_frames(config: CensusConfig
                ) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """(training, validation or None, test or None) rows, downloading the files if needed.

    The test file is read only when `config` evaluates it (or has no
    validation split to evaluate instead).

    Raises:
      UserError: the files are missing (and may not be downloaded) or malformed.
    """
    with_test = config.evaluate_test or not config.validation_fraction
    train_path, eval_path = census.ensure_dataset(
        config.data_dir, config.dataset, config.data_url, config.download_if_missing, with_test)
    train_df = census.load(train_path)
    train_df, valid_df = validation_split(train_df, config.validation_fraction, config.seed)
    eval_df = (census.load(eval_path) if with_test
               else None)
    return train_df, valid_df, eval_df


def classification_metrics(logit: np.ndarray, label: np.ndarray) -> dict:
    """accuracy, auc, eval_loss (log loss) and accuracy_baseline (majority class).

    Args:
      logit: float [N] logits of income > 50K; label: float [N] 0 / 1.
    """
    logit = np.asarray(logit, np.float64)
    prob = 1 / (1 + np.exp(-logit))
    bce = np.maximum(logit, 0) - logit * label + np.log1p(np.exp(-np.abs(logit)))
    correct = ((prob > 0.5) == (label > 0.5)) & np.isfinite(logit)  # nan: never right
    return {"accuracy": float(correct.mean()),
            "auc": auc(label, prob), "eval_loss": float(bce.mean()),
            "accuracy_baseline": float(max(label.mean(), 1 - label.mean()))}


def feature_frame(features: cf.CensusFeatures, df: pd.DataFrame) -> pd.DataFrame:
    """Model inputs of every row (vectorized through the Keras layers) plus the label."""
    out = {k: np.asarray(v) for k, v in features(cf.raw_tensors(df)).items()}
    return pd.DataFrame({"wide_ids": list(out["wide_ids"]), "vocab_ids": list(out["vocab_ids"]),
                         "occupation": out["occupation"], "numeric": list(out["numeric"]),
                         "label": cf.labels(df)})


class CensusTask(BatchTask):
    """Census data, model, optimizers and export (a `run_loop.Task`)."""

    name = "census"
    dataset_name = "census"

    def __init__(self, config: CensusConfig, strategy=None, cluster: Cluster = SINGLE):
        """Downloads the data if needed, writes the buffers, builds the model in scope.

        Raises:
          UserError: bad optimizer or batch size, missing or malformed data.
        """
        if config.optimizer not in OPTIMIZERS:
            raise UserError(f"--optimizer must be one of {OPTIMIZERS}, got "
                            f"{config.optimizer!r}")
        train_df, valid_df, eval_df = load_frames(config)
        super().__init__(config.batch_size, len(train_df), config.seed, strategy, cluster)
        self.config = config
        self.model_kind = f"census_main --model_type {config.model_type}"
        self.divergence_hint = ("the optimizer diverged on this data: try the other "
                                "--optimizer or a larger --batch_size")
        keras.utils.set_random_seed(config.seed)
        self.features = cf.fit_features(train_df)  # fitted on the training part only
        buffers = os.path.join(census.dataset_dir(config.data_dir, config.dataset), "buffers")
        self.train_buffer, self.validation_buffer, self.eval_buffer = (
            None if df is None else file_io.write_to_buffer(
                feature_frame(self.features, df), os.path.join(buffers, name), BUFFER_COLUMNS)
            for name, df in (("train", train_df), ("validation", valid_df), ("eval", eval_df)))
        with self.strategy.scope():
            self.model = CensusModel(config.model_type)
            if config.optimizer == "adam":
                self.wide_opt = self.deep_opt = keras.optimizers.Adam(0.001)
                self.wide_opt.build(self.model.trainable_variables)
            else:
                self.wide_opt = keras.optimizers.Ftrl(0.2)
                self.deep_opt = keras.optimizers.Adagrad(0.05)
                self.wide_opt.build(self.model.wide_variables())
                self.deep_opt.build(self.model.deep_variables())
        self.shared_optimizer = config.optimizer == "adam"

    def run_facts(self) -> dict:
        """benchmark_run.log's parameters."""
        return {k: getattr(self.config, k) for k in ("model_type", "batch_size", "seed",
                                                     "optimizer", "validation_fraction")}

    def checkpointables(self) -> dict:
        """Model and optimizer state for the checkpoint."""
        items = {"model": self.model, "wide_optimizer": self.wide_opt}
        if not self.shared_optimizer:
            items["deep_optimizer"] = self.deep_opt
        return items

    def train_step(self, batch, normalizer):
        """One joint step on the logistic loss summed over `batch` / `normalizer`.

        Args:
          batch: this replica's rows.
          normalizer: float32 scalar, examples in the global step (all replicas).

        Returns:
          (loss sum, examples) of this replica.
        """
        wide_vars, deep_vars = self.model.wide_variables(), self.model.deep_variables()
        with tf.GradientTape() as tape:
            logits = self.model(batch)
            losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=batch["label"],
                                                             logits=logits)
            loss = tf.reduce_sum(losses) / normalizer
        grads = tape.gradient(loss, wide_vars + deep_vars)
        if self.shared_optimizer:
            self.wide_opt.apply_gradients(zip(grads, wide_vars + deep_vars, strict=True))
        else:
            if wide_vars:
                self.wide_opt.apply_gradients(zip(grads[:len(wide_vars)], wide_vars,
                                                  strict=True))
            if deep_vars:
                self.deep_opt.apply_gradients(zip(grads[len(wide_vars):], deep_vars,
                                                  strict=True))
        n = tf.cast(tf.shape(logits)[0], tf.float32)
        return tf.reduce_sum(losses), n

    def metrics(self, logit: np.ndarray, label: np.ndarray) -> dict:
        """`classification_metrics` of logits [N] and labels [N]."""
        return classification_metrics(logit, label)

    def export(self, export_dir: str) -> None:
        """SavedModel with `serving_default` (tf.Example) and `predict_raw` endpoints."""
        features, model = self.features, self.model
        archive = keras.export.ExportArchive()
        archive.track(features)
        archive.track(model)

        def outputs(raw):
            logits = model(features(raw))
            prob = tf.sigmoid(logits)
            return {"probabilities": prob, "logits": logits,
                    "classes": tf.cast(prob > 0.5, tf.int64)}

        spec = {c: tf.io.FixedLenFeature([], tf.int64 if c in census.NUMERIC_COLUMNS
                                          else tf.string) for c in cf.RAW_FEATURES}
        archive.add_endpoint(
            "serving_default", lambda inputs: outputs(tf.io.parse_example(inputs, spec)),
            input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        raw_sig = {c: tf.TensorSpec([None], tf.int64 if c in census.NUMERIC_COLUMNS
                                    else tf.string, name=c) for c in cf.RAW_FEATURES}
        archive.add_endpoint("predict_raw", outputs, input_signature=[raw_sig])
        saved_model_export.write_archive(archive, export_dir)
