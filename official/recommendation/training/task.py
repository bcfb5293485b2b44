"""The NCF Task of the shared run loop: data, trainer, evaluation sets, export.

`NCFTask.build` loads the data named by an `NCFConfig` (downloading if
allowed), carves the validation split (the test set is kept apart until
selection is done), and builds the trainer (`trainer.build_trainer`: NeuMF, GMF, MLP, MF,
popularity, iALS or EASE) under the strategy; `run_loop` does the rest.
"""

import dataclasses

import numpy as np
from absl import logging

from official.datasets import interactions, movielens
from official.recommendation.config.configs import (
    RANKING_METRICS,
    NCFConfig,
    NCFDataConfig,
    TrainConfig,
)
from official.recommendation.data import (
    authors_split,
    implicit_data,
    movielens_implicit,
    temporal_split,
    validation_split,
)
from official.recommendation.evaluation.evaluator import Evaluator
from official.recommendation.models import registry
from official.recommendation.serving import fold_in, model_export
from official.recommendation.training.trainer import build_trainer
from official.recommendation.training.trainer_base import TrainerBase
from official.utils.errors import UserError
from official.utils.misc.distribution_utils import SINGLE, Cluster


def load_data(config: NCFDataConfig) -> implicit_data.NCFData:
    """The NCF data the config names (downloading if allowed and needed)."""
    if config.ncf_split:
        return authors_split.read_ncf_split(
            config.ncf_split, with_test=not config.validation or config.evaluate_test)
    if config.interactions is not None:
        log = interactions.prepare(config.interactions, config.data_dir)
        if config.split == "temporal":
            return temporal_split.from_interactions(log, config.test_fraction)
        return implicit_data.from_interactions(log, config.num_eval_negatives,
                                                    config.seed)
    source = config.source
    movielens.ensure_source(source)
    return movielens_implicit.load_movielens(source.data_dir, source.dataset,
                                            config.num_eval_negatives, config.seed)


def split_data(config: NCFDataConfig, full: implicit_data.NCFData
               ) -> tuple[implicit_data.NCFData, validation_split.EvalSet | None]:
    """(what the trainer sees, the test set kept from it until selection is done).

    With validation the trainer's evaluation set is the validation split and
    the test set is returned apart; without, the trainer evaluates the test
    set every cycle (the 2018 behaviour) and nothing is returned apart.
    """
    if not config.validation:
        return full, None
    if config.split == "temporal":
        train, test = temporal_split.split(full, config.test_fraction)
        logging.info("Validation: the latest interactions before the test cut, %d users "
                     "(%d items held out); the test set is read after selection",
                     len(train.eval_users), len(train.eval_positives))
        return train, (test if config.evaluate_test and len(test) else None)
    negatives = full.num_eval_negatives if len(full.eval_users) else config.num_eval_negatives
    train, test = validation_split.split(full, negatives, config.seed)
    logging.info("Validation: %d users hold out their latest training positive, with %d "
                 "sampled negatives each; the test set is read after selection",
                 len(train.eval_users), negatives)
    return train, (test if config.evaluate_test and len(test) else None)


def check_top_k(config: NCFConfig, data: implicit_data.NCFData) -> None:
    """Refuses a K at which every user's held-out item is a hit.

    Raises:
      UserError: `top_k` is not below the candidates each user is ranked
        among (sampled: 1 + the negatives; full: the items).
    """
    if config.eval_protocol in ("sampled", "both") and len(data.eval_users):
        candidates = 1 + data.num_eval_negatives
        if config.top_k >= candidates:
            raise UserError(f"--top_k {config.top_k} is not below the {candidates} candidates "
                            f"each user is ranked among (1 positive + {candidates - 1} "
                            "sampled negatives): every HR would be 1")
    if config.eval_protocol in ("full", "both") and config.top_k >= data.num_items:
        raise UserError(f"--top_k {config.top_k} is not below the {data.num_items} items "
                        "every user is ranked among: every HR_full would be 1")


def make_trainer(data: implicit_data.NCFData, config: TrainConfig, strategy=None,
                 cluster: Cluster = SINGLE) -> TrainerBase:
    """`trainer.build_trainer`, with the settings' and the data's problems as `UserError`s."""
    try:
        return build_trainer(data, config, strategy, cluster)
    except (ValueError, MemoryError) as e:
        raise UserError(str(e)) from e


def selection_value(metrics: dict[str, float], name: str) -> float:
    """Selection metric `name` ("HR", "NDCG") of `evaluate`'s metrics: sampled, else full."""
    return metrics[name] if name in metrics else metrics[f"{name}_full"]


class NCFTask:
    """One NCF training for `run_loop` (see `run_loop.Task`).

    A NeuMF with `pretrained_gmf` / `pretrained_mlp` starts from their
    weights (a refit too); a resumed run's checkpoint then overrides them.
    """

    name = "ncf"

    def __init__(self, config: NCFConfig, trainer: TrainerBase,
                 full: implicit_data.NCFData, test_set: validation_split.EvalSet | None):
        self.config, self.trainer, self.full, self.test_set = config, trainer, full, test_set
        self.dataset_name = config.data.name
        self.model, self.trains = trainer.model, trainer.trains
        self.steps_per_epoch, self.examples_per_step = (trainer.steps_per_epoch,
                                                        trainer.examples_per_step)
        self.model_kind = f"ncf_main --model {config.train.model_type}"
        self.divergence_hint = registry.divergence_hint(config.train)
        # The task evaluates: the trainer's model on the trainer's data's evaluation sets.
        self.evaluator = Evaluator(trainer.data, trainer.strategy, trainer.cluster)
        if len(trainer.data.eval_users) and config.data.validation:
            # A solver choosing inside its fit (EASE's lambdas) asks the validation metric.
            trainer.judge = self._validation_score
        if config.pretrained_gmf:
            from official.recommendation.training import pretraining

            pretraining.init_from_pretrained(trainer, config.pretrained_gmf,
                                              config.pretrained_mlp)

    @classmethod
    def build(cls, config: NCFConfig, strategy=None, cluster: Cluster = SINGLE) -> "NCFTask":
        """Loads and splits the data, builds the trainer under `strategy`."""
        full = load_data(config.data)
        data, test_set = split_data(config.data, full)
        check_top_k(config, data)
        trainer = make_trainer(data, config.train, strategy, cluster)
        log = logging.info if trainer.num_replicas > 1 or cluster.num_workers > 1 else logging.debug
        log("Strategy %s: %d replica(s), worker %d of %d%s",
                     type(trainer.strategy).__name__, trainer.num_replicas,
                     cluster.worker_index, cluster.num_workers,
                     " (chief)" if cluster.is_chief else "")
        if trainer.trains:
            logging.info("Training %s on %d users, %d items, %d positives: %d steps of %d "
                         "examples per epoch", config.train.model_type, data.num_users,
                         data.num_items, trainer.num_positives, trainer.steps_per_epoch,
                         trainer.examples_per_step)
        return cls(config, trainer, full, test_set)

    @property
    def metric_extras(self) -> dict:
        """Extras of metric.log and eval_results.json: top_k, the protocol, what a fit chose."""
        return {"top_k": self.config.top_k, "eval_protocol": self.config.eval_protocol,
                **self.chosen_settings()}

    def chosen_settings(self) -> dict:
        """What the fit chose by validation: EASE's {"ease_lambda": 500.0}; {} for the others."""
        return {k.removesuffix("s"): v[0] if isinstance(v, tuple) and len(v) == 1 else v
                for k, v in self.trainer.selected_settings().items()}

    def _validation_score(self) -> float:
        """The selection metric of the model as it stands, on validation (the judge)."""
        return selection_value(self.evaluate(), self.config.selection_metric)

    def checkpointables(self) -> dict:
        """The trainer's model and optimizer state."""
        return self.trainer.checkpointables()

    def train_epoch(self, epoch: int, progress, prefetch_until: int) -> tuple[float, int]:
        """One epoch (a solver: one sweep or fit); see the trainer's `train_epoch`."""
        return self.trainer.train_epoch(epoch, progress, prefetch_until)

    def evaluate(self) -> dict[str, float]:
        """The trainer's evaluation set (validation, or the test set without it)."""
        return self.evaluator.evaluate(self.trainer.scorer, self.config.top_k,
                                       self.config.eval_protocol)

    def evaluate_test(self) -> dict[str, float] | None:
        """The test set kept apart, after selection; None when it is not evaluated."""
        if self.test_set is None:
            return None
        return self.evaluator.evaluate(self.trainer.scorer, self.config.top_k,
                                       self.config.eval_protocol, self.test_set)

    def refit(self, epochs: int) -> "NCFTask":
        """A fresh trainer on train + validation whose schedule spans `epochs` epochs.

        It fits what the selected model chose in its fit (EASE: the lambda).
        """
        data = dataclasses.replace(self.full, eval_users=np.zeros(0, np.int32),
                                   eval_items=np.zeros((0, 1), np.int32), eval_offsets=None,
                                   eval_positives=None)
        train = dataclasses.replace(self.config.train, schedule_epochs=epochs,
                                    **self.trainer.selected_settings())
        trainer = make_trainer(data, train, self.trainer.strategy, self.trainer.cluster)
        logging.info("Refit on train + validation: %d positives", trainer.num_positives)
        return NCFTask(self.config, trainer, self.full, self.test_set)

    def export(self, export_dir: str, model=None) -> None:
        """SavedModel on raw ids, with what `recommend` needs (see `model_export`).

        `model`: what to export on this task's ids (an ensemble); default the trainer's.
        """
        model = self.trainer.single_device_model() if model is None else model
        model_export.export(model, self.full.user_ids,
                          self.full.item_ids, export_dir, self._item_info(),
                          fold_in.settings_for(self.config.train))

    def _item_info(self) -> model_export.ItemInfo:
        """Every rated pair, titles and genres."""
        data = self.full
        held_users, held_items = data.eval_users, data.eval_items[:, 0]
        if data.eval_offsets is not None:  # every held-out item of the temporal split
            held_users = np.repeat(data.eval_users, np.diff(data.eval_offsets))
            held_items = data.eval_positives
        users = np.concatenate([data.train_users, held_users])
        items = np.concatenate([data.train_items, held_items])
        order = np.argsort(users, kind="stable")
        info = model_export.ItemInfo(users[order], items[order])
        source = self.config.data.source
        if data.item_titles is not None:  # a log's --items file
            info.titles = data.item_titles
        elif source is not None:  # the authors' split files carry no titles
            info.titles, info.genres = model_export.titles_and_genres(
                source.data_dir, source.dataset, data.item_ids)
        return info

    def run_facts(self) -> dict:
        """benchmark_run.log's parameters: what the run actually used."""
        c, t, data = self.config, self.config.train, self.trainer.data
        facts = {
            "dataset": c.data.source.dataset if c.data.source else None, "model": t.model_type,
            "batch_size": t.batch_size, "learning_rate": t.learning_rate,
            "num_factors": t.num_factors, "layers": ",".join(map(str, t.layers)),
            "num_neg": t.num_neg, "seed": t.seed, "top_k": c.top_k, "optimizer": t.optimizer,
            "recipe": c.recipe, "validation": c.data.validation,
            "selection_metric": c.selection_metric,
            "early_stopping_patience": c.run.early_stopping_patience,
            "retrain_on_full": c.run.retrain_on_full, "retrain_epochs": c.run.retrain_epochs,
            "init_stddev": t.init_stddev, "mf_regularize_biases": t.mf_regularize_biases,
            "lr_schedule": t.lr_schedule,
            "warmup_epochs": t.warmup_epochs, "beta1": t.beta1, "beta2": t.beta2,
            "mf_regularization": t.mf_regularization,
            "mlp_regularization": t.mlp_regularization, "pretrained_gmf": c.pretrained_gmf,
            "pretrained_mlp": c.pretrained_mlp, "ncf_split": c.data.ncf_split,
            "ials_alpha": t.ials_alpha, "ials_regularization": t.ials_regularization,
            "ials_frequency_scaling": t.ials_exponent, "ials_cg_steps": t.ials_cg_steps,
            "ials_weight_epsilon": t.ials_weight_epsilon,
            "ease_lambda": list(t.ease_lambdas)}
        # The split files fix the number of test negatives; --num_eval_negatives
        # applies only where the package samples them.
        facts["num_eval_negatives"] = (self.full.num_eval_negatives
                                       if len(self.full.eval_users) else None)
        validation = c.data.validation
        facts["num_validation_negatives"] = data.num_eval_negatives if validation else None
        facts["validation_users"] = int(len(data.eval_users)) if validation else 0
        facts["train_positives"] = int(len(data.train_users))
        return facts

    def metric_label(self, name: str) -> str:
        """Ranking metrics are named with their K ("HR@10")."""
        return f"{name}@{self.config.top_k}" if name in RANKING_METRICS else name
