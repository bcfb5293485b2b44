"""Flags shared by the Wide & Deep programs (TensorFlow is not imported)."""

from absl import flags

from official.utils.errors import UserError
from official.utils.flags import core as flags_core


def define_wide_deep_flags(model_types: tuple[str, ...] = ("wide", "deep", "wide_deep"),
                           default_model_type: str = "wide_deep",
                           selection_metrics: tuple[str, ...] = ("accuracy",),
                           fv: flags.FlagValues = flags.FLAGS,
                           auto_batch_size: bool = False) -> None:
    """Registers the base, benchmark and distribution flags, --model_type, --seed and selection.

    Args:
      model_types: choices of --model_type; the first of `selection_metrics`
        is --selection_metric's default.
      default_model_type: --model_type's default.
      selection_metrics: choices of --selection_metric.
      fv: the flag registry.
      auto_batch_size: --batch_size may be unset (`flags_core.define_base`).
    """
    flags_core.define_base(flag_values=fv, auto_batch_size=auto_batch_size)
    flags_core.define_benchmark(flag_values=fv)
    flags_core.define_distribution(fv)
    fd = flags_core.bind(fv)
    fd.DEFINE_enum("model_type", default_model_type, list(model_types),
                   flags_core.help_wrap("Model: " + ", ".join(model_types) + "."))
    fd.DEFINE_boolean("download_if_missing", True,
                      flags_core.help_wrap("Download (and clean) the data if missing."))
    fd.DEFINE_integer("seed", 0, flags_core.help_wrap(
        "Seed of initialization, shuffling and the validation split."))
    fd.DEFINE_float("validation_fraction", 0.1, flags_core.help_wrap(
        "Share of the training data held out (seeded) as a validation set, evaluated every "
        "cycle; the reported, logged and exported model is the best validation epoch's "
        "(restored from best-<epoch>/), and the test set is read once, after selection. 0 "
        "evaluates the test set every cycle and reports the last epoch."),
        lower_bound=0.0, upper_bound=0.5)
    fd.DEFINE_enum("selection_metric", selection_metrics[0], list(selection_metrics),
                   flags_core.help_wrap("Validation metric that selects the epoch (eval_loss, "
                                        "rmse and mae: the lowest; others: the highest)."))
    fd.DEFINE_boolean("evaluate_test", True, flags_core.help_wrap(
        "Evaluate the test set after selection. --noevaluate_test tunes on the validation "
        "split alone (census: adult.test is then neither downloaded nor read)."))
    fd.DEFINE_integer("early_stopping_patience", 0, flags_core.help_wrap(
        "Stop after this many epochs without a better validation --selection_metric; 0 "
        "trains every epoch."), lower_bound=0)
    fv.set_default("hooks", [])
    fd.register_multi_flags_validator(
        ["validation_fraction", "evaluate_test"],
        lambda f: f["validation_fraction"] > 0 or f["evaluate_test"],
        message="--noevaluate_test needs a validation set (--validation_fraction > 0)")


LOWER_IS_BETTER = ("eval_loss", "rmse", "mae")


def selection_settings(fv: flags.FlagValues) -> dict:
    """`RunConfig` fields of validation selection, from the flags above (for `main`s).

    Without a validation set there is no early stopping: a program's default
    patience is then dropped, and a patience given on the command line is an
    error.

    Raises:
      UserError: --early_stopping_patience given with --validation_fraction 0.
    """
    validation = fv.validation_fraction > 0
    if (not validation and fv.early_stopping_patience
            and "early_stopping_patience" in flags_core.given(fv)):
        raise UserError("--early_stopping_patience needs a validation set "
                        "(--validation_fraction > 0)")
    return dict(validation=validation, selection_metrics=(fv.selection_metric,),
                selection_lower_is_better=fv.selection_metric in LOWER_IS_BETTER,
                early_stopping_patience=fv.early_stopping_patience if validation else 0)
