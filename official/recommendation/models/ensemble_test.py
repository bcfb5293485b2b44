import numpy as np
import pytest
import tensorflow as tf

from official.recommendation.evaluation import sampled_metrics
from official.recommendation.models import baselines, ensemble
from official.recommendation.serving import fold_in


def test_simplex_grid_known_answer():
    grid = ensemble.simplex_grid(3, 0.5)
    assert sorted(map(tuple, grid.tolist())) == sorted(
        [(0, 0, 1), (0, 0.5, 0.5), (0, 1, 0), (0.5, 0, 0.5), (0.5, 0.5, 0), (1, 0, 0)])
    assert len(ensemble.simplex_grid(3, 0.1)) == 66
    with pytest.raises(ValueError, match="must divide 1"):
        ensemble.simplex_grid(2, 0.3)


def test_fusion_beats_each_member_where_they_err_differently():
    # Member 0 ranks the positive (column 0) first for the first half of the users,
    # member 1 for the second half; each puts it last elsewhere, but a mild score.
    rng = np.random.default_rng(0)
    n, m = 40, 11
    items = np.tile(np.arange(m), (n, 1))
    scores = rng.normal(0, 0.1, (2, n, m))
    half = np.arange(n) < n // 2
    scores[0, half, 0], scores[0, ~half, 0] = 3.0, -0.05
    scores[1, ~half, 0], scores[1, half, 0] = 3.0, -0.05
    weights, grid = ensemble.choose_weights(scores, items, 1, "HR", 0.1)
    # Brute force: every grid point's HR@1 recomputed on its own.
    for point in grid:
        fused = np.tensordot(np.array(point["weights"]), scores, 1)
        assert point["HR"] == sampled_metrics.hit_rate_and_ndcg(fused, items, 1)[0]
    singles = [ensemble_point(grid, [1.0, 0.0]), ensemble_point(grid, [0.0, 1.0])]
    assert max(s["HR"] for s in singles) == pytest.approx(0.5)
    # The chosen weights mix both (every user's positive first), the first such point.
    assert min(weights) > 0 and ensemble_point(grid, weights.tolist())["HR"] == 1.0


def ensemble_point(grid, weights):
    return next(g for g in grid if g["weights"] == weights)


def test_fused_model_scores_pairs_all_items_and_new_users_as_the_weighted_sum():
    tf.keras.utils.set_random_seed(1)
    a = baselines.MF(7, 9, 3, init_stddev=0.5)
    b = baselines.MF(7, 9, 4, init_stddev=0.5)
    fused = ensemble.Ensemble([a, b], [0.3, 0.7], [0.1, -0.2], [2.0, 0.5])
    users = tf.constant([0, 3, 6], tf.int32)
    items = tf.constant([8, 1, 4], tf.int32)
    pairs = {"user_id": users, "item_id": items}

    def expected(x, y):
        return 0.3 * (x - 0.1) / 2.0 + 0.7 * (y + 0.2) / 0.5

    np.testing.assert_allclose(fused(pairs), expected(a(pairs), b(pairs)), rtol=1e-5)
    np.testing.assert_allclose(fused.all_item_logits(users),
                               expected(a.all_item_logits(users), b.all_item_logits(users)),
                               rtol=1e-5)
    settings = fold_in.FoldInSettings(steps=5)
    history = fold_in.as_histories([[2, 5], [0, 1, 8]])
    np.testing.assert_allclose(fused.fold_in_logits(history, settings),
                               expected(a.fold_in_logits(history, settings),
                                        b.fold_in_logits(history, settings)), rtol=1e-4)
    # A member with weight 0 is not scored at all.
    only_b = ensemble.Ensemble([a, b], [0.0, 1.0], [0.0, 0.0], [1.0, 1.0])
    np.testing.assert_allclose(only_b(pairs), b(pairs), rtol=1e-6)
    with pytest.raises(ValueError, match="share their users and items"):
        ensemble.Ensemble([a, baselines.MF(8, 9, 3)], [0.5, 0.5], [0, 0], [1, 1])
