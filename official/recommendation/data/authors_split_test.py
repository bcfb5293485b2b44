import pytest

from official.recommendation.conftest import write_split
from official.recommendation.data import authors_split
from official.utils.errors import DataError


def test_read_ncf_split(tmp_path):
    prefix = str(tmp_path / "ml-1m")
    write_split(prefix)
    data = authors_split.read_ncf_split(prefix)
    assert (data.num_users, data.num_items, data.num_eval_negatives) == (2, 5, 2)
    assert data.eval_items.tolist() == [[3, 0, 4], [2, 1, 4]]
    assert list(zip(data.train_users.tolist(), data.train_items.tolist(), strict=True)) == [
        (0, 1), (0, 2), (1, 0), (1, 3), (1, 4)]


@pytest.mark.parametrize("lines,message", [
    ("(0,3)\t0\t4\n(1,2)\t1\n", r"test.negative line 2: 1 negatives, but line 1 has 2"),
    ("(0,3)\t0\t4\n1,2\t1\t4\n", r"test.negative line 2: expected '\(user,item\)'"),
    ("(0,3)\t0\t4\n(1,1)\t1\t4\n", "positive of user 1 differs"),
])
def test_malformed_split_names_file_and_line(tmp_path, lines, message):
    prefix = str(tmp_path / "s")
    write_split(prefix, lines)
    with pytest.raises(DataError, match=message):
        authors_split.read_ncf_split(prefix)


def test_split_missing_file_and_bad_ids(tmp_path):
    prefix = str(tmp_path / "s")
    with pytest.raises(DataError, match=r"s.train.rating: file not found"):
        authors_split.read_ncf_split(prefix)
    write_split(prefix)
    with open(prefix + ".train.rating", "a") as f:
        f.write("x\t1\t5\t9\n")
    with pytest.raises(DataError, match=r"train.rating line 6: expected tab-separated"):
        authors_split.read_ncf_split(prefix)


@pytest.mark.parametrize("files, message", [
    ({".test.negative": ""}, r"s.test.negative: empty file"),
    ({".train.rating": ""}, r"s.train.rating: empty file"),
    ({".test.rating": "0\t3\t5\t200\n1\t5000\t4\t201\n"},
     r"s.test.rating line 2: item 5000 is not in the training file \(items 0-4\)"),
    ({".test.negative": "(0,3)\t0\t4\n(1,2)\t1\t999999\n"},
     r"s.test.negative line 2: item 999999 is not in the training file \(items 0-4\)"),
    ({".train.rating": "0\t1\n"}, r"s.train.rating line 1: expected 4 tab-separated fields"),
    ({".train.rating": "0\t1\t5\t100\t7\t7\n"},
     r"s.train.rating line 1: expected 4 tab-separated fields .*saw 6"),
    ({".test.rating": "0\t3\t5\t200\n1\t2\n"},
     r"s.test.rating line 2: expected 4 tab-separated fields"),
])
def test_split_files_are_checked_against_their_format(tmp_path, files, message):
    prefix = str(tmp_path / "s")
    write_split(prefix)
    for suffix, text in files.items():
        with open(prefix + suffix, "w") as f:
            f.write(text)
    with pytest.raises(DataError, match=message):
        authors_split.read_ncf_split(prefix)
