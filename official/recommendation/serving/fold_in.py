"""Fold-in: scores for users the model never saw, from the items they rated, in batches.

The item side stays frozen; only each new user's representation is
computed, in-graph, for a batch of histories at once (a `tf.RaggedTensor`
int32 [B, (H)] of item indices, no repeats within a row), so the export can
serve new users together (`model_export`'s `recommend_for_histories`).
Users in a batch never affect each other: a batch gives each user exactly
what it would get alone (the sampled negatives are one seeded sequence of
which each user takes its own prefix).

* iALS: the exact least-squares row, solved by the solver's own exact
  solve for a trained user (`IALS.fold_in_rows`), one k x k solve per user:
    (H^T H + alpha * sum_{i in h} h_i h_i^T + lambda * s I) w
        = (1 + alpha) * sum_{i in h} h_i,   s = (|I| + alpha * |h|)^nu.
* MF, GMF, MLP, NeuMF: the model's own loss (sigmoid cross-entropy) on the
  history items (label 1) and `num_neg` seeded uniform negatives per
  history item (label 0; a draw that hits the history is dropped), plus
  `l2 * |u - u_mean|^2`, minimized from the mean trained user row u_mean by
  `newton_steps` Gauss-Newton steps with a line search (one W x W solve per
  user and step; for MF and GMF, whose logits are linear in the user row,
  this is Newton's method: iteratively reweighted least squares on the
  item rows), or by `steps` Adam steps: MLP's default (`fold_in_method`;
  the exact minimum fits its new users less well than Adam's early-stopped
  steps on `fold_in_benchmark`) or any model's with `method="adam"`.
* EASE: the history row times the item-item matrix.
* Popularity: the same scores for every user.
"""

import dataclasses

import tensorflow as tf

METHODS = ("auto", "newton", "adam")
LINE_SEARCH = 12  # step fractions 1, 1/2, ..., 1/2048 tried per Gauss-Newton step (and 0)


@dataclasses.dataclass(frozen=True)
class FoldInSettings:
    """How new users are folded in.

    Attributes:
      method: "newton" (Gauss-Newton steps), "adam" (Adam steps) or "auto":
        the model's `fold_in_method` (Gauss-Newton unless it says otherwise).
      steps: Adam steps of the gradient fold-in.
      learning_rate: their step size.
      newton_steps: Gauss-Newton steps.
      num_neg: sampled negatives per history item.
      l2: weight of |u - u_mean|^2 (keeps short histories near the mean user).
      seed: seed of the negatives.
      ials_alpha, ials_regularization, ials_exponent: the iALS objective's
        alpha, lambda and nu (those the model was trained with).
    """

    method: str = "auto"
    steps: int = 100
    learning_rate: float = 0.05
    newton_steps: int = 4
    num_neg: int = 4
    l2: float = 1e-2
    seed: int = 0
    ials_alpha: float = 9.0
    ials_regularization: float = 0.01
    ials_exponent: float = 1.0

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"fold-in method must be one of {METHODS}, got {self.method!r}")


def settings_for(train, **overrides) -> FoldInSettings:
    """The fold-in of a model trained with `train` (an `configs.TrainConfig`).

    Its seed and iALS objective; `overrides` set other fields.
    """
    return FoldInSettings(**{"seed": train.seed, "ials_alpha": train.ials_alpha,
                             "ials_regularization": train.ials_regularization,
                             "ials_exponent": train.ials_exponent, **overrides})


def as_histories(histories) -> tf.RaggedTensor:
    """`histories` as an int32 `tf.RaggedTensor` [B, (H)] (a ragged or nested-list input)."""
    if isinstance(histories, tf.RaggedTensor):
        return tf.cast(histories, tf.int32)
    return tf.ragged.constant(histories, dtype=tf.int32, ragged_rank=1)


def padded(histories: tf.RaggedTensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(items int32 [B, H] padded with item 0, mask float32 [B, H]: 1 on real entries)."""
    items = histories.to_tensor(0)
    mask = tf.sequence_mask(histories.row_lengths(), tf.shape(items)[1], tf.float32)
    return items, mask


def history_pairs(histories: tf.RaggedTensor) -> tf.Tensor:
    """(row, item) int32 [P, 2] of every history entry (for scatters into [B, I])."""
    return tf.stack([tf.cast(histories.value_rowids(), tf.int32), histories.flat_values], 1)


def history_indicator(histories: tf.RaggedTensor, num_items) -> tf.Tensor:
    """float32 [B, num_items]: 1 where a row's history has the item (no repeats), else 0."""
    return tf.scatter_nd(history_pairs(histories),
                         tf.ones_like(histories.flat_values, tf.float32),
                         [tf.cast(histories.nrows(), tf.int32), num_items])


def sampled_examples(num_items, histories: tf.RaggedTensor, settings: FoldInSettings
                     ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Each user's history (label 1) and seeded negatives (label 0), padded.

    User b's negatives are the first `num_neg * |h_b|` draws of one seeded
    sequence, whatever the batch (a draw that hits b's history weighs 0).

    Returns:
      (candidates int32 [B, M], labels float32 [B, M], weights float32 [B, M]:
      1 on each user's real examples, 0 on padding), M = (1 + num_neg) * H.
    """
    items, mask = padded(histories)
    batch, longest = tf.shape(items)[0], tf.shape(items)[1]
    lengths = tf.cast(histories.row_lengths(), tf.int32)
    negatives = tf.random.stateless_uniform([longest * settings.num_neg], [settings.seed, 17],
                                            maxval=num_items, dtype=tf.int32)
    hits = tf.gather(history_indicator(histories, num_items), negatives, axis=1)  # [B, N]
    drawn = tf.sequence_mask(lengths * settings.num_neg, longest * settings.num_neg,
                             tf.float32)
    candidates = tf.concat([items, tf.broadcast_to(negatives[None], [batch, tf.size(
        negatives)])], 1)
    labels = tf.concat([tf.ones_like(mask), tf.zeros_like(drawn)], 1)
    return candidates, labels, tf.concat([mask, drawn * (1.0 - hits)], 1)


def _start_and_examples(model, histories, settings):
    users = tf.convert_to_tensor(model.user_table)
    table = tf.convert_to_tensor(model.item_table)
    candidates, labels, weights = sampled_examples(tf.shape(table)[0], histories, settings)
    # Per-user normalization (a user with no example, who falls back, divides by 1).
    weights = weights / tf.maximum(tf.reduce_sum(weights, axis=1, keepdims=True), 1.0)
    start = tf.broadcast_to(tf.reduce_mean(users, axis=0)[None],
                            [tf.shape(candidates)[0], tf.shape(users)[1]])
    return start, tf.gather(table, candidates), labels, weights


def gradient_user_rows(model, histories: tf.RaggedTensor, settings: FoldInSettings
                       ) -> tf.Tensor:
    """Fused user rows float32 [B, W] fitted by Adam to `histories` (int32 ragged [B, (H)]).

    `model` has `user_table`, `item_table` and `grouped_logits_from_rows`
    (MF, GMF, MLP, NeuMF). The loss is a sum of per-user terms, so each
    user's gradient (and Adam's per-coordinate update) is its own.
    """
    start, rows, labels, weights = _start_and_examples(model, histories, settings)
    beta1, beta2, eps = 0.9, 0.999, 1e-7

    def step(t, u, m, v):
        with tf.GradientTape() as tape:
            tape.watch(u)
            logits = model.grouped_logits_from_rows(u, rows)
            losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
            loss = (tf.reduce_sum(weights * losses)
                    + settings.l2 * tf.reduce_sum(tf.square(u - start)))
        g = tape.gradient(loss, u)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * tf.square(g)
        tf_t = tf.cast(t + 1, tf.float32)
        m_hat, v_hat = m / (1 - beta1 ** tf_t), v / (1 - beta2 ** tf_t)
        return t + 1, u - settings.learning_rate * m_hat / (tf.sqrt(v_hat) + eps), m, v

    zeros = tf.zeros_like(start)
    _, u, _, _ = tf.while_loop(lambda t, *_: t < settings.steps, step,
                               (tf.constant(0), start, zeros, zeros))
    return u


def newton_user_rows(model, histories: tf.RaggedTensor, settings: FoldInSettings
                     ) -> tf.Tensor:
    """Fused user rows float32 [B, W] minimizing the fold-in objective by Gauss-Newton steps.

    Each step takes the Jacobian J [B, M, W] of every example's logit with
    respect to its user's row (the model's `fold_in_jacobian_fn` where it
    has one, else one backward pass over per-example copies of the rows),
    solves (J^T D J + 2 l2 I) d = gradient per user, D = weight *
    p (1 - p), and moves by the longest of d, d/2, ..., d/2^(LINE_SEARCH - 1)
    (or not at all) that lowers that user's objective with the logits moved
    along J d (exact for MF and GMF, whose logits are linear in the user row:
    there this is Newton's method, iteratively reweighted least squares on
    the item rows; first-order for MLP and NeuMF). From a saturated start the
    full step can overshoot, hence the search.
    """
    start, rows, labels, weights = _start_and_examples(model, histories, settings)
    batch, width = tf.shape(rows)[0], tf.shape(start)[1]
    l2 = settings.l2
    eye = 2.0 * l2 * tf.eye(width)[None]
    fractions = tf.constant([0.5 ** i for i in range(LINE_SEARCH)] + [0.0])  # [S]
    if hasattr(model, "fold_in_jacobian_fn"):  # the model's own, computed per side
        logits_and_jacobian = model.fold_in_jacobian_fn(rows)
    else:
        logits_and_jacobian = _per_example_jacobian(model, rows)

    def objective(logits, u):  # [S, B, M], [S, B, W] -> [S, B]
        losses = tf.nn.sigmoid_cross_entropy_with_logits(
            labels=tf.broadcast_to(labels, tf.shape(logits)), logits=logits)
        return tf.reduce_sum(weights * losses, -1) + l2 * tf.reduce_sum(tf.square(u - start), -1)

    u = start
    for _ in range(settings.newton_steps):
        logits, jacobian = logits_and_jacobian(u)
        p = tf.sigmoid(logits)
        grad = (tf.einsum("bmw,bm->bw", jacobian, weights * (p - labels))
                + 2.0 * l2 * (u - start))
        curvature = jacobian * (weights * p * (1.0 - p))[:, :, None]
        hessian = tf.matmul(curvature, jacobian, transpose_a=True) + eye
        step = tf.linalg.cholesky_solve(tf.linalg.cholesky(hessian), grad[:, :, None])[:, :, 0]
        moved = tf.einsum("bmw,bw->bm", jacobian, step)  # d logits / d fraction
        tried = u[None] - fractions[:, None, None] * step[None]  # [S, B, W]
        scores = objective(logits[None] - fractions[:, None, None] * moved[None], tried)
        best = tf.argmin(scores, axis=0, output_type=tf.int32)  # [B]
        u = tf.gather_nd(tried, tf.stack([best, tf.range(batch)], axis=1))
    return u


def _per_example_jacobian(model, rows):
    """Logits [B, M] and their Jacobian [B, M, W] at u [B, W], for any SGD model.

    One backward pass over a copy of each user's row per example (each
    logit depends on its own copy only).
    """
    batch, m, width = tf.shape(rows)[0], tf.shape(rows)[1], tf.shape(rows)[2]
    flat_rows = tf.reshape(rows, [batch * m, 1, width])

    def logits_and_jacobian(u):
        copies = tf.reshape(tf.broadcast_to(u[:, None, :], [batch, m, tf.shape(u)[1]]),
                            [batch * m, -1])
        with tf.GradientTape() as tape:
            tape.watch(copies)
            logits = tf.reshape(model.grouped_logits_from_rows(copies, flat_rows), [batch, m])
        return logits, tf.reshape(tape.gradient(logits, copies), [batch, m, -1])

    return logits_and_jacobian


def factor_logits(model, histories: tf.RaggedTensor, settings: FoldInSettings) -> tf.Tensor:
    """Logits float32 [B, I] of new users of an SGD model (Gauss-Newton or Adam, `settings`)."""
    method = settings.method
    if method == "auto":
        method = getattr(model, "fold_in_method", "newton")
    if method == "newton":
        rows = newton_user_rows(model, histories, settings)
    else:
        rows = gradient_user_rows(model, histories, settings)
    return model.all_item_logits_from_rows(rows)


def history_logits(model, histories, settings: FoldInSettings) -> tf.Tensor:
    """Scores float32 [B, num_items] of new users with `histories` (int32 ragged [B, (H)]).

    Each model folds in its own way (`Recommender.fold_in_logits`).
    """
    return model.fold_in_logits(as_histories(histories), settings)
