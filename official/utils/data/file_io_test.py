import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from official.utils.data import file_io, record_format

# The 2018 sharding tables: rows_per_core=4, CPU count fixed by the test.
SHARD_CASES = [
    (1, 1, [[[0]]]),
    (10, 1, [[[0, 1, 2, 3]], [[4, 5, 6, 7]], [[8, 9]]]),
    (21, 1, [[[0, 1, 2, 3]], [[4, 5, 6, 7]], [[8, 9, 10, 11]], [[12, 13, 14, 15]],
             [[16, 17, 18, 19]], [[20]]]),
    (1, 4, [[[0]]]),
    (10, 4, [[[0, 1], [2, 3, 4], [5, 6], [7, 8, 9]]]),
    (21, 4, [[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]],
             [[16], [17], [18], [19, 20]]]),
    (10, 8, [[[0], [1], [2], [3, 4], [5], [6], [7], [8, 9]]]),
    (40, 8, [[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15],
              [16, 17, 18, 19], [20, 21, 22, 23], [24, 25, 26, 27], [28, 29, 30, 31]],
             [[32], [33], [34], [35], [36], [37], [38], [39]]]),
]


@pytest.mark.parametrize("rows,cores,expected", SHARD_CASES)
def test_seed_sharding_tables(rows, cores, expected):
    df = pd.DataFrame({"c": range(rows)})
    shards = file_io.iter_shard_dataframe(df, rows_per_core=4, num_cores=cores)
    assert [[s["c"].tolist() for s in group] for group in shards] == expected


def make_frame(n, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "row": np.arange(n, dtype=np.int64),
        "user": rng.integers(0, 1000, n).astype(np.int32),
        "score": rng.random(n),  # float64
        "label": rng.random(n).astype(np.float32),
        "flag": rng.random(n) < 0.5,
        "small": rng.integers(0, 255, n).astype(np.uint8),
        "genres": list(rng.integers(0, 2, (n, 19)).astype(np.int64)),
        "emb": list(rng.random((n, 4)).astype(np.float32)),
    })


COLUMNS = ["row", "user", "score", "label", "flag", "small", "genres", "emb"]


def assert_round_trip(df, got):
    assert set(got) == set(COLUMNS)
    for c in COLUMNS:
        want = np.stack(df[c].to_numpy()) if df[c].dtype == object else df[c].to_numpy()
        assert got[c].dtype == want.dtype, c
        np.testing.assert_array_equal(got[c], want, err_msg=c)


@pytest.mark.parametrize("workers", [1, 2, 8])
def test_round_trip_every_dtype_and_worker_count(tmp_path, workers):
    df = make_frame(5003)
    path = str(tmp_path / "buf")
    file_io.write_to_buffer(df, path, COLUMNS, num_workers=workers, rows_per_record=97,
                            rows_per_shard=700, min_rows_for_pool=0)
    manifest = file_io.read_manifest(path)
    assert manifest["rows"] == 5003
    assert sum(s["rows"] for s in manifest["shards"]) == 5003
    assert len(manifest["shards"]) == len(os.listdir(path)) - 1
    assert len(manifest["shards"]) == 8  # 700-row shards split evenly over the workers
    assert_round_trip(df, file_io.read_all(path))
    # Batches keep shapes and the written row order.
    batches = list(file_io.read_buffer(path, batch_size=512).as_numpy_iterator())
    assert [len(b["row"]) for b in batches] == [512] * 9 + [395]
    assert batches[0]["genres"].shape == (512, 19) and batches[0]["emb"].shape == (512, 4)
    np.testing.assert_array_equal(np.concatenate([b["row"] for b in batches]), np.arange(5003))


def test_records_are_standard_examples(tmp_path):
    block = {"a": np.arange(6, dtype=np.int64), "v": np.ones((6, 3), np.float32)}
    example = tf.train.Example.FromString(record_format.encode_block(block))
    raw = example.features.feature["v"].bytes_list.value[0]
    np.testing.assert_array_equal(np.frombuffer(raw, np.float32).reshape(6, 3), block["v"])
    path = str(tmp_path / "one.tfrecord")
    stats = record_format.write_shard(path, block, 0, 6, 4)
    assert stats == {"rows": 6, "records": 2, "bytes": os.path.getsize(path)}
    # TFRecordDataset checks the framing CRCs.
    assert len(list(tf.data.TFRecordDataset(path))) == 2


def test_shuffled_read_is_a_permutation(tmp_path):
    df = make_frame(3000)
    path = str(tmp_path / "buf")
    file_io.write_to_buffer(df, path, COLUMNS, num_workers=2, rows_per_record=50,
                            rows_per_shard=400, min_rows_for_pool=0)
    rows = np.concatenate([b["row"] for b in file_io.read_buffer(
        path, 256, shuffle=True, seed=1).as_numpy_iterator()])
    assert sorted(rows.tolist()) == list(range(3000))
    assert (rows != np.arange(3000)).mean() > 0.9


def test_worker_parts_partition_the_rows(tmp_path):
    df = make_frame(2000)
    path = str(tmp_path / "buf")
    file_io.write_to_buffer(df, path, COLUMNS, num_workers=2, rows_per_shard=300,
                            min_rows_for_pool=0)
    parts = [np.concatenate([b["row"] for b in file_io.read_buffer(
        path, 100, shard_index=i, num_shards=2).as_numpy_iterator()]) for i in range(2)]
    assert len(set(parts[0]) & set(parts[1])) == 0
    assert sorted(np.concatenate(parts).tolist()) == list(range(2000))
    with pytest.raises(ValueError, match="cannot split"):
        file_io.read_buffer(path, 100, shard_index=0, num_shards=99)


def test_manifest_reuse_and_rebuild(tmp_path):
    df = make_frame(1000)
    path = str(tmp_path / "buf")
    file_io.write_to_buffer(df, path, COLUMNS, rows_per_shard=300)
    manifest_path = os.path.join(path, file_io.MANIFEST)
    first = os.stat(manifest_path).st_mtime_ns
    file_io.write_to_buffer(df, path, COLUMNS, rows_per_shard=300)
    assert os.stat(manifest_path).st_mtime_ns == first  # reused

    changed = df.copy()
    changed.loc[500, "label"] = 42.0  # one value changes the fingerprint
    file_io.write_to_buffer(changed, path, COLUMNS, rows_per_shard=300)
    assert file_io.read_all(path)["label"][500] == np.float32(42.0)

    shard = os.path.join(path, file_io.read_manifest(path)["shards"][0]["file"])
    with open(shard, "r+b") as f:
        f.truncate(10)  # a damaged shard invalidates the buffer
    assert file_io.read_manifest(path) is None
    file_io.write_to_buffer(changed, path, COLUMNS, rows_per_shard=300)
    assert_round_trip(changed, file_io.read_all(path))

    file_io.write_to_buffer(changed, path, ["row", "user"])  # other columns: rebuild
    assert set(file_io.read_all(path)) == {"row", "user"}


@pytest.mark.parametrize("mutate,message", [
    (lambda df: df.assign(name=["x"] * len(df)), "column 'name' holds str"),
    (lambda df: df.assign(name=[np.zeros(3)] * (len(df) - 1) + [np.zeros(4)]),
     "column 'name' holds vectors of different lengths"),
    (lambda df: df.assign(name=np.zeros(len(df), dtype=np.complex64)),
     "column 'name' has unsupported dtype"),
    (lambda df: df, "column 'name' is missing"),
    (lambda df: df.iloc[:0].assign(name=[]), "empty DataFrame"),
])
def test_bad_input_fails_before_any_file(tmp_path, mutate, message):
    df = mutate(make_frame(10))
    with pytest.raises(ValueError, match=message):
        file_io.write_to_buffer(df, str(tmp_path / "out" / "buf"), ["row", "name"])
    assert not (tmp_path / "out").exists()


def test_unreadable_buffer_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="no complete buffer"):
        file_io.read_buffer(str(tmp_path / "nothing"), 10)


WRITER_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, pandas as pd
    from official.utils.data import file_io
    n = 3_000_000
    df = pd.DataFrame({"a": np.arange(n, dtype=np.int64), "b": np.ones(n, np.float32)})
    file_io.write_to_buffer(df, sys.argv[1], ["a", "b"], num_workers=2,
                            rows_per_shard=100_000, min_rows_for_pool=0)
""")


def test_killed_writer_leaves_nothing_reusable(tmp_path):
    path = tmp_path / "buf"
    proc = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(path)])
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until shards are being written
        tmp_dirs = [d for d in os.listdir(tmp_path) if ".tmp-" in d]
        if tmp_dirs and any(n.startswith("shard-") for n in os.listdir(tmp_path / tmp_dirs[0])):
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL  # killed mid-write, not finished
    assert file_io.read_manifest(str(path)) is None
    n = 3_000_000
    df = pd.DataFrame({"a": np.arange(n, dtype=np.int64), "b": np.ones(n, np.float32)})
    file_io.write_to_buffer(df, str(path), ["a", "b"], rows_per_shard=1_000_000)
    got = file_io.read_all(str(path))
    np.testing.assert_array_equal(got["a"], np.arange(n))


TEMP_SCRIPT = textwrap.dedent("""
    import signal, sys, time, numpy as np, pandas as pd
    from official.utils.data import file_io
    # A shell's background job inherits SIGINT ignored; interrupt like a terminal does.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    df = pd.DataFrame({"a": np.arange(100, dtype=np.int64)})
    print(file_io.write_to_temp_buffer(df, sys.argv[1], ["a"]), flush=True)
    if sys.argv[2] == "wait":
        time.sleep(60)
""")


@pytest.mark.parametrize("how", ["exit", signal.SIGTERM, signal.SIGINT])
def test_temp_buffers_are_removed(tmp_path, how):
    proc = subprocess.Popen([sys.executable, "-c", TEMP_SCRIPT, str(tmp_path),
                             "exit" if how == "exit" else "wait"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    path = proc.stdout.readline().strip()
    assert path.startswith(str(tmp_path))
    if how != "exit":
        assert os.path.isdir(path)
        proc.send_signal(how)
    proc.wait(timeout=60)
    assert not os.path.exists(path)
    assert proc.returncode != 0 if how != "exit" else proc.returncode == 0


def test_registry_purges_only_its_paths(tmp_path):
    registry = file_io.TempBufferRegistry()
    df = pd.DataFrame({"a": np.arange(5, dtype=np.int64)})
    p1 = file_io.write_to_temp_buffer(df, str(tmp_path), ["a"], registry=registry)
    other = file_io.write_to_buffer(df, str(tmp_path / "keep"), ["a"])
    assert registry.purge() == 1
    assert not os.path.exists(p1) and os.path.exists(other)


def test_shuffle_is_repeatable_for_a_seed_within_one_process(tmp_path):
    df = make_frame(2000)
    path = str(tmp_path / "buf")
    file_io.write_to_buffer(df, path, COLUMNS, rows_per_record=100, rows_per_shard=500)

    def order(seed):
        return np.concatenate([b["row"] for b in file_io.read_buffer(
            path, 128, shuffle=True, seed=seed).as_numpy_iterator()])

    first = order(7)
    np.testing.assert_array_equal(order(7), first)  # a later dataset, same order
    assert (order(8) != first).mean() > 0.5
