"""Fit time, full-ranking time and peak memory of iALS and EASE at a given scale.

    python -m official.recommendation.benchmarks.solver_benchmark --scale ml-20m --output FILE.json

On synthetic MovieLens of the chosen size (`--scale`: ml-1m; ml-20m, the raw
ml-20m's 138,493 users x 26,744 items x 20M ratings; or ml-20m-ease, the
ml-20m that Liang et al. and Steck evaluate on, 136,677 users x 20,108 items
x 10M positives), each model runs in its own fresh process through
`trainer.build_trainer` (the harness `ncf_main` uses), on leave-one-out data:

* ials: `--ials_sweeps` sweeps at `--ials_factors` (`fit_s`, `sweep_s`);
* ease: one closed-form fit at lambda 500 (`fit_s`);

then the full-ranking evaluation (every item scored, training items
excluded) of the first `--eval_users` users (`full_rank_s`, `HR_full`). The
process's peak resident memory (`peak_rss_mb`) covers data, fit and
evaluation. Printed as JSON.
"""

import os
import time

from absl import app, flags, logging

from official.datasets import movielens
from official.datasets.movielens_synthetic import SyntheticSpec
from official.recommendation.benchmarks import ncf_benchmark
from official.utils.logs import logger

SCALES = {
    **ncf_benchmark.SCALES,
    "ml-20m-ease": SyntheticSpec(136_677, 20_108, 10_000_000, seed=0),
}


def _fit_and_rank(data_dir: str, model: str, factors: int, sweeps: int,
                  eval_users: int) -> dict:
    import numpy as np

    from official.recommendation.config.configs import TrainConfig
    from official.recommendation.data import movielens_implicit
    from official.recommendation.data.validation_split import EvalSet
    from official.recommendation.training.trainer import build_trainer
    from official.utils.misc import memory

    memory.keep_freed_memory()  # as ncf_main does
    data = movielens_implicit.load_movielens(data_dir, movielens.SYNTHETIC, 100, 0)
    config = TrainConfig(model_type=model, num_factors=factors, ials_alpha=9.0,
                         ials_regularization=0.01, ease_lambdas=(500.0,))
    start = time.perf_counter()
    trainer = build_trainer(data, config)
    epochs = sweeps if model == "ials" else 1
    times = []
    for epoch in range(epochs):
        t = time.perf_counter()
        trainer.train_epoch(epoch)
        times.append(time.perf_counter() - t)
    fit_s = time.perf_counter() - start
    n = min(eval_users, len(data.eval_users))
    subset = EvalSet(data.eval_users[:n], data.eval_items[:n])
    t = time.perf_counter()
    metrics = trainer.evaluate(10, "full", subset)
    out = {"model": model, "users": data.num_users, "items": data.num_items,
           "train_positives": int(len(data.train_items)), "fit_s": round(fit_s, 2),
           "full_rank_s": round(time.perf_counter() - t, 2), "full_rank_users": n,
           "HR_full": round(metrics["HR_full"], 4)}
    if model == "ials":
        out.update(factors=factors, sweeps=sweeps, sweep_s=round(float(np.median(times)), 2))
    return out


def main(_):
    """Prepares the data, then measures each model in its own process."""
    f = flags.FLAGS
    data_dir = os.path.join(f.work_dir, f.scale)
    logging.info("Preparing synthetic %s-scale data in %s", f.scale, data_dir)
    movielens.download(movielens.SYNTHETIC, data_dir, synthetic=SCALES[f.scale])
    result = {"scale": f.scale, "cpu_count": os.cpu_count(), "models": {}}
    for model in f.models:
        out = ncf_benchmark._child(_fit_and_rank, data_dir, model, f.ials_factors,
                                   f.ials_sweeps, f.eval_users)
        out["peak_rss_mb"] = round(out.pop("fit_and_rank_peak_rss_mb"))
        result["models"][model] = out
        logging.info("%s: %s", model, out)
    logger.emit_benchmark_result(result, f.output)


if __name__ == "__main__":
    flags.DEFINE_enum("scale", "ml-20m-ease", list(SCALES), "Size of the synthetic data.")
    flags.DEFINE_list("models", ["ials", "ease"], "Models to measure: ials, ease.")
    flags.DEFINE_integer("ials_factors", 64, "iALS factors.")
    flags.DEFINE_integer("ials_sweeps", 4, "iALS sweeps timed.")
    flags.DEFINE_integer("eval_users", 10_000, "Users ranked against every item.")
    flags.DEFINE_string("work_dir", "/tmp/ncf-solver-benchmark", "Synthetic data.")
    flags.DEFINE_string("output", None, "Write the JSON result to this file.")
    app.run(main)
