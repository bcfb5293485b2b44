"""NCF training and evaluation engine (used by `ncf_main` and the benchmark).

Training runs as a `tf.function` that performs `steps_per_call` steps in one
in-graph loop: per step it slices the epoch's permutation of the training
positives, samples their negatives (`ncf_input.sample_negatives`), and does
one Adam step on sigmoid cross-entropy. The last step of an epoch is padded
to a fixed shape with zero-weight rows, so every positive is seen exactly
once per epoch and nothing retraces.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from official.recommendation import ncf_input, ncf_metrics
from official.recommendation.movielens_dataset import NCFData
from official.recommendation.neumf_model import NeuMF


@dataclasses.dataclass
class TrainConfig:
    """Hyper-parameters of one training run."""

    model_type: str = "neumf"
    num_factors: int = 8
    layers: tuple[int, ...] = (64, 32, 16, 8)
    mf_regularization: float = 0.0
    mlp_regularization: float = 0.0
    num_neg: int = 4
    batch_size: int = 256  # Examples (positives + negatives) per step.
    learning_rate: float = 0.001
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    seed: int = 0
    steps_per_call: int = 64
    jit_compile: bool = False  # XLA in the in-graph loop stalls with the Keras optimizer.
    eval_batch_size: int = 100_000  # Scored pairs per evaluation call.


class NCFTrainer:
    """Owns the model, optimizer, training tensors and the compiled steps."""

    def __init__(self, data: NCFData, config: TrainConfig):
        if config.batch_size < 1 + config.num_neg:
            raise ValueError(f"batch_size {config.batch_size} is smaller than 1 + num_neg = "
                             f"{1 + config.num_neg}")
        self.data, self.config = data, config
        keras.utils.set_random_seed(config.seed)
        self.model = NeuMF(data.num_users, data.num_items, config.model_type,
                           config.num_factors, config.layers, config.mf_regularization,
                           config.mlp_regularization)
        self.model({"user_id": tf.zeros([1], tf.int32), "item_id": tf.zeros([1], tf.int32)})
        self.optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta1,
                                               beta_2=config.beta2, epsilon=config.epsilon)
        self.optimizer.build(self.model.trainable_variables)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")

        tables = ncf_input.build_sampler_tables(data.train_users, data.train_items,
                                                data.num_users, data.num_items)
        self._gap_keys = tf.constant(tables.gap_keys)
        self._offsets = tf.constant(tables.offsets)
        self._train_users = tf.constant(data.train_users)
        self._train_items = tf.constant(data.train_items)
        self.num_positives = len(data.train_users)
        self.positives_per_step = config.batch_size // (1 + config.num_neg)
        self.steps_per_epoch = -(-self.num_positives // self.positives_per_step)
        self.examples_per_epoch = self.num_positives * (1 + config.num_neg)
        self._train_fn = tf.function(self._train_steps, jit_compile=config.jit_compile,
                                     reduce_retracing=True)
        self._score_fn = tf.function(self._score, jit_compile=config.jit_compile,
                                     reduce_retracing=True)

    def checkpoint(self) -> tf.train.Checkpoint:
        """What a checkpoint holds: model, optimizer and the completed-epoch counter."""
        return tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, epoch=self.epoch)

    def epoch_permutation(self, epoch: int) -> tf.Tensor:
        """int32 [steps_per_epoch * positives_per_step]: positive ids, -1 = padding."""
        perm = tf.random.experimental.stateless_shuffle(
            tf.range(self.num_positives, dtype=tf.int32), seed=[self.config.seed, epoch])
        pad = self.steps_per_epoch * self.positives_per_step - self.num_positives
        return tf.concat([perm, -tf.ones([pad], tf.int32)], axis=0)

    def _step_batch(self, perm, epoch, step):
        """(users, items, labels, weights) of one step, [positives_per_step * (1 + neg)]."""
        n, k = self.positives_per_step, self.config.num_neg
        idx = tf.slice(perm, [step * n], [n])  # static size: XLA-friendly
        real = idx >= 0
        idx = tf.maximum(idx, 0)
        users = tf.gather(self._train_users, idx)
        pos_items = tf.gather(self._train_items, idx)
        neg_users = tf.reshape(tf.tile(users[:, None], [1, k]), [n * k])
        seed = tf.stack([tf.cast(self.config.seed, tf.int64) * 1_000_003 + epoch,
                         tf.cast(step, tf.int64)])
        neg_items = ncf_input.sample_negatives(neg_users, self._gap_keys, self._offsets,
                                               self.data.num_items, seed)
        all_users = tf.concat([users, neg_users], 0)
        all_items = tf.concat([pos_items, neg_items], 0)
        labels = tf.concat([tf.ones([n]), tf.zeros([n * k])], 0)
        w = tf.cast(real, tf.float32)
        weights = tf.concat([w, tf.reshape(tf.tile(w[:, None], [1, k]), [n * k])], 0)
        return all_users, all_items, labels, weights

    def _train_steps(self, perm, epoch, first_step, num_steps):
        total = tf.constant(0.0)
        count = tf.constant(0.0)
        for step in tf.range(first_step, first_step + num_steps):
            users, items, labels, weights = self._step_batch(perm, epoch, step)
            with tf.GradientTape() as tape:
                u, i = self.model.embed(users, items)
                logits = self.model.logits_from_embeddings(u, i)
                losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
                weight_sum = tf.maximum(tf.reduce_sum(weights), 1.0)
                loss = tf.reduce_sum(losses * weights) / weight_sum
                loss += self.model.regularization(u, i) / weight_sum
            grads = tape.gradient(loss, self.model.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables, strict=True))
            total += loss * weight_sum
            count += weight_sum
        return total, count

    def train_epoch(self, epoch: int, progress=None) -> tuple[float, int]:
        """Trains one epoch; returns (mean training loss, examples seen)."""
        perm = self.epoch_permutation(epoch)
        total, count = 0.0, 0.0
        step = 0
        while step < self.steps_per_epoch:
            n = min(self.config.steps_per_call, self.steps_per_epoch - step)
            t, c = self._train_fn(perm, tf.constant(epoch, tf.int64), tf.constant(step),
                                  tf.constant(n))
            total += float(t)
            count += float(c)
            step += n
            if progress is not None:
                progress(n)
        return total / max(count, 1.0), int(count)

    def _score(self, users, items):
        return self.model({"user_id": users, "item_id": items})

    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Logits float32 for aligned int32 index arrays of any equal shape."""
        flat_u, flat_i = users.reshape(-1), items.reshape(-1)
        out = np.empty(flat_u.shape, np.float32)
        chunk = self.config.eval_batch_size
        for lo in range(0, len(flat_u), chunk):
            hi = min(lo + chunk, len(flat_u))
            u = np.zeros(chunk, np.int32)
            i = np.zeros(chunk, np.int32)
            u[:hi - lo], i[:hi - lo] = flat_u[lo:hi], flat_i[lo:hi]  # fixed shape: no retrace
            out[lo:hi] = self._score_fn(tf.constant(u), tf.constant(i)).numpy()[:hi - lo]
        return out.reshape(users.shape)

    def evaluate(self, top_k: int = 10) -> dict[str, float]:
        """HR@k, NDCG@k and eval loss on the held-out positives and their negatives."""
        items = self.data.eval_items
        users = np.broadcast_to(self.data.eval_users[:, None], items.shape)
        logits = self.score(users, items)
        hr, ndcg = ncf_metrics.hit_rate_and_ndcg(logits, items, top_k)
        return {"HR": hr, "NDCG": ndcg,
                "eval_loss": ncf_metrics.evaluation_loss(logits, items)}
