"""Faults of the download path: damaged outputs, zip bombs, concurrent runs, full disks."""

import errno
import io
import os
import subprocess
import sys
import zipfile

import pytest

from official.datasets import movielens, movielens_normalize
from official.datasets import movielens_schema as schema
from official.datasets import movielens_synthetic as synth
from official.datasets.conftest import assert_nothing_left, layout_zip
from official.utils.errors import DataError
from official.utils.testing import small_fs
from official.utils.testing.local_http import LocalHTTPServer


@pytest.fixture
def server():
    with LocalHTTPServer() as s:
        yield s


def test_same_size_edit_is_found_by_content_and_rebuilt(tmp_path, server):
    server.files["/ml-1m.zip"] = layout_zip(tmp_path, "ml-1m")
    data_dir = str(tmp_path / "data")
    movielens.download("ml-1m", data_dir, server.url)
    path = tmp_path / "data" / "ml-1m" / "ratings.csv"
    good = path.read_bytes()
    lines = good.split(b"\n")
    lines[1] = lines[1][:-1] + (b"1" if lines[1][-1:] != b"1" else b"2")  # same size
    path.write_bytes(b"\n".join(lines))
    assert len(path.read_bytes()) == len(good)
    assert not movielens.is_complete(data_dir, "ml-1m")
    movielens.download("ml-1m", data_dir, server.url)
    assert path.read_bytes() == good


def test_a_zip_bomb_is_refused_before_reading_and_removed(tmp_path, server):
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ml-100k/u.data", b"\0" * (20 << 20))  # 20 MiB of zeros: ~1000x
        zf.writestr("ml-100k/u.item", b"1|A (1999)|||" + b"|0" * 19 + b"\n")
    server.files["/ml-100k.zip"] = bomb.getvalue()
    with pytest.raises(DataError, match=r"member 'ml-100k/u.data' expands [\d,]+x \(limit 50x\)"):
        movielens.download("ml-100k", str(tmp_path / "data"), server.url)
    assert not (tmp_path / "data" / "ml-100k").exists()  # nothing left, no .part either


def test_a_member_larger_than_the_dataset_can_be_is_refused(tmp_path, server, monkeypatch):
    monkeypatch.setitem(schema.MAX_MEMBER_BYTES, "ml-100k", 1000)
    server.files["/ml-100k.zip"] = layout_zip(tmp_path, "ml-100k")
    with pytest.raises(DataError, match=r"uncompressed, more than the 1,000 this dataset's "
                                        r"files can be"):
        movielens.download("ml-100k", str(tmp_path / "data"), server.url)
    assert_nothing_left(str(tmp_path / "data"), "ml-100k")


def test_two_first_runs_at_once_on_one_data_dir_both_succeed(tmp_path):
    args = [sys.executable, "-m", "official.datasets.movielens", "--dataset=synthetic",
            f"--data_dir={tmp_path}", "--synthetic_users=300", "--synthetic_items=200",
            "--synthetic_ratings=30000"]
    runs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outs = [r.communicate(timeout=180) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], [o[1][-1500:] for o in outs]
    spec = synth.SyntheticSpec(300, 200, 30000)
    assert movielens.is_complete(str(tmp_path), "synthetic", spec)
    assert not [n for n in os.listdir(tmp_path / "synthetic") if ".tmp-" in n]


def test_a_full_disk_during_normalization_is_one_line_and_leaves_nothing(tmp_path,
                                                                          monkeypatch):
    data_dir = tmp_path / "small"
    with small_fs.mounted(str(data_dir), size_bytes=1 << 20) as mounted:
        args = [sys.executable, "-m", "official.datasets.movielens", "--dataset=synthetic",
                f"--data_dir={data_dir}", "--synthetic_users=400", "--synthetic_items=300",
                "--synthetic_ratings=60000"]  # a 1.3 MB ratings.csv on a 1 MiB disk
        if mounted:
            res = subprocess.run(args, capture_output=True, text=True, timeout=180)
            assert res.returncode == 1, res.stderr[-1500:]
            last = res.stderr.strip().splitlines()[-1]
            assert last.startswith("error: ") and last.endswith("No space left on device")
            assert "Traceback" not in res.stderr
        else:  # no tmpfs for this user: the same error at the write call, in-process
            real_write = movielens_normalize.atomic_io.atomic_write

            def full(path, *a, **k):
                if path.endswith("ratings.csv"):
                    raise OSError(errno.ENOSPC, "No space left on device", path)
                return real_write(path, *a, **k)

            monkeypatch.setattr(movielens_normalize.atomic_io, "atomic_write", full)
            with pytest.raises(OSError, match="No space left on device"):
                movielens.download("synthetic", str(data_dir),
                                   synthetic=synth.SyntheticSpec(400, 300, 60000))
        left = [n for n in os.listdir(data_dir / "synthetic")] if (
            data_dir / "synthetic").exists() else []
        assert [n for n in left if n != "synthetic.zip"] == []  # no half-written output
