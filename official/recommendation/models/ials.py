"""Implicit alternating least squares (iALS) as a scorer and a batched TF solver.

Objective (Hu, Koren & Volinsky 2008, with the frequency-scaled
regularization of Rendle et al. 2022, "Revisiting the Performance of iALS on
Item Recommendation Benchmarks"), over every user-item pair:

  L(W, H) = sum_{u,i} c_ui (p_ui - w_u . h_i)^2
            + lambda * (sum_u s_u |w_u|^2 + sum_i s_i |h_i|^2),

  p_ui = 1 for a training positive, else 0;  c_ui = 1 + alpha g_ui for a
  positive, else 1;  s_u = (sum_i c_ui)^nu = (|I| + alpha sum_{i in I_u} g_ui)^nu,
  likewise s_i.

g_ui = 1 for every positive, unless the log has weights (plays, clicks):
then g_ui = log(1 + w_ui / epsilon), Hu et al.'s logarithmic confidence
(their eq. 6, `--ials_weight_epsilon`).

nu = 0 is the plain regularization of `implicit` and Hu et al.; nu = 1 scales
each row's penalty with its total weight in the loss, as Rendle et al.
recommend. One sweep solves every user row exactly with H fixed, then every
item row with W fixed; each half-sweep lowers L (or keeps it), so the loss
decreases every sweep.

The Gramian trick: with G = H^T H (k x k, once per half-sweep), user u's
normal equations are

  (G + alpha sum_{i in I_u} g_ui h_i h_i^T + lambda s_u I) w_u
      = sum_{i in I_u} (1 + alpha g_ui) h_i,

so the unobserved pairs cost nothing per user. Rows are grouped by their
positive count into buckets of padded width (powers of sqrt 2); each block
of rows is one call of one traced function: a gather [n, width, k] (pads
read a zero row), then one batched matmul for the per-row Gramians and one
batched Cholesky solve, or (`cg_steps`) matrix-free conjugate-gradient
steps on the gathered rows. Blocks are bounded in floats and solved one
after another, so memory stays bounded at any scale.
"""

import dataclasses
import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from official.recommendation.models.baselines import FactorModel
from official.recommendation.serving import fold_in


def build(num_users: int, num_items: int, config, train_users=None, train_items=None
          ) -> "IALS":
    """The registry's builder of `IALS` (`config.num_factors`); `build_solver` fits it."""
    del train_users, train_items
    stddev = 0.1 if config.init_stddev is None else config.init_stddev
    return IALS(num_users, num_items, config.num_factors, stddev)


def build_solver(model: "IALS", train_users, train_items, config, train_weights=None
                 ) -> "IALSSolver":
    """The registry's solver of an `IALS` on int32 positives [P], `config`'s objective.

    `train_weights` float [P] (a log's summed --weight_column) set each
    positive's confidence `log_confidence(w, config.ials_weight_epsilon)`.
    """
    confidence = (None if train_weights is None
                  else log_confidence(train_weights, config.ials_weight_epsilon))
    return IALSSolver(model, train_users, train_items, config.ials_alpha,
                      config.ials_regularization, config.ials_exponent, config.ials_cg_steps,
                      confidence=confidence)


def log_confidence(weights: np.ndarray, epsilon: float) -> np.ndarray:
    """G = log(1 + w / epsilon) float32 [P] of positive weights [P] (Hu et al. 2008, eq. 6)."""
    if epsilon <= 0:
        raise ValueError(f"ials weight epsilon must be > 0, got {epsilon}")
    return np.log1p(np.asarray(weights, np.float64) / epsilon).astype(np.float32)

# Floats one block may hold in its gathered rows ([n, width, k]) and in its
# per-row Gramians ([n, k, k]): 2^24 floats = 64 MiB each.
BLOCK_FLOATS = 1 << 24
SMALLEST_WIDTH = 4
# Pairs per call when the loss gathers both sides of every positive.
LOSS_PAIRS = 1 << 20


@keras.saving.register_keras_serializable(package="official")
class IALS(FactorModel):
    """Dot-product scorer of iALS factors: logit = w_u . h_i (no biases)."""

    model_type = "ials"
    scores_by_user = False

    def fold_in_logits(self, histories, settings):
        """Logits float32 [B, I] of new users (int32 ragged [B, (H)]): exact least squares."""
        rows = self.fold_in_rows(histories, settings)
        return tf.matmul(rows, tf.convert_to_tensor(self.item_table), transpose_b=True)

    def fold_in_rows(self, histories, settings):
        """Exact rows float32 [B, k] of new users (int32 ragged [B, (H)], no repeats).

        The normal equations and solve of a trained user's row (unweighted:
        every history entry counts once), with `settings`' alpha, lambda, nu.
        """
        table = tf.convert_to_tensor(self.item_table)
        items, mask = fold_in.padded(histories)
        x = tf.gather(table, items) * mask[:, :, None]  # [B, H, k], padding rows zero
        alpha = settings.ials_alpha
        count = (tf.cast(tf.shape(table)[0], tf.float32)
                 + alpha * tf.cast(histories.row_lengths(), tf.float32))
        reg = settings.ials_regularization * tf.pow(count, settings.ials_exponent)
        return _solve_exact(x, None, tf.matmul(table, table, transpose_a=True), reg, alpha)

    def __init__(self, num_users: int, num_items: int, num_factors: int = 64,
                 init_stddev: float = 0.1, **kwargs):
        super().__init__(num_users, num_items, num_factors, num_factors,
                         keras.initializers.RandomNormal(0.0, init_stddev / math.sqrt(num_factors)),
                         False, "factors", **kwargs)
        self.init_stddev = float(init_stddev)
        self.built = True

    def all_item_logits(self, users):
        """Scores float32 [n, num_items] of int users [n] against every item."""
        u = ops.take(self.user_table, users, axis=0)
        return ops.matmul(u, ops.transpose(ops.convert_to_tensor(self.item_table)))

    def call(self, inputs):
        """Scores float32 [B] for inputs {"user_id": int [B], "item_id": int [B]}."""
        u = ops.take(self.user_table, inputs["user_id"], axis=0)
        i = ops.take(self.item_table, inputs["item_id"], axis=0)
        return ops.sum(u * i, axis=-1)

    def get_config(self):
        """Constructor arguments, for Keras serialization."""
        return {**super().get_config(), "num_users": self.num_users,
                "num_items": self.num_items, "num_factors": self.num_factors,
                "init_stddev": self.init_stddev}


@dataclasses.dataclass(frozen=True)
class Block:
    """Rows solved in one call.

    Attributes:
      rows: int32 [n] row ids.
      others: int32 [n, width] the other-side ids of each row's positives,
        padded with the other side's size (which gathers a zero row).
      reg: float32 [n] each row's regularization, lambda * s_row.
      conf: float32 [n, width] each positive's g (0 in the pads).
    """

    rows: np.ndarray
    others: np.ndarray
    reg: np.ndarray
    conf: np.ndarray


def bucket_widths(max_degree: int) -> np.ndarray:
    """Padded widths int64: SMALLEST_WIDTH, then steps of about sqrt 2 up to max_degree."""
    widths, w = [], SMALLEST_WIDTH
    j = 0
    while True:
        widths.append(w)
        if w >= max_degree:
            return np.array(widths)
        j += 1
        w = max(w + 1, int(math.ceil(SMALLEST_WIDTH * 2 ** (j / 2))))


def row_regularization(degree: np.ndarray, num_others: int, alpha: float,
                       regularization: float, exponent: float) -> np.ndarray:
    """Each row's L2 weight lambda * s_row, float32 [R], from its summed g [R].

    (Without weights a row's summed g is its positive count.)
    """
    scale = (num_others + alpha * degree.astype(np.float64)) ** exponent
    return (regularization * scale).astype(np.float32)


def blocks(rows: np.ndarray, others: np.ndarray, num_rows: int, num_others: int,
           num_factors: int, alpha: float, regularization: float, exponent: float,
           block_floats: int = BLOCK_FLOATS, confidence: np.ndarray | None = None
           ) -> list[Block]:
    """One side's solve blocks (every row, those without positives included).

    Args:
      rows, others: int [P] the positives as (row, other-side id) pairs.
      num_rows, num_others: sizes of the two sides.
      num_factors: k.
      alpha, regularization, exponent: alpha, lambda and nu of the objective.
      block_floats: bound on a block's [n, width, k] and [n, k, k] floats.
      confidence: float [P] each positive's g (None: 1 each).

    Returns:
      Blocks covering each row exactly once.
    """
    order = np.lexsort((others, rows))
    rows, others = rows[order].astype(np.int64), others[order].astype(np.int32)
    conf = (np.ones(len(rows), np.float32) if confidence is None
            else np.asarray(confidence, np.float32)[order])
    degree = np.bincount(rows, minlength=num_rows)
    starts = np.concatenate([[0], np.cumsum(degree)[:-1]])
    widths = bucket_widths(int(degree.max(initial=1)))
    bucket = np.searchsorted(widths, degree)  # first width >= degree
    reg = row_regularization(np.bincount(rows, conf, num_rows), num_others, alpha,
                             regularization, exponent)
    out = []
    for b in np.unique(bucket):
        members = np.nonzero(bucket == b)[0]
        width = int(widths[b])
        per_block = max(1, block_floats // (num_factors * max(width, num_factors)))
        for lo in range(0, len(members), per_block):
            ids = members[lo:lo + per_block]
            counts = degree[ids]
            pad = np.full((len(ids), width), num_others, np.int32)
            g = np.zeros((len(ids), width), np.float32)
            r = np.repeat(np.arange(len(ids)), counts)
            pos = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            source = np.repeat(starts[ids], counts) + pos
            pad[r, pos] = others[source]
            g[r, pos] = conf[source]
            out.append(Block(ids.astype(np.int32), pad, reg[ids], g))
    return out


def _normal_equations(x, conf, gram, reg, alpha):
    """(A [n, k, k], b [n, k]) of each row's normal equations (module docstring).

    `conf` None: every g is 1 (pads gather zero rows), the cheaper unweighted form.
    """
    k = tf.shape(gram)[0]
    eye = reg[:, None, None] * tf.eye(k, dtype=gram.dtype)[None]
    if conf is None:
        return (gram[None] + alpha * tf.matmul(x, x, transpose_a=True) + eye,
                (1.0 + alpha) * tf.reduce_sum(x, axis=1))
    a = gram[None] + alpha * tf.matmul(x * conf[:, :, None], x, transpose_a=True) + eye
    return a, tf.reduce_sum((1.0 + alpha * conf)[:, :, None] * x, axis=1)


def _solve_exact(x, conf, gram, reg, alpha):
    """Rows float32 [n, k] solving each row's normal equations exactly (Cholesky)."""
    a, b = _normal_equations(x, conf, gram, reg, alpha)
    return tf.linalg.cholesky_solve(tf.linalg.cholesky(a), b[:, :, None])[:, :, 0]


def _solve_cg(x, conf, gram, reg, alpha, start, steps):
    """Rows float32 [n, k] after `steps` conjugate-gradient steps from `start` [n, k].

    Matrix-free: A p = G p + alpha X^T (g * (X p)) + lambda s p is computed
    from the gathered rows X [n, width, k] without forming any row's k x k
    matrix, so a step costs O(width k) per row where an exact solve's per-row
    Gramians cost O(width k^2). Each step lowers the row's part of L (CG on a
    positive-definite system decreases its quadratic monotonically), so
    sweeps still lower L.
    """
    weight = alpha * conf  # [n, width]; 0 in the pads

    def times_a(p, plus=None):  # [n, k] -> A p [n, k]; with plus [n, width]: X^T plus - A p
        xp = tf.linalg.matvec(x, p) * weight  # [n, width]
        rest = tf.matmul(p, gram) + reg[:, None] * p
        if plus is None:
            return tf.linalg.matvec(x, xp, transpose_a=True) + rest
        return tf.linalg.matvec(x, plus - xp, transpose_a=True) - rest

    sol = start
    # r = b - A x0 with b = X^T (1 + weight) (pads: x = 0): one pass over X less.
    r = times_a(sol, plus=1.0 + weight)
    p, rs = r, tf.reduce_sum(r * r, axis=1)
    tiny = tf.constant(1e-30, rs.dtype)
    for _ in range(steps):  # a Python int: unrolled (a few steps)
        ap = times_a(p)
        step = rs / tf.maximum(tf.reduce_sum(p * ap, axis=1), tiny)
        sol += step[:, None] * p
        r -= step[:, None] * ap
        new = tf.reduce_sum(r * r, axis=1)
        p = r + (new / tf.maximum(rs, tiny))[:, None] * p
        rs = new
    return sol


def _block_solver(steps: int, weighted: bool):
    """A tf.function solving one block's rows, traced once for every block shape.

    Its arguments: the other side's factors with a zero row appended
    `padded` [O + 1, k], the side's `table` [R, k], the block's `rows` [n],
    `others` [n, width], `conf` [n, width], `reg` [n], the Gramian [k, k]
    and alpha; it returns the block's new rows [n, k]. One trace serves every
    block of both sides (a graph unrolled over the blocks took seconds to
    build and optimize, longer than a whole fit's sweeps at ml-1m scale).
    """
    def solve(padded, table, rows, others, conf, reg, gram, alpha):
        x = tf.gather(padded, others)  # [n, width, k]; pads gather the zero row
        if steps:
            return _solve_cg(x, conf, gram, reg, alpha, tf.gather(table, rows), steps)
        return _solve_exact(x, conf if weighted else None, gram, reg, alpha)

    f32, i32 = tf.float32, tf.int32
    return tf.function(solve, autograph=False, input_signature=[
        tf.TensorSpec([None, None], f32), tf.TensorSpec([None, None], f32),
        tf.TensorSpec([None], i32), tf.TensorSpec([None, None], i32),
        tf.TensorSpec([None, None], f32), tf.TensorSpec([None], f32),
        tf.TensorSpec([None, None], f32), tf.TensorSpec([], f32)])


@tf.function(reduce_retracing=True)
def _positive_terms(w, h, users, items, conf, alpha):
    """Sum over the given positives of (1 + alpha g)(1 - y)^2 - y^2, y = w_u . h_i."""
    y = tf.reduce_sum(tf.gather(w, users) * tf.gather(h, items), axis=1)
    return tf.reduce_sum((1.0 + alpha * conf) * tf.square(1.0 - y) - tf.square(y))


def _side_tensors(side_blocks: list[Block]) -> tuple[list[tuple], tf.Tensor]:
    """Each block's (rows [n], others [n, width], conf [n, width], reg [n]); all rows.

    The second item holds every block's rows in order, int32 [R, 1].
    """
    return ([(tf.constant(b.rows), tf.constant(b.others), tf.constant(b.conf),
              tf.constant(b.reg)) for b in side_blocks],
            tf.constant(np.concatenate([b.rows for b in side_blocks])[:, None]))


class IALSSolver:
    """Alternating exact solves of `IALS` factors on a fixed set of positives.

    Args:
      model: the IALS model whose tables are updated in place.
      users, items: int [P] training positives.
      alpha, regularization, exponent: alpha, lambda and nu (module docstring).
      cg_steps: 0 solves each row exactly (batched Cholesky); n > 0 takes n
        conjugate-gradient steps from the row's current value instead
        (`implicit`'s default is 3), cheaper and inexact.
      block_floats: see `blocks`.
      confidence: float [P] each positive's g (module docstring); None: 1 each.
    """

    def __init__(self, model: IALS, users: np.ndarray, items: np.ndarray, alpha: float,
                 regularization: float, exponent: float, cg_steps: int = 0,
                 block_floats: int = BLOCK_FLOATS, confidence: np.ndarray | None = None):
        if not (0 <= alpha < np.inf and 0 < regularization < np.inf and 0 <= exponent < np.inf):
            raise ValueError(f"iALS needs alpha >= 0, regularization > 0 and exponent >= 0, "
                             f"got {alpha}, {regularization}, {exponent}")
        if cg_steps < 0:
            raise ValueError(f"cg_steps must be >= 0, got {cg_steps}")
        self.model, self.alpha, self.cg_steps = model, float(alpha), int(cg_steps)
        self.regularization, self.exponent = float(regularization), float(exponent)
        k = model.num_factors
        nu, ni = model.num_users, model.num_items
        self.users, self.items = np.asarray(users, np.int32), np.asarray(items, np.int32)
        self.conf = (np.ones(len(self.users), np.float32) if confidence is None
                     else np.asarray(confidence, np.float32))
        if len(self.conf) != len(self.users) or not (np.isfinite(self.conf).all()
                                                     and (self.conf >= 0).all()):
            raise ValueError("iALS confidences must be finite, >= 0 and one per positive")
        self.user_blocks = blocks(self.users, self.items, nu, ni, k, alpha, regularization,
                                  exponent, block_floats, self.conf)
        self.item_blocks = blocks(self.items, self.users, ni, nu, k, alpha, regularization,
                                  exponent, block_floats, self.conf)
        self._user_side, self._item_side = (_side_tensors(b)
                                            for b in (self.user_blocks, self.item_blocks))
        self._solve = _block_solver(self.cg_steps, confidence is not None)
        self.user_reg = row_regularization(np.bincount(self.users, self.conf, nu), ni, alpha,
                                           regularization, exponent)
        self.item_reg = row_regularization(np.bincount(self.items, self.conf, ni), nu, alpha,
                                           regularization, exponent)

    def _half_sweep(self, table, other, side) -> None:
        """Solves every row of `table` [R, k] from the other side's factors [O, k]."""
        other = tf.convert_to_tensor(other)
        gram = tf.matmul(other, other, transpose_a=True)
        padded = tf.concat([other, tf.zeros([1, other.shape[1]], other.dtype)], axis=0)
        alpha, current = tf.constant(self.alpha, tf.float32), tf.convert_to_tensor(table)
        blocks_, index = side
        solved = [self._solve(padded, current, rows, others, conf, reg, gram, alpha)
                  for rows, others, conf, reg in blocks_]
        # The blocks cover every row once: the new table is their solutions scattered.
        table.assign(tf.scatter_nd(index, tf.concat(solved, axis=0), tf.shape(current)))

    def selected_settings(self) -> dict:
        """Nothing is chosen during a fit: a refit uses the run's own settings."""
        return {}

    def fit_epoch(self, epoch: int, judge=None) -> float:
        """One sweep (any epoch: each starts from the current factors); L per positive.

        `judge` is unused: a sweep has no candidates to choose among.
        """
        del epoch, judge
        return self.sweep() / max(1, len(self.users))

    def sweep(self, with_loss: bool = True) -> float | None:
        """Solves every user row, then every item row; returns the loss L after it.

        Args:
          with_loss: compute L (a pass over the positives); False returns None.
        """
        m = self.model
        self._half_sweep(m.user_table, m.item_table.value, self._user_side)
        self._half_sweep(m.item_table, m.user_table.value, self._item_side)
        return self.loss() if with_loss else None

    def loss(self) -> float:
        """The objective L (module docstring) at the current factors, float."""
        w, h = tf.convert_to_tensor(self.model.user_table), tf.convert_to_tensor(
            self.model.item_table)
        every = tf.reduce_sum(tf.matmul(w, w, transpose_a=True)
                              * tf.matmul(h, h, transpose_a=True))
        alpha = tf.constant(self.alpha, tf.float32)
        positives = 0.0
        for lo in range(0, len(self.users), LOSS_PAIRS):
            positives += float(_positive_terms(w, h, self.users[lo:lo + LOSS_PAIRS],
                                               self.items[lo:lo + LOSS_PAIRS],
                                               self.conf[lo:lo + LOSS_PAIRS], alpha))
        reg = (tf.reduce_sum(self.user_reg * tf.reduce_sum(tf.square(w), axis=1))
               + tf.reduce_sum(self.item_reg * tf.reduce_sum(tf.square(h), axis=1)))
        return float(every) + positives + float(reg)
