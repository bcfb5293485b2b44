"""The scale benchmark on a tiny log: the CSV and Parquet it writes prepare to the same data."""

import pytest

from official.datasets import interactions_benchmark

# Starts processes: not in make test-fast.
pytestmark = pytest.mark.slow


def test_csv_and_parquet_prepare_to_the_same_positives(tmp_path):
    record = interactions_benchmark.run(rows=3000, users=40, items=25, work_dir=str(tmp_path))
    assert record["same_result"] and record["rows"] == 3000
    assert record["interactions"] + record["duplicates"] == 3000  # no other filter is on
    assert record["users"] == 40 and record["items"] == 25  # every id drawn at this size
    assert record["csv_mb"] > record["parquet_mb"] > 0
    assert list(tmp_path.iterdir()) == []  # the log and caches were temporary
