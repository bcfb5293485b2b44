"""Worker process of the buffer writer: `python -m official.utils.data.shard_writer TASK`.

TASK is a JSON file: {"inputs": {column: .npy path}, "rows_per_record": int,
"shards": [{"path", "start", "stop"}]}. The worker memory-maps the inputs,
writes its shards and prints one JSON line with the per-shard results. It
imports no TensorFlow.
"""

import json
import sys

import numpy as np

from official.utils.data import record_format


def main(task_path: str) -> None:
    """Writes the shards listed in the task file; prints their stats as JSON."""
    with open(task_path) as f:
        task = json.load(f)
    columns = {c: np.load(p, mmap_mode="r") for c, p in task["inputs"].items()}
    results = [record_format.write_shard(s["path"], columns, s["start"], s["stop"],
                                         task["rows_per_record"]) for s in task["shards"]]
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
