"""Fixtures and helpers shared by the census tests."""

import pytest
import tensorflow as tf

from official.wide_deep import census_dataset as census
from official.wide_deep import census_features as cf


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    """A directory holding synthetic adult.data (3,000 rows) and adult.test (1,500)."""
    path = tmp_path_factory.mktemp("mirror")
    census.generate_synthetic(str(path), num_train=3000, num_test=1500, seed=0)
    return str(path)


def example_bytes(row) -> bytes:
    """A census row as a serialized tf.Example of the raw features."""
    feature = {}
    for c in cf.RAW_FEATURES:
        if c in census.NUMERIC_COLUMNS:
            feature[c] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(row[c])]))
        else:
            feature[c] = tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[str(row[c]).encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
