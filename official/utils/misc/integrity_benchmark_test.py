import pytest

from official.utils.misc import integrity_benchmark


def test_measure_reports_the_ml20m_check_cost_from_its_rate(tmp_path):
    result = integrity_benchmark.measure(str(tmp_path / "f.bin"), 8)
    assert result["file_mb"] == pytest.approx(8.39, abs=0.01)  # 8 MiB of whole rows
    rate = result["crc32c_mb_per_s"]
    assert rate == pytest.approx(result["file_mb"] / result["crc32c_s"], rel=0.01)
    assert result["check_s_at_ml20m"] == pytest.approx({"ratings.csv": 533 / rate,
                                                        "ncf_cache_train.npz": 320 / rate})
