"""The trainer of a config: SGD or solver, as the model's registry entry says.

`build_trainer` is what the task, the benchmarks and the tests call;
`make_model` builds a bare model of a config (to restore weights into).
"""

import numpy as np

from official.recommendation.config.configs import TrainConfig
from official.recommendation.data.implicit_data import NCFData
from official.recommendation.models import registry
from official.recommendation.training.sgd_trainer import SGDTrainer
from official.recommendation.training.solver_trainer import SolverTrainer
from official.recommendation.training.trainer_base import TrainerBase
from official.utils.misc.distribution_utils import SINGLE, Cluster


def make_model(num_users: int, num_items: int, config: TrainConfig,
               train_items: np.ndarray | None = None):
    """The `Recommender` named by `config.model_type` (built; a "counts" model fitted on items)."""
    return registry.build(config, num_users, num_items, None, train_items)


def build_trainer(data: NCFData, config: TrainConfig, strategy=None,
                  cluster: Cluster = SINGLE) -> TrainerBase:
    """An `SGDTrainer` or a `SolverTrainer` for `config`'s model, built under `strategy`.

    Raises:
      ValueError: an unknown model or settings the trainer cannot run.
    """
    learns = registry.spec(config.model_type).learns
    trainer = SGDTrainer if learns == "sgd" else SolverTrainer
    return trainer(data, config, strategy, cluster)
