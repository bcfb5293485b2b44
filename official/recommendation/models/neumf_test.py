import keras
import numpy as np
import pytest
import tensorflow as tf

from official.recommendation.models import neumf


@pytest.mark.parametrize("text,message", [
    ("63,32", "first of --layers must be even"), ("64,x", "comma-separated integers"),
    ("64,0", "positive"), ("", "comma-separated integers"),
])
def test_parse_layers_rejects_bad_lists(text, message):
    with pytest.raises(ValueError, match=message):
        neumf.parse_layers(text)


def reference_logits(model, users, items):
    """The paper's formulation with separate embeddings, computed in numpy."""
    user_rows, item_rows = model.user_table.numpy(), model.item_table.numpy()
    mf = model.mf_dim
    parts = []
    if mf:
        parts.append(user_rows[users, :mf] * item_rows[items, :mf])
    if model.mlp_dim:
        x = np.concatenate([user_rows[users, mf:], item_rows[items, mf:]], axis=1)
        for dense in model.tower.layers:
            w, b = dense.get_weights()
            x = np.maximum(x @ w + b, 0)
        parts.append(x)
    w, b = model.head.get_weights()
    return (np.concatenate(parts, axis=1) @ w + b)[:, 0]


@pytest.mark.parametrize("model_type", ["neumf", "gmf", "mlp"])
def test_fused_model_matches_reference(model_type):
    keras.utils.set_random_seed(0)
    model = neumf.NeuMF(30, 40, model_type, num_factors=4, layers=(16, 8, 4))
    users = np.array([0, 5, 29, 3], np.int32)
    items = np.array([1, 39, 0, 3], np.int32)
    got = model({"user_id": tf.constant(users), "item_id": tf.constant(items)}).numpy()
    np.testing.assert_allclose(got, reference_logits(model, users, items), rtol=1e-5, atol=1e-6)
    widths = {"neumf": 4 + 8, "gmf": 4, "mlp": 8}
    assert model.user_table.shape == (30, widths[model_type])
    std = model.user_table.numpy().std()
    assert 0.005 < std < 0.02  # N(0, 0.01) initialization


def test_config_round_trip_and_argument_checks():
    model = neumf.NeuMF(3, 4, "gmf", num_factors=2, layers=(8, 4), mf_regularization=0.1)
    clone = neumf.NeuMF.from_config(model.get_config())
    assert (clone.model_type, clone.num_factors, clone.layer_sizes, clone.mf_regularization) == (
        "gmf", 2, [8, 4], 0.1)
    with pytest.raises(ValueError, match="model_type must be one of"):
        neumf.NeuMF(3, 4, "svd")
    with pytest.raises(ValueError, match="num_users and num_items must be positive, got 0"):
        neumf.NeuMF(0, 4)


@pytest.mark.parametrize("model_type", ["neumf", "gmf", "mlp"])
def test_checkpoint_holds_every_variable(model_type, tmp_path):
    model = neumf.NeuMF(5, 6, model_type, num_factors=2, layers=(8, 4, 2))
    model({"user_id": tf.zeros([1], tf.int32), "item_id": tf.zeros([1], tf.int32)})
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    saved = [n for n, _ in tf.train.list_variables(path) if n.startswith("model/")]
    assert len(saved) == len(model.variables)


@pytest.mark.parametrize("project_items", [False, True])
@pytest.mark.parametrize("model_type", ["neumf", "gmf", "mlp"])
def test_grouped_training_layout_matches_flat_pairs(model_type, project_items):
    keras.utils.set_random_seed(1)
    model = neumf.NeuMF(20, 30, model_type, num_factors=4, layers=(16, 8, 4),
                              mf_regularization=0.3, mlp_regularization=0.2)
    users = np.array([0, 7, 19], np.int32)
    items = np.array([[1, 2, 3, 4, 5], [29, 0, 1, 1, 7], [3, 3, 9, 8, 2]], np.int32)
    grouped, u, it = model.grouped_logits(tf.constant(users), tf.constant(items),
                                          project_items=project_items)
    flat_users, flat_items = np.repeat(users, 5), items.reshape(-1)
    flat = model({"user_id": tf.constant(flat_users), "item_id": tf.constant(flat_items)})
    np.testing.assert_allclose(grouped.numpy().reshape(-1), flat.numpy(), rtol=1e-5, atol=1e-6)
    fu, fi = model.embed(tf.constant(flat_users), tf.constant(flat_items))
    assert float(model.grouped_regularization(u, it)) == pytest.approx(
        flat_l2(model, fu.numpy(), fi.numpy()), rel=1e-5)


def flat_l2(model, u, i):
    """The L2 penalty of per-pair rows u, i [n, d], by hand (the oracle)."""
    mf, out = model.mf_dim, 0.0
    if mf:
        out += model.mf_regularization * ((u[:, :mf] ** 2).sum() + (i[:, :mf] ** 2).sum())
    if model.mlp_dim:
        out += model.mlp_regularization * ((u[:, mf:] ** 2).sum() + (i[:, mf:] ** 2).sum())
    return float(out)


@pytest.mark.parametrize("regularization", [0.0, 0.1])
def test_item_projection_has_the_per_pair_gradients(regularization):
    """The projected order (item half of layer 1 once per item) changes no gradient."""
    rng = np.random.default_rng(3)
    model = neumf.NeuMF(9, 6, "neumf", num_factors=3, layers=(8, 6, 4),
                              mf_regularization=regularization,
                              mlp_regularization=regularization)
    for v in model.trainable_variables:
        v.assign(rng.normal(size=v.shape).astype(np.float32))
    users = tf.constant([4, 0, 8, 4], tf.int32)
    items = tf.constant(rng.integers(0, 6, (4, 5)), tf.int32)  # 20 pairs > 6 items
    results = []
    for project in (False, True):
        with tf.GradientTape() as tape:
            logits, u, it = model.grouped_logits(users, items, project_items=project)
            loss = tf.reduce_sum(tf.sin(logits)) + model.grouped_regularization(u, it)
        grads = tape.gradient(loss, model.trainable_variables)
        results.append([float(loss)] + [tf.convert_to_tensor(g).numpy() for g in grads])
    assert (it is None) == (regularization == 0.0)
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-5)
    for a, b in zip(results[0][1:], results[1][1:], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_item_projection_is_chosen_when_a_step_has_more_pairs_than_items():
    model = neumf.NeuMF(9, 6, "neumf", num_factors=3, layers=(8, 6, 4))
    items = tf.zeros([4, 5], tf.int32)
    # Without regularization the projected order returns no per-pair item rows.
    assert model.grouped_logits(tf.zeros([4], tf.int32), items)[2] is None  # 20 pairs > 6
    assert model.grouped_logits(tf.zeros([1], tf.int32), items[:1])[2].shape == (1, 5, 7)


@pytest.mark.parametrize("model_type", ["neumf", "gmf", "mlp", "mf", "popularity"])
def test_all_item_logits_equal_call_on_every_pair(model_type):
    from official.recommendation.config.configs import TrainConfig
    from official.recommendation.training import trainer

    num_users, num_items = 7, 11
    config = TrainConfig(model_type=model_type, num_factors=4, layers=(8, 6, 4))
    rng = np.random.default_rng(1)
    model = trainer.make_model(num_users, num_items, config,
                                   rng.integers(0, num_items, 50))
    for v in model.trainable_variables:  # away from the tiny initial values
        v.assign(rng.normal(size=v.shape).astype(np.float32))
    users = np.array([3, 0, 6], np.int32)
    full = np.asarray(model.all_item_logits(users))
    pair_users = np.repeat(users, num_items)
    pair_items = np.tile(np.arange(num_items, dtype=np.int32), len(users))
    pairs = np.asarray(model({"user_id": pair_users, "item_id": pair_items}))
    np.testing.assert_allclose(full, pairs.reshape(len(users), num_items), rtol=1e-5,
                               atol=1e-5)
    assert full.std() > 0.01
