"""How much fold-in loses against training: HR@10 of trained users folded in from their history.

    python -m official.recommendation.benchmarks.fold_in_benchmark --output FILE.json
        [--models mf,gmf,mlp,neumf,ials,ease] [--users 500] [--train_epochs 8]
        [--fold_in_methods auto,adam] [--batch 64]

For each model: trains it through `ncf_main`'s harness (`NCFTask`, the
shared loop; default settings, no validation split) on synthetic MovieLens
of ml-1m size, then takes `--users` seeded trained users and scores every
item for each twice: with the trained user representation, and with one
folded in from the user's own training items (`fold_in.history_logits`,
the function the export's `recommend_for_histories` runs), --batch users a
call (users in order of history length), once per fold-in method of
--fold_in_methods (`FoldInSettings.method`; iALS and EASE have one fold-in of their own).
Full ranking, as `full_ranking`: training
items excluded, HR@10 = held-out item in the top 10. Writes `{model:
{"HR_trained", "train_s", "users", "<method>": {"HR_folded", "gap",
"fold_in_ms" (per user, in batches), "fold_in_ms_alone" (per user, one at a
time)}}}` as JSON (and prints it).
"""

import os
import tempfile
import time

from absl import app, flags, logging

from official.utils.flags import core as flags_core
from official.utils.logs import logger


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Registers the benchmark's flags."""
    fd = flags_core.bind(fv)
    w = flags_core.help_wrap
    fd.DEFINE_string("output", None, w("Write the JSON results here (also printed)."))
    fd.DEFINE_list("models", ["mf", "gmf", "mlp", "neumf", "ials", "ease"],
                   w("Models to compare (ncf_main --model values with user factors or EASE)."))
    fd.DEFINE_integer("users", 500, w("Trained users folded in per model."), lower_bound=1)
    fd.DEFINE_integer("train_epochs", 8, w("Epochs (iALS: sweeps) of each training."),
                      lower_bound=1)
    fd.DEFINE_integer("synthetic_users", 6040, w("Synthetic users (ml-1m size)."))
    fd.DEFINE_integer("synthetic_items", 3706, w("Synthetic items."))
    fd.DEFINE_integer("synthetic_ratings", 1_000_000, w("Synthetic ratings."))
    from official.recommendation.serving.fold_in import FoldInSettings

    defaults = FoldInSettings()  # the export's fold-in
    fd.DEFINE_integer("fold_in_steps", defaults.steps, w("Adam steps of the gradient fold-in."),
                      lower_bound=1)
    fd.DEFINE_integer("fold_in_newton_steps", defaults.newton_steps,
                      w("Gauss-Newton steps of the gradient fold-in."), lower_bound=1)
    fd.DEFINE_integer("fold_in_negatives", defaults.num_neg,
                      w("Sampled negatives per history item."), lower_bound=1)
    fd.DEFINE_float("fold_in_learning_rate", defaults.learning_rate,
                    w("Step size of the gradient fold-in."), lower_bound=0.0)
    fd.DEFINE_float("fold_in_l2", defaults.l2, w("Weight of |u - mean user|^2."),
                    lower_bound=0.0)
    fd.DEFINE_list("fold_in_methods", ["auto", "newton", "adam"], w(
        "Fold-in methods of the SGD models to measure (`FoldInSettings.method`; auto: the "
        "export's)."))
    fd.DEFINE_integer("batch", 64, w("Users folded in per call (the server's batch)."),
                      lower_bound=1)
    fd.DEFINE_string("work_dir", None, w("Data and model directories (default: a temporary "
                                         "directory, removed at the end)."))


def hit_rates(model, data, users, fold_in_settings, batch: int) -> dict:
    """HR@10 of `users` (indices of data's test users) trained and folded in, full ranking."""
    import numpy as np
    import tensorflow as tf

    from official.recommendation.serving import fold_in
    from official.utils.misc import array_ops

    offsets = array_ops.csr_offsets(data.train_users, data.num_users)
    score = tf.function(lambda h: fold_in.history_logits(model, h, fold_in_settings),
                        input_signature=[tf.RaggedTensorSpec([None, None], tf.int32, 1)])
    # In order of history length, so a batch pads little (as the server's batches of
    # similar requests; its --max_history_batch_items caps the padding otherwise).
    lengths = offsets[data.eval_users[users] + 1] - offsets[data.eval_users[users]]
    users = users[np.argsort(lengths, kind="stable")]
    trained_users = data.eval_users[users]
    histories = [data.train_items[offsets[u]:offsets[u + 1]] for u in trained_users]
    held_out = data.eval_items[users, 0]
    score(fold_in.as_histories(histories[:batch]))  # traced once, not timed
    fold_s, trained_hits, folded_hits = 0.0, 0, 0
    for lo in range(0, len(users), batch):
        part = slice(lo, lo + batch)
        trained = model.all_item_logits(trained_users[part]).numpy()
        t0 = time.perf_counter()
        folded = score(fold_in.as_histories(histories[part])).numpy()
        fold_s += time.perf_counter() - t0
        for row, (history, item) in enumerate(zip(histories[part], held_out[part],
                                                  strict=True)):
            trained[row, history] = folded[row, history] = -np.inf
            trained_hits += int((trained[row] > trained[row, item]).sum()) < 10
            folded_hits += int((folded[row] > folded[row, item]).sum()) < 10
    alone = np.linspace(0, len(users) - 1, min(len(users), 50)).astype(int)  # all lengths
    t0 = time.perf_counter()
    for row in alone:
        score(fold_in.as_histories([histories[row]])).numpy()
    n = len(users)
    return {"HR_trained": trained_hits / n, "HR_folded": folded_hits / n,
            "gap": (trained_hits - folded_hits) / n, "fold_in_ms": 1000 * fold_s / n,
            "fold_in_ms_alone": 1000 * (time.perf_counter() - t0) / len(alone)}


def run_model(model_type: str, work_dir: str, fv: flags.FlagValues) -> dict:
    """Trains one model through the harness and measures its fold-in."""
    import numpy as np

    from official.recommendation import ncf_flags
    from official.recommendation.serving import fold_in
    from official.recommendation.training.task import NCFTask
    from official.utils import run_loop

    settings = flags.FlagValues()
    ncf_flags.define_ncf_flags(settings)
    settings(["fold_in_benchmark", "--dataset=synthetic", f"--model={model_type}",
              f"--synthetic_users={fv.synthetic_users}",
              f"--synthetic_items={fv.synthetic_items}",
              f"--synthetic_ratings={fv.synthetic_ratings}",
              f"--data_dir={os.path.join(work_dir, 'data')}",
              f"--model_dir={os.path.join(work_dir, model_type)}", "--clean", "--hooks=",
              f"--train_epochs={fv.train_epochs}", f"--ials_iterations={fv.train_epochs}",
              f"--epochs_between_evals={fv.train_epochs}", "--novalidation",
              "--ease_lambda=500"])
    config = ncf_flags.configs(settings)[-1]
    start = time.perf_counter()
    task = NCFTask.build(config)
    run_loop.train_and_report(task, config.run)
    train_s = time.perf_counter() - start
    data = task.full
    users = np.sort(np.random.default_rng(0).choice(len(data.eval_users),
                                                    min(fv.users, len(data.eval_users)),
                                                    replace=False))
    model = task.trainer.single_device_model()
    result = {"train_s": train_s, "users": len(users)}
    for method in fv.fold_in_methods:
        if method != "adam" and not hasattr(model, "grouped_logits_from_rows"):
            continue  # iALS, EASE: one fold-in of their own
        settings = fold_in.settings_for(
            config.train, method=method, steps=fv.fold_in_steps,
            newton_steps=fv.fold_in_newton_steps,
            learning_rate=fv.fold_in_learning_rate, num_neg=fv.fold_in_negatives,
            l2=fv.fold_in_l2)
        rates = hit_rates(model, data, users, settings, fv.batch)
        result["HR_trained"] = rates.pop("HR_trained")
        result[method] = rates
        logging.info("%s %s: %s", model_type, method, rates)
    return result


def main(_) -> None:
    """Entry point."""
    fv = flags.FLAGS
    with tempfile.TemporaryDirectory() as tmp:
        work = fv.work_dir or tmp
        results = {m: run_model(m, work, fv) for m in fv.models}
    logger.emit_benchmark_result(results, fv.output)


if __name__ == "__main__":
    define_flags()
    app.run(main)
