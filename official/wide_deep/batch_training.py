"""Training of the Wide & Deep tasks: global batches from a buffer, one step each.

Under a distribution strategy every worker reads the same shuffled stream of
global batches (same seed) and keeps its own `batch_size / workers` rows of
each, split again over its replicas; all workers thus run the same number of
steps and every example is trained once per epoch. Each replica's loss is
normalized by the global example count of the step and the Keras optimizers
all-reduce the gradients. Every worker evaluates the whole evaluation set
with its copy of the (synchronized) model, so the metrics are exact and the
same everywhere.
"""

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from official.utils.data import file_io
from official.utils.misc import replica_ops
from official.utils.misc.distribution_utils import SINGLE, Cluster


class BatchTask:
    """Base of the Wide & Deep `run_loop.Task`s: trains `train_dataset` batches.

    A subclass sets `model` and the `file_io` buffers `train_buffer`,
    `validation_buffer` (None without validation) and `eval_buffer` (the test
    set; None when it is not evaluated), and provides `train_step(batch,
    normalizer) -> (loss sum, count)`, `metrics(outputs, labels) -> {name:
    value}` of the model's outputs on a buffer, and the rest of the Task
    protocol (checkpointables, export, ...).
    """

    trains = True
    metric_extras: dict = {}

    train_buffer: str
    validation_buffer: str | None
    eval_buffer: str | None

    def __init__(self, batch_size: int, num_train_rows: int, seed: int, strategy=None,
                 cluster: Cluster = SINGLE):
        """Checks the batch against the replicas.

        Raises:
          UserError: `batch_size` is not a multiple of the number of replicas.
        """
        self.strategy = strategy or tf.distribute.get_strategy()
        self.cluster, self.batch_size, self.seed = cluster, batch_size, seed
        replica_ops.per_replica_count(batch_size, self.strategy.num_replicas_in_sync)
        self.steps_per_epoch = -(-num_train_rows // batch_size)
        self.examples_per_step = batch_size
        self._step = None

    def train_dataset(self, epoch: int) -> tf.data.Dataset:
        """One shuffled epoch of global training batches (the same on every worker)."""
        return file_io.read_buffer(self.train_buffer, self.batch_size, shuffle=True,
                                   seed=self.seed * 1000 + epoch)

    def train_epoch(self, epoch: int, progress: Callable[[int], None],
                    prefetch_until: int) -> tuple[float, int]:
        """One epoch of steps; returns (mean loss, examples of all workers)."""
        dataset = self.train_dataset(epoch)
        if self._step is None:
            self._step = self._step_function(dataset.element_spec)
        total, count = 0.0, 0.0
        for batch in dataset:
            t, c = self._step(batch)
            total += float(t)
            count += float(c)
            progress(1)
        total, count = replica_ops.all_reduce_sum(self.strategy, self.cluster, [total, count])
        return total / max(count, 1.0), int(round(count))

    def _step_function(self, element_spec: dict):
        """tf.function running one global step under the strategy.

        Its signature leaves the batch dimension open, so an epoch's last,
        smaller batch runs the same graph (a retrace took half a minute).
        """
        strategy, cluster = self.strategy, self.cluster
        num_local = replica_ops.num_local_replicas(strategy)
        per_worker = self.batch_size // cluster.num_workers
        per_replica = self.batch_size // strategy.num_replicas_in_sync
        first_local = cluster.worker_index * num_local
        offset = cluster.worker_index * per_worker

        def replica_step(batch):
            part = replica_ops.local_replica_slice(batch, per_replica, num_local, first_local)
            rows = tf.cast(tf.shape(part["label"])[0], tf.float32)
            ctx = tf.distribute.get_replica_context()
            total = tf.maximum(ctx.all_reduce(tf.distribute.ReduceOp.SUM, rows), 1.0)
            return self.train_step(part, total)

        signature = {k: tf.TensorSpec([None, *s.shape[1:]], s.dtype)
                     for k, s in element_spec.items()}

        @tf.function(input_signature=[signature])
        def step(batch):
            if cluster.num_workers > 1:  # this worker's rows of the global batch
                batch = {k: v[offset:offset + per_worker] for k, v in batch.items()}
            loss, count = strategy.run(replica_step, args=(batch,))
            return (tf.add_n(strategy.experimental_local_results(loss)),
                    tf.add_n(strategy.experimental_local_results(count)))

        return step

    def evaluate(self) -> dict:
        """Metrics of the validation set (of the test set without one)."""
        return self._metrics_of(self.validation_buffer or self.eval_buffer)

    def evaluate_test(self) -> dict | None:
        """Metrics of the test set after selection (None: it was evaluated every cycle)."""
        if self.validation_buffer is None or self.eval_buffer is None:
            return None
        return self._metrics_of(self.eval_buffer)

    def _metrics_of(self, buffer: str) -> dict:
        outputs, labels = [], []
        for batch in file_io.read_buffer(buffer, 65536):
            outputs.append(self.model(batch).numpy())
            labels.append(batch["label"].numpy())
        return self.metrics(np.concatenate(outputs), np.concatenate(labels))

    def refit(self, epochs: int):
        """Not offered: the Wide & Deep programs have no --retrain_on_full."""
        raise NotImplementedError("refit on train + validation")

    def chosen_settings(self) -> dict:
        """Nothing is chosen inside a fit."""
        return {}

    def metric_label(self, name: str) -> str:
        """Metrics are logged by their names."""
        return name
