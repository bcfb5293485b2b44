"""What both trainers share: the strategy, the model's checkpoint, scoring conveniences.

`sgd_trainer.SGDTrainer` (Adam on sampled negatives) and
`solver_trainer.SolverTrainer` (sweeps, closed-form fits or counts) extend
`TrainerBase`; `trainer.build_trainer` picks one from the model's registry
entry.
"""

import keras
import numpy as np
import tensorflow as tf

from official.recommendation.config.configs import TrainConfig
from official.recommendation.data.implicit_data import NCFData
from official.recommendation.data.validation_split import EvalSet
from official.recommendation.evaluation.evaluator import Evaluator
from official.recommendation.evaluation.scorer import ModelScorer
from official.recommendation.models import registry
from official.utils.misc.distribution_utils import SINGLE, Cluster


class TrainerBase:
    """A model, its training data and the strategy it trains under.

    Attributes set by a subclass: `model` (a `Recommender`), `trains`,
    `num_positives`, `steps_per_epoch`, `examples_per_step`. `judge` (set by
    the task that owns the evaluator, None without validation) returns the
    current model's validation score, for solvers that choose among
    candidates inside a fit.

    Args:
      data: training positives (and the evaluation set the conveniences use).
      config: the training settings.
      strategy: a `tf.distribute` strategy (default: the current one).
      cluster: this worker's place in a multi-worker run.
    """

    jit_scoring = True  # compile scoring with XLA (with config.jit_compile)
    judge = None

    def __init__(self, data: NCFData, config: TrainConfig, strategy=None,
                 cluster: Cluster = SINGLE):
        self.data, self.config, self.cluster = data, config, cluster
        self.spec = registry.spec(config.model_type)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.num_replicas = self.strategy.num_replicas_in_sync
        self.distributed = self.num_replicas > 1 or cluster.num_workers > 1
        keras.utils.set_random_seed(config.seed)
        self._scorer = None

    def selected_settings(self) -> dict:
        """`TrainConfig` fields chosen during training, for a refit ({}: none)."""
        return {}

    def checkpointables(self) -> dict:
        """What a checkpoint holds of the trainer (the model, and any optimizer state)."""
        return {"model": self.model}

    def checkpoint(self) -> tf.train.Checkpoint:
        """A `tf.train.Checkpoint` of `checkpointables`."""
        return tf.train.Checkpoint(**self.checkpointables())

    def single_device_model(self):
        """The model itself, or (under a distribution strategy) a plain copy for export."""
        if not self.distributed:
            return self.model
        model = registry.build(self.config, self.data.num_users, self.data.num_items)
        model.set_weights(self.model.get_weights())
        return model

    @property
    def scorer(self) -> ModelScorer:
        """The model as the evaluator scores it (built on first use)."""
        if self._scorer is None:
            self._scorer = ModelScorer(self.model, self.data.num_items,
                                       self.config.jit_compile and self.jit_scoring,
                                       self.config.eval_batch_size)
        return self._scorer

    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Logits float32 of aligned int32 index arrays of any equal shape (`ModelScorer.score`)."""
        return self.scorer.score(users, items)

    def evaluate(self, top_k: int = 10, protocol: str = "sampled",
                 eval_set: EvalSet | None = None) -> dict[str, float]:
        """This model's metrics on `eval_set` (default: the data's own), for library users.

        A run's task evaluates through its own `Evaluator`; this builds one
        over the trainer's data (see `Evaluator.evaluate`).
        """
        return Evaluator(self.data, self.strategy, self.cluster).evaluate(
            self.scorer, top_k, protocol, eval_set)
