"""Regressor of MovieLens ratings: biased matrix factorization, or the 2018 deep regressor.

    python -m official.wide_deep.movielens_main --dataset ml-1m --data_dir /tmp/movielens-data

Downloads and normalizes the dataset if needed, splits the ratings 80/20
(seeded; 10% of the 80% is the validation split that selects the epoch and
stops early), trains `--model_type svdpp` (biased matrix factorization with
implicit feedback and weight decay, the default), `mf` (without the
implicit term) or `deep` (the seeds' `DNNRegressor`) in cycles
of --epochs_between_evals epochs, reports RMSE and MAE (1-5 scale) beside
predicting the training mean, checkpoints to
--model_dir (a rerun resumes) and exports a SavedModel serving ratings on raw
ids to --export_dir. See README.md for results.
"""

from absl import flags

from official.datasets import movielens
from official.utils.flags import core as flags_core
from official.utils.misc import cli
from official.wide_deep.wide_deep_flags import define_wide_deep_flags, selection_settings


def define_movielens_main_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Registers every flag of movielens_main in `fv`."""
    define_wide_deep_flags(model_types=("svdpp", "mf", "deep"), default_model_type="svdpp",
                           selection_metrics=("rmse", "mae", "eval_loss"), fv=fv,
                           auto_batch_size=True)
    movielens.define_data_download_flags(data_dir=False, flag_values=fv)
    fd = flags_core.bind(fv)
    fd.DEFINE_float("learning_rate", None, flags_core.help_wrap(
        "Adam learning rate. Default: 0.001 * sqrt(batch_size / 256) (0.001 at 256, 0.004 "
        "at 4096)."), lower_bound=0.0)
    fd.DEFINE_integer("mf_dim", 32, flags_core.help_wrap(
        "--model_type mf / svdpp: dimensions of the user and item factors."), lower_bound=1)
    fd.DEFINE_float("mf_l2", 1e-4, flags_core.help_wrap(
        "--model_type mf / svdpp: weight decay, l2 * (sum of squared entries of the factor "
        "and bias tables) added to every step's mean squared error (ratings on the 1-5 "
        "scale)."), lower_bound=0.0)
    fd.DEFINE_float("mf_l2_implicit", 1e-3, flags_core.help_wrap(
        "--model_type svdpp: weight decay of the implicit-feedback factors (y)."),
        lower_bound=0.0)
    for name, value in (("dataset", movielens.schema.ML_1M), ("train_epochs", 40),
                        ("epochs_between_evals", 1), ("early_stopping_patience", 3),
                        ("batch_size", None)):
        fv.set_default(name, value)
    fv["batch_size"].help = flags_core.help_wrap(
        "Global batch size (examples per step over all replicas). Default: the smallest power "
        "of two from 256 up that makes an epoch at most 300 steps (ml-100k: 256; ml-1m: "
        "4096): the implicit term of svdpp costs about the same per step at any batch size, "
        "so large data trains in fewer, larger steps.")
    fd.register_validator("stop_threshold", lambda v: v is None,
                          message="--stop_threshold is not supported by the rating regressor")


def model_dir(fv: flags.FlagValues) -> str:
    """--model_dir, or movielens_main's default for the data and model (`flags_core.model_dir`)."""
    return flags_core.model_dir(fv, "movielens_main", fv.dataset, fv.model_type)


def run_from_flags(fv: flags.FlagValues) -> dict:
    """Builds the typed configs from the parsed flags and runs the regressor task."""
    from official.utils import run_loop
    from official.wide_deep.movielens_task import MovieLensTask, RegressorConfig

    config = RegressorConfig(movielens.source_from_flags(fv), fv.batch_size, fv.learning_rate,
                             fv.seed, fv.validation_fraction, fv.evaluate_test, fv.model_type,
                             fv.mf_dim, fv.mf_l2, fv.mf_l2_implicit)
    return run_loop.run(flags_core.run_config(fv, model_dir=model_dir(fv),
                                              **selection_settings(fv)),
                        flags_core.distribution_config(fv),
                        lambda strategy, cluster: MovieLensTask(config, strategy, cluster))


# Console entry point (`official-movielens-regressor`): defines the flags, trains,
# prints the metrics.
cli_main = cli.training_entry(define_movielens_main_flags, run_from_flags, model_dir)

if __name__ == "__main__":
    cli_main()
