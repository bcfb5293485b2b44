"""ncf_main on bad settings: diverged training, non-finite flags, another model's model_dir."""

import os
import subprocess
import sys

import pytest
from absl import flags

from official.recommendation.conftest import parse, run
from official.utils.errors import UserError

# Starts processes or clusters, or trains real models for a while: not in make test-fast.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


def _nothing_kept(tmp_path):
    assert not (tmp_path / "e").exists()
    model_dir = tmp_path / "m"
    names = os.listdir(model_dir) if model_dir.exists() else []
    assert not [n for n in names if n.startswith("best-")]
    if "checkpoints" in names:
        assert not os.listdir(model_dir / "checkpoints")


@pytest.mark.parametrize("args, cause", [
    (["--model=neumf", "--learning_rate=1e38"], "--learning_rate 1e+38 may be too high"),
    (["--model=ials", "--ials_alpha=1e38", "--ials_iterations=2"],
     "--ials_alpha 1e+38 may be too large or --ials_regularization 0.01 too small"),
])
def test_a_diverged_run_stops_in_one_line_with_nothing_kept(data_dir, tmp_path, args, cause):
    with pytest.raises(UserError) as error:
        run(data_dir, tmp_path / "m", "--train_epochs=2", f"--export_dir={tmp_path / 'e'}",
            "--eval_protocol=both", *args)
    assert str(error.value).startswith("training diverged in epoch 1: the training loss is ")
    assert f"({cause}); nothing of epoch 1 was saved or exported" in str(error.value)
    _nothing_kept(tmp_path)


@pytest.mark.parametrize("flag", [
    "--learning_rate=nan", "--learning_rate=inf", "--ials_alpha=nan",
    "--ials_regularization=inf", "--ials_frequency_scaling=nan", "--mf_regularization=nan",
    "--mlp_regularization=inf", "--beta1=nan", "--beta2=nan", "--epsilon=inf",
    "--warmup_epochs=inf", "--final_lr_fraction=nan", "--hr_threshold=nan",
    "--ease_lambda=nan"])
def test_non_finite_float_flags_are_refused(flag):
    with pytest.raises(flags.IllegalFlagValueError, match=f"--{flag[2:].split('=')[0]}"):
        parse(flag)


def test_a_bad_flag_is_one_line_on_stderr():
    proc = subprocess.run([sys.executable, "-m", "official.recommendation.ncf_main",
                           "--learning_rate=nan"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "error: flag --learning_rate=nan: --learning_rate must be a finite number (not nan or "
        "inf) (--help lists the flags)"]


def test_a_model_dir_of_another_model_is_refused_by_what_its_checkpoint_records(data_dir,
                                                                               tmp_path):
    run(data_dir, tmp_path / "m", "--model=gmf", "--train_epochs=1")
    checkpoints = sorted(os.listdir(tmp_path / "m" / "checkpoints"))
    with pytest.raises(UserError) as error:
        run(data_dir, tmp_path / "m", "--model=ials", "--ials_iterations=2")
    assert str(error.value) == (
        f"--model_dir {tmp_path / 'm'} holds a checkpoint of ncf_main --model gmf, not of "
        "ncf_main --model ials; add --clean to start over in it, or choose another --model_dir")
    assert sorted(os.listdir(tmp_path / "m" / "checkpoints")) == checkpoints
    again = run(data_dir, tmp_path / "m", "--model=ials", "--ials_iterations=2", "--clean")
    assert again["selected_epoch"] in (1, 2)
