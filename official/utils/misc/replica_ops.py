"""What runs under a `tf.distribute` strategy: replica slices, all-reduce, lost workers.

Batch sizes are global (summed over every replica of every worker); these
helpers split them, sum numpy results over the workers, and turn a lost peer
into one clear error.
"""

import contextlib

import numpy as np

from official.utils.errors import UserError
from official.utils.misc.distribution_utils import Cluster


def per_replica_count(total: int, num_replicas: int, what: str = "--batch_size") -> int:
    """`total / num_replicas`, which must divide evenly.

    Raises:
      UserError: `total` is not a positive multiple of `num_replicas`.
    """
    if total <= 0 or total % num_replicas:
        raise UserError(f"{what} ({total}) must be a positive multiple of the number of "
                        f"replicas ({num_replicas}); the batch size is global")
    return total // num_replicas


def num_local_replicas(strategy) -> int:
    """Replicas on this worker."""
    if strategy.num_replicas_in_sync == 1:
        return 1  # also the default strategy, which has no worker_devices
    return len(strategy.extended.worker_devices)


def local_replica_slice(tensors, rows_per_replica, num_local: int, first_replica: int):
    """Inside `strategy.run`: this replica's rows of a worker-local batch.

    Args:
      tensors: nest of tensors with a leading batch dimension (rows of the
        whole worker, replica 0's first).
      rows_per_replica: int or scalar tensor.
      num_local: replicas on this worker.
      first_replica: global id of this worker's first replica.

    Returns:
      The same nest, sliced to rows [r * n, (r + 1) * n) of local replica r
      (clamped at the end: a partial last batch gives the last replicas fewer
      rows, possibly none).
    """
    import tensorflow as tf

    if num_local == 1:
        return tensors
    ctx = tf.distribute.get_replica_context()
    local = tf.cast(ctx.replica_id_in_sync_group, tf.int32) - first_replica
    start = local * rows_per_replica
    return tf.nest.map_structure(lambda t: t[start:start + rows_per_replica], tensors)


def all_reduce_sum(strategy, cluster: Cluster, values: np.ndarray) -> np.ndarray:
    """Sums a float64 array over all workers (each worker passes its own part).

    With a single worker this returns `values` unchanged.
    """
    import tensorflow as tf

    values = np.asarray(values, np.float64)
    if cluster.num_workers == 1:
        return values
    local = num_local_replicas(strategy)

    def replica_fn(v):
        ctx = tf.distribute.get_replica_context()
        return ctx.all_reduce(tf.distribute.ReduceOp.SUM, v / local)

    out = strategy.run(tf.function(replica_fn), args=(tf.constant(values),))
    return strategy.experimental_local_results(out)[0].numpy()


@contextlib.contextmanager
def worker_failures(cluster: Cluster):
    """Turns a lost peer during multi-worker training into one clear `UserError`.

    A dead worker makes the others' collectives fail (connection reset, or
    `--collective_timeout` expired); TensorFlow reports that as an `OpError`
    with a long graph trace.
    """
    import tensorflow as tf

    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
            tf.errors.CancelledError, tf.errors.AbortedError, tf.errors.InternalError) as e:
        if cluster.num_workers == 1:
            raise
        first = next((line.strip() for line in str(e.message).splitlines()
                      if "aborted" in line or "Connection" in line or "timed out" in line),
                     str(e.message).splitlines()[0] if e.message else type(e).__name__)
        raise UserError(f"worker {cluster.worker_index} of {cluster.num_workers} lost contact "
                        f"with the other workers ({type(e).__name__}: {first[:160]}); "
                        "restart all workers to resume from the last checkpoint") from e
