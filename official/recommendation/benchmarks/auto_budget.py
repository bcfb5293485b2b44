"""`--model auto` against its budget and against every model at its default flags.

    python -m official.recommendation.benchmarks.auto_budget --work_dir W \
        --time_budget 600 [--defaults] -- --interactions plays.csv

Runs `ncf_main --model auto` (the data flags after `--`) as its own process
and prints JSON: its wall time against --time_budget (`overrun_fraction`:
how far past the budget the whole command ran, 0 if within), the number of
trials, the winner and its validation metrics, and its test metrics when
the data has a test set. With --defaults it also runs each model family
alone at its default flags (`--model NAME`, same data and selection metric)
and compares the test metrics: `auto_test_minus_best_default`.
"""

import json
import os
import shutil
import subprocess
import sys
import time

from absl import app, flags

from official.recommendation.search import space
from official.utils.misc import atomic_io

FLAGS = flags.FLAGS
flags.DEFINE_string("work_dir", None, "Scratch directory of the runs (emptied first).")
flags.DEFINE_float("time_budget", 600.0, "--time_budget of the auto run.")
flags.DEFINE_boolean("defaults", False, "Also run every family alone at its default flags.")
flags.DEFINE_list("default_models", list(space.NAMES),
                  "With --defaults: the families run alone (EASE on 17k items takes ~1000 s).")
flags.DEFINE_string("output", None, "Also write the JSON here.")
flags.mark_flag_as_required("work_dir")


def _run(args: list[str], model_dir: str) -> dict:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "official.recommendation.ncf_main",
                           "--model_dir", model_dir, *args], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"ncf_main {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    result = atomic_io.read_json(os.path.join(model_dir, "eval_results.json"))
    return {"wall_s": round(wall, 1), "result": result}


def _metrics(result: dict, prefix: str) -> dict:
    names = ("HR", "NDCG", "HR_full", "NDCG_full", "Coverage_full")
    return {n: round(result[prefix + n], 4) for n in names if prefix + n in result}


def main(argv: list[str]) -> None:
    """Runs the auto search (and the defaults), prints JSON."""
    data_flags = argv[1:]
    shutil.rmtree(FLAGS.work_dir, ignore_errors=True)
    os.makedirs(FLAGS.work_dir)
    auto = _run(["--model", "auto", "--time_budget", f"{FLAGS.time_budget:g}", *data_flags],
                os.path.join(FLAGS.work_dir, "auto"))
    r = auto["result"]
    out = {"time_budget_s": FLAGS.time_budget, "auto": {
        "wall_s": auto["wall_s"],
        "overrun_fraction": round(max(auto["wall_s"] / FLAGS.time_budget - 1.0, 0.0), 4),
        "trials": r["trials"], "model": r["model"], "settings": r["settings"],
        "selected_epoch": r["selected_epoch"], "selection_metric": r["selection_metric"],
        "validation": _metrics(r, "validation_"), "test": _metrics(r, "")}}
    if FLAGS.defaults:
        metric = r["selection_metric"].split("@")[0]
        out["defaults"] = {}
        for name in FLAGS.default_models:
            d = _run(["--model", name, "--selection_metric", metric, *data_flags],
                     os.path.join(FLAGS.work_dir, name))
            out["defaults"][name] = {"wall_s": d["wall_s"],
                                     "validation": _metrics(d["result"], "validation_"),
                                     "test": _metrics(d["result"], "")}
        key = next((k for k in (f"{metric}_full", metric) if k in out["auto"]["test"]), None)
        if key:
            best = max(v["test"].get(key, 0.0) for v in out["defaults"].values())
            out["auto_test_minus_best_default"] = {key: round(out["auto"]["test"][key] - best,
                                                              4)}
    text = json.dumps(out, indent=1)
    if FLAGS.output:
        atomic_io.write_json(FLAGS.output, out)
    print(text)


if __name__ == "__main__":
    app.run(main)
