"""Flags that choose the `tf.distribute` strategy (see `distribution_utils`)."""

from absl import flags

from official.utils.flags._conventions import bind, help_wrap
from official.utils.misc.distribution_utils import DEFAULT_COLLECTIVE_TIMEOUT_S, STRATEGIES


def define_distribution(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Registers --distribution_strategy, --num_cpu_devices and --collective_timeout."""
    fd = bind(flag_values)
    fd.DEFINE_enum("distribution_strategy", "auto", list(STRATEGIES),
                   help_wrap("auto: multi_worker_mirrored if TF_CONFIG names a cluster of "
                             "more than one worker, else mirrored if --num_gpus or "
                             "--num_cpu_devices > 1, else default. default / one_device: a "
                             "single device. mirrored: MirroredStrategy over --num_gpus GPUs "
                             "(or --num_cpu_devices CPU devices). multi_worker_mirrored: "
                             "MultiWorkerMirroredStrategy over the TF_CONFIG cluster. "
                             "--batch_size is global (summed over replicas)."))
    fd.DEFINE_integer("num_cpu_devices", 1,
                      help_wrap("Split the CPU into this many logical devices, so that "
                                "mirrored runs N replicas without GPUs (to try distributed "
                                "code on a laptop)."), lower_bound=1)
    fd.DEFINE_integer("collective_timeout", DEFAULT_COLLECTIVE_TIMEOUT_S,
                      help_wrap("Multi-worker only: seconds to wait for the other workers, "
                                "both at start-up (all must connect) and in each all-reduce, "
                                "before the run fails with a clear error instead of "
                                "hanging."), lower_bound=1)
