"""Flags that tune speed without changing results."""

from absl import flags

from official.utils.flags._conventions import help_wrap


def define_performance(num_parallel_calls: bool = True, inter_op: bool = True,
                       intra_op: bool = True, flag_values: flags.FlagValues = flags.FLAGS
                       ) -> list[str]:
    """Registers performance flags.

    Returns:
      Names of the flags registered.
    """
    fv = {"flag_values": flag_values}
    names = []
    if num_parallel_calls:
        flags.DEFINE_integer(
            "num_parallel_calls", -1, short_name="npc", lower_bound=-1, **fv,
            help=help_wrap("Parallel calls in tf.data map stages; -1 lets tf.data "
                           "tune it (AUTOTUNE)."))
        names.append("num_parallel_calls")
    if inter_op:
        flags.DEFINE_integer(
            "inter_op_parallelism_threads", 0, short_name="inter", lower_bound=0, **fv,
            help=help_wrap("Threads for running independent ops; 0 lets "
                           "TensorFlow choose."))
        names.append("inter_op_parallelism_threads")
    if intra_op:
        flags.DEFINE_integer(
            "intra_op_parallelism_threads", 0, short_name="intra", lower_bound=0, **fv,
            help=help_wrap("Threads inside one op; 0 lets TensorFlow choose."))
        names.append("intra_op_parallelism_threads")
    return names
