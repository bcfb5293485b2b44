"""The registry: adding a model is one file and one line (a tiny model, end to end)."""

import types

import keras
import numpy as np
import pytest
from absl import flags
from keras import ops

from official.recommendation import ncf_flags, ncf_main, recommend
from official.recommendation.config.configs import TrainConfig
from official.recommendation.conftest import EXPORT_SMALL
from official.recommendation.models import registry
from official.recommendation.serving import fold_in

# Starts processes or clusters, or trains real models for a while: not in make test-fast.
pytestmark = pytest.mark.slow


class Tiny(keras.Model):
    """A model written for this test: plain dot products of 4 factors, trained by SGD."""

    model_type = "tiny"
    scores_by_user = False

    def __init__(self, num_users, num_items, **kwargs):
        super().__init__(**kwargs)
        self.num_users, self.num_items = num_users, num_items
        init = keras.initializers.RandomNormal(0.0, 0.1)
        self.user_table = self.add_weight(shape=(num_users, 4), initializer=init, name="users")
        self.item_table = self.add_weight(shape=(num_items, 4), initializer=init, name="items")

    def call(self, inputs):
        return ops.sum(ops.take(self.user_table, inputs["user_id"], axis=0)
                       * ops.take(self.item_table, inputs["item_id"], axis=0), axis=-1)

    def grouped_logits(self, users, items):
        u, it = ops.take(self.user_table, users, axis=0), ops.take(self.item_table, items, axis=0)
        return self.grouped_logits_from_rows(u, it), u, it

    def grouped_logits_from_rows(self, u, it):
        return ops.sum(u[:, None, :] * it, axis=-1)

    def grouped_regularization(self, u, it):
        return 0.0

    def all_item_logits(self, users):
        return self.all_item_logits_from_rows(ops.take(self.user_table, users, axis=0))

    def all_item_logits_from_rows(self, u):
        return ops.matmul(u, ops.transpose(self.item_table))

    def fold_in_logits(self, histories, settings):
        return fold_in.factor_logits(self, histories, settings)


def build_tiny(num_users, num_items, config, train_users=None, train_items=None):
    return Tiny(num_users, num_items)


TINY = registry.ModelSpec("official.recommendation.models.registry_test:build_tiny", "sgd",
                          "a model added by a test")


def test_every_registered_model_builds_a_recommender():
    config = TrainConfig(num_factors=4, layers=(8, 4))
    items = np.arange(20, dtype=np.int32) % 7
    for name in registry.names():
        model = registry.build(TrainConfig(**{**config.__dict__, "model_type": name}), 5, 7,
                               np.arange(20, dtype=np.int32) % 5, items)
        assert model.model_type == name and (model.num_users, model.num_items) == (5, 7)
        assert np.asarray(model.all_item_logits(np.array([0, 4], np.int32))).shape == (2, 7)
        assert isinstance(model.scores_by_user, bool)
        folded = np.asarray(model.fold_in_logits(fold_in.as_histories([[1, 3], [], [6]]),
                                                 fold_in.FoldInSettings(steps=2)))
        assert folded.shape == (3, 7) and np.isfinite(folded).all(), name
    with pytest.raises(ValueError, match="model_type must be one of"):
        registry.spec("nope")


def test_a_model_added_in_one_line_trains_selects_exports_and_recommends(monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "MODELS", types.MappingProxyType(
        {**registry.MODELS, "tiny": TINY}))
    fv = flags.FlagValues()
    ncf_flags.define_ncf_flags(fv)  # --model's choices come from the registry
    fv(["ncf_main", *EXPORT_SMALL, "--model=tiny", f"--data_dir={tmp_path / 'data'}",
        f"--model_dir={tmp_path / 'm'}", "--train_epochs=3", f"--export_dir={tmp_path / 'e'}",
        "--eval_protocol=both"])
    result = ncf_main.run_from_flags(fv)
    assert result["selected_epoch"] in (1, 2, 3) and 0.0 < result["HR"] <= 1.0
    assert result["Coverage_full"] > 0
    export = recommend.load_export(str(tmp_path / "e"))
    users = export.id_maps()["user_ids"].numpy()[:3]
    out = recommend.recommend(export, users, 5)
    assert out["item_id"].shape == (3, 5) and np.isfinite(out["score"]).all()
    new = recommend.recommend_for_history(export, out["item_id"][0, :2], 4)
    assert new["fallback"] is False and len(new["item_id"][0]) == 4
