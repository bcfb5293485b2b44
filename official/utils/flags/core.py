"""Public entry to the flag groups, and the typed configs built from them.

Programs call the `define_*` functions before parsing; `main` turns the
parsed flags into frozen configs (`run_config`, `distribution_config` and
the program's own) and passes those, never the flags, to library code.
Validators check values only; they never touch the file system and code never
changes a flag's value.
"""

import os
import re
import tempfile

from absl import flags

from official.utils.flags._base import define_base
from official.utils.flags._benchmark import define_benchmark
from official.utils.flags._conventions import bind, help_wrap
from official.utils.flags._distribution import define_distribution

__all__ = ["bind", "define_base", "define_benchmark", "define_distribution",
           "distribution_config", "given", "help_wrap", "model_dir", "run_config"]


def given(fv: flags.FlagValues) -> frozenset[str]:
    """Names of the flags set on the command line (recipes keep their values)."""
    return frozenset(fv[name].name for name in fv if fv[name].present)


def _user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except (ImportError, KeyError, OSError):  # no passwd entry (a container)
        return str(os.getuid())


def default_model_dir(program: str, *parts: str) -> str:
    """`<temp dir>/official-<user>/<program>/<part>-<part>...`: one per program, data and model.

    Args:
      program: "ncf_main", "census_main", "movielens_main".
      parts: what the run is of (dataset, model), in order.
    """
    name = "-".join(re.sub(r"[^A-Za-z0-9_.-]+", "_", p) for p in parts if p) or "run"
    return os.path.join(tempfile.gettempdir(), f"official-{_user()}", program, name)


def model_dir(fv, program: str, *parts: str) -> str:
    """--model_dir, or, when it is not given, `default_model_dir(program, *parts)`."""
    return fv.model_dir or default_model_dir(program, *parts)


def run_config(fv, **overrides):
    """`run_loop.RunConfig` from the base and benchmark flags, with `overrides`.

    Args:
      fv: parsed flags, or settings with the same names (a recipe's).
      **overrides: RunConfig fields the program sets itself.
    """
    from official.utils.run_api import RunConfig

    values = dict(model_dir=overrides.pop("model_dir", None) or fv.model_dir,
                  data_dir=getattr(fv, "data_dir", None),
                  train_epochs=fv.train_epochs,
                  epochs_between_evals=fv.epochs_between_evals, clean=fv.clean,
                  export_dir=fv.export_dir,
                  export_versioned=bool(getattr(fv, "export_versioned", False)),
                  hooks=tuple(fv.hooks),
                  benchmark_log_dir=fv.benchmark_log_dir,
                  benchmark_test_id=fv.benchmark_test_id,
                  stop_threshold=getattr(fv, "stop_threshold", None))
    return RunConfig(**(values | overrides))


def distribution_config(fv):
    """`distribution_utils.DistributionConfig` from the flags and `TF_CONFIG`."""
    from official.utils.misc import distribution_utils as du

    return du.DistributionConfig(fv.distribution_strategy, fv.num_gpus, fv.num_cpu_devices,
                                 du.tf_config_from_env(), fv.collective_timeout)
