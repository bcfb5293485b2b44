import os

import pytest

from official.utils.misc import atomic_io


def test_atomic_write_replaces_only_on_success(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_io.atomic_write(str(path), "w") as f:
        f.write("half")
        raise RuntimeError("crash")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]
    with atomic_io.atomic_write(str(path), "w") as f:
        f.write("new")
    assert path.read_text() == "new"
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_directory(tmp_path):
    target = tmp_path / "d"
    with atomic_io.atomic_directory(str(target)) as tmp:
        open(os.path.join(tmp, "a"), "w").close()
        assert not target.exists()
    assert os.listdir(target) == ["a"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o777 & ~_umask())
    with pytest.raises(ValueError), atomic_io.atomic_directory(str(target)) as tmp:
        open(os.path.join(tmp, "b"), "w").close()
        raise ValueError
    assert os.listdir(target) == ["a"]
    assert sorted(os.listdir(tmp_path)) == ["d"]


def test_json_and_stale_temporaries(tmp_path):
    atomic_io.write_json(str(tmp_path / "m.json"), {"a": [1, 2]})
    assert atomic_io.read_json(str(tmp_path / "m.json")) == {"a": [1, 2]}
    assert atomic_io.read_json(str(tmp_path / "missing.json")) is None
    (tmp_path / "bad.json").write_text("{not json")
    assert atomic_io.read_json(str(tmp_path / "bad.json")) is None
    (tmp_path / ".x.tmp-123").write_text("partial")
    (tmp_path / ".y.tmp-456").mkdir()
    assert atomic_io.remove_stale_temporaries(str(tmp_path)) == 2
    assert sorted(os.listdir(tmp_path)) == ["bad.json", "m.json"]
