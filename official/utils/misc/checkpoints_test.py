"""Restoring past damage: real checkpoints written and damaged in a temp dir."""

import glob
import logging
import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from official.utils.errors import UserError
from official.utils.misc import checkpoints


def _checkpoint(value=0.0, size=500):
    return tf.train.Checkpoint(v=tf.Variable(np.full(size, value, np.float32)),
                               step=tf.Variable(0, dtype=tf.int64))


def _three_checkpoints(model_dir):
    ckpt = _checkpoint()
    manager = checkpoints.restore_latest(ckpt, str(model_dir))
    for n in (1, 2, 3):
        ckpt.v.assign(np.full(500, float(n), np.float32))
        ckpt.step.assign(n)
        manager.save(checkpoint_number=n)
    return model_dir / "checkpoints"


def _restored_step(model_dir):
    ckpt = _checkpoint()
    checkpoints.restore_latest(ckpt, str(model_dir))
    assert float(ckpt.v.numpy()[0]) == float(ckpt.step.numpy())  # one checkpoint's values
    return int(ckpt.step.numpy())


def _data_file(directory, n):
    return glob.glob(str(directory / f"ckpt-{n}.data-*"))[0]


@pytest.mark.parametrize("damage", ["flip", "truncate data", "truncate index"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_one_before(tmp_path, caplog, damage):
    directory = _three_checkpoints(tmp_path)
    if damage == "flip":
        path = pathlib.Path(_data_file(directory, 3))
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        path = _data_file(directory, 3) if damage == "truncate data" else str(
            directory / "ckpt-3.index")
        os.truncate(path, os.path.getsize(path) // 2)
    with caplog.at_level(logging.WARNING):
        assert _restored_step(tmp_path) == 2
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("ckpt-3 is damaged" in w and "resumed from ckpt-2" in w for w in warning)


@pytest.mark.parametrize("state", ["garbage!!\n", "", 'model_checkpoint_path: "ckpt-9"\n'])
def test_a_bad_state_file_is_rebuilt_from_the_files_present(tmp_path, state):
    directory = _three_checkpoints(tmp_path)
    (directory / "checkpoint").write_text(state)
    assert _restored_step(tmp_path) == 3  # resumes; never silently starts over
    assert tf.train.get_checkpoint_state(str(directory)).all_model_checkpoint_paths[-1] \
        .endswith("ckpt-3")


def test_no_intact_checkpoint_is_one_clear_error(tmp_path):
    directory = _three_checkpoints(tmp_path)
    for n in (1, 2, 3):
        os.truncate(_data_file(directory, n), 10)
    with pytest.raises(UserError, match=r"no intact checkpoint \(ckpt-3, ckpt-2, ckpt-1 "):
        _restored_step(tmp_path)


def test_another_model_keeps_its_own_message_whole(tmp_path):
    _three_checkpoints(tmp_path)
    with pytest.raises(UserError, match="different model or data") as error:
        checkpoints.restore_latest(_checkpoint(size=7), str(tmp_path))
    assert "use --clean or another --model_dir" in str(error.value)


def test_first_line_cuts_at_a_word():
    error = ValueError("word " * 100 + "\nsecond line")
    line = checkpoints.first_line(error, 42)
    assert line.endswith("word ...") and len(line) <= 46 and "second" not in line


def test_a_non_chief_restores_its_own_best_copy_never_the_chiefs_in_progress(tmp_path):
    ckpt = tf.Module()
    ckpt.v = tf.Variable(np.zeros(500, np.float32))
    worker = checkpoints.BestWeights(ckpt, str(tmp_path), is_chief=False)
    ckpt.v.assign(np.full(500, 7.0, np.float32))
    worker.save(2)
    worker.prune(2)
    assert not list(tmp_path.iterdir())  # nothing of the worker's in model_dir
    ckpt.v.assign(np.zeros(500, np.float32))
    worker.restore(2)  # the chief's best-2 does not exist (yet): the own copy is read
    assert float(ckpt.v.numpy()[0]) == 7.0
    chief = checkpoints.BestWeights(ckpt, str(tmp_path))
    chief.save(1)  # from an earlier run: a restarted worker reads the chief's
    ckpt.v.assign(np.zeros(500, np.float32))
    checkpoints.BestWeights(ckpt, str(tmp_path), is_chief=False).restore(1)
    assert float(ckpt.v.numpy()[0]) == 7.0 and (tmp_path / "best-1").is_dir()
