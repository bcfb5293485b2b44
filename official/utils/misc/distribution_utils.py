"""Choosing a `tf.distribute` strategy from a `DistributionConfig` and `TF_CONFIG`.

Strategies (`--distribution_strategy`):
  auto: `multi_worker_mirrored` when `TF_CONFIG` names a cluster of more than
    one worker; else `mirrored` when `--num_gpus` > 1 or `--num_cpu_devices`
    > 1; else `default`.
  default: no distribution: one device (a GPU when present, else the CPU).
  one_device: `OneDeviceStrategy` on GPU 0 (if `--num_gpus` >= 1 and one
    exists) or the CPU.
  mirrored: `MirroredStrategy` over `--num_gpus` GPUs, or over the
    `--num_cpu_devices` logical CPU devices when there is no GPU (or
    `--num_gpus 0`).
  multi_worker_mirrored: `MultiWorkerMirroredStrategy` over the cluster in
    `TF_CONFIG` (every worker mirrors over its own local devices as above).

Batch sizes are global: `--batch_size` examples per step summed over every
replica of every worker; each replica computes `batch_size / replicas`.
Losses are normalized by the global number of examples in the step, so the
all-reduced gradient equals one replica's gradient on the whole batch.

Only the chief (the `chief` task, or worker 0 of a cluster without one)
writes summaries, metric logs, `eval_results.json` and exports. Every worker
saves checkpoints (the save is a collective operation under
`MultiWorkerMirroredStrategy`); non-chief workers save into a private
temporary directory that is removed afterwards, and all restore from the
chief's `<model_dir>/checkpoints`, so `model_dir` must be storage every
worker sees (a shared file system or a cloud bucket).

`TF_CONFIG` and logical CPU devices must be settled before TensorFlow runs
any operation: `make_strategy` is the first TensorFlow call of each run.
What runs under the strategy (replica slices, all-reduce of numpy sums, lost
workers) is in `replica_ops`.
"""

import contextlib
import dataclasses
import json
import os
import subprocess
import sys

from official.utils.errors import UserError

STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker_mirrored")
# Seconds a collective (all-reduce) may wait for a peer before failing: a dead
# worker then ends the others with an error instead of a hang.
DEFAULT_COLLECTIVE_TIMEOUT_S = 120


@dataclasses.dataclass(frozen=True)
class Cluster:
    """This process's place in a `TF_CONFIG` cluster.

    Attributes:
      task_type: "chief" or "worker".
      task_index: index within `task_type`.
      num_workers: chief + workers.
      worker_index: position of this task among all of them (chief first).
    """

    task_type: str
    task_index: int
    num_workers: int
    worker_index: int

    @property
    def is_chief(self) -> bool:
        """True for the task that writes summaries, logs and exports."""
        return self.worker_index == 0


SINGLE = Cluster("worker", 0, 1, 0)


def cluster_from_tf_config(text: str | None) -> Cluster:
    """Parses a `TF_CONFIG` value (None or empty: a single worker).

    Raises:
      UserError: not JSON, no cluster / task, or a task that is not in the cluster.
    """
    if not text:
        return SINGLE
    try:
        config = json.loads(text)
        cluster, task = config.get("cluster") or {}, config.get("task") or {}
        task_type, task_index = task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise UserError(f"TF_CONFIG is not valid ({e!r}); expected JSON like "
                        '{"cluster": {"worker": ["host:port", ...]}, '
                        '"task": {"type": "worker", "index": 0}}') from e
    unknown = set(cluster) - {"chief", "worker", "evaluator", "ps"}
    if unknown or "ps" in cluster or "evaluator" in cluster:
        raise UserError(f"TF_CONFIG cluster has task types {sorted(cluster)}; only 'chief' "
                        "and 'worker' are supported (MultiWorkerMirroredStrategy)")
    chiefs, workers = list(cluster.get("chief", [])), list(cluster.get("worker", []))
    if len(chiefs) > 1:
        raise UserError("TF_CONFIG names more than one chief")
    members = {"chief": chiefs, "worker": workers}
    if task_type not in members or not 0 <= task_index < len(members[task_type]):
        raise UserError(f"TF_CONFIG task {task_type}:{task_index} is not in its cluster")
    worker_index = task_index if task_type == "chief" else len(chiefs) + task_index
    return Cluster(task_type, task_index, len(chiefs) + len(workers), worker_index)




@dataclasses.dataclass(frozen=True)
class DistributionConfig:
    """How to distribute a run (the distribution flags and `TF_CONFIG`).

    Attributes:
      strategy: one of STRATEGIES.
      num_gpus: GPUs to use (0: CPU only).
      num_cpu_devices: logical CPU devices to create (mirrored without GPUs).
      tf_config: the `TF_CONFIG` environment value (None: not set).
      collective_timeout_s: timeout of multi-worker collectives.
    """

    strategy: str = "auto"
    num_gpus: int = 1
    num_cpu_devices: int = 1
    tf_config: str | None = None
    collective_timeout_s: int = DEFAULT_COLLECTIVE_TIMEOUT_S

    @property
    def cluster(self) -> Cluster:
        """This process's place in the cluster (parsed from `tf_config`)."""
        return cluster_from_tf_config(self.tf_config)


def tf_config_from_env() -> str | None:
    """The `TF_CONFIG` environment value, if set."""
    return os.environ.get("TF_CONFIG") or None


def make_strategy(config: DistributionConfig = DistributionConfig()):
    """Returns (strategy, Cluster); call before any other TensorFlow op.

    Raises:
      UserError: unknown strategy, more GPUs asked than present, a
        multi-worker strategy without a cluster, or devices configured too late.
    """
    import tensorflow as tf

    name, num_gpus, num_cpu_devices = config.strategy, config.num_gpus, config.num_cpu_devices
    if name not in STRATEGIES:
        raise UserError(f"--distribution_strategy must be one of {STRATEGIES}, got {name!r}")
    cluster = config.cluster
    if num_cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * num_cpu_devices)
        except RuntimeError as e:
            if len(tf.config.list_logical_devices("CPU")) != num_cpu_devices:
                raise UserError(f"--num_cpu_devices {num_cpu_devices}: TensorFlow was "
                                f"already initialized ({e})") from e
    gpus = tf.config.list_physical_devices("GPU")
    if num_gpus > 1 and num_gpus > len(gpus):
        raise UserError(f"--num_gpus {num_gpus}: this machine has {len(gpus)} GPU(s)")
    if name == "auto":
        if cluster.num_workers > 1:
            name = "multi_worker_mirrored"
        elif num_gpus > 1 or num_cpu_devices > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "default":
        return tf.distribute.get_strategy(), cluster
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(
            "/gpu:0" if gpus and num_gpus >= 1 else "/cpu:0"), cluster
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(_local_devices(num_gpus, gpus)), cluster
    if cluster.num_workers < 2 and config.tf_config is None:
        raise UserError("--distribution_strategy multi_worker_mirrored needs TF_CONFIG "
                        "naming the cluster (see README, 'Several machines')")
    options = tf.distribute.experimental.CommunicationOptions(
        timeout_seconds=config.collective_timeout_s)
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    # Connecting waits for every worker, without a limit of its own: bound it.
    with startup_watchdog(config.collective_timeout_s, cluster):
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            cluster_resolver=resolver, communication_options=options)
    return strategy, cluster


# Run by the watchdog process: wait for the parent to close our stdin (done)
# or for the timeout; on timeout print the message and kill the parent.
_WATCHDOG = """
import os, select, signal, sys
parent, timeout, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
ready, _, _ = select.select([sys.stdin], [], [], timeout)
if not ready:
    sys.stderr.write(message + "\\n")
    sys.stderr.flush()
    os.kill(parent, signal.SIGKILL)
"""


@contextlib.contextmanager
def startup_watchdog(timeout_s: float, cluster: Cluster):
    """Kills this process with one clear line if the body runs longer than `timeout_s`.

    TensorFlow's cluster start-up blocks in C++, holding the GIL, until every
    worker has connected, so no Python thread or signal handler can run: the
    watchdog is a small separate process. A worker that never starts would
    otherwise hang the others forever.
    """
    message = (f"error: worker {cluster.worker_index} of {cluster.num_workers}: the other "
               f"workers in TF_CONFIG did not connect within {timeout_s:g} s "
               "(--collective_timeout); start every worker")
    watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()),
                                 str(timeout_s), message], stdin=subprocess.PIPE)
    try:
        yield
    finally:
        watchdog.stdin.close()  # done: the watchdog exits quietly
        watchdog.wait()




def _local_devices(num_gpus: int, gpus) -> list[str]:
    import tensorflow as tf

    if num_gpus >= 1 and gpus:
        return [f"/gpu:{i}" for i in range(num_gpus)]
    return [d.name for d in tf.config.list_logical_devices("CPU")]









