"""Benchmark: preparing a 25M-row log with string ids, as CSV and as Parquet.

    python -m official.datasets.interactions_benchmark --output F.json
        [--rows 25000000] [--users 162541] [--items 59047] [--work_dir DIR]

writes a log shaped like ml-25m (user ids `u000001`.., item ids
`B0000001`.., Zipf-like item popularity, Unix timestamps, a plays column)
as CSV and as Parquet, then prepares each in a fresh process
(`interactions.prepare`: read, clean, k-core, cache) and prints JSON with
`csv_prepare_s`, `csv_peak_rss_mb`, `parquet_prepare_s`,
`parquet_peak_rss_mb` and the card's sizes. Targets on 2 cores: CSV <= 60 s
and <= 6 GB peak RSS, Parquet <= 30 s.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import flags

ML25M_USERS, ML25M_ITEMS, ML25M_ROWS = 162_541, 59_047, 25_000_095


def write_log(directory: str, rows: int, users: int, items: int, seed: int = 0
              ) -> tuple[str, str]:
    """(CSV path, Parquet path) of a synthetic log with string ids, vectorized."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    user = rng.integers(0, users, rows, dtype=np.int32)
    popularity = 1.0 / np.arange(1, items + 1) ** 0.9
    item = np.searchsorted(np.cumsum(popularity / popularity.sum()),
                           rng.random(rows)).astype(np.int32)
    item = np.minimum(item, items - 1)
    times = rng.integers(789_652_009, 1_574_327_703, rows, dtype=np.int64)
    plays = rng.integers(1, 20, rows, dtype=np.int32)
    user_ids = pa.array([f"u{i:06d}" for i in range(users)])
    item_ids = pa.array([f"B{i:07d}" for i in range(items)])
    table = pa.table({
        "user-id": pa.DictionaryArray.from_arrays(pa.array(user), user_ids),
        "item-id": pa.DictionaryArray.from_arrays(pa.array(item), item_ids),
        "timestamp": pa.array(times), "plays": pa.array(plays)})
    csv_path, parquet_path = (os.path.join(directory, f"log.{ext}") for ext in ("csv", "parquet"))
    pq.write_table(table, parquet_path)
    plain = table.cast(pa.schema([("user-id", pa.string()), ("item-id", pa.string()),
                                  ("timestamp", pa.int64()), ("plays", pa.int32())]))
    pacsv.write_csv(plain, csv_path)
    return csv_path, parquet_path


_CHILD = """
import json, resource, sys, time
from official.datasets import interactions
start = time.perf_counter()
data = interactions.prepare(interactions.InteractionOptions(
    sys.argv[1], user_column="user-id", item_column="item-id", timestamp_column="timestamp",
    weight_column="plays"), sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "card": data.card}))
"""


def prepare_in_child(path: str, data_dir: str) -> dict:
    """Prepares `path` in a fresh Python process; its seconds, peak RSS and card."""
    out = subprocess.run([sys.executable, "-c", _CHILD, path, data_dir], capture_output=True,
                         text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"preparing {path} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(rows: int, users: int, items: int, work_dir: str | None) -> dict:
    """Writes the log, prepares it as CSV and as Parquet; the benchmark's JSON record."""
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        start = time.perf_counter()
        csv_path, parquet_path = write_log(tmp, rows, users, items)
        write_s = time.perf_counter() - start
        csv = prepare_in_child(csv_path, os.path.join(tmp, "csv_cache"))
        parquet = prepare_in_child(parquet_path, os.path.join(tmp, "parquet_cache"))
        card = csv["card"]
        return {"rows": rows, "users": card["users"], "items": card["items"],
                "interactions": card["interactions"],
                "duplicates": card["dropped"]["duplicates"],
                "csv_mb": round(os.path.getsize(csv_path) / 2**20, 3),
                "parquet_mb": round(os.path.getsize(parquet_path) / 2**20, 3),
                "write_s": round(write_s, 1), "csv_prepare_s": round(csv["seconds"], 2),
                "csv_peak_rss_mb": round(csv["peak_rss_mb"]),
                "parquet_prepare_s": round(parquet["seconds"], 2),
                "parquet_peak_rss_mb": round(parquet["peak_rss_mb"]),
                "same_result": parquet["card"]["interactions"] == card["interactions"],
                "cpus": os.cpu_count(),
                "targets": {"csv_prepare_s": 60, "csv_peak_rss_mb": 6144,
                            "parquet_prepare_s": 30}}


def main(_) -> None:
    """Entry point."""
    from official.utils.logs import logger

    f = flags.FLAGS
    logger.emit_benchmark_result(run(f.rows, f.users, f.items, f.work_dir), f.output)


if __name__ == "__main__":
    from official.utils.misc import cli

    flags.DEFINE_string("output", None, "Write the JSON here too.")
    flags.DEFINE_integer("rows", ML25M_ROWS, "Rows of the log (ml-25m: 25,000,095).",
                         lower_bound=1)
    flags.DEFINE_integer("users", ML25M_USERS, "Distinct users.", lower_bound=1)
    flags.DEFINE_integer("items", ML25M_ITEMS, "Distinct items.", lower_bound=1)
    flags.DEFINE_string("work_dir", None, "Where the log is written (default: the system "
                        "temp dir; needs about 2 GB).")
    cli.run(main, tensorflow=False)
