"""Reading, cleaning and caching your own logs: real files in temp dirs, known answers."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from official.datasets import interactions
from official.datasets.interactions import InteractionOptions
from official.datasets.interactions_clean import k_core
from official.utils.errors import DataError

# String ids with a comma, a quote, non-ASCII and leading zeros; the item column first.
ROWS = [("B00004Y2UT", "u09633433", "2020-01-01", 3),
        ("B00004Y2UT", 'an "odd", user', "2020-01-03T10:00:00", 1),
        ("x-ü", "u09633433", "2020-01-02", 2),
        ("B00004Y2UT", "u09633433", "2020-01-05", 4),  # a duplicate pair: later, summed
        ("0042", 'an "odd", user', "2020-01-02", 5)]
HEADER = ("item-id", "user-id", "when", "plays")


def _csv(rows, delimiter=","):
    def cell(v):
        v = str(v)
        return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\t') else v
    return "\n".join(delimiter.join(cell(v) for v in r) for r in [HEADER, *rows]) + "\n"


def options(path, **kw):
    base = dict(user_column="user-id", item_column="item-id", timestamp_column="when",
                weight_column="plays")
    return InteractionOptions(str(path), **{**base, **kw})


def write_all_formats(tmp_path):
    paths = {"csv": tmp_path / "log.csv", "tsv": tmp_path / "log.tsv",
             "gz": tmp_path / "log.csv.gz", "parquet": tmp_path / "log.parquet",
             "parquet_dictionary": tmp_path / "dictionary.parquet"}
    paths["csv"].write_text(_csv(ROWS), encoding="utf-8")
    paths["tsv"].write_text(_csv(ROWS, "\t"), encoding="utf-8")
    with gzip.open(paths["gz"], "wt", encoding="utf-8") as f:
        f.write(_csv(ROWS))
    columns = list(zip(*ROWS, strict=True))
    pq.write_table(pa.table({HEADER[0]: list(columns[0]), HEADER[1]: list(columns[1]),
                             HEADER[2]: list(columns[2]), HEADER[3]: list(columns[3])}),
                   paths["parquet"])
    # Dictionary-encoded id columns (what writers of large logs produce), two row groups.
    table = pa.table({HEADER[0]: pa.array(columns[0]).dictionary_encode(),
                      HEADER[1]: pa.array(columns[1]).dictionary_encode(),
                      HEADER[2]: list(columns[2]), HEADER[3]: list(columns[3])})
    pq.write_table(table, paths["parquet_dictionary"], row_group_size=3)
    return paths


def test_every_format_gives_the_same_positives_with_raw_ids(tmp_path):
    for name, path in write_all_formats(tmp_path).items():
        data = interactions.read_log(options(path))
        assert data.user_ids.tolist() == ['an "odd", user', "u09633433"], name
        assert data.item_ids.tolist() == ["0042", "B00004Y2UT", "x-ü"], name  # "0042" kept
        # Pairs sorted by (user, item); the duplicate merged: latest time, summed plays.
        assert data.users.tolist() == [0, 0, 1, 1] and data.items.tolist() == [0, 1, 1, 2]
        day = 86400
        assert data.times.tolist() == [1577923200, 1578045600, 1577836800 + 4 * day,
                                       1577923200], name
        assert data.weights.tolist() == [5, 1, 7, 2], name
        assert data.card["dropped"]["duplicates"] == 1 and data.card["interactions"] == 4
        assert data.card["timestamps"] == "iso" and data.card["rows"] == 5


def test_integer_ids_stay_integers_and_unix_seconds_are_detected(tmp_path):
    path = tmp_path / "ints.csv"
    path.write_text("user_id,item_id,ts,rating\n10,7,1000,4\n9,7,900,2\n10,-3,1100,5\n")
    data = interactions.read_log(InteractionOptions(
        str(path), timestamp_column="ts", rating_column="rating", min_rating=3))
    assert data.user_ids.dtype == np.int64 and data.user_ids.tolist() == [10]
    assert data.item_ids.tolist() == [-3, 7] and data.times.tolist() == [1100, 1000]
    assert data.card["dropped"]["below_min_rating"] == 1 and data.card["timestamps"] == "unix"


def test_k_core_is_the_fixed_point_of_a_brute_force_loop():
    rng = np.random.default_rng(4)
    users, items = rng.integers(0, 40, 300), rng.integers(0, 30, 300)
    pairs = np.unique(users * 30 + items)
    users, items = pairs // 30, pairs % 30
    for min_user, min_item in ((3, 1), (1, 4), (5, 5), (9, 12)):
        keep, _ = k_core(users, items, 40, 30, min_user, min_item)
        alive = set(range(len(users)))
        while True:  # the oracle: drop one offending pair at a time
            uc = np.bincount(users[list(alive)], minlength=40) if alive else np.zeros(40)
            ic = np.bincount(items[list(alive)], minlength=30) if alive else np.zeros(30)
            bad = [p for p in alive if uc[users[p]] < min_user or ic[items[p]] < min_item]
            if not bad:
                break
            alive.discard(bad[0])
        assert sorted(alive) == np.flatnonzero(keep).tolist(), (min_user, min_item)
        u, i = users[keep], items[keep]
        assert (np.bincount(u)[np.unique(u)] >= min_user).all()
        assert (np.bincount(i)[np.unique(i)] >= min_item).all()


def test_cache_is_reused_rebuilt_when_damaged_and_keyed_by_content(tmp_path):
    path = write_all_formats(tmp_path)["csv"]
    first = interactions.prepare(options(path), str(tmp_path / "d"))
    cache = first.card["cache"]
    card = json.loads(Path(cache, "card.json").read_text())
    assert card["users"] == 2 and card["dropped"]["duplicates"] == 1
    with open(os.path.join(cache, "arrays.npz"), "r+b") as f:
        f.seek(100)
        f.write(b"\0garbage\0")
    again = interactions.prepare(options(path), str(tmp_path / "d"))
    assert again.card["cache"] == cache and again.weights.tolist() == first.weights.tolist()
    path.write_text(_csv(ROWS[:3]))  # new content: a new cache entry
    third = interactions.prepare(options(path), str(tmp_path / "d"))
    assert third.card["cache"] != cache and third.card["interactions"] == 3
    assert interactions.prepare(options(path, min_user_interactions=2),
                                str(tmp_path / "d")).card["cache"] != third.card["cache"]


def test_titles_from_an_items_file_whose_id_column_differs(tmp_path):
    path = write_all_formats(tmp_path)["csv"]
    items = tmp_path / "items.csv"
    items.write_text('id,name\nB00004Y2UT,"Kind of Blue, Remastered"\n0042,Élan\nzzz,Other\n')
    data = interactions.read_log(options(path, items_path=str(items), item_title_column="name"))
    assert data.titles.tolist() == ["Élan", "Kind of Blue, Remastered", ""]
    none = tmp_path / "none.csv"
    none.write_text("id,name\n1,a\n")
    with pytest.raises(DataError, match="none of its ids .* is an item of"):
        interactions.read_log(options(path, items_path=str(none), item_title_column="name"))


def _bad_cases(tmp_path):
    def write(name, text, mode="w"):
        p = tmp_path / name
        p.write_bytes(text) if mode == "wb" else p.write_text(text, encoding="utf-8")
        return p
    ok = "user-id,item-id,when,plays\n"
    float_ids = tmp_path / "float_ids.parquet"
    pq.write_table(pa.table({"user-id": [1.5, 2.0], "item-id": ["a", "b"]}), float_ids)
    return [
        (write("cols.csv", "user,item\n1,2\n"), {},
         "has no column 'user-id'; its columns are user, item"),
        (write("empty.csv", ""), {}, "is empty"),
        (write("header.csv", ok), {}, "has a header but no rows"),
        (write("latin1.csv", (ok + "ü,1,1,1\n").encode("latin-1"), "wb"), {}, "not UTF-8"),
        (write("empty_id.csv", ok + "a,b,1,1\n,c,2,1\n"), {}, "column 'user-id' row 3: empty id"),
        (write("time.csv", ok + "a,b,1,1\nb,c,yesterday,1\n"), {},
         "column 'when' row 3: not a timestamp"),
        (write("weight.csv", ok + "a,b,1,1\nb,c,2,many\n"), {},
         "column 'plays' row 3: not a number (a weight)"),
        (write("rating.csv", "user-id,item-id,r\na,b,x\n"), {"rating_column": "r",
                                                              "timestamp_column": None,
                                                              "weight_column": None},
         "column 'r' row 2: not a number (a rating)"),
        (write("few.csv", ok + "a,b,1,1\nb,c,2,1\n"), {"min_user_interactions": 2},
         "every user was filtered out by --min_user_interactions 2"),
        (float_ids, {"timestamp_column": None, "weight_column": None},
         "column 'user-id' has type double, which cannot hold ids"),
        (tmp_path / "missing.csv", {}, "missing.csv"),
    ]


def test_bad_input_is_one_line_naming_the_file_and_row(tmp_path):
    for path, extra, message in _bad_cases(tmp_path):
        with pytest.raises(DataError) as error:
            interactions.prepare(options(path, **extra), str(tmp_path / "d"))
        text = str(error.value)
        assert message in text and "\n" not in text, (path, text)
        assert path.name in text or "every user" in text, text
    # Nothing half-written: only complete cache entries (none: every case failed).
    root = tmp_path / "d" / interactions.CACHE_ROOT
    assert not root.exists() or os.listdir(root) == []


def test_cli_prints_the_card_and_fails_in_one_line(tmp_path):
    path = write_all_formats(tmp_path)["tsv"]
    cmd = [sys.executable, "-m", "official.datasets.interactions", f"--interactions={path}",
           "--user_column=user-id", "--item_column=item-id", "--weight_column=plays",
           f"--data_dir={tmp_path / 'd'}"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    card = json.loads(res.stdout)
    assert (card["users"], card["items"], card["interactions"]) == (2, 3, 4)
    assert card["interactions_per_user"] == {"min": 2, "median": 2.0, "p90": 2.0, "max": 2}
    assert card["timestamps"] == "none" and card["time_span"] is None
    assert "2 users, 3 items, 4 interactions" in res.stderr
    res = subprocess.run(cmd[:4] + ["--user_column=nope", f"--data_dir={tmp_path / 'd'}"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "has no column 'nope'" in res.stderr
