import json

import pytest
import tensorflow as tf

from official.utils.errors import UserError
from official.utils.misc import distribution_utils as du


def _config(cluster, task_type, index):
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


def test_cluster_positions_chief_first():
    cluster = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}
    assert du.cluster_from_tf_config(_config(cluster, "chief", 0)) == du.Cluster(
        "chief", 0, 3, 0)
    worker = du.cluster_from_tf_config(_config(cluster, "worker", 1))
    assert (worker.worker_index, worker.num_workers, worker.is_chief) == (2, 3, False)
    only_workers = du.cluster_from_tf_config(_config({"worker": ["a:1", "b:1"]}, "worker", 0))
    assert only_workers.is_chief and only_workers.num_workers == 2
    assert du.cluster_from_tf_config(None) == du.SINGLE
    assert du.cluster_from_tf_config("") == du.SINGLE


@pytest.mark.parametrize("text, message", [
    ("{not json", "TF_CONFIG is not valid"),
    (json.dumps({"cluster": {"worker": ["a:1"]}}), "TF_CONFIG is not valid"),
    (_config({"worker": ["a:1"]}, "worker", 1), "task worker:1 is not in its cluster"),
    (_config({"worker": ["a:1"], "ps": ["b:1"]}, "worker", 0), "only 'chief' and 'worker'"),
    (_config({"chief": ["a:1", "b:1"]}, "chief", 0), "more than one chief"),
])
def test_bad_tf_config_is_one_clear_error(text, message):
    with pytest.raises(UserError, match=message):
        du.cluster_from_tf_config(text)


def test_strategy_choice_and_errors():
    strategy, cluster = du.make_strategy(du.DistributionConfig("auto"))
    assert strategy is tf.distribute.get_strategy() and cluster == du.SINGLE
    one, _ = du.make_strategy(du.DistributionConfig("one_device", num_gpus=0))
    assert isinstance(one, tf.distribute.OneDeviceStrategy)
    with pytest.raises(UserError, match="needs TF_CONFIG"):
        du.make_strategy(du.DistributionConfig("multi_worker_mirrored"))
    with pytest.raises(UserError, match="--num_gpus 8: this machine has"):
        du.make_strategy(du.DistributionConfig("mirrored", num_gpus=8))
    with pytest.raises(UserError, match="must be one of"):
        du.make_strategy(du.DistributionConfig("parameter_server"))


def test_logical_cpus_after_tensorflow_started_is_a_clear_error():
    tf.constant(1.0) + 1.0  # TensorFlow is running in this process
    with pytest.raises(UserError, match="--num_cpu_devices 3: TensorFlow was already "
                                        "initialized"):
        du.make_strategy(du.DistributionConfig("mirrored", num_cpu_devices=3))
