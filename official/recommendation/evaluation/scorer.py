"""A model as the evaluator scores it: fixed-shape, chunked, compiled calls.

`ModelScorer` wraps any `models.interface.Recommender`; the evaluator, the
trainers' conveniences and the benchmarks score through it. Calls have a
fixed shape (the last chunk is padded), so the compiled functions are traced
once.
"""

import numpy as np
import tensorflow as tf

from official.recommendation.evaluation import full_ranking

EVAL_BATCH_SIZE = 100_000  # scored pairs per call of `score`


class ModelScorer:
    """Chunked, compiled scoring of a model.

    Args:
      model: a `Recommender`.
      num_items: its catalogue size I.
      jit_compile: compile the calls with XLA (not for models with ragged or
        sparse ops, such as EASE).
      eval_batch_size: pairs per call of `score`.
    """

    def __init__(self, model, num_items: int, jit_compile: bool = True,
                 eval_batch_size: int = EVAL_BATCH_SIZE):
        self.model, self.num_items, self.eval_batch_size = model, num_items, eval_batch_size
        self.scores_by_user = bool(model.scores_by_user)
        self._score_fn = tf.function(lambda u, i: model({"user_id": u, "item_id": i}),
                                     jit_compile=jit_compile, reduce_retracing=True)
        self._score_all_fn = tf.function(model.all_item_logits, jit_compile=jit_compile,
                                         reduce_retracing=True)

    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Logits float32 for aligned int32 index arrays of any equal shape."""
        flat_u, flat_i = users.reshape(-1), items.reshape(-1)
        out = np.empty(flat_u.shape, np.float32)
        chunk = self.eval_batch_size
        for lo in range(0, len(flat_u), chunk):
            hi = min(lo + chunk, len(flat_u))
            u = np.zeros(chunk, np.int32)
            i = np.zeros(chunk, np.int32)
            u[:hi - lo], i[:hi - lo] = flat_u[lo:hi], flat_i[lo:hi]  # fixed shape: no retrace
            out[lo:hi] = self._score_fn(tf.constant(u), tf.constant(i)).numpy()[:hi - lo]
        return out.reshape(users.shape)

    def score_rows(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Logits float32 [n, m] of int32 users [n] against their items [n, m], via `score_all`."""
        out = np.empty(items.shape, np.float32)
        chunk = max(1, full_ranking.PAIRS_PER_CHUNK // self.num_items)
        for lo in range(0, len(users), chunk):
            scores = self.score_all(users[lo:lo + chunk])
            out[lo:lo + chunk] = np.take_along_axis(scores, items[lo:lo + chunk], axis=1)
        return out

    def score_all(self, users: np.ndarray) -> np.ndarray:
        """Logits float32 [n, I] of int32 users [n] against every item."""
        chunk = max(1, full_ranking.PAIRS_PER_CHUNK // self.num_items)
        out = np.empty((len(users), self.num_items), np.float32)
        for lo in range(0, len(users), chunk):
            hi = min(lo + chunk, len(users))
            u = np.zeros(chunk, np.int32)
            u[:hi - lo] = users[lo:hi]  # fixed shape: no retrace
            out[lo:hi] = self._score_all_fn(tf.constant(u)).numpy()[:hi - lo]
        return out
