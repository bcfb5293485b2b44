"""EASE (Steck 2019, "Embarrassingly Shallow Autoencoders"): a closed-form item-item model.

With X the binary user-item matrix of training positives and G = X^T X:

  P = (G + lambda I)^-1,   B = I - P diag(1 / diag(P))   (so diag(B) = 0),

and user u's scores are x_u B: the sum of the rows of B of the items u
trained on. The model keeps B [I, I] and each user's training items (CSR), so
the export scores every user on its own.

Everything is dense in the item count: G, its Cholesky factor, P and B are
I x I float32 each. `check_memory` refuses a catalogue whose matrices do not
fit in the memory available, before anything is allocated.
"""

import math
import time
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from official.recommendation.serving import fold_in
from official.utils.misc import array_ops

# I x I float32 matrices alive at the peak of a fit: G, its Cholesky factor
# (or P), the identity the solve inverts, and B.
DENSE_COPIES = 4
# Users per call while G is accumulated (bounds the dense [users, I] slice).
GRAM_FLOATS = 1 << 25


def memory_bytes(num_items: int) -> int:
    """Bytes a fit needs for its dense item-item matrices."""
    return DENSE_COPIES * 4 * int(num_items) ** 2


def available_bytes() -> int:
    """Memory available to this process: MemAvailable (Linux), else physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(num_items: int, available: int | None = None) -> None:
    """Raises MemoryError naming what EASE needs if its matrices cannot fit."""
    need = memory_bytes(num_items)
    have = available_bytes() if available is None else int(available)
    if need > have:
        raise MemoryError(
            f"EASE needs {need / 2**30:.1f} GiB for {num_items} items ({DENSE_COPIES} dense "
            f"{num_items} x {num_items} float32 matrices) but {have / 2**30:.1f} GiB of "
            f"memory is available; use --model ials or mf for a catalogue this large")


@keras.saving.register_keras_serializable(package="official")
def build(num_users: int, num_items: int, config, train_users=None, train_items=None
          ) -> "EASE":
    """The registry's builder of `EASE` (room for the training histories)."""
    del config, train_users
    return EASE(num_users, num_items, 0 if train_items is None else len(train_items))


def build_solver(model: "EASE", train_users, train_items, config, train_weights=None
                 ) -> "EASESolver":
    """The registry's solver of an `EASE`: `config.ease_lambdas` are its candidates.

    EASE models binary positives: `train_weights` are not used.
    """
    del train_weights
    return EASESolver(model, train_users, train_items, config.ease_lambdas)


class EASE(keras.Model):
    """Item-item scorer: score(u, i) = sum of B[j, i] over u's training items j."""

    model_type = "ease"

    def fold_in_logits(self, histories, settings):
        """Logits float32 [B, I] of new users (int32 ragged [B, (H)]): history rows times B."""
        del settings
        return tf.matmul(fold_in.history_indicator(histories, self.num_items),
                         tf.convert_to_tensor(self.weights_matrix))
    # Scoring a user costs a row of B per item it trained on: score all items
    # of a user at once (one matmul), then pick, rather than pair by pair.
    scores_by_user = True

    def __init__(self, num_users: int, num_items: int, num_history: int = 0, **kwargs):
        super().__init__(**kwargs)
        if num_users <= 0 or num_items <= 0:
            raise ValueError(f"num_users and num_items must be positive, got {num_users}, "
                             f"{num_items}")
        check_memory(num_items)  # before B [I, I] is allocated
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.num_history = int(num_history)
        self.weights_matrix = self.add_weight(shape=(num_items, num_items), initializer="zeros",
                                              trainable=False, name="item_item")
        self.history_offsets = self.add_weight(shape=(num_users + 1,), initializer="zeros",
                                               dtype="int64", trainable=False,
                                               name="history_offsets")
        self.history_items = self.add_weight(shape=(max(1, num_history),), initializer="zeros",
                                             dtype="int64", trainable=False,
                                             name="history_items")
        # The lambda B was fitted with (0: not fitted), kept with B in checkpoints.
        self.fitted_lambda = self.add_weight(shape=(), initializer="zeros", dtype="float64",
                                             trainable=False, name="fitted_lambda")
        self.built = True

    def set_history(self, users: np.ndarray, items: np.ndarray) -> None:
        """Stores the training positives (sorted by user) that score each user."""
        if len(items) != self.num_history:
            raise ValueError(f"history of {len(items)} positives, model built for "
                             f"{self.num_history}")
        self.history_offsets.assign(array_ops.csr_offsets(users, self.num_users))
        if len(items):
            self.history_items.assign(np.asarray(items, np.int64))

    def _histories(self, users):
        """(row int64 [S], item int64 [S]): every training item of each of `users` [n]."""
        offsets = tf.convert_to_tensor(self.history_offsets)
        positions = tf.ragged.range(tf.gather(offsets, users), tf.gather(offsets, users + 1))
        items = tf.gather(tf.convert_to_tensor(self.history_items), positions.flat_values)
        return tf.cast(positions.value_rowids(), tf.int64), items

    def all_item_logits(self, users):
        """Scores float32 [n, num_items] of int users [n]: rows x_u B."""
        users = tf.cast(tf.convert_to_tensor(users), tf.int64)
        rows, items = self._histories(users)
        # A dense [n, I] history block and one matmul: on CPU about 5x faster
        # than tf.sparse's sparse-dense product at MovieLens densities.
        x = tf.scatter_nd(tf.stack([rows, items], axis=1), tf.ones_like(items, tf.float32),
                          tf.stack([tf.shape(users, tf.int64)[0],
                                    tf.constant(self.num_items, tf.int64)]))
        return tf.matmul(x, tf.convert_to_tensor(self.weights_matrix))

    def call(self, inputs):
        """Scores float32 [B] for inputs {"user_id": int [B], "item_id": int [B]}."""
        users = tf.cast(tf.convert_to_tensor(inputs["user_id"]), tf.int64)
        items = tf.cast(tf.convert_to_tensor(inputs["item_id"]), tf.int64)
        rows, history = self._histories(users)
        b = tf.gather_nd(tf.convert_to_tensor(self.weights_matrix),
                         tf.stack([history, tf.gather(items, rows)], axis=1))
        return tf.math.unsorted_segment_sum(b, rows, tf.shape(users, tf.int64)[0])

    def get_config(self):
        """Constructor arguments, for Keras serialization."""
        return {**super().get_config(), "num_users": self.num_users,
                "num_items": self.num_items, "num_history": self.num_history}


def gram(users: np.ndarray, items: np.ndarray, num_users: int, num_items: int,
         gram_floats: int = GRAM_FLOATS) -> tf.Tensor:
    """G = X^T X float32 [I, I] of the binary matrix of positives (users, items) int [P].

    Accumulated over slices of users: each slice is a dense [n, I] block
    whose Gramian is one matmul that skips the block's zeros.
    """
    order = np.argsort(users, kind="stable")
    users, items = users[order].astype(np.int64), items[order].astype(np.int64)
    offsets = array_ops.csr_offsets(users, num_users)
    per_call = max(1, gram_floats // num_items)
    g = tf.zeros([num_items, num_items], tf.float32)
    for lo in range(0, num_users, per_call):
        hi = min(lo + per_call, num_users)
        a, b = offsets[lo], offsets[hi]
        x = tf.scatter_nd(np.stack([users[a:b] - lo, items[a:b]], axis=1),
                          tf.ones([b - a], tf.float32), [hi - lo, num_items])
        # SparseMatMul skips the zeros of a dense operand (what tf.matmul's
        # a_is_sparse calls, without its deprecation notice): about 4x faster
        # than a plain matmul here. Fit-time only; the export uses plain ops.
        g += tf.raw_ops.SparseMatMul(a=x, b=x, transpose_a=True, a_is_sparse=True,
                                     b_is_sparse=True)
    return g


@tf.function
def _closed_form(g, lam):
    n = tf.shape(g)[0]
    chol = tf.linalg.cholesky(g + lam * tf.eye(n, dtype=g.dtype))
    p = tf.linalg.cholesky_solve(chol, tf.eye(n, dtype=g.dtype))
    return tf.linalg.set_diag(-p / tf.linalg.diag_part(p)[None, :], tf.zeros([n], g.dtype))


def estimate_fit_seconds(num_items: int, probe_items: int = 768) -> float:
    """Seconds a fit of `num_items` items will take, from timing one at `probe_items`.

    The closed form costs O(I^3): a Cholesky factorization and solve timed
    on a random positive-definite [probe, probe] matrix, scaled by
    (num_items / probe)^3, and doubled for the Gram, evaluation and scoring
    (a whole EASE trial of ml-1m: 13 s, against 6.6 s estimated for the solve).
    """
    n = min(num_items, probe_items)
    x = tf.random.stateless_uniform([2 * n, n], seed=[0, 0])
    g = tf.matmul(x, x, transpose_a=True)
    closed_form(g, 1.0)  # warm-up: kernels loaded
    start = time.perf_counter()
    closed_form(g, 1.0)
    return 2.0 * (time.perf_counter() - start) * (num_items / n) ** 3


def closed_form(g: tf.Tensor, lam: float) -> tf.Tensor:
    """B float32 [I, I] = I - P diag(1 / diag P), P = (G + lam I)^-1; diag(B) = 0."""
    if lam <= 0:
        raise ValueError(f"ease lambda must be > 0, got {lam}")
    return _closed_form(g, tf.constant(lam, g.dtype))


def objective(g: tf.Tensor, b: tf.Tensor) -> float:
    """|X - X B|^2 + lam |B|^2 at the closed-form B: equals trace(G) - sum(G * B).

    (With G P = I - lam P and B = I - P D^-1, the lam terms cancel.)
    """
    return float(tf.linalg.trace(g) - tf.reduce_sum(g * b))


class EASESolver:
    """Fits `EASE` on fixed positives, choosing its lambda among candidates.

    One fit (any epoch) computes G once and the closed form of each
    candidate lambda. With several candidates, `judge` scores the model with
    each B (its validation metric, higher is better) and the best B is kept;
    its lambda is in `selected_settings` and in the model (`fitted_lambda`).

    Args:
      model: the EASE model to fill (B and the users' histories).
      users, items: int [P] training positives.
      lambdas: the candidate lambdas (> 0).
    """

    def __init__(self, model: EASE, users: np.ndarray, items: np.ndarray,
                 lambdas: tuple[float, ...]):
        if not lambdas or min(lambdas) <= 0:
            raise ValueError(f"ease lambdas must be positive, got {list(lambdas)}")
        self.model, self.lambdas = model, tuple(float(v) for v in lambdas)
        order = np.lexsort((items, users))
        self.users, self.items = users[order], items[order]
        self._gram = None  # G, computed on the first fit (not checkpointed: cheap to redo)

    def fit_epoch(self, epoch: int, judge: Callable[[], float] | None = None) -> float:
        """Fits B (choosing its lambda by `judge`); returns the objective per positive.

        Raises:
          ValueError: several candidates and no `judge` to choose among them.
        """
        del epoch  # every fit is the same fit
        if len(self.lambdas) > 1 and judge is None:
            raise ValueError(f"EASE has {len(self.lambdas)} candidate lambdas and no "
                             "validation to choose among them")
        m = self.model
        if self._gram is None:
            start = time.perf_counter()
            m.set_history(self.users, self.items)
            self._gram = gram(self.users, self.items, m.num_users, m.num_items)
            logging.info("EASE: G = X^T X (%d x %d) from %d positives in %.1f s", m.num_items,
                         m.num_items, len(self.items), time.perf_counter() - start)
        best, best_value, b = self.lambdas[0], -math.inf, None
        for lam in self.lambdas:
            b = self._fit(lam)
            if len(self.lambdas) > 1:
                value = float(judge())
                logging.info("EASE: lambda %g scores %.4f on validation", lam, value)
                if value > best_value:  # a nan never wins
                    best, best_value = lam, value
        if lam != best:  # refit the winner rather than hold a second I x I matrix
            b = self._fit(best)
        if len(self.lambdas) > 1:
            logging.info("EASE: lambda %g selected among %s by validation", best,
                         ", ".join(f"{v:g}" for v in self.lambdas))
        m.fitted_lambda.assign(best)
        return objective(self._gram, b) / max(1, len(self.items))

    def _fit(self, lam: float) -> tf.Tensor:
        """B of `lam` (also assigned to the model)."""
        start = time.perf_counter()
        b = closed_form(self._gram, lam)
        self.model.weights_matrix.assign(b)
        logging.info("EASE: closed form for lambda %g in %.1f s", lam,
                     time.perf_counter() - start)
        return b

    def selected_settings(self) -> dict[str, tuple[float, ...]]:
        """{"ease_lambdas": (the fitted lambda,)} once fitted (or restored), else {}."""
        lam = float(self.model.fitted_lambda.numpy())
        return {"ease_lambdas": (lam,)} if lam > 0 else {}
