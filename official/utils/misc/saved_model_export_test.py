import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from official.utils.errors import UserError
from official.utils.misc import saved_model_export


def test_index_table_maps_raw_ids_and_marks_unknown_ones():
    table = saved_model_export.index_table(np.array([42, 7, 1000], np.int64))
    found = table.lookup(tf.constant([7, 1000, 42, 5], tf.int64)).numpy()
    np.testing.assert_array_equal(found, [1, 2, 0, -1])


def _archive():
    table = saved_model_export.index_table(np.array([10, 20], np.int64))
    archive = keras.export.ExportArchive()
    archive.track(table)
    archive.add_endpoint("lookup", lambda ids: table.lookup(ids),
                         input_signature=[tf.TensorSpec([None], tf.int64)])
    return archive


def test_write_archive_replaces_an_earlier_export_with_a_loadable_model(tmp_path):
    target = tmp_path / "export"
    saved_model_export.write_archive(_archive(), str(target))
    (target / "stale.txt").write_text("old")  # in an export of ours: replaced with it
    assert saved_model_export.write_archive(_archive(), str(target)) == str(target)
    assert not (target / "stale.txt").exists()
    loaded = saved_model_export.load(str(target))
    np.testing.assert_array_equal(loaded.lookup(tf.constant([20, 3], tf.int64)).numpy(), [1, -1])
    assert [p.name for p in tmp_path.iterdir()] == ["export"]  # no temp dir left behind


def test_a_directory_that_is_not_an_export_is_never_replaced(tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="not an export of this package"):
        saved_model_export.write_archive(_archive(), str(target))
    assert (target / "notes.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def _flip(path, offset=-20):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, what", [
    (lambda d: (d / "saved_model.pb").write_bytes((d / "saved_model.pb").read_bytes()[:100]),
     "saved_model.pb (size changed)"),
    (lambda d: _flip(next((d / "variables").glob("variables.data-*"))), "content changed"),
    (lambda d: (d / "variables" / "variables.index").unlink(),
     "variables/variables.index (missing)"),
    (lambda d: (d / saved_model_export.EXPORT_MANIFEST).unlink(), "is missing or unreadable"),
])
def test_a_damaged_export_is_one_clear_error_naming_the_directory(tmp_path, damage, what):
    target = tmp_path / "export"
    saved_model_export.write_archive(_archive(), str(target))
    damage(target)
    with pytest.raises(UserError, match=re.escape(what)) as error:
        saved_model_export.load(str(target))
    assert str(target) in str(error.value)


def test_no_export_at_all_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="no SavedModel there"):
        saved_model_export.load(str(tmp_path / "nowhere"))


def test_a_killed_exports_temporary_is_removed_by_the_next_export(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = tmp_path / f".export.tmp-{dead.pid}-abc"
    leftover.mkdir()
    (leftover / "saved_model.pb").write_bytes(b"half")
    other = tmp_path / f".other.tmp-{dead.pid}-abc"  # not this export's: left alone
    other.mkdir()
    saved_model_export.write_archive(_archive(), str(tmp_path / "export"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, "export"]


def test_versioned_exports_are_numbered_in_order_and_complete(tmp_path):
    base = tmp_path / "versions"
    first = saved_model_export.write_versioned(
        str(base), lambda d: saved_model_export.write_archive(_archive(), d))
    (base / "notes").mkdir()  # not a number: ignored
    second = saved_model_export.export_to(
        str(base), lambda d: saved_model_export.write_archive(_archive(), d), versioned=True)
    assert (first, second) == (str(base / "1"), str(base / "2"))
    assert saved_model_export.versions(str(base)) == [1, 2]
    loaded = saved_model_export.load(second)
    np.testing.assert_array_equal(loaded.lookup(tf.constant([10], tf.int64)).numpy(), [0])
    assert sorted(p.name for p in base.iterdir()) == ["1", "2", "notes"]  # no staging left


def test_concurrent_versioned_writers_get_distinct_numbers(tmp_path):
    import threading

    base, barrier = tmp_path / "versions", threading.Barrier(6)
    written = []

    def write(directory):
        os.makedirs(directory)
        with open(os.path.join(directory, "payload"), "w") as f:
            f.write(directory)
        barrier.wait(10)  # every writer renames at about the same moment

    threads = [threading.Thread(target=lambda: written.append(
        saved_model_export.write_versioned(str(base), write))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(int(os.path.basename(w)) for w in written) == [1, 2, 3, 4, 5, 6]
    assert saved_model_export.versions(str(base)) == [1, 2, 3, 4, 5, 6]


def test_a_failed_versioned_write_leaves_no_version_and_an_export_is_no_base(tmp_path):
    base = tmp_path / "versions"

    def broken(directory):
        os.makedirs(directory)
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        saved_model_export.write_versioned(str(base), broken)
    assert list(base.iterdir()) == []  # neither a number nor a staging directory
    plain = tmp_path / "plain"
    saved_model_export.write_archive(_archive(), str(plain))
    with pytest.raises(UserError, match="is an unversioned export; versions go in a "
                                        "directory of their own"):
        saved_model_export.write_versioned(
            str(plain), lambda d: saved_model_export.write_archive(_archive(), d))
    assert saved_model_export.versions(str(plain)) == []
