import google_crc32c

from official.utils.misc import integrity


def test_checksums_name_the_file_that_changed(tmp_path):
    (tmp_path / "a.csv").write_bytes(b"user_id,item_id\n1,2\n")
    (tmp_path / "b.bin").write_bytes(bytes(range(256)) * 40000)
    recorded = integrity.describe(str(tmp_path), ["a.csv", "b.bin"])
    assert recorded["a.csv"] == {"bytes": 20, "crc32c": google_crc32c.Checksum(
        b"user_id,item_id\n1,2\n").hexdigest().decode()}
    assert integrity.first_mismatch(str(tmp_path), recorded) is None
    # Same size, one byte changed: found by content.
    (tmp_path / "a.csv").write_bytes(b"user_id,item_id\n1,3\n")
    assert integrity.first_mismatch(str(tmp_path), recorded) == "a.csv (content changed)"
    (tmp_path / "a.csv").write_bytes(b"user_id,item_id\n1,2\n")
    with open(tmp_path / "b.bin", "r+b") as f:
        f.truncate(1000)
    assert integrity.first_mismatch(str(tmp_path), recorded) == "b.bin (size changed)"
    (tmp_path / "b.bin").unlink()
    assert integrity.first_mismatch(str(tmp_path), recorded) == "b.bin (missing)"
    assert integrity.first_mismatch(str(tmp_path), {}) == "(no checksums recorded)"


def test_streamed_crc_equals_the_one_shot_value(tmp_path):
    data = bytes(range(256)) * 70000  # 17.9 MB: three chunks
    (tmp_path / "big").write_bytes(data)
    assert integrity.crc32c_of(str(tmp_path / "big")) == google_crc32c.Checksum(
        data).hexdigest().decode()
