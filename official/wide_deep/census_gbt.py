"""Gradient-boosted trees on the raw census features (`--model_type gbt`), in the same harness.

A baseline for the Wide & Deep models: YDF's gradient-boosted trees (the
maintained successor of TensorFlow Decision Forests) trained on the same raw
columns (`census_features.RAW_FEATURES`: numbers as numbers, strings as
categories), with the same validation / test split, metrics and reports as
`census_task.CensusTask`. One "epoch" trains the whole forest; YDF stops
adding trees when the validation split's loss stops improving (its own early
stopping, on our validation rows), so the run has exactly one epoch.

The forest lives in the checkpoint as its serialized bytes (a tf.string
variable), so resume, `best-<epoch>/` and restore work as for the Keras
models. The export answers the same requests as the Keras census export:
`serving_default(inputs: string [N])` on serialized `tf.train.Example`s and
`predict_raw(age, workclass, ...)` on raw feature tensors, both returning
`{"probabilities", "logits", "classes"}`; it needs the `ydf-tf` package
(YDF's TensorFlow inference op) wherever it is loaded.
"""

from collections.abc import Callable

import numpy as np
import pandas as pd
import tensorflow as tf

from official.utils.errors import UserError
from official.utils.misc import saved_model_export
from official.utils.misc.distribution_utils import SINGLE, Cluster
from official.wide_deep import census_dataset as census
from official.wide_deep import census_features as cf
from official.wide_deep.census_task import CensusConfig, classification_metrics, load_frames

LABEL = "label"
MAX_LOGIT = 30.0  # probabilities 0 and 1 map to finite logits



TREES_EXTRA = "pip install 'official-recommendation[trees]' (make installs it)"


def require_trees() -> None:
    """Checks that the optional `trees` extra (ydf, ydf-tf) is installed.

    Raises:
      UserError: one of them is missing; names the extra that installs both.
    """
    try:
        import ydf  # noqa: F401
        import ydf_tf  # noqa: F401
    except ImportError as e:
        raise UserError(f"--model_type gbt needs YDF ({e.name or 'ydf'} is not installed): "
                        f"{TREES_EXTRA}") from e

class Forest(tf.Module):
    """The trained forest as checkpointable bytes (empty before training)."""

    def __init__(self):
        super().__init__(name="forest")
        self.serialized = tf.Variable(b"", dtype=tf.string, trainable=False, name="serialized")

    def trained(self):
        """The YDF model held now.

        Raises:
          UserError: nothing trained yet.
        """
        import ydf

        data = self.serialized.numpy()
        if not data:
            raise UserError("the gradient-boosted trees are not trained yet")
        return ydf.deserialize_model(data)


def frame(df: pd.DataFrame) -> pd.DataFrame:
    """YDF's input: the raw feature columns (int64 numbers, str categories) and the 0/1 label."""
    out = pd.DataFrame(cf.raw_tensors(df))
    out[LABEL] = cf.labels(df).astype(np.int64)
    return out


def logits_of(probabilities: np.ndarray) -> np.ndarray:
    """float64 [N] logits of probabilities [N], clipped to +-MAX_LOGIT."""
    p = np.asarray(probabilities, np.float64)
    with np.errstate(divide="ignore"):
        return np.clip(np.log(p) - np.log1p(-p), -MAX_LOGIT, MAX_LOGIT)


class CensusGBTTask:
    """Census gradient-boosted trees (a `run_loop.Task`)."""

    name = "census"
    dataset_name = "census"
    trains = True
    steps_per_epoch = 1
    metric_extras: dict = {}
    model_kind = "census_main --model_type gbt"
    divergence_hint = "the trees' log loss is not finite: check the data"

    def __init__(self, config: CensusConfig, strategy=None, cluster: Cluster = SINGLE,
                 num_trees: int = 300):
        """Loads the data (downloading it if needed).

        Raises:
          UserError: a distributed run (YDF trains on one machine), missing or
            malformed data.
        """
        strategy = strategy or tf.distribute.get_strategy()
        if strategy.num_replicas_in_sync > 1 or cluster.num_workers > 1:
            raise UserError("--model_type gbt trains on one machine: run it without "
                            "--num_gpus > 1, --num_cpu_devices > 1 or TF_CONFIG")
        self.config, self.num_trees = config, num_trees
        train_df, valid_df, eval_df = load_frames(config)
        self.train, self.validation, self.test = (
            None if df is None else frame(df) for df in (train_df, valid_df, eval_df))
        self.examples_per_step = len(self.train)
        self.model = Forest()

    def run_facts(self) -> dict:
        """benchmark_run.log's parameters."""
        return {"model_type": "gbt", "num_trees": self.num_trees, "seed": self.config.seed,
                "validation_fraction": self.config.validation_fraction}

    def checkpointables(self) -> dict:
        """The forest's bytes."""
        return {"model": self.model}

    def train_epoch(self, epoch: int, progress: Callable[[int], None],
                    prefetch_until: int) -> tuple[float, int]:
        """Trains the forest (early-stopped on the validation rows); returns (log loss, rows)."""
        import ydf

        learner = ydf.GradientBoostedTreesLearner(
            label=LABEL, task=ydf.Task.CLASSIFICATION, num_trees=self.num_trees,
            random_seed=self.config.seed)
        forest = learner.train(self.train, valid=self.validation, verbose=0)
        self.model.serialized.assign(forest.serialize())
        progress(1)
        train_metrics = self._metrics_of(self.train, forest)
        return train_metrics["eval_loss"], len(self.train)

    def evaluate(self) -> dict:
        """Metrics of the validation rows (of the test rows without them)."""
        return self._metrics_of(self.validation if self.validation is not None else self.test)

    def evaluate_test(self) -> dict | None:
        """Metrics of the test rows after selection (None: evaluated every cycle, or not read)."""
        if self.validation is None or self.test is None:
            return None
        return self._metrics_of(self.test)

    def _metrics_of(self, rows: pd.DataFrame, forest=None) -> dict:
        forest = forest or self.model.trained()
        probabilities = forest.predict(rows.drop(columns=LABEL))
        return classification_metrics(logits_of(probabilities),
                                      rows[LABEL].to_numpy(np.float64))

    def refit(self, epochs: int):
        """Not offered: census has no --retrain_on_full."""
        raise NotImplementedError("refit on train + validation")

    def chosen_settings(self) -> dict:
        """Nothing is chosen inside the fit (YDF's early stopping is its own)."""
        return {}

    def metric_label(self, name: str) -> str:
        """Metrics are logged by their names."""
        return name

    def export(self, export_dir: str) -> None:
        """SavedModel with `serving_default` (tf.Example) and `predict_raw` endpoints."""
        forest = self.model.trained().to_tensorflow_function()
        module = tf.Module()
        module.forest = forest

        def outputs(raw):
            prob = tf.reshape(forest(raw), [-1])
            logits = tf.clip_by_value(tf.math.log(prob) - tf.math.log1p(-prob), -MAX_LOGIT,
                                      MAX_LOGIT)
            return {"probabilities": prob, "logits": logits,
                    "classes": tf.cast(prob > 0.5, tf.int64)}

        spec = {c: tf.io.FixedLenFeature([], tf.int64 if c in census.NUMERIC_COLUMNS
                                          else tf.string) for c in cf.RAW_FEATURES}
        raw_sig = {c: tf.TensorSpec([None], tf.int64 if c in census.NUMERIC_COLUMNS
                                    else tf.string, name=c) for c in cf.RAW_FEATURES}
        module.serving_default = tf.function(
            lambda inputs: outputs(tf.io.parse_example(inputs, spec)),
            input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        module.predict_raw = tf.function(outputs, input_signature=[raw_sig])
        signatures = {"serving_default": module.serving_default.get_concrete_function(),
                      "predict_raw": module.predict_raw.get_concrete_function()}
        saved_model_export.write_saved_model(
            lambda tmp: tf.saved_model.save(module, tmp, signatures=signatures), export_dir)
