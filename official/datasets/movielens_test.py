"""Tests of the MovieLens downloader/normalizer against a real local HTTP server."""

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pandas as pd
import pytest

from official.datasets import movielens, movielens_normalize
from official.datasets import movielens_schema as schema
from official.datasets import movielens_synthetic as synth
from official.datasets.conftest import SMALL, assert_nothing_left, layout_zip, zip_bytes
from official.utils.data import download as dl
from official.utils.errors import DataError
from official.utils.testing.local_http import Faults, LocalHTTPServer


def md5_line(data: bytes, name: str) -> bytes:
    return f"MD5 ({name}) = {hashlib.md5(data).hexdigest()}\n".encode()


@pytest.fixture
def server():
    with LocalHTTPServer() as s:
        yield s


@pytest.mark.parametrize("dataset", ["ml-1m", "ml-100k", "ml-20m", "ml-25m",
                                     "ml-latest-small"])
def test_each_layout_normalizes_to_schema(tmp_path, server, dataset):
    data = layout_zip(tmp_path, dataset)
    server.files[f"/{dataset}.zip"] = data
    if dataset != "ml-25m":  # One layout without a checksum file.
        server.files[f"/{dataset}.zip.md5"] = md5_line(data, f"{dataset}.zip")
    data_dir = str(tmp_path / "data")
    movielens.download(dataset, data_dir, server.url)

    ratings = movielens.ratings_csv_to_dataframe(data_dir, dataset)
    movies = movielens.movies_csv_to_dataframe(data_dir, dataset)
    def header(name):
        with open(os.path.join(data_dir, dataset, name)) as f:
            return f.readline().strip()

    assert header("ratings.csv") == "user_id,item_id,rating,timestamp"
    assert header("movies.csv") == "item_id,titles,genres"
    assert ratings.dtypes.to_dict() == {"user_id": np.int32, "item_id": np.int32,
                                        "rating": np.float32, "timestamp": np.int64}

    expected_r, expected_m = synth.generate_frames(SMALL)
    assert len(ratings) == SMALL.num_ratings
    np.testing.assert_array_equal(ratings.to_numpy(np.int64), expected_r.to_numpy(np.int64))
    assert len(movies) == SMALL.num_items
    assert movies["titles"].tolist() == expected_m["titles"].tolist()
    def genre_sets(col):
        # ml-100k's 19 flags have no IMAX column, as in the real files.
        drop = {"IMAX"} if dataset == "ml-100k" else set()
        return [sorted(set(g.split("|")) - drop) or [schema.NO_GENRE] for g in col]

    assert genre_sets(movies["genres"]) == genre_sets(expected_m["genres"])
    assert set("|".join(movies["genres"]).split("|")) <= set(schema.GENRES) | {
        schema.NO_GENRE}


def test_second_run_is_a_noop(tmp_path, server):
    data = layout_zip(tmp_path, "ml-1m")
    server.files["/ml-1m.zip"] = data
    data_dir = str(tmp_path / "data")
    movielens.download("ml-1m", data_dir, server.url)
    path = os.path.join(data_dir, "ml-1m", "ratings.csv")
    before = (os.stat(path).st_mtime_ns, len(server.requests))
    movielens.download("ml-1m", data_dir, server.url)
    assert (os.stat(path).st_mtime_ns, len(server.requests)) == before


def test_changed_output_is_rebuilt_from_kept_zip(tmp_path, server):
    server.files["/ml-1m.zip"] = layout_zip(tmp_path, "ml-1m")
    data_dir = str(tmp_path / "data")
    movielens.download("ml-1m", data_dir, server.url)
    path = os.path.join(data_dir, "ml-1m", "ratings.csv")
    with open(path) as f:
        good = f.read()
    with open(path, "a") as f:  # Damage: the manifest no longer matches.
        f.write("1,2,3,4\n")
    n_requests = len(server.requests)
    movielens.download("ml-1m", data_dir, server.url)
    with open(path) as f:
        assert f.read() == good
    assert len(server.requests) == n_requests  # The verified zip was reused.


def corrupt(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 64]) + \
        data[middle + 64:]


@pytest.mark.parametrize("case,message", [
    ("corrupt", "CRC check failed|corrupt"),
    ("truncated", "corrupt or truncated"),
    ("md5", "MD5 mismatch"),
    ("zip_slip", "unsafe member '../evil.txt'"),
    ("absolute", "unsafe member '/etc/evil.txt'"),
    ("missing_member", "missing member 'movies.dat'"),
])
def test_bad_archives_fail_cleanly(tmp_path, server, case, message):
    good = layout_zip(tmp_path, "ml-1m")
    data = good
    if case == "corrupt":
        data = corrupt(good)
    elif case == "truncated":
        data = good[: len(good) // 2]
    elif case == "md5":
        server.files["/ml-1m.zip.md5"] = b"0" * 32 + b"  ml-1m.zip\n"
    elif case in ("zip_slip", "absolute"):
        evil = "../evil.txt" if case == "zip_slip" else "/etc/evil.txt"
        with zipfile.ZipFile(io.BytesIO(good)) as zf:
            files = {n: zf.read(n) for n in zf.namelist()}
        files[evil] = b"owned"
        data = zip_bytes(files)
    elif case == "missing_member":
        with zipfile.ZipFile(io.BytesIO(good)) as zf:
            data = zip_bytes({"ml-1m/ratings.dat": zf.read("ml-1m/ratings.dat")})
    server.files["/ml-1m.zip"] = data
    data_dir = str(tmp_path / "data")
    with pytest.raises(DataError, match=message):
        movielens.download("ml-1m", data_dir, server.url)
    assert_nothing_left(data_dir, "ml-1m")
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("raw,message", [
    (b"1::10::5::978300760\n1::11::4::978300761::9\n",
     "ratings.dat line 2: expected 4 fields, saw 5"),
    (b"1::10::5::978300760\n1::11::4::97\nx1::12::3::5\n",
     "ratings.dat line 3: non-numeric user_id 'x1'"),
    (b"1::10::5::978300760\n1::11::4\n", "ratings.dat line 2: missing fields"),
    (b"1::10::5::978300760\n2::1.5::4::5\n", "ratings.dat line 2: non-integer item_id"),
])
def test_malformed_rows_name_file_and_line(tmp_path, server, raw, message):
    movies = b"10::A (1990)::Drama\n11::B (1991)::Comedy\n12::C (1992)::War\n"
    server.files["/ml-1m.zip"] = zip_bytes({"ml-1m/ratings.dat": raw,
                                            "ml-1m/movies.dat": movies})
    data_dir = str(tmp_path / "data")
    with pytest.raises(DataError, match=message):
        movielens.download("ml-1m", data_dir, server.url)
    assert_nothing_left(data_dir, "ml-1m")


def test_malformed_line_number_across_blocks(tmp_path, monkeypatch):
    # Small blocks force the error into a later block; the line must still be exact.
    monkeypatch.setattr(movielens_normalize, "_BLOCK_BYTES", 64)
    lines = [b"userId,movieId,rating,timestamp"] + [
        f"{u},{u + 1},3,{1000 + u}".encode() for u in range(1, 40)]
    lines[30] = b"31,32,3"
    src = tmp_path / "r.csv"
    src.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(DataError, match=r"r.csv line 31: missing fields"):
        movielens.normalize_ratings(str(src), str(tmp_path / "out.csv"), b",", True)
    assert not (tmp_path / "out.csv").exists()


def test_crlf_and_blank_lines_are_tolerated(tmp_path):
    src = tmp_path / "r.csv"
    src.write_bytes(b"userId,movieId,rating,timestamp\r\n1,2,3.5,10\r\n\r\n2,3,4,11\r\n\r\n")
    n = movielens.normalize_ratings(str(src), str(tmp_path / "out.csv"), b",", True)
    assert n == 2
    assert (tmp_path / "out.csv").read_bytes() == (
        b"user_id,item_id,rating,timestamp\n1,2,3.5,10\n2,3,4,11\n")


def test_unknown_dataset_and_unwritable_dir(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'ml-2m'"):
        movielens.download("ml-2m", str(tmp_path), "http://127.0.0.1:9/")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(DataError, match="is not writable"):
        movielens.download("synthetic", str(blocker / "sub"), synthetic=SMALL)


def test_transient_503_is_retried(tmp_path, server):
    data = layout_zip(tmp_path, "ml-1m")
    server.files["/ml-1m.zip"] = data
    server.faults["/ml-1m.zip"] = Faults(fail_503=2)
    movielens.download("ml-1m", str(tmp_path / "data"), server.url)
    statuses = [r.status for r in server.requests if r.path == "/ml-1m.zip"]
    assert statuses == [503, 503, 200]


def test_interrupted_download_resumes_with_range(tmp_path, server):
    data = layout_zip(tmp_path, "ml-1m", synth.SyntheticSpec(300, 400, 20000, 1))
    server.files["/ml-1m.zip"] = data
    server.files["/ml-1m.zip.md5"] = md5_line(data, "ml-1m.zip")
    cut = len(data) // 3
    server.faults["/ml-1m.zip"] = Faults(cut_responses=1, cut_after=cut)
    data_dir = str(tmp_path / "data")
    movielens.download("ml-1m", data_dir, server.url)
    zip_requests = [r for r in server.requests if r.path == "/ml-1m.zip"]
    assert [(r.range, r.status) for r in zip_requests] == [(None, 200),
                                                           (f"bytes={cut}-", 206)]
    assert movielens.is_complete(data_dir, "ml-1m")


def test_partial_file_from_earlier_run_is_resumed(tmp_path, server):
    data = layout_zip(tmp_path, "ml-1m")
    server.files["/ml-1m.zip"] = data
    d = tmp_path / "data" / "ml-1m"
    d.mkdir(parents=True)
    (d / "ml-1m.zip.part").write_bytes(data[:1000])
    movielens.download("ml-1m", str(tmp_path / "data"), server.url)
    assert [r.range for r in server.requests if r.path == "/ml-1m.zip"] == ["bytes=1000-"]
    assert (d / "ml-1m.zip").read_bytes() == data


def test_server_ignoring_range_restarts_cleanly(tmp_path, server):
    data = layout_zip(tmp_path, "ml-1m")
    server.files["/ml-1m.zip"] = data
    server.faults["/ml-1m.zip"] = Faults(ignore_range=True)
    d = tmp_path / "data" / "ml-1m"
    d.mkdir(parents=True)
    (d / "ml-1m.zip.part").write_bytes(b"garbage that is not a prefix")
    movielens.download("ml-1m", str(tmp_path / "data"), server.url)
    assert (d / "ml-1m.zip").read_bytes() == data


def test_missing_zip_on_server(tmp_path, server):
    with pytest.raises(DataError, match="HTTP 404"):
        movielens.download("ml-1m", str(tmp_path / "data"), server.url)
    assert_nothing_left(str(tmp_path / "data"), "ml-1m")


def test_local_mirror_paths(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    data = layout_zip(tmp_path, "ml-100k")
    (mirror / "ml-100k.zip").write_bytes(data)
    (mirror / "ml-100k.zip.md5").write_text(f"{hashlib.md5(data).hexdigest()}  ml-100k.zip\n")
    movielens.download("ml-100k", str(tmp_path / "a"), f"file://{mirror}")
    movielens.download("ml-100k", str(tmp_path / "b"), str(mirror))
    assert movielens.is_complete(str(tmp_path / "a"), "ml-100k")
    assert movielens.is_complete(str(tmp_path / "b"), "ml-100k")


def test_parse_md5_formats():
    h = "cd245b17a1ae2cc31bb14903e1204af3"
    assert dl.parse_md5(f"MD5 (ml-20m.zip) = {h}\n", "ml-20m.zip") == h
    assert dl.parse_md5(f"{h.upper()}  ml-20m.zip\n", "ml-20m.zip") == h
    assert dl.parse_md5(f"{h}\n", "ml-20m.zip") == h
    with pytest.raises(DataError, match="no MD5"):
        dl.parse_md5(f"MD5 (other.zip) = {h}\n", "ml-20m.zip")


def test_genres_are_vectorized_multi_hot():
    df = pd.DataFrame({"genres": ["Animation|Children's|Comedy", "IMAX",
                                  "(no genres listed)", "Drama|War"]})
    out = movielens.integerize_genres(df)
    matrix = np.stack(out["genres"].to_numpy())
    assert matrix.shape == (4, 19) and matrix.dtype == np.int64
    names = [[schema.GENRES[j] for j in np.flatnonzero(row)] for row in matrix]
    assert names == [["Animation", "Children", "Comedy"], ["IMAX"], [], ["Drama", "War"]]


def test_joint_dataframe(tmp_path):
    data_dir = str(tmp_path)
    movielens.download("synthetic", data_dir, synthetic=SMALL)
    joint = movielens.csv_to_joint_dataframe(data_dir, "synthetic")
    assert len(joint) == SMALL.num_ratings
    assert list(joint.columns) == schema.RATING_COLUMNS + ["titles", "genres"]


def test_synthetic_is_deterministic_and_shaped_like_movielens():
    r1, m1 = synth.generate_frames(synth.SyntheticSpec(500, 800, 40000, seed=7))
    r2, m2 = synth.generate_frames(synth.SyntheticSpec(500, 800, 40000, seed=7))
    r3, _ = synth.generate_frames(synth.SyntheticSpec(500, 800, 40000, seed=8))
    pd.testing.assert_frame_equal(r1, r2)
    pd.testing.assert_frame_equal(m1, m2)
    assert not r1.equals(r3)
    per_user = r1.groupby("user_id").size()
    assert len(r1) == 40000 and per_user.min() >= 20 and per_user.max() > 4 * per_user.median()
    assert not r1.duplicated(["user_id", "item_id"]).any()
    item_counts = r1.groupby("item_id").size().sort_values(ascending=False)
    top_decile = item_counts.iloc[: len(item_counts) // 10].sum() / len(r1)
    assert top_decile > 0.25  # Power-law popularity: uniform would give 0.1.
    assert set(r1["rating"]) <= {1, 2, 3, 4, 5}
    assert r1["timestamp"].between(9e8, 1.2e9).all()


def test_synthetic_preferences_are_planted():
    """Users who share a rated item are likelier to share others (clustered tastes)."""
    ratings, _ = synth.generate_frames(synth.SyntheticSpec(400, 600, 30000, seed=1))
    m = np.zeros((400, ratings["item_id"].max() + 1))
    m[ratings["user_id"] - 1, ratings["item_id"]] = 1
    m = m[:, m.sum(0) > 0]
    co = m.T @ m
    pop = m.sum(0)
    expected = np.outer(pop, pop) / 400
    np.fill_diagonal(co, 0)
    np.fill_diagonal(expected, 0)
    # Co-occurrence exceeds the independence baseline by a clear margin.
    assert co.sum() / expected.sum() > 1.3


def test_synthetic_spec_validation(tmp_path):
    with pytest.raises(DataError, match="num_ratings must be >= 20"):
        movielens.download("synthetic", str(tmp_path),
                           synthetic=synth.SyntheticSpec(100, 200, 1000))


def run_cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "official.datasets.movielens", *args],
                          capture_output=True, text=True, timeout=120, **kw)


def test_cli_errors_are_one_line(tmp_path, server):
    server.files["/ml-1m.zip"] = corrupt(layout_zip(tmp_path, "ml-1m"))
    res = run_cli("--dataset", "ml-1m", "--data_dir", str(tmp_path / "d"),
                  "--data_url", server.url)
    assert res.returncode == 1
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "ml-1m.zip" in errors[0], res.stderr
    assert "Traceback" not in res.stderr
    res = run_cli("--dataset", "ml-2m")
    assert res.returncode != 0 and "ml-2m" in res.stderr


def test_cli_help_lists_flags():
    res = run_cli("--helpfull")
    for flag in ("--dataset", "--data_dir", "--data_url", "--synthetic_users"):
        assert flag in res.stdout


def test_killed_run_never_leaves_accepted_files(tmp_path):
    data_dir = tmp_path / "data"
    args = ("--dataset", "synthetic", "--data_dir", str(data_dir),
            "--synthetic_users", "3000", "--synthetic_items", "2000",
            "--synthetic_ratings", "600000")
    spec = synth.SyntheticSpec(3000, 2000, 600000)
    for delay in (0.5, 1.5, 2.5):
        proc = subprocess.Popen([sys.executable, "-m", "official.datasets.movielens", *args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if movielens.is_complete(str(data_dir), "synthetic", spec):
            # Accepted files must be whole.
            assert len(movielens.ratings_csv_to_dataframe(str(data_dir), "synthetic")) == 600000
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    assert movielens.is_complete(str(data_dir), "synthetic", spec)
    assert len(movielens.ratings_csv_to_dataframe(str(data_dir), "synthetic")) == 600000
    leftovers = [n for n in os.listdir(data_dir / "synthetic") if ".tmp-" in n]
    assert leftovers == []
