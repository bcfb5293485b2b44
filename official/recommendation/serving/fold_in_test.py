"""Fold-in known answers: iALS least squares, a converged MF's users, EASE, popularity."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from official.recommendation.models.baselines import MF, Popularity
from official.recommendation.models.ease import EASE
from official.recommendation.models.ials import IALS
from official.recommendation.models.neumf import NeuMF
from official.recommendation.serving import fold_in, model_export


def test_ials_fold_in_is_the_exact_weighted_least_squares_row():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(30, 4)).astype(np.float32)
    history = np.array([3, 7, 8, 20, 29], np.int32)
    settings = fold_in.FoldInSettings(ials_alpha=3.0, ials_regularization=0.1,
                                          ials_exponent=1.0)
    model = IALS(5, 30, num_factors=4)
    model.item_table.assign(table)
    row = model.fold_in_rows(fold_in.as_histories([history]), settings).numpy()[0]
    # Oracle: min_w sum_i c_i (p_i - w.h_i)^2 + lambda s |w|^2 as one stacked lstsq.
    p = np.zeros(30)
    p[history] = 1.0
    c = 1.0 + 3.0 * p
    s = 30 + 3.0 * len(history)
    a = np.vstack([np.sqrt(c)[:, None] * table, np.sqrt(0.1 * s) * np.eye(4)])
    b = np.concatenate([np.sqrt(c) * p, np.zeros(4)])
    expected = np.linalg.lstsq(a, b, rcond=None)[0]
    np.testing.assert_allclose(row, expected, rtol=1e-4, atol=1e-5)
    # The model's fold-in scores are that row against every item.
    scores = fold_in.history_logits(model, [history], settings).numpy()[0]
    np.testing.assert_allclose(scores, table @ expected, rtol=1e-4, atol=1e-4)


def _converged_mf(users: int = 40, items: int = 60, seed: int = 0):
    """A tiny MF trained to convergence (full batch, every pair) on planted taste groups."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    group_of_user, group_of_item = rng.integers(0, 3, users), rng.integers(0, 3, items)
    likes = (group_of_user[:, None] == group_of_item[None, :]) & (rng.random((users, items))
                                                                 < 0.5)
    model = MF(users, items, num_factors=4)
    optimizer = keras.optimizers.Adam(0.05)
    pairs_u, pairs_i = np.meshgrid(np.arange(users), np.arange(items), indexing="ij")
    inputs = {"user_id": tf.constant(pairs_u.ravel()), "item_id": tf.constant(pairs_i.ravel())}
    labels = tf.constant(likes.ravel().astype(np.float32))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
                labels=labels, logits=model(inputs)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

    for _ in range(300):
        step()
    return model, likes


@pytest.mark.parametrize("method", ["adam", "newton"])
def test_a_folded_in_training_user_gets_the_trained_users_top_k(method):
    model, likes = _converged_mf()
    # A weak pull to the mean user: this tiny model's users sit far from their mean.
    settings = fold_in.FoldInSettings(method=method, steps=200, num_neg=20, l2=1e-3)
    users = np.arange(0, 40, 2)
    histories = [np.flatnonzero(likes[u]).astype(np.int32) for u in users]
    folded = fold_in.history_logits(model, histories, settings).numpy()
    trained = model.all_item_logits(users).numpy()
    overlaps = []
    for row, history in enumerate(histories):
        trained[row, history] = folded[row, history] = -np.inf
        top_trained, top_folded = np.argsort(-trained[row])[:5], np.argsort(-folded[row])[:5]
        overlaps.append(len(set(top_trained) & set(top_folded)) / 5)
    # Measured 0.87 by Adam, 0.91 by Newton (seeds 0-3: 0.87-0.90, 0.87-0.91); chance is
    # 5 / ~45 unrated items.
    assert np.mean(overlaps) >= 0.75, overlaps
    again = fold_in.history_logits(model, histories[-1:], settings).numpy()[0]
    again[histories[-1]] = -np.inf
    np.testing.assert_allclose(again, folded[-1], rtol=1e-4, atol=1e-4)  # seeded


def test_newton_reaches_the_minimum_adam_approaches():
    """Both minimize one objective: Newton's row has zero gradient, long Adam gets there."""
    model, likes = _converged_mf()
    history = np.flatnonzero(likes[3]).astype(np.int32)
    base = dict(num_neg=6, l2=1e-2)
    newton = fold_in.newton_user_rows(model, fold_in.as_histories([history]),
                                      fold_in.FoldInSettings(newton_steps=12, **base))
    long_adam = fold_in.FoldInSettings(steps=3000, learning_rate=0.01, **base)
    adam = tf.function(lambda h: fold_in.gradient_user_rows(model, h, long_adam))(
        fold_in.as_histories([history]))  # a graph: 3,000 eager steps take a minute
    np.testing.assert_allclose(adam.numpy(), newton.numpy(), atol=2e-3)
    # The objective's gradient at Newton's row is zero (checked by autodiff here).
    start, rows, labels, weights = fold_in._start_and_examples(
        model, fold_in.as_histories([history]), fold_in.FoldInSettings(**base))
    u = tf.Variable(newton)
    with tf.GradientTape() as tape:
        logits = model.grouped_logits_from_rows(u, rows)
        loss = (tf.reduce_sum(weights * tf.nn.sigmoid_cross_entropy_with_logits(labels, logits))
                + 1e-2 * tf.reduce_sum(tf.square(u - start)))
    assert float(tf.reduce_max(tf.abs(tape.gradient(loss, u)))) < 1e-5


def test_gauss_newton_on_neumf_descends_to_a_stationary_point():
    model = _model("neumf", 6, 40)
    histories = fold_in.as_histories([[3, 7, 8, 20], [5, 9]])
    base = dict(num_neg=4, l2=1e-2, seed=1)
    start, rows, labels, weights = fold_in._start_and_examples(
        model, histories, fold_in.FoldInSettings(**base))

    def objective_and_gradient(u):
        u = tf.Variable(u)
        with tf.GradientTape() as tape:
            logits = model.grouped_logits_from_rows(u, rows)
            loss = tf.reduce_sum(weights * tf.nn.sigmoid_cross_entropy_with_logits(
                labels, logits), axis=1) + 1e-2 * tf.reduce_sum(tf.square(u - start), axis=1)
            total = tf.reduce_sum(loss)
        return loss.numpy(), np.abs(tape.gradient(total, u).numpy()).max()

    values = [objective_and_gradient(fold_in.newton_user_rows(
        model, histories, fold_in.FoldInSettings(newton_steps=n, **base)))[0]
        for n in (0, 1, 4, 8)]
    # The line search follows the linearized logits: a descent method, not monotone.
    assert (values[1] < values[0]).all() and (values[3] <= values[1] + 1e-6).all(), values
    _, gradient = objective_and_gradient(fold_in.newton_user_rows(
        model, histories, fold_in.FoldInSettings(newton_steps=30, **base)))
    assert gradient < 1e-3
    adam = fold_in.gradient_user_rows(model, histories, fold_in.FoldInSettings(**base))
    assert (objective_and_gradient(adam)[0] >= values[-1] - 1e-4).all()


def test_ease_fold_in_is_the_history_row_times_b():
    model = EASE(2, 4)
    b = np.arange(16, dtype=np.float32).reshape(4, 4)
    model.weights_matrix.assign(b)
    scores = fold_in.history_logits(model, [[0, 2], [], [3]], fold_in.FoldInSettings()).numpy()
    np.testing.assert_allclose(scores, [b[0] + b[2], np.zeros(4), b[3]])


def _model(kind: str, users: int, items: int):
    rng = np.random.default_rng(3)
    if kind == "ease":
        model = EASE(users, items)
        model.weights_matrix.assign(rng.normal(size=(items, items)).astype(np.float32))
        return model
    if kind == "ials":
        model = IALS(users, items, num_factors=4)
    elif kind == "mf":
        model = MF(users, items, num_factors=4)
    elif kind == "popularity":
        model = Popularity(users, items)
        model.fit_counts(rng.integers(0, items, 50))
        return model
    else:  # neumf, gmf, mlp
        model = NeuMF(users, items, model_type=kind, num_factors=4, layers=(8, 4))
    for table in (model.user_table, model.item_table):
        table.assign(rng.normal(size=table.shape).astype(np.float32))
    return model


EXPORT_SETTINGS = fold_in.FoldInSettings(steps=30, seed=5)


@pytest.fixture(scope="module", params=["mf", "neumf", "ials", "ease"])
def exported(request, tmp_path_factory):
    """(model, item ids, loaded export) of each kind, exported once for the tests below."""
    users, items = 6, 25
    model = _model(request.param, users, items)
    user_ids, item_ids = np.arange(1, users + 1) * 10, np.arange(1, items + 1) * 3
    rated_users, rated_items = np.array([0, 0, 1, 2, 2, 2]), np.array([1, 4, 4, 0, 1, 7])
    info = model_export.ItemInfo(rated_users, rated_items)
    path = str(tmp_path_factory.mktemp(request.param) / "e")
    model_export.export(model, user_ids, item_ids, path, info, EXPORT_SETTINGS)
    return model, item_ids, tf.saved_model.load(path)


def test_export_signature_equals_in_process_fold_in(exported):
    model, item_ids, loaded = exported
    settings = EXPORT_SETTINGS
    history = np.array([4, 9, 4, 17])  # indices; a repeat counts once
    raw = np.concatenate([item_ids[history], [999_999]])  # and one unknown id
    out = loaded.recommend_for_history(item_id=tf.constant(raw, tf.int64), k=tf.constant(6))
    scores = fold_in.history_logits(model, [[4, 9, 17]], settings).numpy()[0]
    scores[[4, 9, 17]] = -np.inf
    best = np.argsort(-scores, kind="stable")[:6]
    np.testing.assert_array_equal(out["item_id"].numpy(), item_ids[best])
    np.testing.assert_allclose(out["score"].numpy(), scores[best], rtol=1e-4, atol=1e-4)
    assert out["unknown_item_id"].numpy().tolist() == [999_999]
    assert not bool(out["fallback"].numpy())
    # Nothing known: the most popular items (by rated pairs), flagged.
    empty = loaded.recommend_for_history(item_id=tf.constant([999_999], tf.int64),
                                         k=tf.constant(2))
    assert bool(empty["fallback"].numpy())
    assert empty["item_id"].numpy().tolist() == [item_ids[1], item_ids[4]]


KINDS = ["mf", "gmf", "mlp", "neumf", "ials", "ease", "popularity"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_batch_folds_in_each_user_as_alone(kind):
    model = _model(kind, 6, 40)
    histories = [[3, 7, 8, 20], [], [5], [39, 0, 12, 31, 2, 9, 14], [7, 8]]
    settings = fold_in.FoldInSettings(steps=40, seed=2)
    batch = fold_in.history_logits(model, histories, settings).numpy()
    assert batch.shape == (5, 40)
    for row, history in enumerate(histories):
        if not history:
            continue  # no user alone (the export answers it by popularity)
        alone = fold_in.history_logits(model, [history], settings).numpy()[0]
        # Equal up to float32 summation order over the padded batch.
        np.testing.assert_allclose(batch[row], alone, rtol=1e-4, atol=1e-4)
        top = np.argsort(-alone, kind="stable")[:10]
        np.testing.assert_array_equal(np.argsort(-batch[row], kind="stable")[:10], top)


def test_export_batch_of_histories_equals_one_history_at_a_time(exported):
    _, _, loaded = exported
    histories = [[12, 27, 12, 999_999, 51], [999_999, 7, 7], [6], [3, 999_999, 999_999, 75]]
    out = loaded.recommend_for_histories(
        item_id=tf.constant(np.concatenate(histories), tf.int64),
        row_lengths=tf.constant([len(h) for h in histories], tf.int32), k=tf.constant(5))
    unknown = np.split(out["unknown_item_id"].numpy(),
                       np.cumsum(out["unknown_row_lengths"].numpy())[:-1])
    for row, history in enumerate(histories):
        alone = loaded.recommend_for_history(item_id=tf.constant(history, tf.int64),
                                             k=tf.constant(5))
        np.testing.assert_array_equal(out["item_id"].numpy()[row], alone["item_id"].numpy())
        np.testing.assert_allclose(out["score"].numpy()[row], alone["score"].numpy(),
                                   rtol=1e-4, atol=1e-4)
        assert unknown[row].tolist() == alone["unknown_item_id"].numpy().tolist()
        assert int(out["rated"].numpy()[row]) == int(alone["rated"].numpy())
        assert bool(out["fallback"].numpy()[row]) == bool(alone["fallback"].numpy())
    # Row 0 knows 12, 27, 51 (the repeat counts once); row 1 knows only 999_999 -> unknown.
    assert out["rated"].numpy().tolist() == [3, 0, 1, 2]
    assert out["fallback"].numpy().tolist() == [False, True, False, False]
    assert [u.tolist() for u in unknown] == [[999_999], [999_999, 7], [], [999_999]]
    bad = tf.constant([3, 4], tf.int32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="add up"):
        loaded.recommend_for_histories(item_id=tf.constant([3, 6], tf.int64), row_lengths=bad,
                                       k=tf.constant(2))


@pytest.mark.parametrize("kind,method", [("mlp", "adam"), ("neumf", "newton"), ("gmf", "newton"),
                                         ("mf", "newton")])
def test_auto_runs_each_models_own_fold_in(kind, method):
    model = _model(kind, 6, 40)
    histories = [[3, 7, 8], [5]]
    auto = fold_in.history_logits(model, histories, fold_in.FoldInSettings(steps=20))
    chosen = fold_in.history_logits(model, histories,
                                    fold_in.FoldInSettings(steps=20, method=method))
    np.testing.assert_allclose(auto.numpy(), chosen.numpy(), rtol=1e-6)
    other = "adam" if method == "newton" else "newton"
    differs = fold_in.history_logits(model, histories,
                                     fold_in.FoldInSettings(steps=20, method=other))
    assert np.abs(differs.numpy() - auto.numpy()).max() > 1e-3
