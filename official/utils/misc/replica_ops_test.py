import numpy as np
import pytest
import tensorflow as tf

from official.utils.errors import UserError
from official.utils.misc import replica_ops as ro
from official.utils.misc.distribution_utils import SINGLE


def test_per_replica_count():
    assert ro.per_replica_count(1024, 4) == 256
    with pytest.raises(UserError, match=r"--batch_size \(1000\) must be a positive multiple "
                                        r"of the number of replicas \(3\)"):
        ro.per_replica_count(1000, 3)
    with pytest.raises(UserError, match="positive multiple"):
        ro.per_replica_count(0, 1)


def test_single_worker_helpers_are_identities():
    strategy = tf.distribute.get_strategy()
    assert ro.num_local_replicas(strategy) == 1
    np.testing.assert_array_equal(ro.all_reduce_sum(strategy, SINGLE, [1.5, 2.0]),
                                  [1.5, 2.0])
    x = {"a": tf.range(6)}
    assert ro.local_replica_slice(x, 3, 1, 0) is x
