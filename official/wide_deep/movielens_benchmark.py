"""Benchmark: the rating regressor's default run on ml-1m-sized synthetic data, and before.

    python -m official.wide_deep.movielens_benchmark --output F.json [--work_dir DIR]

Runs `movielens_main` three times in fresh processes on the synthetic
dataset (1M ratings, 6,040 users, 3,706 items), data prepared once
beforehand: the defaults (the whole run, to early stopping), and one epoch
each at the earlier defaults (batch 256, rate 0.001) and at batch 4096.
Prints JSON: the default run's wall time, epochs, selected epoch and
validation RMSE (selection uses the validation split only; the test RMSE is
reported beside it), and seconds per epoch of each setting, with their
ratio to the default's. Target on 2 cores: the default run <= 180 s.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from official.utils.logs import logger

_SETTINGS = {"default": [], "batch_256": ["--batch_size=256", "--learning_rate=0.001"],
             "batch_4096": ["--batch_size=4096", "--learning_rate=0.004"]}


def _run(work: str, name: str, *args: str) -> dict:
    model_dir = os.path.join(work, name)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "official.wide_deep.movielens_main",
                    "--dataset=synthetic", f"--data_dir={work}/data", f"--model_dir={model_dir}",
                    "--clean", *args], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    with open(os.path.join(model_dir, "eval_results.json")) as f:
        result = json.load(f)
    records = logger.read_metrics(os.path.join(work, f"{name}-logs"))
    epochs = [r for r in records if r["name"] == "examples_per_second"]
    return {"wall_s": round(wall, 1), "result": result, "epoch_s": [
        round(720_000 / r["value"], 2) for r in epochs]}


def main(_) -> None:
    """Runs the three settings and prints the JSON."""
    fv = flags.FLAGS
    work = fv.work_dir or tempfile.mkdtemp(prefix="movielens-benchmark-")
    subprocess.run([sys.executable, "-m", "official.datasets.movielens", "--dataset=synthetic",
                    f"--data_dir={work}/data"], check=True, capture_output=True)
    runs = {}
    for name, args in _SETTINGS.items():
        extra = [] if name == "default" else ["--train_epochs=1"]
        runs[name] = _run(work, name, *args, *extra,
                          f"--benchmark_log_dir={work}/{name}-logs")
    default = runs["default"]
    per_epoch = {n: min(r["epoch_s"]) for n, r in runs.items() if r["epoch_s"]}
    logger.emit_benchmark_result({
        "default_wall_s": default["wall_s"],
        "default_epochs": default["result"]["epoch"],
        "default_selected_epoch": default["result"]["selected_epoch"],
        "default_validation_rmse": round(default["result"]["validation_rmse"], 4),
        "default_test_rmse": round(default["result"]["rmse"], 4),
        "epoch_s": per_epoch,
        "epoch_s_vs_default": {n: round(s / per_epoch["default"], 2)
                               for n, s in per_epoch.items()},
        "target_default_wall_s": 180}, fv.output)


if __name__ == "__main__":
    flags.DEFINE_string("output", None, "Also write the JSON result to this file.")
    flags.DEFINE_string("work_dir", None, "Where the data and runs go (default: a temp dir).")
    app.run(main)
