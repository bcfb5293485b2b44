import keras
import numpy as np
import tensorflow as tf

from official.utils.misc import saved_model_export


def test_index_table_maps_raw_ids_and_marks_unknown_ones():
    table = saved_model_export.index_table(np.array([42, 7, 1000], np.int64))
    found = table.lookup(tf.constant([7, 1000, 42, 5], tf.int64)).numpy()
    np.testing.assert_array_equal(found, [1, 2, 0, -1])


def test_write_archive_replaces_the_directory_with_a_loadable_model(tmp_path):
    table = saved_model_export.index_table(np.array([10, 20], np.int64))
    archive = keras.export.ExportArchive()
    archive.track(table)
    archive.add_endpoint("lookup", lambda ids: table.lookup(ids),
                         input_signature=[tf.TensorSpec([None], tf.int64)])
    target = tmp_path / "export"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    assert saved_model_export.write_archive(archive, str(target)) == str(target)
    assert not (target / "stale.txt").exists()
    loaded = tf.saved_model.load(str(target))
    np.testing.assert_array_equal(loaded.lookup(tf.constant([20, 3], tf.int64)).numpy(), [1, -1])
    assert [p.name for p in tmp_path.iterdir()] == ["export"]  # no temp dir left behind
