"""Base flags every training program shares: data, model_dir, epochs, export."""

from absl import flags

from official.utils.flags._conventions import help_wrap, register_finite
from official.utils.logs.hooks import HOOKS

# name: (DEFINE function, default, short name, help, extra keyword arguments).
_BASE_FLAGS = {
    "data_dir": ("DEFINE_string", "/tmp/movielens-data", "dd",
                 "Directory that holds (or receives) the input data.", {}),
    "model_dir": ("DEFINE_string", None, "md",
                  "Directory for checkpoints, TensorBoard summaries and eval_results.json. A "
                  "rerun with the same directory resumes from the last checkpoint. Default: "
                  "<temp dir>/official-<user>/<program>/<data>-<model>, one of its own per "
                  "program, data and model, so that two different runs never meet in one.", {}),
    "clean": ("DEFINE_boolean", False, None,
              "Delete model_dir before training (start fresh instead of resuming).", {}),
    "train_epochs": ("DEFINE_integer", 1, "te", "Number of epochs to train.",
                     {"lower_bound": 1}),
    "epochs_between_evals": ("DEFINE_integer", 1, "ebe",
                             "Number of training epochs between evaluations (one "
                             "train/evaluate cycle).", {"lower_bound": 1}),
    "stop_threshold": ("DEFINE_float", None, "st",
                       "Stop training once the evaluation metric reaches this value. Unset: "
                       "train all epochs.", {}),
    "batch_size": ("DEFINE_integer", 32, "bs",
                   "Global batch size: examples per training step summed over all replicas. "
                   "Must be positive.", {}),
    "num_gpus": ("DEFINE_integer", 1, "ng",
                 "Number of GPUs to use. 0 uses the CPU only; 1 uses one GPU if present, else "
                 "the CPU; >1 mirrors the model over that many GPUs.", {"lower_bound": 0}),
    "hooks": ("DEFINE_list", "LoggingHook", "hk",
              "Comma-separated training hooks, case insensitive: LoggingHook, "
              "ExamplesPerSecondHook, ProfilerHook (see official/utils/logs/hooks.py).", {}),
    "export_dir": ("DEFINE_string", None, "ed",
                   "If set, export a SavedModel for serving to this directory after "
                   "training.", {}),
    "export_versioned": ("DEFINE_boolean", False, None,
                         "With --export_dir BASE: write the export as the next version "
                         "BASE/<n> (n = 1 + the largest there; TF Serving's layout), complete "
                         "before it appears, instead of replacing BASE. `serve "
                         "--model_base_path BASE` serves the newest and reloads new ones.",
                         {}),
}


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
    auto_batch_size: bool = False,
) -> list[str]:
    """Registers the base flags; each argument turns one flag on or off.

    Args:
      data_dir, model_dir, clean, train_epochs, epochs_between_evals,
        stop_threshold, batch_size, num_gpu, hooks, export_dir: whether to
        register that flag (`num_gpu` registers --num_gpus).
      flag_values: registry to define the flags in (tests pass a fresh one).
      auto_batch_size: --batch_size may be left unset (None): the program
        chooses it from the data (its help says how).

    Returns:
      Names of the flags registered.
    """
    wanted = dict(data_dir=data_dir, model_dir=model_dir, clean=clean,
                  train_epochs=train_epochs, epochs_between_evals=epochs_between_evals,
                  stop_threshold=stop_threshold, batch_size=batch_size, num_gpus=num_gpu,
                  hooks=hooks, export_dir=export_dir, export_versioned=export_dir)
    names = [name for name in _BASE_FLAGS if wanted[name]]
    for name in names:
        define, default, short, text, extra = _BASE_FLAGS[name]
        getattr(flags, define)(name, default, help_wrap(text), short_name=short,
                               flag_values=flag_values, **extra)
        if define == "DEFINE_float":
            register_finite(name, flag_values)
    if batch_size:
        flags.register_validator("batch_size",
                                 lambda v: (v is None and auto_batch_size) or (v or 0) > 0,
                                 message="--batch_size must be a positive integer",
                                 flag_values=flag_values)
    if hooks:
        flags.register_validator(
            "hooks", lambda v: all(n.strip().lower() in HOOKS for n in v if n.strip()),
            message="--hooks must name LoggingHook, ExamplesPerSecondHook or ProfilerHook",
            flag_values=flag_values)
    return names
