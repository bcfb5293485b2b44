import functools

import numpy as np
import pytest
import tensorflow as tf

from official.recommendation.models import ease


def small_problem(seed=0, users=25, items=11):
    rng = np.random.default_rng(seed)
    dense = rng.random((users, items)) < 0.3
    u, i = np.nonzero(dense)
    return dense, u.astype(np.int32), i.astype(np.int32)


def test_fit_equals_numpy_closed_form_with_zero_diagonal():
    dense, u, i = small_problem()
    x = dense.astype(np.float64)
    lam = 3.0
    p = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    expected = np.eye(x.shape[1]) - p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)  # exactly zero already, up to rounding
    model = ease.EASE(*dense.shape, num_history=len(i))
    # Shuffled input, and a G accumulated over slices of 4 users.
    order = np.random.default_rng(1).permutation(len(u))
    solver = ease.EASESolver(model, u[order], i[order], (lam,))
    solver._gram = ease.gram(u, i, *dense.shape, gram_floats=4 * dense.shape[1])
    model.set_history(solver.users, solver.items)
    loss = solver.fit_epoch(0)
    b = model.weights_matrix.numpy()
    np.testing.assert_allclose(b, expected, rtol=1e-4, atol=1e-5)
    assert np.all(np.diag(b) == 0.0)
    # The objective per positive, brute force.
    brute = ((x - x @ b) ** 2).sum() + lam * (b ** 2).sum()
    assert loss * len(i) == pytest.approx(brute, rel=1e-4)
    # Scores: x_u B, all items at once and pair by pair.
    scores = model.all_item_logits(tf.range(dense.shape[0])).numpy()
    np.testing.assert_allclose(scores, x @ b, rtol=1e-4, atol=1e-5)
    users = np.array([0, 5, 5, 24])
    items = np.array([3, 0, 10, 7])
    pairs = model({"user_id": tf.constant(users), "item_id": tf.constant(items)}).numpy()
    np.testing.assert_allclose(pairs, (x @ b)[users, items], rtol=1e-4, atol=1e-5)


def test_one_fit_keeps_the_candidate_the_judge_prefers():
    dense, u, i = small_problem(seed=3)
    grid = (1.0, 30.0, 1000.0)
    singles = {}
    for lam in grid:  # the oracle: each lambda fitted alone
        model = ease.EASE(*dense.shape, num_history=len(i))
        ease.EASESolver(model, u, i, (lam,)).fit_epoch(0)
        singles[lam] = model.weights_matrix.numpy()
    assert np.abs(singles[1000.0]).sum() < np.abs(singles[1.0]).sum()  # more L2, smaller B

    def size(model):
        return float(np.abs(model.weights_matrix.numpy()).sum())

    # Judges preferring the smallest B, the largest, and the one closest to lambda 30's.
    for judge_of, winner in ((lambda m: -size(m), 1000.0), (size, 1.0),
                             (lambda m: -abs(size(m) - np.abs(singles[30.0]).sum()), 30.0)):
        model = ease.EASE(*dense.shape, num_history=len(i))
        solver = ease.EASESolver(model, u, i, grid)
        judge = functools.partial(judge_of, model)
        solver.fit_epoch(0, judge)
        np.testing.assert_allclose(model.weights_matrix.numpy(), singles[winner], rtol=1e-5,
                                   atol=1e-6)
        assert solver.selected_settings() == {"ease_lambdas": (winner,)}
    # A nan score never wins; several candidates need a judge.
    model = ease.EASE(*dense.shape, num_history=len(i))
    solver = ease.EASESolver(model, u, i, grid)
    scores = iter([float("nan"), 0.2, 0.1])
    solver.fit_epoch(0, lambda: next(scores))
    assert float(model.fitted_lambda.numpy()) == 30.0
    with pytest.raises(ValueError, match="3 candidate lambdas and no validation"):
        ease.EASESolver(model, u, i, grid).fit_epoch(0)
    assert ease.EASESolver(ease.EASE(*dense.shape, num_history=len(i)), u, i,
                           grid).selected_settings() == {}  # not fitted yet


def test_memory_guard_refuses_a_catalogue_too_large_before_allocating():
    with pytest.raises(MemoryError, match=r"EASE needs 596.0 GiB for 200000 items"):
        ease.check_memory(200_000, available=2**30)
    ease.check_memory(1000, available=ease.memory_bytes(1000))  # just fits
    with pytest.raises(MemoryError, match="GiB of memory is available"):
        ease.check_memory(1001, available=ease.memory_bytes(1000))
    # 2^21 items need 64 TiB: refused on any machine, before the model allocates B.
    with pytest.raises(MemoryError, match="use --model ials"):
        ease.EASE(5, 2**21)
    assert ease.available_bytes() > 0
