"""Base flags every training program shares: data, model_dir, epochs, export."""

from absl import flags

from official.utils.flags._conventions import help_wrap


def define_base(
    data_dir: bool = True,
    model_dir: bool = True,
    clean: bool = True,
    train_epochs: bool = True,
    epochs_between_evals: bool = True,
    stop_threshold: bool = True,
    batch_size: bool = True,
    num_gpu: bool = True,
    hooks: bool = True,
    export_dir: bool = True,
    flag_values: flags.FlagValues = flags.FLAGS,
) -> list[str]:
    """Registers the base flags; each argument turns one flag on or off.

    Args:
      data_dir, model_dir, clean, train_epochs, epochs_between_evals,
        stop_threshold, batch_size, num_gpu, hooks, export_dir: whether to
        register that flag.
      flag_values: registry to define the flags in (tests pass a fresh one).

    Returns:
      Names of the flags registered.
    """
    fv = {"flag_values": flag_values}
    names = []
    if data_dir:
        flags.DEFINE_string(
            "data_dir", "/tmp/movielens-data", short_name="dd", **fv,
            help=help_wrap("Directory that holds (or receives) the input data."))
        names.append("data_dir")
    if model_dir:
        flags.DEFINE_string(
            "model_dir", "/tmp/model", short_name="md", **fv,
            help=help_wrap("Directory for checkpoints and TensorBoard summaries. A "
                           "rerun with the same directory resumes from the last "
                           "checkpoint."))
        names.append("model_dir")
    if clean:
        flags.DEFINE_boolean(
            "clean", False, **fv,
            help=help_wrap("Delete model_dir before training (start fresh instead "
                           "of resuming)."))
        names.append("clean")
    if train_epochs:
        flags.DEFINE_integer(
            "train_epochs", 1, short_name="te", lower_bound=1, **fv,
            help=help_wrap("Number of epochs to train."))
        names.append("train_epochs")
    if epochs_between_evals:
        flags.DEFINE_integer(
            "epochs_between_evals", 1, short_name="ebe", lower_bound=1, **fv,
            help=help_wrap("Number of training epochs between evaluations (one "
                           "train/evaluate cycle)."))
        names.append("epochs_between_evals")
    if stop_threshold:
        flags.DEFINE_float(
            "stop_threshold", None, short_name="st", **fv,
            help=help_wrap("Stop training once the evaluation metric reaches this "
                           "value. Unset: train all epochs."))
        names.append("stop_threshold")
    if batch_size:
        flags.DEFINE_integer(
            "batch_size", 32, short_name="bs", **fv,
            help=help_wrap("Global batch size: examples per training step summed "
                           "over all replicas. Must be positive."))
        flags.register_validator(
            "batch_size", lambda v: v is not None and v > 0, **fv,
            message="--batch_size must be a positive integer")
        names.append("batch_size")
    if num_gpu:
        flags.DEFINE_integer(
            "num_gpus", 1, short_name="ng", lower_bound=0, **fv,
            help=help_wrap("Number of GPUs to use. 0 uses the CPU only; 1 uses one "
                           "GPU if present, else the CPU; >1 mirrors the model over "
                           "that many GPUs."))
        names.append("num_gpus")
    if hooks:
        flags.DEFINE_list(
            "hooks", "LoggingHook", short_name="hk", **fv,
            help=help_wrap("Comma-separated training hooks (Keras callbacks), case "
                           "insensitive: LoggingHook, ExamplesPerSecondHook, "
                           "ProfilerHook."))
        names.append("hooks")
    if export_dir:
        flags.DEFINE_string(
            "export_dir", None, short_name="ed", **fv,
            help=help_wrap("If set, export a SavedModel for serving to this "
                           "directory after training."))
        names.append("export_dir")
    return names
