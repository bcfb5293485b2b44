"""Your own log: every model of ours beside popularity, `implicit`'s ALS and numpy EASE.

    python -m official.recommendation.benchmarks.own_data_peers
        --interactions plays.csv --user_column userID --item_column artistID
        --weight_column weight --min_user_interactions 3 --data_dir /tmp/own
        --work_dir /tmp/own/peers --output peers.json [--models ials,ease,mf]

(one command, split over lines here). Every run uses the same split (the
log's flags and `--split`, the seed): ours train with their defaults (or the
flags given), select their epoch on the validation split and report the test
set once, by full ranking; the peers fit the whole training data with their
own defaults, untuned: popularity (training counts), `implicit`'s
AlternatingLeastSquares (100 factors, lambda 0.01, alpha 1, 15 iterations,
binary confidence) and EASE in numpy (lambda 500, Steck's default; float32,
one `numpy.linalg.inv`). All are scored by the same evaluator (test HR@10,
NDCG@10, Recall@10 for the temporal split). `implicit` is a benchmark-only
extra: `pip install .[bench]`.
"""

import os
import time

import numpy as np
from absl import flags

from official.recommendation import ncf_flags

OURS = ("popularity", "ials", "ease", "mf", "gmf", "mlp", "neumf")
OWN = ("model", "model_dir", "clean", "export_dir")  # set per run, not forwarded


class DenseScorer:
    """`score_all(users) -> float32 [n, I]` of a scoring function, for the Evaluator."""

    def __init__(self, score_all):
        self.score_all = score_all


def peers(full, test_set, top_k: int = 10) -> dict:
    """Test metrics of the untuned peers fitted on `full`'s training positives."""
    from official.recommendation.evaluation.evaluator import Evaluator

    users, items = full.train_users, full.train_items
    evaluator = Evaluator(full)
    out = {}
    start = time.perf_counter()
    counts = np.bincount(items, minlength=full.num_items).astype(np.float32)
    out["popularity"] = evaluator.evaluate(
        DenseScorer(lambda u: np.broadcast_to(counts, (len(u), len(counts))).copy()), top_k,
        "full", test_set) | {"fit_s": round(time.perf_counter() - start, 2)}
    x = np.zeros((full.num_users, full.num_items), np.float32)
    x[users, items] = 1.0
    start = time.perf_counter()
    g = x.T @ x
    g[np.diag_indices_from(g)] += 500.0
    p = np.linalg.inv(g)
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    fit_s = time.perf_counter() - start
    out["numpy_ease_lambda500"] = evaluator.evaluate(
        DenseScorer(lambda u: x[u] @ b), top_k, "full", test_set) | {"fit_s": round(fit_s, 2)}
    del g, p  # B stays for the scorer above
    try:
        import implicit
        import scipy.sparse
        import threadpoolctl
        from implicit.cpu.als import AlternatingLeastSquares
    except ImportError as e:
        out["implicit_als"] = {"error": f"{e.name} is not installed: pip install .[bench]"}
        return out
    matrix = scipy.sparse.csr_matrix((np.ones(len(items), np.float32), (users, items)),
                                     shape=(full.num_users, full.num_items))
    with threadpoolctl.threadpool_limits(1, "blas"):
        als = AlternatingLeastSquares(random_state=0)
        start = time.perf_counter()
        als.fit(matrix, show_progress=False)
        fit_s = time.perf_counter() - start
    w, h = np.asarray(als.user_factors), np.asarray(als.item_factors)
    out["implicit_als"] = evaluator.evaluate(
        DenseScorer(lambda u: w[u] @ h.T), top_k, "full", test_set) | {
        "fit_s": round(fit_s, 2), "version": implicit.__version__}
    return out


def ours(fv: flags.FlagValues, models: list[str], work_dir: str) -> dict:
    """Each of our models through ncf_main with the given flags; its result and wall seconds."""
    from official.recommendation import ncf_main

    ncf = flags.FlagValues()
    ncf_flags.define_ncf_flags(ncf)
    given = [fv[name].serialize() for name in fv
             if name in ncf and fv[name].present and name not in OWN and fv[name].serialize()]
    out = {}
    for model in models:
        run = flags.FlagValues()
        ncf_flags.define_ncf_flags(run)
        run(["ncf_main", *given, f"--model={model}", "--clean",
             f"--model_dir={os.path.join(work_dir, model)}"])
        start = time.perf_counter()
        result = ncf_main.run_from_flags(run)
        out[model] = {**result, "wall_s": round(time.perf_counter() - start, 1)}
    return out


def main(_) -> None:
    """Entry point: prints (and writes --output) the JSON record."""
    from official.recommendation.training import task
    from official.utils.logs import logger

    fv = flags.FLAGS
    config = ncf_flags.configs(fv)[0]
    full = task.load_data(config.data)
    _, test_set = task.split_data(config.data, full)
    record = {"interactions": fv.interactions, "split": fv.split,
              "protocol": config.eval_protocol, "users": full.num_users,
              "items": full.num_items, "train_positives": int(len(full.train_users)),
              "test_users": int(len(full.eval_users)),
              "ours": ours(fv, fv.models, fv.work_dir), "peers": peers(full, test_set)}
    best_ours = max(r.get("NDCG_full", 0.0) for r in record["ours"].values())
    best_peer = max(r.get("NDCG_full", 0.0) for r in record["peers"].values())
    record["best_ours_over_best_peer"] = round(best_ours / max(best_peer, 1e-12), 3)
    logger.emit_benchmark_result(record, fv.output)


if __name__ == "__main__":
    from official.utils.misc import cli

    ncf_flags.define_ncf_flags()
    flags.DEFINE_list("models", list(OURS), "Our models to run.")
    flags.DEFINE_string("work_dir", "/tmp/own_data_peers", "Model directories of our runs.")
    flags.DEFINE_string("output", None, "Write the JSON here too.")
    cli.run(main)
