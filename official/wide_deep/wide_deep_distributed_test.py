"""Census wide & deep under tf.distribute: two CPU replicas and a two-process cluster."""

import json
import os
import subprocess
import sys

import pytest

from official.utils.logs import run_summary
from official.utils.testing import local_cluster
from official.wide_deep import census_dataset as census

# Starts processes or clusters, or trains real models for a while: not in make test-fast.
pytestmark = pytest.mark.slow

MODULE = "official.wide_deep.census_main"


def _result(model_dir) -> dict:
    """The run's eval_results.json (full precision; the summary on stdout is rounded)."""
    return json.loads((model_dir / "eval_results.json").read_text())


def _printed(log: str) -> dict:
    """A worker's metrics as its closing summary printed them (4 decimals)."""
    summary = run_summary.parse(log)
    return summary.get("test") or summary["validation"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("census")
    census.generate_synthetic(str(tmp / "mirror"), num_train=3000, num_test=1500, seed=0)
    args = [f"--data_dir={tmp / 'data'}", f"--data_url={tmp / 'mirror'}", "--batch_size=128",
            "--model_type=wide_deep", "--epochs_between_evals=1"]
    single = {n: _run(tmp, args, "single", f"--train_epochs={n}") for n in (1, 2)}
    return tmp, args, single


def _run(tmp, args, name, *extra) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    out = subprocess.run([sys.executable, "-m", MODULE, *args, f"--model_dir={tmp / name}",
                          *extra], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("epoch ") or out.stdout.startswith("selected epoch "), out.stdout
    return _result(tmp / name)


def _close(a: dict, b: dict, keys: tuple[str, ...] = ("accuracy", "auc", "eval_loss", "loss")
           ) -> None:
    for key in keys:
        assert a[key] == pytest.approx(b[key], abs=2e-3), key


def test_two_cpu_replicas_match_one_replica(setup):
    tmp, args, single = setup
    assert single[1]["accuracy"] > single[1]["accuracy_baseline"] + 0.05
    _close(_run(tmp, args, "mirrored", "--train_epochs=1", "--num_cpu_devices=2"), single[1])


def test_odd_batch_for_two_replicas_is_a_clear_error(setup):
    tmp, args, _ = setup
    out = subprocess.run([sys.executable, "-m", MODULE, *args, "--batch_size=127",
                          "--num_cpu_devices=2", f"--model_dir={tmp / 'odd'}"],
                         capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        "error: --batch_size (127) must be a positive multiple of the number of replicas (2); "
        "the batch size is global")
    assert not os.path.exists(tmp / "odd")


def test_two_workers_train_and_resume(setup, tmp_path):
    tmp, args, single = setup
    run_args = [*args, f"--model_dir={tmp_path / 'm'}", "--collective_timeout=60"]
    workers = local_cluster.start(MODULE, [*run_args, "--train_epochs=1"], str(tmp_path))
    assert local_cluster.wait_all(workers, 240) == [0, 0], workers[1].log()[-3000:]
    for w in workers:
        _close(_printed(w.log()), single[1], keys=("accuracy", "auc", "eval_loss"))
    _close(_result(tmp_path / "m"), single[1])
    assert os.path.exists(tmp_path / "m" / "checkpoints" / "ckpt-1.index")
    workers = local_cluster.start(MODULE, [*run_args, "--train_epochs=2"], str(tmp_path),
                                  tag="re")
    assert local_cluster.wait_all(workers, 240) == [0, 0], workers[0].log()[-3000:]
    for w in workers:
        assert "Resumed from" in w.log()
        _close(_printed(w.log()), single[2], keys=("accuracy", "auc", "eval_loss"))
    _close(_result(tmp_path / "m"), single[2])
    assert json.loads((tmp_path / "m" / "eval_results.json").read_text())["epoch"] == 2
