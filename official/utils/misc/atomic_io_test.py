import os
import subprocess
import sys
import time

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
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f".x.tmp-{dead.pid}-ab").write_text("partial")  # a killed writer's
    (tmp_path / f".y.tmp-{dead.pid}-cd").mkdir()
    live = tmp_path / f".z.tmp-{os.getpid()}-ef"  # a live writer's: kept
    live.mkdir()
    unknown = tmp_path / ".w.tmp-old"  # no pid: removed only once a day old
    unknown.write_text("?")
    assert atomic_io.remove_stale_temporaries(str(tmp_path)) == 2
    assert sorted(os.listdir(tmp_path)) == [".w.tmp-old", live.name, "bad.json", "m.json"]
    day_later = time.time() + atomic_io.STALE_AFTER_S + 1
    assert atomic_io.remove_stale_temporaries(str(tmp_path), now=day_later) == 2
    assert sorted(os.listdir(tmp_path)) == ["bad.json", "m.json"]


def test_temporaries_carry_the_writers_pid(tmp_path):
    path = atomic_io.temp_path_for(str(tmp_path / "f.csv"))
    assert os.path.basename(path).startswith(f".f.csv.tmp-{os.getpid()}-")
