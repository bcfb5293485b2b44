"""Train and evaluate NCF (NeuMF, GMF or MLP) on MovieLens implicit feedback.

    python -m official.recommendation.ncf_main --dataset ml-1m --model_dir /tmp/ncf

`--model auto --time_budget SECONDS` searches every model family on
validation instead and refits the winner (`search.auto`). Otherwise it
trains in cycles of --epochs_between_evals epochs, evaluates HR@K / NDCG@K
after each (leave-one-out, 1 positive + --num_eval_negatives sampled items),
checkpoints to --model_dir after every cycle and resumes from there on a
rerun. See README.md for the protocol, flags and measured results.
"""

import os
from collections.abc import Sequence

from absl import flags

from official.recommendation import ncf_flags
from official.recommendation.config.configs import RANKING_METRICS, NCFConfig
from official.utils.flags import core as flags_core
from official.utils.logs import run_summary
from official.utils.run_api import EVAL_RESULTS

# eval_results.json of --model auto: what is not a metric of the winner.
AUTO_BOOKKEEPING = ("model", "settings", "winner_trial", "trials", "budget_seconds",
                    "search_seconds", "refit_seconds", "seconds", "selection_metric",
                    "export_dir")


def run(configs: Sequence[NCFConfig], clean_dir: str | None = None) -> dict:
    """Runs each training in order (one, or a recipe's stages); returns the last's result.

    Args:
      configs: from `ncf_flags.configs`.
      clean_dir: a recipe's --model_dir, which the chief empties before stage 1
        (only if the package created it).
    """
    from official.recommendation.training.task import NCFTask
    from official.utils import run_loop

    builders = [(c.run, lambda strategy, cluster, c=c: NCFTask.build(c, strategy, cluster))
                for c in configs]
    if len(configs) == 1:
        return run_loop.run(configs[0].run, configs[0].distribution, builders[0][1])
    return run_loop.run_stages(builders, configs[-1].distribution, configs[-1].run.model_dir,
                               clean=clean_dir is not None)


def _run(fv: flags.FlagValues, started: float | None = None
         ) -> tuple[dict, NCFConfig | None, str, str | None]:
    """Runs what the flags ask (the search, a recipe's stages or one training).

    Writes the report if asked. Returns (result, the last training's config
    or None for the search, model_dir, the report's path or None).
    `started`: where `--time_budget` counts from (`search.budget.process_start`
    for the command; None: now).
    """
    if fv.model == "auto":
        from official.recommendation.search import auto

        values = fv.flag_values_dict()
        values["model_dir"] = model_dir = ncf_flags.model_dir(fv)
        result, final, chief = auto.run(values, flags_core.given(fv), started), None, True
    else:
        configs = ncf_flags.configs(fv)
        result = run(configs, ncf_flags.model_dir(fv) if fv.clean and len(configs) > 1
                     else None)
        final = configs[-1]
        model_dir, chief = final.run.model_dir, final.distribution.cluster.is_chief
    page = None
    if chief and (fv.report if fv.report is not None else fv.model == "auto"):
        from official.recommendation import report

        page = report.write_for_run(model_dir)
    return result, final, model_dir, page


def run_from_flags(fv: flags.FlagValues) -> dict:
    """Runs what the parsed flags ask (`--model auto`: the search); returns eval_results."""
    return _run(fv)[0]


def _print_auto_summary(result: dict, model_dir: str) -> None:
    """The closing summary of a search: the winner, then the usual metric lines."""
    settings = {k: v for k, v in result["settings"].items() if k != "model"}
    print(f"--model auto: {result['trials']} trials in {result['seconds']:.0f} s of a "
          f"{result['budget_seconds']:g} s budget; winner: trial {result['winner_trial']}, "
          f"{result['model']}{run_summary.settings_note(settings)}", flush=True)
    shown = {k: v for k, v in result.items() if k not in AUTO_BOOKKEEPING}
    run_summary.print_summary(
        shown, result["selection_metric"].split("@")[0],
        lambda name: f"{name}@{result['top_k']}" if name in RANKING_METRICS else name,
        os.path.join(model_dir, EVAL_RESULTS), result["export_dir"])


def main(_) -> None:
    """Entry point: runs NCF (each stage of a recipe, or the search), prints the summary."""
    fv = flags.FLAGS
    from official.recommendation.search import budget
    from official.utils.misc import memory

    memory.keep_freed_memory()  # solvers reuse large blocks (no page faults per step)

    result, final, model_dir, page = _run(fv, budget.process_start())
    if final is None:
        _print_auto_summary(result, model_dir)
    else:
        run_summary.print_summary(
            result, final.selection_metric if final.run.validation else None,
            lambda name: f"{name}@{final.top_k}" if name in RANKING_METRICS else name,
            os.path.join(final.run.model_dir, EVAL_RESULTS), final.run.export_dir,
            {k: result[k] for k in ("ease_lambda",) if k in result})
    if page:
        print(f"report: {page}", flush=True)


def cli_main() -> None:
    """Console entry point (`official-ncf`): defines the flags, runs `main`."""
    from official.utils.misc import cli

    ncf_flags.define_ncf_flags()
    cli.run(main)


if __name__ == "__main__":
    cli_main()
