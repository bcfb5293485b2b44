"""Fold-in: scores for a user the model never saw, from the items they rated.

The item side stays frozen; only the new user's representation is computed,
in-graph, so the export can serve new users (`model_export`'s
`recommend_for_history`):

* iALS: the exact least-squares row, the same normal equations the solver
  uses for a trained user (`ials`):
    (H^T H + alpha * sum_{i in h} h_i h_i^T + lambda * s I) w
        = (1 + alpha) * sum_{i in h} h_i,   s = (|I| + alpha * |h|)^nu.
* MF, GMF, MLP, NeuMF: `FoldInSettings.steps` steps of Adam on the model's
  own loss (sigmoid cross-entropy) of the history items (label 1) and
  `num_neg` seeded uniform negatives per history item (label 0; a draw that
  hits the history is dropped), plus `l2 * |u - u_mean|^2`, starting from
  the mean trained user row u_mean. Fixed seed: the same history always
  gives the same scores.
* EASE: the history row times the item-item matrix (its scores need no user
  representation).
* Popularity: the same scores for every user.
"""

import dataclasses

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class FoldInSettings:
    """How a new user is folded in.

    Attributes:
      steps: Adam steps of the gradient fold-in.
      learning_rate: their step size.
      num_neg: sampled negatives per history item.
      l2: weight of |u - u_mean|^2 (keeps short histories near the mean user).
      seed: seed of the negatives.
      ials_alpha, ials_regularization, ials_exponent: the iALS objective's
        alpha, lambda and nu (those the model was trained with).
    """

    steps: int = 100
    learning_rate: float = 0.05
    num_neg: int = 4
    l2: float = 1e-2
    seed: int = 0
    ials_alpha: float = 9.0
    ials_regularization: float = 0.01
    ials_exponent: float = 1.0


def settings_for(train, **overrides) -> FoldInSettings:
    """The fold-in of a model trained with `train` (an `configs.TrainConfig`).

    Its seed and iALS objective; `overrides` set other fields.
    """
    return FoldInSettings(**{"seed": train.seed, "ials_alpha": train.ials_alpha,
                             "ials_regularization": train.ials_regularization,
                             "ials_exponent": train.ials_exponent, **overrides})


def ials_user_row(item_table: tf.Tensor, items: tf.Tensor, settings: FoldInSettings
                  ) -> tf.Tensor:
    """Exact iALS row float32 [k] of a history (int32 item indices [H], no repeats)."""
    table = tf.convert_to_tensor(item_table)
    h = tf.gather(table, items)
    alpha = tf.constant(settings.ials_alpha, tf.float32)
    count = tf.cast(tf.shape(table)[0], tf.float32) + alpha * tf.cast(tf.shape(items)[0],
                                                                      tf.float32)
    scale = tf.pow(count, settings.ials_exponent)
    k = tf.shape(table)[1]
    lhs = (tf.matmul(table, table, transpose_a=True) + alpha * tf.matmul(h, h, transpose_a=True)
           + settings.ials_regularization * scale * tf.eye(k))
    rhs = (1.0 + alpha) * tf.reduce_sum(h, axis=0)
    return tf.linalg.solve(lhs, rhs[:, None])[:, 0]


def gradient_user_row(model, items: tf.Tensor, settings: FoldInSettings) -> tf.Tensor:
    """The fused user row float32 [W] fitted to a history (int32 [H], no repeats).

    `model` has `user_table`, `item_table` and `grouped_logits_from_rows`
    (MF, GMF, MLP, NeuMF).
    """
    users = tf.convert_to_tensor(model.user_table)
    table = tf.convert_to_tensor(model.item_table)
    num_items = tf.shape(table)[0]
    count = tf.shape(items)[0]
    negatives = tf.random.stateless_uniform([count * settings.num_neg], [settings.seed, 17],
                                            maxval=num_items, dtype=tf.int32)
    in_history = tf.scatter_nd(items[:, None], tf.ones_like(items, tf.float32), [num_items])
    candidates = tf.concat([items, negatives], 0)
    labels = tf.concat([tf.ones([count]), tf.zeros([count * settings.num_neg])], 0)
    weights = tf.concat([tf.ones([count]), 1.0 - tf.minimum(tf.gather(in_history, negatives),
                                                             1.0)], 0)
    rows = tf.gather(table, candidates)[None]
    start = tf.reduce_mean(users, axis=0)
    beta1, beta2, eps = 0.9, 0.999, 1e-7

    def step(t, u, m, v):
        with tf.GradientTape() as tape:
            tape.watch(u)
            logits = model.grouped_logits_from_rows(u[None], rows)[0]
            losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
            loss = (tf.reduce_sum(weights * losses) / tf.reduce_sum(weights)
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


def gradient_logits(model, items: tf.Tensor, settings: FoldInSettings) -> tf.Tensor:
    """Logits float32 [I] of a new user fitted by `gradient_user_row` (an SGD model)."""
    row = gradient_user_row(model, items, settings)
    return model.all_item_logits_from_rows(row[None])[0]


def history_logits(model, items: tf.Tensor, settings: FoldInSettings) -> tf.Tensor:
    """Scores float32 [num_items] of a new user with history `items` (int32 [H], no repeats).

    Each model folds in its own way (`Recommender.fold_in_logits`).
    """
    return model.fold_in_logits(items, settings)
