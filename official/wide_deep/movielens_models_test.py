"""Known answers of the rating models."""

import numpy as np
import pytest

from official.wide_deep.movielens_models import FactorizationModel, RatingModel


def test_factorization_prediction_and_penalty_match_numpy():
    model = FactorizationModel(4, 3, mean_rating=3.5, dim=2, l2=0.01)
    rng = np.random.default_rng(0)
    p, q = rng.normal(size=(4, 2)), rng.normal(size=(3, 2))
    bu, bi = rng.normal(size=(4, 1)), rng.normal(size=(3, 1))
    for table, value in zip(model.tables(), (p, q, bu, bi), strict=True):
        table.embeddings.assign(value.astype(np.float32))
    users, items = np.array([0, 3, 2, 0]), np.array([1, 0, 2, 2])
    pred = np.asarray(model({"user": users, "item": items,
                             "genres": np.zeros((4, 19), np.float32),
                             "timestamp": np.zeros(4, np.float32)}))
    expected = (3.5 + bu[users, 0] + bi[items, 0] + (p[users] * q[items]).sum(1)) / 5
    np.testing.assert_allclose(pred, expected, rtol=1e-5)
    squares = sum((t ** 2).sum() for t in (p, q, bu, bi))
    assert float(model.penalty()) == pytest.approx(0.01 * squares / 25, rel=1e-5)
    clone = FactorizationModel.from_config(model.get_config())
    assert (clone.dim, clone.l2, clone.mean_rating) == (2, 0.01, 3.5)


def test_a_fresh_factorization_predicts_the_mean_and_the_deep_model_has_no_penalty():
    model = FactorizationModel(5, 5, mean_rating=3.6, dim=8)
    pred = np.asarray(model({"user": np.arange(5), "item": np.arange(5)}))
    np.testing.assert_allclose(pred, 3.6 / 5, atol=1e-3)  # factors ~ N(0, 0.01), zero biases
    assert RatingModel(3, 3).penalty() == 0.0


def test_svdpp_user_vector_adds_the_scaled_sum_of_rated_items_factors():
    model = FactorizationModel(3, 4, mean_rating=3.0, dim=2, l2=0.0, num_rated=5,
                               l2_implicit=0.5)
    rng = np.random.default_rng(1)
    tables = [rng.normal(size=s) for s in ((3, 2), (4, 2), (3, 1), (4, 1))]
    for table, value in zip(model.tables(), tables, strict=True):
        table.embeddings.assign(value.astype(np.float32))
    y = rng.normal(size=(4, 2))
    model.implicit_factors.embeddings.assign(y.astype(np.float32))
    # Training pairs, unsorted: user 0 rated items 3, 1; user 2 rated 0, 1, 2; user 1 none.
    model.set_rated(np.array([2, 0, 2, 0, 2]), np.array([2, 3, 0, 1, 1]))
    users, items = np.array([0, 1, 2, 2]), np.array([0, 3, 3, 1])
    pred = np.asarray(model({"user": users, "item": items}))
    implicit = {0: (y[3] + y[1]) / np.sqrt(2), 1: np.zeros(2), 2: y[[0, 1, 2]].sum(0) / np.sqrt(3)}
    p, q, bu, bi = tables
    expected = [3.0 + bu[u, 0] + bi[i, 0] + (p[u] + implicit[u]) @ q[i]
                for u, i in zip(users, items, strict=True)]
    np.testing.assert_allclose(pred, np.array(expected) / 5, rtol=1e-5)
    assert float(model.penalty()) == pytest.approx(0.5 * (y ** 2).sum() / 25, rel=1e-5)
