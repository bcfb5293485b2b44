"""Benchmark: normalize an ml-20m-sized ratings file (CSV layout).

    python -m official.datasets.movielens_benchmark --output FILE.json

Generates synthetic MovieLens at ml-20m scale (138,493 users, 26,744 items,
20,000,263 ratings) in the CSV layout (not timed), then normalizes it in a
fresh child process and reports `normalize_s` and that process's
`peak_rss_mb`. The generated raw files are cached in --work_dir.
"""

import multiprocessing
import os
import platform
import time

from absl import app, flags, logging

from official.datasets import movielens, movielens_schema, movielens_synthetic
from official.utils.logs import logger
from official.utils.misc import atomic_io, memory

ML_20M_SPEC = movielens_synthetic.SyntheticSpec(138_493, 26_744, 20_000_263, seed=0)


def _normalize_child(raw_dir: str, out_dir: str, queue) -> None:
    start = time.perf_counter()
    files = movielens.normalize_raw(raw_dir, out_dir, movielens_schema.LAYOUT_CSV, "bench")
    seconds = time.perf_counter() - start
    queue.put({"normalize_s": seconds, "peak_rss_mb": memory.peak_rss_mb(),
               "rows": files[movielens_schema.RATINGS_FILE]["rows"]})


def run_benchmark(work_dir: str, spec: movielens_synthetic.SyntheticSpec) -> dict:
    """Generates (or reuses) the raw files and measures one normalization.

    Returns:
      Dict with normalize_s, peak_rss_mb, rows, rows_per_s, generate_s and
      machine facts.
    """
    raw_dir = os.path.join(work_dir, "raw")
    marker = os.path.join(raw_dir, "spec.json")
    generate_s = 0.0
    if atomic_io.read_json(marker) != spec.__dict__:
        os.makedirs(raw_dir, exist_ok=True)
        logging.info("Generating %d synthetic ratings into %s", spec.num_ratings, raw_dir)
        start = time.perf_counter()
        movielens_synthetic.generate_synthetic(raw_dir, spec, movielens_schema.LAYOUT_CSV)
        generate_s = time.perf_counter() - start
        atomic_io.write_json(marker, spec.__dict__)
    else:
        logging.info("Reusing generated raw files in %s", raw_dir)
    out_dir = os.path.join(work_dir, "normalized")
    os.makedirs(out_dir, exist_ok=True)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_normalize_child, args=(raw_dir, out_dir, queue))
    child.start()
    result = queue.get()
    child.join()
    result.update({
        "rows_per_s": result["rows"] / result["normalize_s"],
        "generate_s": generate_s,
        "raw_bytes": os.path.getsize(os.path.join(raw_dir, "ratings.csv")),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "targets": {"normalize_s": 30, "peak_rss_mb": 3000},
    })
    return result


def main(_):
    """Runs the benchmark and writes JSON to --output (and stdout)."""
    f = flags.FLAGS
    spec = movielens_synthetic.SyntheticSpec(f.num_users, f.num_items, f.num_ratings, 0)
    result = run_benchmark(f.work_dir, spec)
    logger.emit_benchmark_result(result, f.output)


if __name__ == "__main__":
    flags.DEFINE_string("output", None, "Write the JSON result to this file.")
    flags.DEFINE_string("work_dir", "/tmp/movielens-benchmark",
                        "Directory for the generated raw files (reused across runs).")
    flags.DEFINE_integer("num_users", ML_20M_SPEC.num_users, "Synthetic users.")
    flags.DEFINE_integer("num_items", ML_20M_SPEC.num_items, "Synthetic items.")
    flags.DEFINE_integer("num_ratings", ML_20M_SPEC.num_ratings, "Synthetic ratings.")
    app.run(main)
