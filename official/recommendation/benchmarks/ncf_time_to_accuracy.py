"""Time to accuracy of each NCF recipe on the NCF authors' split files.

    python -m official.recommendation.benchmarks.ncf_time_to_accuracy --ncf_split DIR/ml-1m \
        --output FILE.json [--recipes default,paper,mf_tuned,neumf_pretrained,...]

(`--recipes` takes any `ncf_main --recipe` name; `mf_rendle2020` runs too,
but is left out of the default list: its 256 epochs take about half an hour.)

Each recipe runs as its own `ncf_main` process (`--recipe NAME`, validation
on, a fresh model_dir under --work_dir). Its metric.log gives, for every
evaluation, the validation HR@10 and a timestamp; the JSON result has, per
recipe:

* `time_to_validation_hr`: {threshold: wall seconds from the process start
  to the end of the first evaluation whose validation HR@10 reached it, or
  null};
* `wall_s`: process start to exit (training, selection, test evaluation);
* `selected_epoch`, `validation_HR`, `validation_NDCG` of the selected
  epoch, and the test `HR` / `NDCG` when the split's test files are there
  (without them the runs use `--noevaluate_test`).

Multi-stage recipes (neumf_pretrained) count all stages: the thresholds are
reached by the final stage, its clock started with the first stage.

`peer` (unless --nopeer) fits `implicit`'s ALS and ours in this process on
the same validation split at the same factors (each of --peer_factors),
regularization and iterations (`ials_peer`: fit seconds, validation HR /
NDCG, their ratio, ours with each of --peer_cg_steps);
`implicit` comes with `pip install .[bench]`.
"""

import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence

from absl import app, flags

from official.recommendation.benchmarks import ials_peer
from official.recommendation.data import authors_split, validation_split
from official.utils.flags import core as flags_core
from official.utils.logs import logger
from official.utils.misc import memory

# mf_rendle2020 (256 epochs) takes about half an hour alone: ask for it by name.
DEFAULT_RECIPES = ("default", "paper", "mf_tuned", "neumf_pretrained", "ials", "ials_rendle2022",
                   "ease")
THRESHOLDS = (0.70, 0.72, 0.74, 0.76, 0.78, 0.80)


def _timestamp(record: dict) -> float:
    return datetime.datetime.fromisoformat(record["timestamp"]).timestamp()


def summarize(records: list[dict], start: float, thresholds=THRESHOLDS) -> dict:
    """Times to validation-HR thresholds from metric.log records of one run.

    Args:
      records: metric.log records (dicts), in order.
      start: wall-clock second (Unix time) the run's process started.
      thresholds: validation HR@10 values to time.

    Returns:
      {"time_to_validation_hr": {str(threshold): seconds or None}, "curve":
      [[seconds, validation HR], ...]}.
    """
    curve = [[round(_timestamp(r) - start, 2), r["value"]] for r in records
             if r["name"] == "validation_HR"]
    times = {}
    for t in thresholds:
        hit = next((s for s, hr in curve if hr >= t), None)
        times[f"{t:.2f}"] = hit
    return {"time_to_validation_hr": times, "curve": curve}


def run_recipe(recipe: str, ncf_split: str, work_dir: str, with_test: bool,
               extra: list[str]) -> dict:
    """Runs one recipe in its own process; returns its timings and selected metrics."""
    model_dir = os.path.join(work_dir, recipe)
    log_dir = os.path.join(work_dir, f"{recipe}-logs")
    shutil.rmtree(log_dir, ignore_errors=True)
    cmd = [sys.executable, "-m", "official.recommendation.ncf_main", f"--ncf_split={ncf_split}",
           f"--model_dir={model_dir}", "--clean", f"--benchmark_log_dir={log_dir}", *extra]
    if recipe != "default":
        cmd.append(f"--recipe={recipe}")
    if not with_test:
        cmd += ["--noevaluate_test", "--num_eval_negatives=99"]
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - start
    if proc.returncode:
        raise RuntimeError(f"{recipe}: ncf_main failed: {proc.stderr.strip()[-2000:]}")
    with open(os.path.join(model_dir, "eval_results.json")) as fh:
        results = json.load(fh)
    records = logger.read_metrics(log_dir)  # the final stage's
    if not records:  # a multi-stage recipe logs its final stage to log_dir itself
        raise RuntimeError(f"{recipe}: no metric.log in {log_dir}")
    out = {"wall_s": round(wall, 1), **summarize(records, start)}
    for key in ("selected_epoch", "validation_HR", "validation_NDCG", "HR", "NDCG"):
        if key in results:
            out[key] = results[key]
    return out


def main(_):
    """Runs every recipe and writes the JSON result."""
    f = flags.FLAGS
    memory.keep_freed_memory()  # the in-process peer fit, as ncf_main does
    with_test = os.path.isfile(f.ncf_split + ".test.rating")
    os.makedirs(f.work_dir, exist_ok=True)
    result = {"ncf_split": f.ncf_split, "test_files": with_test, "recipes": {}}
    for recipe in f.recipes:
        result["recipes"][recipe] = run_recipe(recipe, f.ncf_split, f.work_dir, with_test,
                                               f.extra_flags)
        print(recipe, json.dumps(result["recipes"][recipe]["time_to_validation_hr"]),
              file=sys.stderr)
    if f.peer:
        result["peer"] = peer_comparison(
            f.ncf_split, [int(k) for k in f.peer_factors], f.peer_alpha,
            f.peer_regularization, f.peer_iterations, f.peer_exact,
            [int(s) for s in f.peer_cg_steps])
    logger.emit_benchmark_result(result, f.output)


def peer_comparison(split_prefix: str, factors: Sequence[int], alpha: float,
                    regularization: float, iterations: int, exact: bool = True,
                    cg_steps: Sequence[int] = (2, 3)) -> dict:
    """`ials_peer.compare` at each of `factors` on the validation split ncf_main carves.

    (99 negatives, seed 0.) Returns {str(factors): that comparison}.
    """
    full = authors_split.read_ncf_split(split_prefix, with_test=False)
    train, _ = validation_split.split(full, 99, 0)
    out = {}
    for k in factors:
        out[str(k)] = ials_peer.compare(train, k, alpha, regularization, iterations,
                                        exact=exact, cg_steps=tuple(cg_steps))
        print("peer", k, json.dumps(out[str(k)]), file=sys.stderr, flush=True)
    return out


if __name__ == "__main__":
    fd = flags_core.bind(flags.FLAGS)  # float flags get the shared finite check
    flags.DEFINE_string("ncf_split", None, "Prefix of the NCF authors' split files "
                        "(PREFIX.train.rating; the test files are used when present).")
    flags.DEFINE_list("recipes", list(DEFAULT_RECIPES),
                      "Recipes to run; 'default' is ncf_main's defaults.")
    flags.DEFINE_string("work_dir", "/tmp/ncf-time-to-accuracy", "model_dirs and logs.")
    flags.DEFINE_list("extra_flags", [], "Further ncf_main flags for every recipe.")
    flags.DEFINE_string("output", None, "Write the JSON result to this file.")
    flags.DEFINE_boolean("peer", True, "Also fit implicit's ALS and ours at the same "
                         "settings (needs pip install .[bench]).")
    flags.DEFINE_list("peer_factors", ["64", "128", "192"], "Peer comparison: the factor "
                      "counts, each compared in turn.")
    flags.DEFINE_list("peer_cg_steps", ["2", "3"], "Peer comparison: ours is fitted with "
                      "each of these conjugate-gradient step counts (implicit takes 3).")
    flags.DEFINE_boolean("peer_exact", False, "Peer comparison: also fit ours with exact "
                         "solves (minutes at 192 factors).")
    fd.DEFINE_float("peer_alpha", 10.0, "Peer comparison: implicit's alpha (ours runs "
                       "with alpha - 1: the same objective).")
    fd.DEFINE_float("peer_regularization", 0.01, "Peer comparison: L2 lambda (plain, "
                       "no frequency scaling).")
    flags.DEFINE_integer("peer_iterations", 15, "Peer comparison: sweeps.")
    flags.mark_flag_as_required("ncf_split")
    app.run(main)
