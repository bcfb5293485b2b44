"""Flags shared by the Wide & Deep programs (TensorFlow is not imported)."""

from absl import flags

from official.utils.flags import core as flags_core


def define_wide_deep_flags(model_types: tuple[str, ...] = ("wide", "deep", "wide_deep"),
                           default_model_type: str = "wide_deep",
                           fv: flags.FlagValues = flags.FLAGS) -> None:
    """Registers the base, benchmark and distribution flags, --model_type and --seed."""
    flags_core.define_base(flag_values=fv)
    flags_core.define_benchmark(flag_values=fv)
    flags_core.define_distribution(fv)
    fd = flags_core.bind(fv)
    fd.DEFINE_enum("model_type", default_model_type, list(model_types),
                   flags_core.help_wrap("Model: " + ", ".join(model_types) + "."))
    fd.DEFINE_boolean("download_if_missing", True,
                      flags_core.help_wrap("Download (and clean) the data if missing."))
    fd.DEFINE_integer("seed", 0, flags_core.help_wrap("Seed of initialization and shuffling."))
    fv.set_default("hooks", [])
