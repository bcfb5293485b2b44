"""The flags of `ncf_main --model auto` (no TensorFlow, no Optuna)."""

from absl import flags

from official.recommendation.search import space
from official.utils.flags import core as flags_core

DEFAULT_STUDY = "ncf-auto"


def define_search_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Registers --time_budget, --max_trials, --auto_models, --study_* and --report."""
    fd = flags_core.bind(fv)
    w = flags_core.help_wrap
    fd.DEFINE_float("time_budget", 600.0,
                    w("--model auto: wall-clock seconds for the whole command (search, the "
                      "winner's refit, test evaluation, export and report). No trial starts "
                      "that the time left cannot fit (estimated from the trials so far) and "
                      "a running trial stops at an epoch boundary when it is spent."),
                    lower_bound=1.0)
    fd.DEFINE_integer("max_trials", 0,
                      w("--model auto: stop after this many trials in the study (counted over "
                        "every process and rerun sharing it); 0: the budget alone decides. A "
                        "study limited by trials, not time, repeats exactly for a --seed."),
                      lower_bound=0)
    fd.DEFINE_list("auto_models", list(space.NAMES),
                   w("--model auto: the model families searched, each first at its default "
                     "settings, then in a small space: " + space.describe().replace("\n", " | ")))
    fd.DEFINE_string("study_storage", None,
                     w("--model auto: an Optuna RDB storage URL shared by several processes "
                       "or machines (e.g. postgresql://user:pass@host/db, which needs "
                       "`pip install psycopg2-binary`, or sqlite:////shared/path/study.db). "
                       "Default: sqlite in --model_dir (a killed run resumes from it)."))
    fd.DEFINE_string("study_name", DEFAULT_STUDY,
                     w("--model auto: the study's name in its storage (processes sharing a "
                       "study use the same name)."))
    fd.DEFINE_boolean("report", None,
                      w("Write <model_dir>/report.html with figures (validation metric per "
                        "epoch and over time, the leaderboard, the test metrics). Default: on "
                        "with --model auto, off otherwise."))
    fd.register_validator(
        "auto_models", lambda v: bool(v) and all(n in space.NAMES for n in v),
        message=f"--auto_models must be comma-separated names among {', '.join(space.NAMES)}")
    fd.register_multi_flags_validator(
        ["model", "validation", "recipe", "retrain_on_full"],
        lambda f: f["model"] != "auto" or (f["validation"] and not f["recipe"]),
        message="--model auto selects on validation and sets the model's flags itself: drop "
                "--novalidation and --recipe")
    fd.register_multi_flags_validator(
        ["model", "distribution_strategy"],
        lambda f: f["model"] != "auto" or f["distribution_strategy"] in ("auto", "default",
                                                                         "one_device"),
        message="--model auto trains each trial on one device: share one study between "
                "processes or machines with --study_storage instead of "
                "--distribution_strategy")
