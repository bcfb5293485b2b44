"""Typed configs of an NCF run, and the names they choose from (no TensorFlow).

`ncf_flags.config` builds an `NCFConfig` from the parsed flags (a recipe's
values filled in); everything below `main` takes these frozen dataclasses.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any

from official.datasets.movielens import MovieLensSource
from official.utils.misc.distribution_utils import DistributionConfig
from official.utils.run_api import RunConfig

OPTIMIZERS = ("adam", "lazy_adam", "sgd")
EVAL_PROTOCOLS = ("sampled", "full", "both")
SCHEDULES = ("constant", "cosine")
# Reported @top_k. Under leave-one-out (one held-out item per user) Recall@K
# equals HR@K, so no recall is reported.
RANKING_METRICS = ("HR", "NDCG", "HR_full", "NDCG_full", "Recall_full", "Coverage_full",
                   "PopularityPercentile_full")


def parse_layers(text: str | Sequence[int]) -> list[int]:
    """Parses and checks an MLP layer list such as "64,32,16,8".

    Raises:
      ValueError: not positive integers, or an odd first layer (it is split
        evenly between the user and item embeddings).
    """
    try:
        layers = [int(x) for x in (text.split(",") if isinstance(text, str) else text)]
    except ValueError as e:
        raise ValueError(f"--layers must be comma-separated integers, got {text!r}") from e
    if not layers or any(x <= 0 for x in layers):
        raise ValueError(f"--layers must be positive integers, got {text!r}")
    if layers[0] % 2:
        raise ValueError(f"the first of --layers must be even (it is split between user and "
                         f"item embeddings), got {layers[0]}")
    return layers


def checked_sizes(num_users: int, num_items: int, num_factors: int) -> tuple[int, int, int]:
    """The three sizes of a factor model as ints.

    Raises:
      ValueError: one is not positive.
    """
    if num_users <= 0 or num_items <= 0 or num_factors <= 0:
        raise ValueError(f"num_users, num_items and num_factors must be positive, got "
                         f"{num_users}, {num_items}, {num_factors}")
    return int(num_users), int(num_items), int(num_factors)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run.

    Its defaults are ncf_main's (the flags read them from here): one source.
    `model_type` is a name of `models.registry`.
    """

    model_type: str = "neumf"
    num_factors: int = 32
    layers: tuple[int, ...] = (64, 32, 16)
    mf_regularization: float = 0.0
    mlp_regularization: float = 0.0
    num_neg: int = 4
    batch_size: int = 16384  # Examples (positives + negatives) per step.
    learning_rate: float = 0.004
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    seed: int = 0
    steps_per_call: int = 64
    jit_compile: bool = True
    # "adam": dense Adam on every variable (the paper). "lazy_adam": Adam on the
    # dense layers, and on the embedding tables only for the rows in the batch.
    optimizer: str = "adam"
    eval_batch_size: int = 100_000  # Scored pairs per evaluation call.
    # Learning-rate schedule (see schedule): linear warm-up over
    # warmup_epochs, then constant or cosine decay to final_lr_fraction of the
    # peak by schedule_epochs.
    lr_schedule: str = "cosine"
    warmup_epochs: float = 1.0
    schedule_epochs: int = 10  # ncf_main's --train_epochs
    final_lr_fraction: float = 0.0
    # iALS (model_type "ials", see models.ials): one epoch is one sweep.
    ials_alpha: float = 9.0
    ials_regularization: float = 0.01
    ials_exponent: float = 1.0
    ials_cg_steps: int = 0  # 0: exact (Cholesky) row solves
    # A log's weights w: confidence 1 + alpha * log(1 + w / epsilon) (Hu et al. 2008).
    ials_weight_epsilon: float = 1.0
    # Factor initialization (MF: per entry; iALS: over sqrt(num_factors)); None: the model's.
    init_stddev: float | None = None
    mf_regularize_biases: bool = False  # MF: mf_regularization on the biases too
    # EASE (model_type "ease", see models.ease): candidate lambdas of its one fit.
    ease_lambdas: tuple[float, ...] = (1000.0,)


@dataclasses.dataclass(frozen=True)
class NCFDataConfig:
    """Which data, how it is split and evaluated.

    Attributes:
      source: the MovieLens dataset (None with `authors_split` or a log).
      ncf_split: prefix of the NCF authors' split files, or None.
      interactions: your own log (`datasets.interactions.InteractionOptions`), or None.
      data_dir: where a log's preparation is cached.
      split: a log's split: "leave_last_out" or "temporal" (`data.temporal_split`).
      test_fraction: the temporal split's share of the latest interactions.
      num_eval_negatives: sampled evaluation negatives per user.
      seed: negatives and the validation split's ties.
      validation: hold out each user's latest training positive for selection.
      evaluate_test: evaluate (and read) the test set after selection.
    """

    source: MovieLensSource | None = None
    ncf_split: str | None = None
    interactions: Any = None
    data_dir: str | None = None
    split: str = "leave_last_out"
    test_fraction: float = 0.1
    num_eval_negatives: int = 100
    seed: int = 0
    validation: bool = True
    evaluate_test: bool = True

    @property
    def name(self) -> str:
        """The dataset's name in logs: the MovieLens name, the split prefix or the log."""
        if self.interactions is not None:
            return self.interactions.path
        return self.ncf_split or (self.source.dataset if self.source else "")


@dataclasses.dataclass(frozen=True)
class NCFConfig:
    """Everything one NCF training needs (one stage of a multi-stage recipe).

    Attributes:
      data: data, split and evaluation sets.
      train: model and optimization.
      run: the shared loop's settings.
      distribution: the strategy's settings.
      top_k: K of HR@K and NDCG@K.
      eval_protocol: one of EVAL_PROTOCOLS.
      selection_metric: "HR" or "NDCG" (@top_k, on validation).
      pretrained_gmf, pretrained_mlp: model_dirs NeuMF starts from, or None.
      recipe: the recipe whose values were filled in, or None.
    """

    data: NCFDataConfig
    train: TrainConfig
    run: RunConfig
    distribution: DistributionConfig = DistributionConfig()
    top_k: int = 10
    eval_protocol: str = "sampled"
    selection_metric: str = "HR"
    pretrained_gmf: str | None = None
    pretrained_mlp: str | None = None
    recipe: str | None = None
