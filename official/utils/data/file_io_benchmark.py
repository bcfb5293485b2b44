"""Benchmark of the sharded TFRecord buffers.

    python -m official.utils.data.file_io_benchmark --output FILE.json

Writes and reads back --rows rows of (int64, int64, float32) and reports
`write_rows_per_s`, `read_rows_per_s` (iterating training batches of
--batch_size as tensors) and, in the same run, `naive_write_rows_per_s` of the
2018-style writer (one `tf.train.Example` per row, built in Python and written
with `tf.io.TFRecordWriter`) on the first --naive_rows rows.
"""

import os
import shutil
import tempfile
import time

import numpy as np
import pandas as pd
from absl import app, flags

from official.utils.data import file_io
from official.utils.logs import logger


def naive_write(df: pd.DataFrame, path: str) -> None:
    """One tf.train.Example per row (the 2018 approach), for comparison."""
    import tensorflow as tf

    users, items = df["user"].to_numpy(), df["item"].to_numpy()
    labels = df["label"].to_numpy()
    with tf.io.TFRecordWriter(path) as writer:
        for u, i, y in zip(users, items, labels, strict=True):  # the baseline is per-row
            ex = tf.train.Example(features=tf.train.Features(feature={
                "user": tf.train.Feature(int64_list=tf.train.Int64List(value=[u])),
                "item": tf.train.Feature(int64_list=tf.train.Int64List(value=[i])),
                "label": tf.train.Feature(float_list=tf.train.FloatList(value=[y])),
            }))
            writer.write(ex.SerializeToString())


def run_benchmark(rows: int, naive_rows: int, batch_size: int, work_dir: str,
                  num_workers: int | None) -> dict:
    """Runs write, read and naive write; returns the JSON-able result."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "user": rng.integers(0, 138_493, rows, dtype=np.int64),
        "item": rng.integers(0, 26_744, rows, dtype=np.int64),
        "label": rng.random(rows, dtype=np.float32),
    })
    path = os.path.join(work_dir, "buffer")
    start = time.perf_counter()
    file_io.write_to_buffer(df, path, ["user", "item", "label"], num_workers=num_workers)
    write_s = time.perf_counter() - start

    import tensorflow as tf

    start = time.perf_counter()
    count = 0
    for batch in file_io.read_buffer(path, batch_size):
        count += int(tf.shape(batch["user"])[0])
    read_s = time.perf_counter() - start
    assert count == rows, (count, rows)

    start = time.perf_counter()
    naive_write(df.iloc[:naive_rows], os.path.join(work_dir, "naive.tfrecord"))
    naive_s = time.perf_counter() - start
    result = {
        "rows": rows,
        "write_s": write_s,
        "write_rows_per_s": rows / write_s,
        "read_s": read_s,
        "read_rows_per_s": rows / read_s,
        "read_batch_size": batch_size,
        "naive_rows": naive_rows,
        "naive_write_rows_per_s": naive_rows / naive_s,
        "buffer_bytes": sum(s["bytes"] for s in file_io.read_manifest(path)["shards"]),
        "cpu_count": os.cpu_count(),
        "targets": {"write_rows_per_s": 2e6, "read_rows_per_s": 5e6, "speedup_vs_naive": 30},
    }
    result["speedup_vs_naive"] = result["write_rows_per_s"] / result["naive_write_rows_per_s"]
    return result


def main(_):
    """Runs the benchmark; prints JSON and writes it to --output."""
    f = flags.FLAGS
    work_dir = tempfile.mkdtemp(prefix="file_io_bench-", dir=f.work_dir)
    try:
        result = run_benchmark(f.rows, f.naive_rows, f.batch_size, work_dir, f.num_workers)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    logger.emit_benchmark_result(result, f.output)


if __name__ == "__main__":
    flags.DEFINE_string("output", None, "Write the JSON result to this file.")
    flags.DEFINE_integer("rows", 10_000_000, "Rows to write and read.")
    flags.DEFINE_integer("naive_rows", 200_000, "Rows for the one-Example-per-row writer.")
    flags.DEFINE_integer("batch_size", 16384, "Training batch size of the read pass.")
    flags.DEFINE_integer("num_workers", None, "Writer processes (default: CPU count).")
    flags.DEFINE_string("work_dir", None, "Parent of the temporary work directory.")
    app.run(main)
