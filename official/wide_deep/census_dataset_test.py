import os
import subprocess
import sys

import numpy as np
import pytest

from official.utils.errors import DataError, UserError
from official.utils.testing.local_http import LocalHTTPServer
from official.wide_deep import census_dataset as census

RAW_TEST = (
    "|1x3 Cross validator\n"
    "25, Private, 226802, 11th, 7, Never-married, Machine-op-inspct, Own-child, Black, "
    "Male, 0, 0, 40, United-States, <=50K.\n"
    "\n"
    "38, Private, 89814, HS-grad, 9, Married-civ-spouse, Farming-fishing, Husband, White, "
    "Male, 0, 0, 50, United-States, >50K.\n"
)


def test_clean_text_handles_adult_test_quirks():
    assert census.clean_text(RAW_TEST) == (
        "25,Private,226802,11th,7,Never-married,Machine-op-inspct,Own-child,Black,Male,0,0,40,"
        "United-States,<=50K\n"
        "38,Private,89814,HS-grad,9,Married-civ-spouse,Farming-fishing,Husband,White,Male,0,0,"
        "50,United-States,>50K\n")
    df = census.parse_clean(census.clean_text(RAW_TEST), "t")
    assert df["age"].tolist() == [25, 38] and df["age"].dtype == np.int64
    assert df["income_bracket"].tolist() == ["<=50K", ">50K"]


@pytest.fixture
def server(tmp_path):
    raw = tmp_path / "raw"
    census.generate_synthetic(str(raw), num_train=300, num_test=120, seed=1)
    with LocalHTTPServer() as s:
        for name in (census.TRAINING_FILE, census.EVAL_FILE):
            s.files[f"/{name}"] = (raw / name).read_bytes()
        yield s


def test_download_cleans_both_files_and_is_idempotent(tmp_path, server):
    data_dir = str(tmp_path / "data")
    train, test = census.download(data_dir, server.url)
    train_df, test_df = census.load(train), census.load(test)
    assert (len(train_df), len(test_df)) == (300, 120)
    assert set(test_df["income_bracket"]) <= {">50K", "<=50K"}
    expected = census.generate_frame(420, seed=1)
    assert test_df["age"].tolist() == expected["age"].iloc[300:].tolist()
    before = len(server.requests)
    census.download(data_dir, server.url)
    assert len(server.requests) == before
    assert sorted(os.listdir(data_dir)) == ["adult.data", "adult.test", census.MANIFEST]


def test_a_truncated_cleaned_file_is_fetched_again_never_used(tmp_path, server):
    data_dir = tmp_path / "data"
    train, _ = census.download(str(data_dir), server.url)
    good = (data_dir / "adult.data").read_bytes()
    (data_dir / "adult.data").write_bytes(good[:len(good) // 2])  # cut mid-file
    with pytest.raises(UserError, match=r"cannot be trusted \(adult.data \(size changed\)\)"):
        census.ensure(str(data_dir), server.url, download_if_missing=False)
    census.ensure(str(data_dir), server.url)
    assert (data_dir / "adult.data").read_bytes() == good
    assert len(census.load(train)) == 300


@pytest.mark.parametrize("line,message", [
    ("39, State-gov, 77516, Bachelors, 13, Never-married\n", "adult.data.*line 3: expected 15"),
    ("x39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, "
     "White, Male, 2174, 0, 40, United-States, <=50K\n", "adult.data.*line 3: non-numeric age"),
])
def test_malformed_rows_fail_cleanly(tmp_path, server, line, message):
    body = server.files["/adult.data"].decode().splitlines(keepends=True)
    server.files["/adult.data"] = "".join(body[:2] + [line] + body[2:]).encode()
    data_dir = tmp_path / "data"
    with pytest.raises(DataError, match=message):
        census.download(str(data_dir), server.url)
    assert os.listdir(data_dir) == []


def test_missing_file_on_server(tmp_path, server):
    del server.files["/adult.test"]
    with pytest.raises(DataError, match="HTTP 404"):
        census.download(str(tmp_path / "data"), server.url)
    assert not (tmp_path / "data" / "adult.test").exists()


def test_synthetic_rule_is_planted_and_deterministic():
    a = census.generate_frame(5000, seed=3)
    assert a.equals(census.generate_frame(5000, seed=3))
    positive = (a["income_bracket"] == ">50K").to_numpy()
    assert 0.15 < positive.mean() < 0.4
    strong = ((a["marital_status"] == "Married-civ-spouse")
              & (a["education_num"] >= 13)).to_numpy()
    assert positive[strong].mean() > 2 * positive.mean()


def test_cli_error_is_one_line(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "official.wide_deep.census_dataset",
         f"--data_dir={tmp_path / 'd'}", f"--data_url={tmp_path / 'nowhere'}"],
        capture_output=True, text=True, timeout=120)
    assert res.returncode == 1
    errors = [x for x in res.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "adult.data" in errors[0] and "not found" in errors[0]


def test_the_synthetic_dataset_is_generated_offline_and_cleaned_like_a_download(tmp_path):
    train, test = census.ensure_dataset(str(tmp_path / "d"), "synthetic",
                                        data_url=str(tmp_path / "no-mirror"))
    assert train == str(tmp_path / "d" / "synthetic" / "adult.data")
    assert len(census.load(train)) == 32561 and len(census.load(test)) == 16281
    assert census.intact(str(tmp_path / "d" / "synthetic")) is None  # vouched for
    before = os.path.getmtime(train)
    assert census.ensure_dataset(str(tmp_path / "d"), "synthetic")[0] == train
    assert os.path.getmtime(train) == before  # intact: reused, not generated again
    assert sorted(os.listdir(tmp_path / "d" / "synthetic")) == sorted(
        ["adult.data", "adult.test", census.MANIFEST])
