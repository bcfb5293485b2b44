"""Our iALS beside `implicit`'s AlternatingLeastSquares on the same validation split.

Both fit the same objective: `implicit` weighs a positive's squared error by
its `alpha` and an unobserved pair's by 1, with plain L2 `regularization`;
ours (`ials`) weighs a positive by 1 + --ials_alpha, so ours runs with
alpha - 1, frequency scaling 0 and the same lambda, factors and iterations
(an exact sweep of ours equals an exact sweep of `implicit`'s from the same
factors). `implicit` solves each row with 3 conjugate-gradient steps by
default (`use_cg`); ours is fitted twice: exactly (Cholesky, our default) and
with the same 3 CG steps (`--ials_cg_steps 3`).

Fit times are in-process wall seconds of the fit alone (data already in
memory); HR@10 / NDCG@10 are on the validation split of `validation_split`
(each user's latest training positive against its own sampled negatives).
`implicit` is a benchmark-only extra: `pip install .[bench]`.
"""

import time

import numpy as np
import tensorflow as tf

from official.recommendation.data.implicit_data import NCFData
from official.recommendation.evaluation import sampled_metrics
from official.recommendation.models import ials


def validation_metrics(user_factors: np.ndarray, item_factors: np.ndarray, data: NCFData,
                       top_k: int = 10) -> dict[str, float]:
    """HR@K and NDCG@K of dot-product factors on data's evaluation set.

    Args:
      user_factors: float [U, k]; item_factors: float [I, k].
      data: its eval_users [n] / eval_items [n, 1 + N] (column 0 the positive).
      top_k: K.
    """
    w = np.asarray(user_factors, np.float32)[data.eval_users]
    h = np.asarray(item_factors, np.float32)[data.eval_items]
    scores = np.einsum("nk,nmk->nm", w, h)
    hr, ndcg = sampled_metrics.hit_rate_and_ndcg(scores, data.eval_items, top_k)
    return {"HR": float(hr), "NDCG": float(ndcg)}


def fit_ours(data: NCFData, factors: int, alpha: float, regularization: float,
             iterations: int, seed: int = 0, cg_steps: int = 0) -> dict:
    """Fits our iALS with `implicit`'s settings (its alpha); returns fit_s and metrics."""
    tf.keras.utils.set_random_seed(seed)
    model = ials.IALS(data.num_users, data.num_items, factors)
    start = time.perf_counter()
    solver = ials.IALSSolver(model, data.train_users, data.train_items, alpha - 1.0,
                                   regularization, 0.0, cg_steps)
    for _ in range(iterations):
        solver.sweep(with_loss=False)
    fit_s = time.perf_counter() - start
    return {"fit_s": round(fit_s, 3), **validation_metrics(
        model.user_table.numpy(), model.item_table.numpy(), data)}


def fit_implicit(data: NCFData, factors: int, alpha: float, regularization: float,
                 iterations: int, seed: int = 0) -> dict:
    """Fits `implicit`'s ALS; {"error": ...} where it is not installed."""
    try:
        import implicit
        import scipy.sparse
        import threadpoolctl
        from implicit.cpu.als import AlternatingLeastSquares
    except ImportError as e:
        return {"error": f"{e.name} is not installed: pip install .[bench]"}
    matrix = scipy.sparse.csr_matrix(
        (np.ones(len(data.train_items), np.float32), (data.train_users, data.train_items)),
        shape=(data.num_users, data.num_items))
    # implicit asks for single-threaded BLAS: it parallelizes over rows itself.
    with threadpoolctl.threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=factors, regularization=regularization,
                                        alpha=alpha, iterations=iterations, random_state=seed)
        start = time.perf_counter()
        model.fit(matrix, show_progress=False)
        fit_s = time.perf_counter() - start
    return {"version": implicit.__version__, "fit_s": round(fit_s, 3),
            **validation_metrics(model.user_factors, model.item_factors, data)}


def compare(data: NCFData, factors: int = 64, alpha: float = 10.0,
            regularization: float = 0.01, iterations: int = 15, seed: int = 0,
            exact: bool = True, cg_steps: tuple[int, ...] = (3,)) -> dict:
    """Both fits at the same settings, and the ratio of their fit times.

    Ours is fitted with each of `cg_steps` conjugate-gradient steps per row
    (`implicit` takes 3) and, with `exact`, with exact Cholesky solves.
    """
    settings = {"factors": factors, "implicit_alpha": alpha, "regularization": regularization,
                "iterations": iterations}
    peer = fit_implicit(data, factors, alpha, regularization, iterations, seed)
    out = {"settings": settings, "implicit": peer}
    for steps in ((0,) if exact else ()) + tuple(cg_steps):
        suffix = f"_cg{steps}" if steps else ""  # "ours" / "fit_time_ratio": exact solves
        ours = out[f"ours{suffix}"] = fit_ours(data, factors, alpha, regularization,
                                               iterations, seed, steps)
        if "fit_s" in peer:
            out[f"fit_time_ratio{suffix}"] = round(ours["fit_s"] / max(peer["fit_s"], 1e-9), 2)
    return out
