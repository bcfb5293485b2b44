"""The shared loop's guards: diverged training, non-finite metrics, another model's model_dir."""

import json
import math
import os

import pytest
import tensorflow as tf

from official.utils import run_loop
from official.utils.errors import UserError
from official.utils.testing.scripted_task import CURVE, Scripted, run


class Diverging(Scripted):
    """Scripted, whose training loss is `loss` from epoch `at` (1-based) on."""

    def __init__(self, curve, at, loss=math.nan):
        super().__init__(curve)
        self.at, self.loss = at, loss

    def train_epoch(self, epoch, progress, prefetch_until):
        loss, examples = super().train_epoch(epoch, progress, prefetch_until)
        return (self.loss if epoch + 1 >= self.at else loss), examples


@pytest.mark.parametrize("loss", [math.nan, math.inf, -math.inf])
def test_a_diverged_first_epoch_ends_the_run_with_nothing_written(tmp_path, loss):
    with pytest.raises(UserError) as error:
        run(tmp_path, Diverging(CURVE, 1, loss), export_dir=str(tmp_path / "e"))
    assert str(error.value) == (f"training diverged in epoch 1: the training loss is {loss} "
                                "(a scripted divergence); nothing of epoch 1 was saved or "
                                "exported")
    assert not (tmp_path / "e").exists()
    names = os.listdir(tmp_path / "m")
    assert not [n for n in names if n.startswith("best-")]
    assert tf.train.latest_checkpoint(str(tmp_path / "m" / "checkpoints")) is None


def test_a_later_divergence_keeps_the_earlier_epochs_and_saves_nothing_of_its_own(tmp_path):
    with pytest.raises(UserError, match="diverged in epoch 3"):
        run(tmp_path, Diverging(CURVE, 3), export_dir=str(tmp_path / "e"))
    assert not (tmp_path / "e").exists()
    assert sorted(n for n in os.listdir(tmp_path / "m") if n.startswith("best-")) == ["best-2"]
    assert tf.train.latest_checkpoint(str(tmp_path / "m" / "checkpoints")).endswith("ckpt-2")


def test_a_diverged_refit_is_not_exported(tmp_path):
    class DivergingRefit(Scripted):
        def refit(self, epochs):
            return Diverging(self.curve, 2)

    with pytest.raises(UserError, match="diverged in epoch 2"):
        run(tmp_path, DivergingRefit(CURVE), retrain_on_full=True,
            export_dir=str(tmp_path / "e"))
    assert not (tmp_path / "e").exists()


def test_selection_ignores_non_finite_validation_values(tmp_path):
    result = run(tmp_path, Scripted([math.nan, 0.2, math.inf, 0.1]))
    assert result["selected_epoch"] == 2 and result["HR"] == 20.0


def test_a_model_dir_of_another_model_kind_is_refused_before_restoring(tmp_path):
    run(tmp_path, train_epochs=2)
    other = Scripted(CURVE)
    other.model_kind = "another model"
    with pytest.raises(UserError) as error:
        run(tmp_path, other, train_epochs=3)
    assert str(error.value) == (f"--model_dir {tmp_path / 'm'} holds a checkpoint of scripted, "
                                "not of another model; add --clean to start over in it, or "
                                "choose another --model_dir")
    assert other.trained == [] and float(other.model.w.numpy()) == 0.0  # nothing restored


def test_a_resumed_refit_reports_the_same_keys_and_values(tmp_path):
    straight = run(tmp_path / "a", retrain_on_full=True)

    class Interrupted(Scripted):
        def refit(self, epochs):
            refit = Scripted(self.curve)
            refit.train_epoch = lambda epoch, *a: (_ for _ in ()).throw(KeyboardInterrupt) \
                if epoch == 1 else Scripted.train_epoch(refit, epoch, *a)
            return refit

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", Interrupted(CURVE), retrain_on_full=True)
    resumed = run(tmp_path / "b", retrain_on_full=True)
    assert resumed == straight and "loss" in resumed
    with open(tmp_path / "b" / "m" / run_loop.EVAL_RESULTS) as f:
        assert json.load(f) == straight
