import numpy as np
import pytest
import tensorflow as tf

from official.recommendation.config.configs import TrainConfig
from official.recommendation.training import sgd_trainer
from official.recommendation.training.sgd_trainer import positives_per_step
from official.recommendation.training.trainer import build_trainer

# The small paper-sized model these tests were written for (TrainConfig's defaults are
# ncf_main's larger model).
PAPER_MODEL = {"num_factors": 8, "layers": (64, 32, 16, 8), "lr_schedule": "constant",
               "warmup_epochs": 0.0, "schedule_epochs": 20}


def test_unknown_optimizer_is_rejected():
    from official.recommendation.data.implicit_data import NCFData

    data = NCFData(3, 4, np.array([0], np.int32), np.array([1], np.int32),
                   np.arange(3, dtype=np.int32), np.zeros((3, 2), np.int32),
                   np.arange(3), np.arange(4))
    with pytest.raises(ValueError, match="optimizer must be one of"):
        build_trainer(data, TrainConfig(**PAPER_MODEL, batch_size=10, optimizer="rmsprop"))


def small_data(num_users=60, num_items=50, seed=0):
    from official.recommendation.data.implicit_data import NCFData

    rng = np.random.default_rng(seed)
    keys = np.unique(rng.integers(0, num_users, 1500) * num_items
                     + rng.integers(0, num_items, 1500))
    users, items = (keys // num_items).astype(np.int32), (keys % num_items).astype(np.int32)
    eval_items = rng.integers(0, num_items, (num_users, 6)).astype(np.int32)
    return NCFData(num_users, num_items, users, items, np.arange(num_users, dtype=np.int32),
                   eval_items, np.arange(num_users), np.arange(num_items))


def test_lazy_adam_with_small_tables_is_dense_adam():
    data = small_data()
    results = []
    for opt in ("adam", "lazy_adam"):
        trainer = build_trainer(data, TrainConfig(**PAPER_MODEL,
            batch_size=100, optimizer=opt, learning_rate=0.01))
        assert not (trainer.lazy and (trainer.sparse_user or trainer.sparse_item))
        loss, _ = trainer.train_epoch(0)
        results.append((loss, trainer.model.user_table.numpy(), trainer.model.item_table.numpy()))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-5)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(results[0][2], results[1][2], rtol=1e-4, atol=1e-6)
    assert np.abs(results[0][1]).max() > 0.02  # the tables did train


def test_lazy_adam_sparse_tables_train_only_touched_rows(monkeypatch):
    monkeypatch.setattr(sgd_trainer, "LAZY_ROWS_FACTOR", 0)  # force row-wise updates
    data = small_data()
    trainer = build_trainer(data, TrainConfig(**PAPER_MODEL,
        batch_size=10, optimizer="lazy_adam", learning_rate=0.01, steps_per_call=1))
    assert trainer.sparse_user and trainer.sparse_item
    before = trainer.model.user_table.numpy().copy()
    users, items, weights, _ = next(iter(trainer.input.dataset(0, 1)))
    trainer._call_fn(users, items, weights, tf.constant(1))  # the first step only
    changed = np.flatnonzero(~np.isclose(before, trainer.model.user_table.numpy()).all(axis=1))
    assert set(changed.tolist()) == set(users[0].numpy().tolist())


def test_lazy_slots_exist_only_for_row_wise_tables_and_round_trip(monkeypatch, tmp_path):
    data = small_data()
    dense = build_trainer(data, TrainConfig(**PAPER_MODEL,
        batch_size=100, optimizer="lazy_adam"))
    assert dense.table_slots.m == {} and dense.table_slots.v == {}  # no dead slots
    monkeypatch.setattr(sgd_trainer, "LAZY_ROWS_FACTOR", 0)
    config = TrainConfig(**PAPER_MODEL, batch_size=10, optimizer="lazy_adam")
    trainer = build_trainer(data, config)
    trainer.train_epoch(0)
    path = trainer.checkpoint().save(str(tmp_path / "ckpt"))
    restored = build_trainer(data, config)
    restored.checkpoint().restore(path).assert_existing_objects_matched()
    for key in ("0", "1"):
        assert np.abs(trainer.table_slots.v[key].numpy()).max() > 0
        np.testing.assert_array_equal(restored.table_slots.m[key].numpy(),
                                      trainer.table_slots.m[key].numpy())
        np.testing.assert_array_equal(restored.table_slots.v[key].numpy(),
                                      trainer.table_slots.v[key].numpy())


def test_lazy_adam_and_indivisible_batches_are_rejected_when_distributed():
    from official.utils.misc import distribution_utils

    two_workers = distribution_utils.Cluster("worker", 0, 2, 0)
    with pytest.raises(ValueError, match="lazy_adam runs on one replica only"):
        build_trainer(small_data(), TrainConfig(**PAPER_MODEL,
            batch_size=100, optimizer="lazy_adam"), cluster=two_workers)


def test_worker_slices_of_a_step_partition_it():
    from official.recommendation.data import training_batches

    data = small_data()
    args = (data.train_users, data.train_items, data.num_users, data.num_items, 2, 64, 0)
    whole = training_batches.EpochBatches(*args)
    parts = [training_batches.EpochBatches(*args, worker_index=w, num_workers=2) for w in (0, 1)]
    perm, negs = whole.epoch_tensors(tf.constant(0, tf.int64))
    for step in range(whole.steps_per_epoch):
        u, it, w = (t.numpy()[0] for t in whole.steps(perm, negs, step, 1))
        pieces = [[t.numpy()[0] for t in p.steps(perm, negs, step, 1)] for p in parts]
        assert all(len(p[0]) == 32 for p in pieces)
        rows = sorted(zip(u[w > 0], it[w > 0, 0], strict=True))
        split = sorted(r for p in pieces for r in zip(p[0][p[2] > 0], p[1][p[2] > 0, 0],
                                                      strict=True))
        assert split == rows
    with pytest.raises(ValueError, match="do not split evenly over 3 workers"):
        training_batches.EpochBatches(*args, worker_index=0, num_workers=3)


@pytest.mark.slow  # compiles three XLA programs per case
@pytest.mark.parametrize("jit_compile", [True, False])
def test_steps_per_call_changes_no_update(jit_compile):
    """Stacked steps in one compiled call train exactly as one step per call."""
    data = small_data()
    results = []
    for steps_per_call in (1, 5, 64):  # 5: a short last call; 64: one call per epoch
        trainer = build_trainer(data, TrainConfig(**PAPER_MODEL,
            batch_size=500, learning_rate=0.01, steps_per_call=steps_per_call,
            jit_compile=jit_compile))
        calls = []
        losses = [trainer.train_epoch(e, calls.append, prefetch_until=2)[0] for e in range(2)]
        assert sum(calls) == 2 * trainer.steps_per_epoch == 2 * 12
        assert len(calls) == 2 * -(-12 // steps_per_call)
        results.append((losses, trainer.model.get_weights(), int(trainer.optimizer.iterations)))
    for losses, weights, iterations in results[1:]:
        assert iterations == results[0][2] == 24
        np.testing.assert_allclose(losses, results[0][0], rtol=1e-5)
        for a, b in zip(weights, results[0][1], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert np.abs(results[0][1][0]).max() > 0.02  # the tables did train


def test_default_batch_runs_on_any_replica_count():
    # The defaults (batch 16384, 4 negatives: 3276 positives) on 1, 2, 4, 8 replicas.
    assert [positives_per_step(16384, 4, r) for r in (1, 2, 4, 8)] == [
        3276, 3276, 3276, 3272]
    assert positives_per_step(256, 4, 2) == 50  # 51 rounded down
    with pytest.raises(ValueError, match="fewer than the 4 replicas"):
        positives_per_step(10, 4, 4)


def rendle2020_updates(user_table, item_table, bias, u, items, labels, lr, reg):
    """Rendle et al.'s (2020) per-example SGD (mf_simple.py `fit`), transcribed in numpy.

    Returns the tables and the global bias after the examples (u, items[e],
    labels[e]) in order, and after the same updates applied at once, each at
    the starting weights (what one batched step computes). Rows are [factors
    | bias]. As in their code, the item update reads the user row already
    updated by the same example (`user_emb` is a view of the table).
    """
    f = user_table.shape[1] - 1
    seq_u, seq_i, seq_b = user_table.copy(), item_table.copy(), bias
    for i, y in zip(items, labels, strict=True):
        user_emb, item_emb = seq_u[u, :f], seq_i[i, :f]  # views, as theirs
        pred = seq_b + seq_u[u, f] + seq_i[i, f] + user_emb @ item_emb
        grad = y - 1.0 / (1.0 + np.exp(-pred))
        seq_u[u, :f] += lr * (grad * item_emb - reg * user_emb)
        seq_i[i, :f] += lr * (grad * user_emb - reg * item_emb)
        seq_u[u, f] += lr * (grad - reg * seq_u[u, f])
        seq_i[i, f] += lr * (grad - reg * seq_i[i, f])
        seq_b += lr * (grad - reg * seq_b)
    at_u, at_i, at_b = user_table.copy(), item_table.copy(), bias
    for i, y in zip(items, labels, strict=True):
        pred = bias + user_table[u, f] + item_table[i, f] + user_table[u, :f] @ item_table[i, :f]
        grad = y - 1.0 / (1.0 + np.exp(-pred))
        at_u[u, :f] += lr * (grad * item_table[i, :f] - reg * user_table[u, :f])
        at_i[i, :f] += lr * (grad * user_table[u, :f] - reg * item_table[i, :f])
        at_u[u, f] += lr * (grad - reg * user_table[u, f])
        at_i[i, f] += lr * (grad - reg * item_table[i, f])
        at_b += lr * (grad - reg * bias)
    return (seq_u, seq_i, seq_b), (at_u, at_i, at_b)


def test_sgd_on_mf_is_rendle2020s_per_example_update():
    # One step of 1 positive + 8 negatives with --optimizer sgd and biases regularized:
    # exactly their 9 updates applied at once, and their sequential updates to first
    # order in the learning rate (the difference is O(lr^2)).
    lr, reg = 0.5, 0.05  # large, so that a wrong factor shows; theirs is 0.002 / 0.005
    trainer = build_trainer(small_data(), TrainConfig(
        model_type="mf", num_factors=4, batch_size=9, num_neg=8, optimizer="sgd",
        learning_rate=lr, mf_regularization=reg / 2, mf_regularize_biases=True,
        init_stddev=0.3, lr_schedule="constant", warmup_epochs=0.0, steps_per_call=1))
    model = trainer.model
    np.testing.assert_array_equal(model.user_table.numpy()[:, 4], 0.0)  # biases start at 0
    model.bias.assign(0.2)
    before = [model.user_table.numpy().astype(np.float64),
              model.item_table.numpy().astype(np.float64), 0.2]
    users, items, weights, _ = next(iter(trainer.input.dataset(0, 1)))
    trainer._call_fn(users, items, weights, tf.constant(1))
    u, its = int(users[0][0]), items[0][0].numpy()
    labels = np.array([1.0] + [0.0] * 8)
    seq, at_once = rendle2020_updates(*before, u, its, labels, lr, reg)
    after = [model.user_table.numpy(), model.item_table.numpy(), float(model.bias.numpy())]
    for ours, theirs in zip(after, at_once, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    change = np.abs(after[1] - before[1]).max()
    assert change > 0.01  # the step did move the items
    small = rendle2020_updates(*before, u, its, labels, 0.002, reg)  # their rate
    for ours_step, seq_step, start in zip(small[1], small[0], before, strict=True):
        # At their rate the batched and sequential steps agree to within 1%.
        delta = np.abs(np.asarray(seq_step) - np.asarray(start)).max()
        assert np.abs(np.asarray(ours_step) - np.asarray(seq_step)).max() < 0.01 * delta
    assert not np.allclose(seq[1], at_once[1], atol=1e-4)  # at a large rate they differ
