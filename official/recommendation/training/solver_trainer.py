"""The solver trainer: models fitted by sweeps or closed forms (iALS, EASE), or by counts.

One epoch is one call of the model's `Solver.fit_epoch` (iALS: one sweep
over every user row, then every item row; EASE: its one fit, the closed form
of each `--ease_lambda` candidate, keeping the one `judge` scores best). A
"counts" model (popularity) is fitted when it is built and trains nothing.
Both run on one replica.
"""

from official.recommendation.config.configs import TrainConfig
from official.recommendation.data.implicit_data import NCFData
from official.recommendation.models import registry
from official.recommendation.training.trainer_base import TrainerBase
from official.utils.misc.distribution_utils import SINGLE, Cluster


class SolverTrainer(TrainerBase):
    """Owns a solver model and its solver (none for a "counts" model).

    Args: as `TrainerBase`.

    Raises:
      ValueError: a distribution strategy (the solvers run on one replica).
    """

    def __init__(self, data: NCFData, config: TrainConfig, strategy=None,
                 cluster: Cluster = SINGLE):
        super().__init__(data, config, strategy, cluster)
        if self.distributed and self.spec.learns == "solver":
            raise ValueError(f"model {config.model_type} is fitted on one replica only; run it "
                             "without a distribution strategy")
        self.trains = self.spec.learns == "solver"
        self.jit_scoring = not self.trains  # ragged and sparse ops (EASE) do not compile
        with self.strategy.scope():
            self.model = registry.build(config, data.num_users, data.num_items,
                                        data.train_users, data.train_items)
            self.solver = (registry.build_solver(config, self.model, data.train_users,
                                                 data.train_items, data.train_weights)
                           if self.trains else None)
        self.num_positives = len(data.train_items)
        self.steps_per_epoch = 1
        self.examples_per_step = self.num_positives

    def train_epoch(self, epoch: int, progress=None, prefetch_until: int | None = None
                    ) -> tuple[float, int]:
        """Fits epoch `epoch`; returns (objective per positive, positives). Counts: (0, 0)."""
        del prefetch_until  # nothing is prepared ahead
        if not self.trains:
            return 0.0, 0
        loss = self.solver.fit_epoch(epoch, self.judge)
        if progress is not None:
            progress(1)
        return loss, self.num_positives

    def selected_settings(self) -> dict:
        """What the solver chose in its fit (EASE: the lambda), as `TrainConfig` fields."""
        return self.solver.selected_settings() if self.trains else {}
