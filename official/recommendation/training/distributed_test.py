"""NCF under tf.distribute: two CPU replicas, and a real two-process cluster on 127.0.0.1."""

import json
import os
import subprocess
import sys
import time

import pytest

from official.utils.logs import logger as logger_lib
from official.utils.logs import run_summary
from official.utils.testing import local_cluster

# Starts processes or clusters, or trains real models for a while: not in make test-fast.
pytestmark = pytest.mark.slow

MODULE = "official.recommendation.ncf_main"
SMALL = ["--dataset=synthetic", "--synthetic_users=300", "--synthetic_items=200",
         "--synthetic_ratings=12000", "--batch_size=1000", "--hooks=", "--learning_rate=0.003"]


def _result(model_dir) -> dict:
    return json.loads((model_dir / "eval_results.json").read_text())


def _printed(log: str) -> dict:
    """A worker's test metrics as its closing summary printed them (4 decimals)."""
    test = run_summary.parse(log)["test"]
    return {k.split("@")[0]: v for k, v in test.items()}


def _run(tmp_path, name: str, *args) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    out = subprocess.run(
        [sys.executable, "-m", MODULE, *SMALL, f"--data_dir={tmp_path / 'data'}",
         f"--model_dir={tmp_path / name}", *args],
        capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return _result(tmp_path / name)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """One replica, 2 then 3 epochs: the reference for the distributed runs."""
    tmp = tmp_path_factory.mktemp("single")
    two = _run(tmp, "m", "--train_epochs=2")
    three = _run(tmp, "m", "--train_epochs=3")
    return tmp, two, three


def _close(a: dict, b: dict, tol: float = 2e-3,
           keys: tuple[str, ...] = ("HR", "NDCG", "eval_loss", "loss")) -> None:
    for key in keys:
        assert a[key] == pytest.approx(b[key], abs=tol), key


def test_two_cpu_replicas_match_one_replica(single):
    tmp, two, _ = single
    assert two["HR"] > 0.15  # it learned: random ranking gives HR@10 of about 0.1
    mirrored = _run(tmp, "mirrored", "--train_epochs=2", "--num_cpu_devices=2",
                    "--distribution_strategy=mirrored")
    _close(mirrored, two)


def test_solver_models_refuse_several_replicas_in_one_line(single):
    tmp, _, _ = single
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    out = subprocess.run(
        [sys.executable, "-m", MODULE, *SMALL, f"--data_dir={tmp / 'data'}",
         f"--model_dir={tmp / 'ials2'}", "--model=ials", "--num_cpu_devices=2",
         "--distribution_strategy=mirrored"],
        capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "model ials is fitted on one replica only" in out.stderr, out.stderr[-2000:]


def test_two_workers_train_resume_and_match_one_process(single, tmp_path):
    ref_tmp, two, three = single
    args = [*SMALL, f"--data_dir={ref_tmp / 'data'}", f"--model_dir={tmp_path / 'm'}",
            f"--benchmark_log_dir={tmp_path / 'logs'}", "--collective_timeout=60"]
    workers = local_cluster.start(MODULE, [*args, "--train_epochs=2"], str(tmp_path))
    assert local_cluster.wait_all(workers, 240) == [0, 0], workers[1].log()[-3000:]
    _close(_result(tmp_path / "m"), two)  # all users evaluated: the one-process metrics
    results = [_printed(w.log()) for w in workers]
    assert results[0] == results[1]  # every worker reports all workers' metrics
    _close(results[0], two, keys=("HR", "NDCG", "eval_loss"))
    assert os.path.exists(tmp_path / "m" / "checkpoints" / "ckpt-2.index")
    assert json.loads((tmp_path / "m" / "eval_results.json").read_text())["epoch"] == 2
    hr_lines = [m for m in logger_lib.read_metrics(str(tmp_path / "logs"))
                if m["name"] == "validation_HR"]
    assert len(hr_lines) == 2  # one per cycle: only the chief writes

    workers = local_cluster.start(MODULE, [*args, "--train_epochs=3"], str(tmp_path), tag="re")
    assert local_cluster.wait_all(workers, 240) == [0, 0], workers[0].log()[-3000:]
    for w in workers:
        assert "Resumed from" in w.log() and "ckpt-2" in w.log()
        _close(_printed(w.log()), three, keys=("HR", "NDCG", "eval_loss"))
    _close(_result(tmp_path / "m"), three)
    assert os.path.exists(tmp_path / "m" / "checkpoints" / "ckpt-3.index")


def test_dead_worker_ends_the_other_with_a_clear_error(single, tmp_path):
    ref_tmp, _, _ = single
    args = [*SMALL, f"--data_dir={ref_tmp / 'data'}", f"--model_dir={tmp_path / 'm'}",
            "--train_epochs=200", "--collective_timeout=30"]
    chief, other = local_cluster.start(MODULE, args, str(tmp_path))
    try:
        local_cluster.wait_for_text(chief, "Epoch 1:", 180)
        other.process.kill()
        killed_at = time.monotonic()
        code = chief.process.wait(timeout=120)
    finally:
        for w in (chief, other):
            w.process.kill()
            w.process.wait()
    assert code == 1
    assert time.monotonic() - killed_at < 90
    last = chief.log().strip().splitlines()[-1]
    assert last.startswith("error: worker 0 of 2 lost contact with the other workers")


def test_worker_whose_peer_never_starts_ends_with_a_clear_error(single, tmp_path):
    ref_tmp, _, _ = single
    args = [*SMALL, f"--data_dir={ref_tmp / 'data'}", f"--model_dir={tmp_path / 'm'}",
            "--train_epochs=1", "--collective_timeout=10"]
    alone = local_cluster.start(MODULE, args, str(tmp_path), num_workers=2, only=[0])
    start = time.monotonic()
    codes = local_cluster.wait_all(alone, 90)
    assert codes[0] != 0
    assert time.monotonic() - start < 60
    assert alone[0].log().strip().splitlines()[-1] == (
        "error: worker 0 of 2: the other workers in TF_CONFIG did not connect within 10 s "
        "(--collective_timeout); start every worker")
    assert not os.path.exists(tmp_path / "m" / "checkpoints")
