import keras
import numpy as np
import tensorflow as tf

from official.recommendation.config.configs import TrainConfig
from official.recommendation.training.lazy_adam import LazyAdamSlots


def test_lazy_adam_equals_dense_adam_when_every_row_is_touched():
    cfg = TrainConfig(learning_rate=0.01)
    rng = np.random.default_rng(0)
    start = rng.normal(size=(4, 3)).astype(np.float32)
    lazy_table = keras.Variable(start)
    dense_table = keras.Variable(start)
    other = keras.Variable(np.zeros((2, 3), np.float32))
    slots = LazyAdamSlots(lazy_table, other)
    adam = keras.optimizers.Adam(0.01, beta_1=cfg.beta1, beta_2=cfg.beta2, epsilon=cfg.epsilon)
    adam.build([dense_table])
    for step in range(1, 4):
        indices = tf.constant([3, 0, 1, 2, 0])  # every row, row 0 twice
        grads = tf.constant(rng.normal(size=(5, 3)).astype(np.float32))
        dense_grad = tf.math.unsorted_segment_sum(grads, indices, 4)
        adam.apply_gradients([(dense_grad, dense_table)])
        lr = cfg.learning_rate * np.sqrt(1 - cfg.beta2 ** step) / (1 - cfg.beta1 ** step)
        slots.update(0, indices, grads, lr, cfg)
    np.testing.assert_allclose(lazy_table.numpy(), dense_table.numpy(), rtol=1e-5, atol=1e-6)


def test_lazy_adam_presorted_path_equals_sorting_path():
    cfg = TrainConfig(learning_rate=0.01)
    rng = np.random.default_rng(1)
    start = rng.normal(size=(6, 3)).astype(np.float32)
    tables = [keras.Variable(start), keras.Variable(start)]
    slots = [LazyAdamSlots(t, None) for t in tables]
    indices = np.array([0, 0, 2, 3, 3, 3, 5])
    grads = rng.normal(size=(7, 3)).astype(np.float32)
    shuffle = rng.permutation(7)
    for _ in range(2):
        slots[0].update(0, tf.constant(indices), tf.constant(grads), 0.01, cfg, presorted=True)
        slots[1].update(0, tf.constant(indices[shuffle]), tf.constant(grads[shuffle]), 0.01, cfg)
    np.testing.assert_allclose(tables[0].numpy(), tables[1].numpy(), rtol=1e-6)
    assert not np.allclose(tables[0].numpy()[[0, 2, 3, 5]], start[[0, 2, 3, 5]])
    np.testing.assert_array_equal(tables[0].numpy()[[1, 4]], start[[1, 4]])


def test_lazy_adam_leaves_untouched_rows_alone():
    cfg = TrainConfig(learning_rate=0.1)
    table = keras.Variable(np.ones((5, 2), np.float32))
    slots = LazyAdamSlots(table, keras.Variable(np.zeros((1, 2), np.float32)))
    slots.update(0, tf.constant([1, 3]), tf.ones([2, 2]), 0.1, cfg)
    changed = ~np.isclose(table.numpy(), 1.0).all(axis=1)
    assert changed.tolist() == [False, True, False, True, False]
