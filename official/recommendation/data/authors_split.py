"""The NCF authors' published split: `PREFIX.train.rating`, `.test.rating`, `.test.negative`.

Read and checked against its format (see `read_ncf_split`) into the same
`NCFData` as MovieLens preprocessing gives.
"""

import os

import numpy as np
import pandas as pd

from official.recommendation.data.implicit_data import NCFData
from official.utils.data import csv_errors
from official.utils.errors import DataError
from official.utils.misc import array_ops


def _read_rating_file(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(int64 [R, 2] user and item ids, int64 [R] timestamps, -1 where missing).

    Raises:
      DataError: missing or empty file, a line without exactly 4 tab-separated
        fields, or an id that is not a non-negative integer (file and line).
    """
    if not os.path.isfile(path):
        raise DataError(f"{path}: file not found")
    try:
        df = pd.read_csv(path, sep="\t", header=None, engine="c", index_col=False,
                         skip_blank_lines=True)
    except pd.errors.ParserError as e:
        raise csv_errors.from_parser_error(e, path) from e
    except pd.errors.EmptyDataError as e:
        raise DataError(f"{path}: empty file") from e
    if df.shape[1] != 4:
        raise DataError(f"{path} line 1: expected 4 tab-separated fields (user, item, rating, "
                        f"timestamp), saw {df.shape[1]}")
    df.columns = ["u", "i", "r", "t"]
    csv_errors.check_rows(path, df["r"].isna() | df["t"].isna(),
                          "expected 4 tab-separated fields (user, item, rating, timestamp)")
    for col in ("u", "i"):
        values = pd.to_numeric(df[col], errors="coerce")
        csv_errors.check_rows(
            path, values.isna() | (values < 0) | (values != np.floor(values)),
            lambda row, col=col: "expected tab-separated non-negative integer user and item "
                                 f"ids, got {df[col].iloc[row]!r}")
    times = pd.to_numeric(df["t"], errors="coerce").fillna(-1).to_numpy().astype(np.int64)
    return df[["u", "i"]].to_numpy(np.int64), times


def read_ncf_split(prefix: str, with_test: bool = True) -> NCFData:
    """Reads `PREFIX.train.rating`, `PREFIX.test.rating`, `PREFIX.test.negative`.

    Ids are the file's 0-based ids (also used as the "raw" ids for export);
    timestamps of -1 (the authors' file has them for users it could not date)
    stay -1 in `train_times`. The format: both rating files have exactly 4
    tab-separated fields a line (user, item, rating, timestamp); the
    negative file has `(user,item)` and then the same number of
    tab-separated negative items on every line (the authors': 99, 100 fields
    in all). Users and items are those of the training file (ids 0 to its
    largest): a test user, test item or negative outside that range is an
    error naming the file and line, never a silently grown table.

    Args:
      prefix: path prefix of the three files.
      with_test: False reads only the training file (for tuning on a
        validation split while the test files are withheld); the result then
        has no evaluation users.

    Raises:
      DataError: a file is missing or malformed (naming file and line).
    """
    train, train_t = _read_rating_file(prefix + ".train.rating")
    num_users, num_items = int(train[:, 0].max()) + 1, int(train[:, 1].max()) + 1
    if not with_test:
        return _split_data(train, train_t, num_users, num_items, np.zeros((0, 1), np.int64))
    test_path = prefix + ".test.rating"
    test, _ = _read_rating_file(test_path)
    for col, what, size in ((0, "user", num_users), (1, "item", num_items)):
        csv_errors.check_rows(
            test_path, test[:, col] >= size,
            lambda row, c=col, w=what, n=size: f"{w} {test[row, c]} is not in the training "
                                               f"file ({w}s 0-{n - 1})")
    neg_path = prefix + ".test.negative"
    if not os.path.isfile(neg_path):
        raise DataError(f"{neg_path}: file not found")
    with open(neg_path) as f:
        lines = pd.Series(f.read().splitlines())
    lines = lines[lines.str.strip() != ""]
    if lines.empty:
        raise DataError(f"{neg_path}: empty file")
    head = lines.str.extract(r"^\((\d+),(\d+)\)((?:\t\d+)+)\s*$")

    def line_of(row: int) -> int:
        return int(lines.index[row]) + 1

    csv_errors.check_rows(neg_path, head[0].isna(),
                          "expected '(user,item)' then tab-separated negative item ids",
                          line_of)
    negs = head[2].str.strip().str.split("\t")
    widths = negs.str.len().to_numpy()
    csv_errors.check_rows(neg_path, widths != widths[0],
                          lambda row: f"{widths[row]} negatives, but line 1 has {widths[0]}",
                          line_of)
    neg_users = head[0].astype(np.int64).to_numpy()
    neg_items = np.array(negs.tolist(), dtype=np.int64)
    csv_errors.check_rows(neg_path, neg_users >= num_users,
                          lambda row: f"user {neg_users[row]} is not in the training file "
                                      f"(users 0-{num_users - 1})", line_of)
    outside = neg_items >= num_items
    csv_errors.check_rows(neg_path, outside.any(axis=1),
                          lambda row: f"item {neg_items[row][outside[row]][0]} is not in the "
                                      f"training file (items 0-{num_items - 1})", line_of)
    if len(test) != num_users or (np.sort(test[:, 0]) != np.arange(num_users)).any():
        raise DataError(f"{prefix}.test.rating: expected exactly one test rating for each "
                        f"of the {num_users} users")
    test = test[np.argsort(test[:, 0], kind="stable")]
    order = np.argsort(neg_users, kind="stable")
    if len(neg_users) != num_users or (neg_users[order] != np.arange(num_users)).any():
        raise DataError(f"{neg_path}: expected one line for each of the {num_users} users")
    pos_in_neg = head[1].astype(np.int64).to_numpy()[order]
    if (pos_in_neg != test[:, 1]).any():
        user = int(np.argmax(pos_in_neg != test[:, 1]))
        raise DataError(f"{neg_path}: the positive of user {user} differs from "
                        f"{prefix}.test.rating")
    return _split_data(train, train_t, num_users, num_items,
                       np.concatenate([test[:, 1:2], neg_items[order]], axis=1))


def _split_data(train: np.ndarray, train_t: np.ndarray, num_users: int, num_items: int,
                eval_items: np.ndarray) -> NCFData:
    """NCFData of the split files' 0-based ids; `eval_items` [U, 1 + N] (or [0, 1])."""
    keys, times = array_ops.sorted_unique_max(train[:, 0] * num_items + train[:, 1], train_t)
    return NCFData(
        num_users=num_users, num_items=num_items,
        train_users=(keys // num_items).astype(np.int32),
        train_items=(keys % num_items).astype(np.int32),
        eval_users=np.arange(len(eval_items), dtype=np.int32),
        eval_items=eval_items.astype(np.int32),
        user_ids=np.arange(num_users, dtype=np.int64),
        item_ids=np.arange(num_items, dtype=np.int64), train_times=times)
