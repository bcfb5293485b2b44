"""Wide, deep or wide & deep classifier of Census Income (UCI Adult), or boosted trees.

    python -m official.wide_deep.census_main --data_dir /tmp/census_data --model_type wide_deep

Downloads and cleans adult.data / adult.test if needed, holds out a seeded
--validation_fraction of adult.data, trains in cycles of
--epochs_between_evals epochs with accuracy, AUC and eval_loss (log loss) on
the validation rows after each, stops early, restores and reports the best
validation epoch (and its adult.test metrics), checkpoints to --model_dir (a
rerun resumes) and exports a SavedModel to --export_dir (`serving_default`
on serialized tf.Examples, `predict_raw` on raw features). `--model_type gbt`
trains YDF gradient-boosted trees on the same raw features and split, as a
baseline. See README.md for results.
"""

from absl import flags

from official.utils.errors import UserError
from official.utils.flags import core as flags_core
from official.utils.misc import cli
from official.wide_deep import census_dataset
from official.wide_deep.wide_deep_flags import define_wide_deep_flags, selection_settings


def define_census_main_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Registers every flag of census_main in `fv`."""
    define_wide_deep_flags(model_types=("wide", "deep", "wide_deep", "gbt"),
                           selection_metrics=("eval_loss", "accuracy", "auc"), fv=fv)
    census_dataset.define_dataset_flag(fv)
    fd = flags_core.bind(fv)
    fd.DEFINE_integer("num_trees", 300, flags_core.help_wrap(
        "--model_type gbt: most trees of the boosted forest (YDF stops earlier when the "
        "validation loss stops improving)."), lower_bound=1)
    fd.DEFINE_string("data_url", census_dataset.DEFAULT_DATA_URL, flags_core.help_wrap(
        "Base URL or directory holding adult.data and adult.test."))
    fd.DEFINE_enum("optimizer", "ftrl_adagrad", ["ftrl_adagrad", "adam"], flags_core.help_wrap(
        "ftrl_adagrad: FTRL for the wide part, AdaGrad for the deep part (the paper); "
        "adam: Adam for both."))
    for name, value in (("data_dir", "/tmp/census_data"), ("train_epochs", 40),
                        ("epochs_between_evals", 1), ("early_stopping_patience", 10),
                        ("batch_size", 40)):
        fv.set_default(name, value)


def model_dir(fv: flags.FlagValues) -> str:
    """--model_dir, or census_main's default for the model type (`flags_core.model_dir`)."""
    return flags_core.model_dir(fv, "census_main", fv.dataset, fv.model_type)


def run_from_flags(fv: flags.FlagValues) -> dict:
    """Builds the typed configs from the parsed flags and runs the census task."""
    from official.utils import run_loop
    from official.wide_deep.census_task import CensusConfig, CensusTask

    config = CensusConfig(fv.data_dir, fv.data_url, fv.download_if_missing, fv.model_type,
                          fv.optimizer, fv.batch_size, fv.seed, fv.validation_fraction,
                          fv.evaluate_test, fv.dataset)
    overrides = dict(stop_metrics=("accuracy",), model_dir=model_dir(fv),
                     **selection_settings(fv))
    if fv.model_type == "gbt":
        from official.wide_deep.census_gbt import CensusGBTTask, require_trees

        require_trees()

        given = flags_core.given(fv)
        if "train_epochs" in given and fv.train_epochs != 1:
            raise UserError("--model_type gbt trains the forest once (its trees stop on the "
                            "validation loss): drop --train_epochs or set it to 1")
        num_trees = fv.num_trees

        def build(strategy, cluster):
            return CensusGBTTask(config, strategy, cluster, num_trees)
        overrides.update(train_epochs=1, epochs_between_evals=1)
    else:
        def build(strategy, cluster):
            return CensusTask(config, strategy, cluster)
    return run_loop.run(flags_core.run_config(fv, **overrides),
                        flags_core.distribution_config(fv), build)


# Console entry point (`official-census`): defines the flags, trains, prints the metrics.
cli_main = cli.training_entry(define_census_main_flags, run_from_flags, model_dir)

if __name__ == "__main__":
    cli_main()
