"""Cost of the content checks (CRC-32C) at ml-20m scale.

    python -m official.utils.misc.integrity_benchmark --output FILE.json

Writes a file of `--megabytes` (default 533: ml-20m's normalized
ratings.csv) in `--work_dir`, then times, cold-cache effects aside, a plain
read of it and `integrity.crc32c_of` (median of 3 each), and prints JSON with
MB/s and the seconds a check of each ml-20m artifact costs: ratings.csv
(533 MB) and the NCF cache's train.npz (20M positives x 16 bytes, 320 MB).
"""

import os
import statistics
import time

from absl import app, flags

from official.utils.logs import logger as logger_lib
from official.utils.misc import integrity

ML20M_ARTIFACTS_MB = {"ratings.csv": 533, "ncf_cache_train.npz": 320}


def _median_seconds(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(path: str, megabytes: int) -> dict:
    """Writes `megabytes` of CSV-like bytes to `path` and times reading and checking it."""
    row = b"138493,68954,4.5,1258126944\n"
    with open(path, "wb") as f:
        block = row * ((8 << 20) // len(row))
        for _ in range(megabytes // 8):
            f.write(block)
    size_mb = os.path.getsize(path) / 1e6

    def read():
        with open(path, "rb") as f:
            while f.read(integrity.CHUNK_BYTES):
                pass

    read_s = _median_seconds(read)
    crc_s = _median_seconds(lambda: integrity.crc32c_of(path))
    rate = size_mb / crc_s
    return {"file_mb": round(size_mb, 1), "read_s": read_s, "crc32c_s": crc_s,
            "crc32c_mb_per_s": rate, "read_mb_per_s": size_mb / read_s,
            "check_s_at_ml20m": {name: mb / rate for name, mb in ML20M_ARTIFACTS_MB.items()}}


def main(_) -> None:
    """Entry point."""
    f = flags.FLAGS
    os.makedirs(f.work_dir, exist_ok=True)
    path = os.path.join(f.work_dir, "integrity-bench.bin")
    try:
        result = measure(path, f.megabytes)
    finally:
        if os.path.exists(path):
            os.unlink(path)
    logger_lib.emit_benchmark_result(result, f.output)


if __name__ == "__main__":
    flags.DEFINE_string("output", None, "Write the JSON result to this file.")
    flags.DEFINE_string("work_dir", "/tmp/integrity-benchmark", "Where the test file goes.")
    flags.DEFINE_integer("megabytes", 533, "Size of the file checked.", lower_bound=8)
    app.run(main)
