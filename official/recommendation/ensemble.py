r"""Fuse several recipes into one model, with weights chosen on validation.

    python -m official.recommendation.ensemble --members ials_rendle2022,ease,mf_tuned \
        --ncf_split DIR/ml-1m --model_dir /tmp/ens --export_dir /tmp/ens_export

Every member (a recipe of `ncf_main --recipe`, single-stage) trains on the
training positives with each user's latest held out for validation, and
keeps its best validation epoch. Their validation scores are standardized
and fused with the weights of a simplex grid (`--fusion_step`) that give the
best validation `--selection_metric` (`models.ensemble`; the grid's corners
are the members alone, so the result says whether fusion beats every single
model on validation, and by how much). Each member is then refitted on train
+ validation the way its recipe says (`--retrain_on_full`,
`--retrain_epochs`), the fused model is evaluated on the test set once, and
exported as one SavedModel that `recommend` and `serve` use like any other.

Every other flag is ncf_main's (data, split, evaluation), shared by all
members; a flag given on the command line overrides the members' recipes.
`<model_dir>/ensemble.json` holds the weights, every grid point's
validation metrics, each member's, and the test metrics.
"""

import math
import os
import time
from typing import Any

from absl import flags, logging

from official.recommendation import ncf_flags
from official.recommendation.config import recipes
from official.utils.errors import UserError
from official.utils.flags import core as flags_core
from official.utils.misc import atomic_io

ENSEMBLE_JSON = "ensemble.json"


def member_settings(values: dict[str, Any], given: set[str], member: str) -> dict[str, Any]:
    """A member's ncf_main settings: its recipe's values under the given flags.

    Raises:
      UserError: an unknown or multi-stage recipe, or validation turned off.
    """
    if member not in recipes.RECIPES:
        raise UserError(f"--members: unknown recipe {member!r}; one of "
                        f"{', '.join(recipes.RECIPES)}")
    if recipes.RECIPES[member].stages:
        raise UserError(f"--members: {member} trains in several stages; an ensemble member "
                        "is one training")
    if not values["validation"]:
        raise UserError("an ensemble chooses its weights on validation: drop --novalidation")
    return {**recipes.resolve(values, given, member), "recipe": member, "clean": False}


def _validation_scores(task) -> Any:
    """A member's scores float32 [n, m] of the validation candidates."""
    import numpy as np

    data, scorer = task.trainer.data, task.trainer.scorer
    if scorer.scores_by_user:
        return scorer.score_rows(data.eval_users, data.eval_items)
    users = np.broadcast_to(data.eval_users[:, None], data.eval_items.shape)
    return scorer.score(np.ascontiguousarray(users), data.eval_items)


def _final_model(trial_task, outcome, full, test_set):
    """A member as its recipe ends: refitted on train + validation, or as selected.

    The refit goes through the trial's trainer (`NCFTask.refit`), so it fits
    what the trial's fit chose itself (EASE's lambda among the recipe's).
    """
    from official.recommendation.training import task as task_lib
    from official.utils import retraining

    run = trial_task.config.run
    if not run.retrain_on_full:
        return trial_task.model
    task = task_lib.NCFTask(trial_task.config, trial_task.trainer, full, test_set)
    return retraining.retrain(task, run.retrain_epochs or outcome.selected_epoch).model


def run(values: dict[str, Any], given: set[str], members: list[str],
        step: float) -> dict[str, Any]:
    """Trains the members, chooses the weights, refits, tests once, exports; returns the result."""
    import numpy as np

    from official.recommendation.evaluation.scorer import ModelScorer
    from official.recommendation.models import ensemble
    from official.recommendation.search import budget, trial_run
    from official.recommendation.serving import fold_in
    from official.recommendation.training import task as task_lib

    start = time.perf_counter()
    try:  # before any training: a bad step is one line now, not after the members
        ensemble.simplex_grid(len(members), step)
    except ValueError as e:
        raise UserError(f"--fusion_step {step:g}: {e}") from None
    settings = [member_settings(values, given, m) for m in members]
    config = ncf_flags.config(settings[0])
    if config.eval_protocol != "sampled":
        raise UserError("an ensemble chooses its weights on the sampled protocol: "
                        "--eval_protocol sampled")
    full = task_lib.load_data(config.data)  # read once, for every member and the test
    data, test_set = task_lib.split_data(config.data, full)
    tasks, outcomes, scores = [], [], []
    for name, s in zip(members, settings, strict=True):
        logging.info("Member %s: training on validation", name)
        out = trial_run.run_trial(s, data, budget.Budget(math.inf), lambda v, e: False,
                                  patience=0, keep=tasks.append)
        outcomes.append(out)
        scores.append(_validation_scores(tasks[-1]).astype(np.float64))
        logging.info("Member %s: validation HR@%d %.4f NDCG@%d %.4f (epoch %d, %.0f s)", name,
                     config.top_k, out.metrics["HR"], config.top_k, out.metrics["NDCG"],
                     out.selected_epoch, out.seconds)
    stats = [ensemble.standardization(s) for s in scores]
    standardized = np.stack([(s - a) / b for s, (a, b) in zip(scores, stats, strict=True)])
    weights, grid = ensemble.choose_weights(standardized, data.eval_items, config.top_k,
                                            config.selection_metric, step)
    best = next(g for g in grid if g["weights"] == [round(float(x), 6) for x in weights])
    singles = {m: grid_point(grid, i, len(members)) for i, m in enumerate(members)}
    metric = config.selection_metric
    gain = best[metric] - max(p[metric] for p in singles.values())
    logging.info("Weights %s: validation %s@%d %.4f (best single model %+.4f)",
                 dict(zip(members, weights.round(3).tolist(), strict=True)), metric,
                 config.top_k, best[metric], gain)
    fused = ensemble.Ensemble(
        [_final_model(t, o, full, test_set) for t, o in zip(tasks, outcomes, strict=True)],
        weights, [a for a, _ in stats], [b for _, b in stats],
        [fold_in.settings_for(t.config.train) for t in tasks])
    # The test set and the ids of the whole data, through the first member's trainer.
    final_task = task_lib.NCFTask(config, tasks[0].trainer, full, test_set)
    test = None
    if test_set is not None:
        test = final_task.evaluator.evaluate(ModelScorer(fused, data.num_items, False),
                                             config.top_k, "sampled", test_set)
    if values["export_dir"]:
        from official.utils.misc import saved_model_export

        saved_model_export.export_to(values["export_dir"],
                                     lambda d: final_task.export(d, fused),
                                     values.get("export_versioned", False))
    result = {**(test or {}), "validation_HR": best["HR"], "validation_NDCG": best["NDCG"],
              "weights": dict(zip(members, weights.tolist(), strict=True)),
              "validation_gain_over_best_member": gain, "selection_metric": metric,
              "top_k": config.top_k, "members": {
                  m: {"validation_HR": singles[m]["HR"], "validation_NDCG": singles[m]["NDCG"],
                      "selected_epoch": o.selected_epoch, "seconds": round(o.seconds, 1)}
                  for m, o in zip(members, outcomes, strict=True)},
              "grid": grid, "seconds": round(time.perf_counter() - start, 1)}
    os.makedirs(values["model_dir"], exist_ok=True)
    atomic_io.write_json(os.path.join(values["model_dir"], ENSEMBLE_JSON), result)
    return result


def grid_point(grid: list[dict], member: int, members: int) -> dict:
    """The grid point of `member` alone (weight 1)."""
    corner = [1.0 if j == member else 0.0 for j in range(members)]
    return next(g for g in grid if g["weights"] == corner)


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """ncf_main's flags, --members and --fusion_step."""
    ncf_flags.define_ncf_flags(fv)
    fd = flags_core.bind(fv)
    fd.DEFINE_list("members", ["ials_rendle2022", "ease", "mf_tuned"],
                   "Recipes fused (ncf_main --recipe names, single-stage), 2 to 4.")
    fd.DEFINE_float("fusion_step", 0.1, "Step of the simplex grid of weights tried on "
                    "validation (must divide 1).", lower_bound=0.01, upper_bound=1.0)


def main(_) -> None:
    """Entry point: fuses --members, prints the result."""
    fv = flags.FLAGS
    from official.utils.misc import memory

    memory.keep_freed_memory()
    if not 2 <= len(fv.members) <= 4:
        raise UserError(f"--members takes 2 to 4 recipes, got {len(fv.members)}")
    values = fv.flag_values_dict()
    values["model_dir"] = ncf_flags.model_dir(fv, "ensemble", "+".join(fv.members))
    result = run(values, flags_core.given(fv), list(fv.members), fv.fusion_step)
    k = result["top_k"]
    for name, member in result["members"].items():
        print(f"  {name:<18} validation HR@{k} {member['validation_HR']:.4f}  "
              f"NDCG@{k} {member['validation_NDCG']:.4f}")
    print(f"  {'fused':<18} validation HR@{k} {result['validation_HR']:.4f}  NDCG@{k} "
          f"{result['validation_NDCG']:.4f}  weights {result['weights']}")
    if "HR" in result:
        print(f"  test (read once)   HR@{k} {result['HR']:.4f}  NDCG@{k} {result['NDCG']:.4f}")
    print(f"results: {os.path.join(values['model_dir'], ENSEMBLE_JSON)}", flush=True)


def cli_main() -> None:
    """Console entry point (`official-ensemble`): defines the flags, runs `main`."""
    from official.utils.misc import cli

    define_flags()
    cli.run(main)


if __name__ == "__main__":
    cli_main()
