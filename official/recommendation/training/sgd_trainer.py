"""The SGD trainer: Adam steps on sampled negatives (NeuMF, GMF, MLP, MF).

Input comes from `data.training_batches.EpochBatches` (a tf.data pipeline
that samples the next epoch's negatives in the background and stacks
`steps_per_call` steps per element). Training runs one call per element: a
loop over its steps, each one Adam step on sigmoid cross-entropy. With
`jit_compile` (the default) the whole call is one XLA program, so forward,
backward and optimizer update are fused, and the variables stay in place
from step to step (a separate program per step costs about 0.6 ms per step
in copies and launch at ml-1m scale, a quarter of the step). Sampling stays
outside XLA: XLA lowers `searchsorted` to a dense comparison against every
key.

With one replica the whole step (forward, backward, Adam) is one XLA
program. Under a distribution strategy with several replicas, each replica
computes its gradients with XLA on its slice of the global step, and the
Keras optimizer all-reduces them and applies the update; the loss is
normalized by the global example count, so the update equals the
single-replica one on the whole batch.
"""

import keras
import tensorflow as tf
from absl import logging

from official.recommendation.config.configs import OPTIMIZERS, TrainConfig
from official.recommendation.data import training_batches
from official.recommendation.data.implicit_data import NCFData
from official.recommendation.models import registry
from official.recommendation.training import schedule
from official.recommendation.training.lazy_adam import LAZY_ROWS_FACTOR, LazyAdamSlots
from official.recommendation.training.trainer_base import TrainerBase
from official.utils.misc import replica_ops
from official.utils.misc.distribution_utils import SINGLE, Cluster


def positives_per_step(batch_size: int, num_neg: int, num_replicas: int) -> int:
    """Positives of one global step: batch_size // (1 + num_neg), a multiple of the replicas.

    Rounded down to a multiple of `num_replicas` (logged when it changes), so
    the default batch runs on 1, 2, 4, 8, ... replicas unchanged.

    Raises:
      ValueError: fewer positives than replicas.
    """
    per_step = batch_size // (1 + num_neg)
    rounded = per_step - per_step % num_replicas
    if rounded < num_replicas:
        raise ValueError(f"batch_size {batch_size} gives {per_step} positives per step "
                         f"(batch_size // (1 + num_neg)), fewer than the {num_replicas} "
                         "replicas")
    if rounded != per_step:
        logging.info("Positives per step: %d rounded down to %d, a multiple of the %d "
                     "replicas (%d examples per step)", per_step, rounded, num_replicas,
                     rounded * (1 + num_neg))
    return rounded


class SGDTrainer(TrainerBase):
    """Owns an SGD model, its optimizer, the training batches and the compiled steps.

    Args: as `TrainerBase`.

    Raises:
      ValueError: a batch smaller than 1 + num_neg, an unknown optimizer,
        lazy Adam under a distribution strategy, or fewer positives per step
        than replicas.
    """

    trains = True

    def __init__(self, data: NCFData, config: TrainConfig, strategy=None,
                 cluster: Cluster = SINGLE):
        if config.batch_size < 1 + config.num_neg:
            raise ValueError(f"batch_size {config.batch_size} is smaller than 1 + num_neg = "
                             f"{1 + config.num_neg}")
        if config.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {config.optimizer!r}")
        super().__init__(data, config, strategy, cluster)
        if self.distributed and config.optimizer == "lazy_adam":
            raise ValueError("optimizer lazy_adam runs on one replica only; use adam with a "
                             "distribution strategy")
        self.positives_per_step = positives_per_step(config.batch_size, config.num_neg,
                                                     self.num_replicas)
        self.positives_per_replica = self.positives_per_step // self.num_replicas
        self.num_local = replica_ops.num_local_replicas(self.strategy)
        self.first_local = cluster.worker_index * self.num_local
        with self.strategy.scope():
            self._build(data, config)

    def _build(self, data: NCFData, config: TrainConfig) -> None:
        self.model = registry.build(config, data.num_users, data.num_items, data.train_users,
                                    data.train_items)
        self.lazy = config.optimizer == "lazy_adam"
        n = self.positives_per_step
        # lazy_adam updates a table row-wise only where that pays: when the table
        # has many more rows than a step touches (scatters are not free).
        self.sparse_user = self.lazy and data.num_users > LAZY_ROWS_FACTOR * n
        self.sparse_item = self.lazy and data.num_items > LAZY_ROWS_FACTOR * n * (
            1 + config.num_neg)
        sparse = ([self.model.user_table] if self.sparse_user else []) + (
            [self.model.item_table] if self.sparse_item else [])
        self.dense_vars = [v for v in self.model.trainable_variables
                           if all(v is not t for t in sparse)]
        self.input = training_batches.EpochBatches(
            data.train_users, data.train_items, data.num_users, data.num_items,
            config.num_neg, self.positives_per_step, config.seed,
            self.cluster.worker_index, self.cluster.num_workers, config.steps_per_call)
        self.num_positives = self.input.num_positives
        self.steps_per_epoch = self.input.steps_per_epoch
        self.learning_rate = schedule.WarmupCosine(
            config.learning_rate, round(config.warmup_epochs * self.steps_per_epoch),
            max(1, config.schedule_epochs * self.steps_per_epoch), config.lr_schedule,
            config.final_lr_fraction)
        # sgd: plain SGD on the summed loss, so each example's gradient is applied
        # with the learning rate as in per-example SGD (Rendle et al. 2020).
        self.summed_loss = config.optimizer == "sgd"
        self.optimizer = (keras.optimizers.SGD(self.learning_rate) if self.summed_loss else
                          keras.optimizers.Adam(self.learning_rate, beta_1=config.beta1,
                                                beta_2=config.beta2, epsilon=config.epsilon))
        self.optimizer.build(self.dense_vars)
        self.table_slots = LazyAdamSlots(
            self.model.user_table if self.sparse_user else None,
            self.model.item_table if self.sparse_item else None) if self.lazy else None
        self._iterator = None
        self._next_epoch = None  # Epoch the iterator delivers next ...
        self._last_epoch = 0  # ... and the epoch where it ends.
        self._grads_fn = tf.function(self._grads, jit_compile=config.jit_compile)
        # Distributed: XLA per replica (gradients), the all-reduce outside it.
        self._call_fn = (tf.function(self._distributed_call) if self.distributed else
                         tf.function(self._train_call, jit_compile=config.jit_compile))

    @property
    def examples_per_step(self) -> int:
        """Examples one training step sees: positives and their negatives."""
        return self.positives_per_step * (1 + self.config.num_neg)

    def checkpointables(self) -> dict:
        """The model, the optimizer and (lazy Adam) the table slots."""
        items = {"model": self.model, "optimizer": self.optimizer}
        if self.lazy:
            items["table_slots"] = self.table_slots
        return items

    def _train_step(self, users, items, weights):
        """One optimizer step on a grouped batch (see `training_batches.EpochBatches.batch`)."""
        weight_sum = tf.maximum(tf.reduce_sum(weights) * (1 + self.config.num_neg), 1.0)
        loss_sum, grads = self._grads(users, items, weights, weight_sum)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables, strict=True))
        return loss_sum, weight_sum

    def _grads(self, users, items, weights, weight_sum):
        """(loss sum, gradients of loss sum / weight_sum) on a grouped batch or a replica's part.

        With sgd the gradients are of the loss sum itself (per-example SGD).
        """
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            logits, u, it = self.model.grouped_logits(users, items)
            loss_sum = self._loss_sum(logits, weights, u, it)
            scaled = loss_sum if self.summed_loss else loss_sum / weight_sum
        return loss_sum, tape.gradient(scaled, variables)

    def _loss_sum(self, logits, weights, u, it):
        """Loss sum of grouped logits [n, 1 + num_neg] with the positive in column 0.

        Sigmoid cross-entropy weighted by `weights` [n], plus the rows' L2 term:
        both per row, so replicas' shares add up to the whole.
        """
        labels = tf.one_hot(tf.zeros_like(weights, tf.int32), 1 + self.config.num_neg)
        losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
        return (tf.reduce_sum(losses * weights[:, None])
                + self.model.grouped_regularization(u, it))

    def _replica_step(self, users, items, weights):
        """One replica's share of a step (inside `strategy.run`)."""
        users, items, weights = replica_ops.local_replica_slice(
            (users, items, weights), self.positives_per_replica, self.num_local,
            self.first_local)
        m = 1 + self.config.num_neg
        ctx = tf.distribute.get_replica_context()
        local_weight = tf.reduce_sum(weights) * m
        weight_sum = tf.maximum(ctx.all_reduce(tf.distribute.ReduceOp.SUM, local_weight), 1.0)
        loss_sum, grads = self._grads_fn(users, items, weights, weight_sum)
        # Keras sums the replicas' gradients (all-reduce) before applying them.
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables, strict=True))
        return loss_sum, local_weight

    def _distributed_call(self, users, items, weights, num_steps):
        """Stacked steps (see `_train_call`), each split over the replicas."""
        total = tf.constant(0.0)
        count = tf.constant(0.0)
        for s in tf.range(num_steps):
            t, c = self.strategy.run(self._replica_step, args=(users[s], items[s], weights[s]))
            total += tf.add_n(self.strategy.experimental_local_results(t))
            count += tf.add_n(self.strategy.experimental_local_results(c))
        return total, count

    def _lazy_step(self, users, items, weights):
        """Adam on dense weights; on sparse tables only the batch's rows (one XLA cluster)."""
        weight_sum = tf.maximum(tf.reduce_sum(weights) * (1 + self.config.num_neg), 1.0)
        with tf.GradientTape() as tape:
            u = tf.gather(self.model.user_table.value, users)
            it = tf.gather(self.model.item_table.value, items)
            tape.watch([u, it])
            logits = self.model.grouped_logits_from_rows(u, it)
            loss = self._loss_sum(logits, weights, u, it) / weight_sum
        grads = tape.gradient(loss, [u, it, *self.dense_vars])
        self.optimizer.apply_gradients(zip(grads[2:], self.dense_vars, strict=True))
        step = tf.cast(self.optimizer.iterations, tf.float32)  # already incremented
        cfg = self.config
        lr = self.learning_rate(step - 1) * tf.sqrt(1 - cfg.beta2 ** step) / (
            1 - cfg.beta1 ** step)
        if self.sparse_user:
            self.table_slots.update(0, users, grads[0], lr, cfg, presorted=True)
        if self.sparse_item:
            self.table_slots.update(1, tf.reshape(items, [-1]),
                                    tf.reshape(grads[1], [-1, tf.shape(grads[1])[-1]]), lr, cfg)
        return loss * weight_sum, weight_sum

    def _train_call(self, users, items, weights, num_steps):
        """The first `num_steps` of stacked steps users [k, n], items [k, n, m], weights [k, n].

        Returns (loss sum, weight sum) over those steps.
        """
        # lazy_adam with no row-wise table is dense Adam: the plain step.
        step = self._lazy_step if self.sparse_user or self.sparse_item else self._train_step
        total = tf.constant(0.0)
        count = tf.constant(0.0)
        for s in tf.range(num_steps):
            t, c = step(users[s], items[s], weights[s])
            total += t
            count += c
        return total, count

    def train_epoch(self, epoch: int, progress=None, prefetch_until: int | None = None
                    ) -> tuple[float, int]:
        """Trains one epoch; returns (mean training loss, examples seen by all workers).

        Args:
          epoch: epoch index (keys the permutation and the negatives).
          progress: called with the number of steps after each compiled call.
          prefetch_until: last epoch (exclusive) the input pipeline may prepare
            ahead; consecutive calls then reuse one pipeline, so the next
            epoch's negatives are sampled while this one trains.
        """
        if self._iterator is None or self._next_epoch != epoch or epoch >= self._last_epoch:
            self._last_epoch = max(prefetch_until or epoch + 1, epoch + 1)
            self._iterator = iter(self.input.dataset(epoch, self._last_epoch))
        total, count = 0.0, 0.0
        for _ in range(self.input.calls_per_epoch):
            users, items, weights, num_steps = next(self._iterator)
            t, c = self._call_fn(users, items, weights, num_steps)
            total += float(t)
            count += float(c)
            if progress is not None:
                progress(int(num_steps))
        self._next_epoch = epoch + 1
        total, count = replica_ops.all_reduce_sum(self.strategy, self.cluster,
                                                         [total, count])
        return total / max(count, 1.0), int(round(count))
