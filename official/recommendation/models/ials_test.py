import numpy as np
import pytest
import tensorflow as tf

from official.recommendation.config import recipes
from official.recommendation.models import ials


def small_problem(seed=0, users=9, items=13, density=0.35):
    rng = np.random.default_rng(seed)
    dense = rng.random((users, items)) < density
    dense[3] = False  # a user without positives
    u, i = np.nonzero(dense)
    return dense, u.astype(np.int32), i.astype(np.int32)


def numpy_row_solution(h, targets, alpha, reg, g=None):
    """argmin_w sum_i c_i (p_i - w.h_i)^2 + reg |w|^2 by dense least squares."""
    c = 1.0 + alpha * targets * (1.0 if g is None else g)
    a = np.vstack([np.sqrt(c)[:, None] * h, np.sqrt(reg) * np.eye(h.shape[1])])
    b = np.concatenate([np.sqrt(c) * targets, np.zeros(h.shape[1])])
    return np.linalg.lstsq(a, b, rcond=None)[0]


def assert_user_rows_solve(model, solver, dense, alpha, lam, nu, k, g=None):
    """One user half-sweep from random item factors equals dense least squares per user."""
    h = np.random.default_rng(1).normal(size=(dense.shape[1], k)).astype(np.float32)
    model.item_table.assign(h)
    solver._half_sweep(model.user_table, model.item_table.value, solver._user_side)
    w = model.user_table.numpy()
    g = dense.astype(np.float64) if g is None else g
    for user in range(dense.shape[0]):
        targets = dense[user].astype(np.float64)
        scale = (dense.shape[1] + alpha * g[user].sum()) ** nu
        expected = numpy_row_solution(h.astype(np.float64), targets, alpha, lam * scale,
                                      g[user])
        np.testing.assert_allclose(w[user], expected, rtol=2e-4, atol=2e-5)
    return w


@pytest.mark.parametrize("exponent", [0.0, 1.0])
def test_user_solve_equals_dense_least_squares(exponent):
    dense, u, i = small_problem()
    alpha, lam, k = 4.0, 0.05, 3
    model = ials.IALS(dense.shape[0], dense.shape[1], k)
    # Tiny blocks: several widths and several blocks per width.
    solver = ials.IALSSolver(model, u, i, alpha, lam, exponent, block_floats=12)
    assert len({b.others.shape[1] for b in solver.user_blocks}) > 1
    assert len(solver.user_blocks) > len({b.others.shape[1] for b in solver.user_blocks})
    w = assert_user_rows_solve(model, solver, dense, alpha, lam, exponent, k)
    np.testing.assert_array_equal(w[3], 0.0)  # no positives: the zero row


def test_weighted_confidence_solves_and_loss_are_hu_et_al():
    # Weights w give g = log(1 + w / eps): each user row is weighted least squares,
    # the loss the brute-force weighted objective.
    dense, u, i = small_problem(seed=5, users=12, items=15)
    alpha, lam, nu, eps, k = 2.0, 0.05, 1.0, 0.5, 3
    weights = np.random.default_rng(3).integers(1, 50, len(u)).astype(np.float32)
    g_dense = np.zeros(dense.shape)
    g_dense[u, i] = np.log1p(weights / eps)
    np.testing.assert_allclose(ials.log_confidence(weights, eps), g_dense[u, i], rtol=1e-6)
    model = ials.IALS(*dense.shape, k)
    solver = ials.IALSSolver(model, u, i, alpha, lam, nu, block_floats=12,
                             confidence=ials.log_confidence(weights, eps))
    assert_user_rows_solve(model, solver, dense, alpha, lam, nu, k, g_dense)
    loss = solver.sweep()
    w, h = model.user_table.numpy().astype(np.float64), model.item_table.numpy()
    c = 1 + alpha * g_dense
    su = (15 + alpha * g_dense.sum(1)) ** nu
    si = (12 + alpha * g_dense.sum(0)) ** nu
    brute = ((c * (dense - w @ h.T) ** 2).sum() + lam * (su @ (w ** 2).sum(1))
             + lam * (si @ (h ** 2).sum(1)))
    assert loss == pytest.approx(brute, rel=1e-4)
    with pytest.raises(ValueError, match="epsilon must be > 0"):
        ials.log_confidence(weights, 0.0)


def test_loss_is_the_objective_and_decreases_every_sweep():
    dense, u, i = small_problem(seed=2, users=30, items=20)
    alpha, lam, nu = 3.0, 0.02, 1.0
    model = ials.IALS(30, 20, 4)
    solver = ials.IALSSolver(model, u, i, alpha, lam, nu)
    losses = [solver.loss()]
    for _ in range(6):
        losses.append(solver.sweep())
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)), losses
    # Brute force over every pair.
    w, h = model.user_table.numpy().astype(np.float64), model.item_table.numpy()
    y = w @ h.T
    c = 1 + alpha * dense
    su = (20 + alpha * dense.sum(1)) ** nu
    si = (30 + alpha * dense.sum(0)) ** nu
    brute = ((c * (dense - y) ** 2).sum() + lam * (su @ (w ** 2).sum(1))
             + lam * (si @ (h ** 2).sum(1)))
    assert losses[-1] == pytest.approx(brute, rel=1e-4)


def test_checkerboard_held_out_items_rank_first():
    # Two user groups, two item groups; a user likes every item of its group
    # but one, held out. Among its unseen items the held-out one ranks first.
    users, items, k = 40, 30, 4
    group_u, group_i = np.arange(users) % 2, np.arange(items) % 2
    likes = group_u[:, None] == group_i[None, :]
    held = np.array([np.nonzero(likes[u])[0][u % 15] for u in range(users)])
    train = likes.copy()
    train[np.arange(users), held] = False
    u, i = np.nonzero(train)
    model = ials.IALS(users, items, k)
    solver = ials.IALSSolver(model, u.astype(np.int32), i.astype(np.int32), 5.0, 0.01,
                                   1.0)
    for _ in range(5):
        solver.sweep()
    scores = model.all_item_logits(tf.range(users)).numpy()
    scores[train] = -np.inf
    np.testing.assert_array_equal(scores.argmax(axis=1), held)
    # The pairwise scorer agrees with the all-items one.
    pairs = model({"user_id": tf.constant(np.arange(users)), "item_id": tf.constant(held)})
    np.testing.assert_allclose(pairs.numpy(), scores[np.arange(users), held], rtol=1e-5)


def test_bucket_widths_cover_every_degree():
    widths = ials.bucket_widths(1000)
    assert widths[0] == ials.SMALLEST_WIDTH and widths[-1] >= 1000
    assert np.all(np.diff(widths) > 0) and np.all(widths[1:] / widths[:-1] <= 1.5 + 1e-9)


def test_bad_settings_are_rejected():
    model = ials.IALS(3, 3, 2)
    u = np.array([0, 1], np.int32)
    with pytest.raises(ValueError, match="regularization > 0"):
        ials.IALSSolver(model, u, u, 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="positive"):
        ials.IALS(0, 3, 2)


@pytest.mark.parametrize("weighted", [False, True])
def test_conjugate_gradient_converges_to_the_exact_solve_and_lowers_the_loss(weighted):
    dense, u, i = small_problem(seed=4, users=30, items=20)
    k = 5
    conf = (np.random.default_rng(7).uniform(0.2, 3.0, len(u)).astype(np.float32)
            if weighted else None)
    exact = ials.IALS(30, 20, k)
    start = exact.get_weights()
    ials.IALSSolver(exact, u, i, 3.0, 0.05, 1.0, confidence=conf).sweep()
    # k CG steps solve a k-dimensional system (up to rounding): the same sweep;
    # tiny blocks, so rows of several widths and blocks go through the solver.
    cg = ials.IALS(30, 20, k)
    cg.set_weights(start)
    ials.IALSSolver(cg, u, i, 3.0, 0.05, 1.0, cg_steps=3 * k, block_floats=40,
                    confidence=conf).sweep()
    np.testing.assert_allclose(cg.user_table.numpy(), exact.user_table.numpy(), rtol=1e-3,
                               atol=1e-4)
    np.testing.assert_allclose(cg.item_table.numpy(), exact.item_table.numpy(), rtol=1e-3,
                               atol=1e-4)
    # One step per sweep is inexact but still lowers the loss every sweep.
    one = ials.IALS(30, 20, k)
    one.set_weights(start)
    solver = ials.IALSSolver(one, u, i, 3.0, 0.05, 1.0, cg_steps=1)
    losses = [solver.loss()] + [solver.sweep() for _ in range(5)]
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)), losses
    assert not np.allclose(one.user_table.numpy(), exact.user_table.numpy(), atol=1e-3)


def rendle2022_sweep(w, h, dense, reg, w0):
    """One sweep of Rendle et al.'s (2022) iALS, transcribed row by row in numpy.

    google-research ials/ncf_benchmarks/ials.py: each row solves
    (sum_i h_i h_i^T + w0 G + reg (|I_u| + w0 |I|) I) w_u = sum_i h_i with G
    the other side's Gramian; users first, then items from the new users.
    """
    w, h = w.copy(), h.copy()
    for rows, cols, matrix in ((w, h, dense), (h, w, dense.T)):
        gram = cols.T @ cols
        for r in range(len(rows)):
            hist = np.nonzero(matrix[r])[0]
            lhs = sum(np.outer(cols[j], cols[j]) for j in hist) + w0 * gram
            lhs += np.eye(cols.shape[1]) * reg * (len(hist) + w0 * len(cols))
            rows[r] = np.linalg.solve(lhs, cols[hist].sum(axis=0))
    return w, h


def test_rendle2022_recipe_sweeps_equal_their_published_update():
    rng = np.random.default_rng(11)
    dense = rng.random((14, 10)) < 0.4
    dense[np.arange(14), np.arange(14) % 10] = True  # every row and column has positives
    u, i = (a.astype(np.int32) for a in np.nonzero(dense))
    reg, w0, k = 0.05, 0.3, 4
    settings = recipes.rendle2022_ials(reg, w0, 0.1)
    assert settings["ials_frequency_scaling"] == 1.0
    scale = (1.0 / (1.0 + w0)) ** 0.5  # theirs = scale * ours
    w, h = (rng.normal(0, 0.1 / k ** 0.5, (n, k)) for n in dense.shape)
    model = ials.IALS(*dense.shape, k)
    model.set_weights([(w / scale).astype(np.float32), (h / scale).astype(np.float32)])
    solver = ials.IALSSolver(model, u, i, settings["ials_alpha"],
                             settings["ials_regularization"], 1.0)
    for _ in range(2):
        w, h = rendle2022_sweep(w, h, dense, reg, w0)
        solver.sweep(with_loss=False)
        np.testing.assert_allclose(scale * model.user_table.numpy(), w, rtol=2e-4, atol=1e-6)
        np.testing.assert_allclose(scale * model.item_table.numpy(), h, rtol=2e-4, atol=1e-6)
    # Their initialization N(0, 0.1 / sqrt(k)) is ours over `scale`.
    big = ials.IALS(4000, 10, 64, settings["init_stddev"])
    assert big.user_table.numpy().std() * scale == pytest.approx(0.1 / 8, rel=0.02)
