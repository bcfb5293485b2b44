"""Flags for benchmark logging (metric.log / benchmark_run.log)."""

from absl import flags

from official.utils.flags._conventions import help_wrap


def define_benchmark(benchmark_log_dir: bool = True, benchmark_test_id: bool = True,
                     flag_values: flags.FlagValues = flags.FLAGS) -> list[str]:
    """Registers benchmark logging flags.

    Returns:
      Names of the flags registered.
    """
    names = []
    if benchmark_log_dir:
        flags.DEFINE_string(
            "benchmark_log_dir", None, short_name="bld", flag_values=flag_values,
            help=help_wrap("Directory for metric.log (one JSON metric per line) and "
                           "benchmark_run.log (run parameters and machine facts). "
                           "Unset: metrics go to the console only."))
        names.append("benchmark_log_dir")
    if benchmark_test_id:
        flags.DEFINE_string(
            "benchmark_test_id", None, short_name="bti", flag_values=flag_values,
            help=help_wrap("Free-form id stored with the benchmark logs to group "
                           "runs."))
        names.append("benchmark_test_id")
    return names
