"""Normalization of raw MovieLens files into `ratings.csv` and `movies.csv`.

Ratings are streamed in 32 MiB blocks of whole lines, parsed by pandas' C
parser, validated with whole-array checks (the first bad row is reported with
its file and line) and written through unchanged, so memory stays flat
whatever the file size. Movies (thousands of rows) are read whole.
"""

import io
import os
import re
from collections.abc import Iterator

import numpy as np
import pandas as pd

from official.datasets import movielens_schema as schema
from official.datasets.movielens_schema import (
    GENRE_COLUMN,
    ITEM_COLUMN,
    MOVIES_FILE,
    RATING_COLUMN,
    RATINGS_FILE,
    TITLE_COLUMN,
)
from official.utils.data import csv_errors
from official.utils.errors import DataError
from official.utils.logs import progress
from official.utils.misc import atomic_io

_BLOCK_BYTES = 32 << 20


def _line_blocks(f: io.BufferedIOBase, block_bytes: int) -> Iterator[bytes]:
    """Yields blocks of whole lines (each ends with a newline)."""
    carry = b""
    while True:
        block = f.read(block_bytes)
        if not block:
            break
        data = carry + block
        cut = data.rfind(b"\n") + 1
        carry = data[cut:]
        if cut:
            yield data[:cut]
    if carry.strip():
        yield carry + b"\n"


def _nth_data_line(block: bytes, row: int) -> int:
    """1-based line (blank lines counted) in `block` of data row `row` (0-based)."""
    seen = -1
    for number, line in enumerate(block.split(b"\n"), start=1):
        if line.strip():
            seen += 1
            if seen == row:
                return number
    return number


def _check_ratings_block(df: pd.DataFrame, block: bytes, where: str, first_line: int
                         ) -> None:
    """Raises DataError for the first invalid row of a parsed block."""
    def line_of(row: int) -> int:
        return first_line + _nth_data_line(block, row) - 1

    for col in schema.RATING_COLUMNS:
        values = df[col]
        if not pd.api.types.is_numeric_dtype(values):
            bad = (pd.to_numeric(values, errors="coerce").isna() & values.notna()).to_numpy()
            if not bad.any():  # a missing field made the column non-numeric
                bad = values.isna().to_numpy() | ~values.isna().to_numpy().any()
            csv_errors.check_rows(where, bad,
                                  lambda row, c=col, v=values: f"non-numeric {c} {v.iloc[row]!r}",
                                  line_of)
        arr = values.to_numpy()
        if arr.dtype.kind == "f":
            bad = ~np.isfinite(arr)
            if col != RATING_COLUMN:
                bad |= np.floor(np.nan_to_num(arr)) != np.nan_to_num(arr)
            csv_errors.check_rows(
                where, bad, lambda row, c=col, a=arr: "missing fields (expected 4)"
                if np.isnan(a[row]) else f"non-integer {c} {a[row]!r}", line_of)
        if col != RATING_COLUMN:
            csv_errors.check_rows(where, arr < 0,
                                  lambda row, c=col, a=arr: f"negative {c} {a[row]!r}", line_of)


def normalize_ratings(src: str, dst: str, separator: bytes, has_header: bool,
                      label: str | None = None) -> int:
    r"""Rewrites a raw ratings file as `ratings.csv`, validating every row.

    Args:
      src: raw file: 4 fields a line (user, item, rating, timestamp).
      dst: output path, written atomically with the normalized header.
      separator: raw field separator (b",", b"\\t" or b"::").
      has_header: whether the raw file starts with a header line.
      label: name used in error messages (default `src`).

    Returns:
      Number of ratings written.

    Raises:
      DataError: naming the file and line of the first malformed row.
    """
    where = label or src
    rows = 0
    line_no = 1
    with open(src, "rb") as f, atomic_io.atomic_write(dst, "wb") as out, \
            progress.bar(os.path.getsize(src), f"normalize {os.path.basename(src)}", "B",
                         unit_scale=True, final_line=False) as bar:  # "Normalized ..." follows
        out.write((",".join(schema.RATING_COLUMNS) + "\n").encode())
        if has_header:
            header = f.readline()
            bar.update(len(header))
            if header.count(separator) != 3:
                raise DataError(f"{where} line 1: header {header.strip()!r} does not have "
                                "4 fields")
            line_no = 2
        for block in _line_blocks(f, _BLOCK_BYTES):
            bar.update(len(block))
            block_lines = block.count(b"\n")
            if b"\r" in block:
                block = block.replace(b"\r\n", b"\n")
            if separator != b",":
                if b"," in block:
                    bad = block[:block.index(b",")].count(b"\n")
                    raise DataError(f"{where} line {line_no + bad}: unexpected ','")
                block = block.replace(separator, b",")
            try:
                df = pd.read_csv(io.BytesIO(block), header=None, names=schema.RATING_COLUMNS,
                                 index_col=False, engine="c")
            except pd.errors.ParserError as e:
                raise csv_errors.from_parser_error(e, where, line_no) from e
            _check_ratings_block(df, block, where, line_no)
            if b"\n\n" in block or block.startswith(b"\n"):
                block = re.sub(rb"\n(?:[ \t]*\n)+", b"\n", block).lstrip(b"\n")
            out.write(block)
            rows += len(df)
            line_no += block_lines
    if rows == 0:
        os.unlink(dst)
        raise DataError(f"{where}: no ratings")
    return rows


# ----------------------------------------------------------------------------
# Normalization of movies (small: thousands of rows).
# ----------------------------------------------------------------------------

def normalize_genres(genres: pd.Series) -> pd.Series:
    """Maps raw `|`-joined genre strings onto `GENRES` names, vectorized.

    `Children's` becomes `Children`; names outside `GENRES` (e.g. `unknown`)
    are dropped; a movie left with none gets `(no genres listed)`.
    """
    exploded = genres.fillna("").astype(str).str.split("|").explode().str.strip()
    exploded = exploded.replace(schema.GENRE_ALIASES)
    exploded = exploded[exploded.isin(schema.GENRES)]
    joined = exploded.groupby(level=0).agg("|".join)
    return joined.reindex(genres.index, fill_value=schema.NO_GENRE)


def _movies_from_raw(path: str, layout: str, where: str) -> pd.DataFrame:
    if layout == schema.LAYOUT_CSV:
        try:
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        except (UnicodeDecodeError, pd.errors.ParserError) as e:
            raise DataError(f"{where}: cannot parse ({e})") from e
        if raw.shape[1] != 3:
            raise DataError(f"{where} line 1: expected 3 columns (movieId,title,genres), "
                            f"got {raw.shape[1]}")
        raw.columns = schema.MOVIE_COLUMNS
        first_line = 2
    elif layout == schema.LAYOUT_DAT:
        with open(path, encoding="latin-1") as f:
            lines = pd.Series(f.read().splitlines())
        lines = lines[lines.str.strip() != ""]
        def split_checked(text: pd.Series, cut) -> pd.DataFrame:
            parts = cut(text)
            missing = (np.ones(len(parts), bool) if parts.shape[1] < 2
                       else parts[1].isna().to_numpy())
            csv_errors.check_rows(where, missing, "expected 3 fields separated by '::'",
                                  lambda row: int(lines.index[row]) + 1)
            return parts

        head = split_checked(lines, lambda t: t.str.split("::", n=1, expand=True))
        tail = split_checked(head[1], lambda t: t.str.rsplit("::", n=1, expand=True))
        raw = pd.DataFrame({ITEM_COLUMN: head[0], TITLE_COLUMN: tail[0],
                            GENRE_COLUMN: tail[1]})
        raw.index = lines.index
        first_line = 1
    else:  # ml-100k u.item: id|title|release|video|url|19 genre flags.
        try:
            raw = pd.read_csv(path, sep="|", header=None, dtype=str, encoding="latin-1",
                              keep_default_na=False, quoting=3, index_col=False)
        except pd.errors.ParserError as e:
            raise DataError(f"{where}: cannot parse ({e})") from e
        if raw.shape[1] != 5 + len(schema.ML_100K_GENRES):
            raise DataError(f"{where}: expected {5 + len(schema.ML_100K_GENRES)} "
                            f"'|'-separated fields, got {raw.shape[1]}")
        flag_values = raw.iloc[:, 5:]
        csv_errors.check_rows(where, ~flag_values.isin(["0", "1"]).all(axis=1),
                              "genre flags must be 0 or 1")
        flag_matrix = flag_values.to_numpy() == "1"
        genres = pd.Series("", index=raw.index)
        for j, name in enumerate(schema.ML_100K_GENRES):  # 19 columns, not rows.
            genres = genres + np.where(flag_matrix[:, j], name + "|", "")
        raw = pd.DataFrame({ITEM_COLUMN: raw[0], TITLE_COLUMN: raw[1],
                            GENRE_COLUMN: genres.str.rstrip("|")})
        first_line = 1
    ids = pd.to_numeric(raw[ITEM_COLUMN].str.strip(), errors="coerce")
    csv_errors.check_rows(where, ids.isna() | (ids < 0) | (ids != np.floor(ids)),
                          lambda row: f"non-numeric item id {raw[ITEM_COLUMN].iloc[row]!r}",
                          lambda row: int(raw.index[row]) + first_line)
    return pd.DataFrame({
        ITEM_COLUMN: ids.astype(np.int64).to_numpy(),
        TITLE_COLUMN: raw[TITLE_COLUMN].to_numpy(),
        GENRE_COLUMN: normalize_genres(raw[GENRE_COLUMN].reset_index(drop=True)).to_numpy(),
    })


def normalize_raw(raw_dir: str, out_dir: str, layout: str, label: str) -> dict:
    """Normalizes raw files of a layout into `ratings.csv` and `movies.csv`.

    Args:
      raw_dir: directory holding the raw members of `layout`.
      out_dir: receives `ratings.csv` and `movies.csv` (atomically).
      layout: `schema.LAYOUT_*`.
      label: prefix for error messages (e.g. the zip name).

    Returns:
      `{file name: {"bytes": int, "rows": int}}` for the manifest.
    """
    ratings_name, movies_name = schema.RAW_MEMBERS[layout]
    separator, has_header = {
        schema.LAYOUT_CSV: (b",", True), schema.LAYOUT_DAT: (b"::", False),
        schema.LAYOUT_100K: (b"\t", False)}[layout]
    ratings_out = os.path.join(out_dir, RATINGS_FILE)
    movies_out = os.path.join(out_dir, MOVIES_FILE)
    n_ratings = normalize_ratings(os.path.join(raw_dir, ratings_name), ratings_out,
                                  separator, has_header, f"{label}:{ratings_name}")
    movies = _movies_from_raw(os.path.join(raw_dir, movies_name), layout,
                              f"{label}:{movies_name}")
    with atomic_io.atomic_write(movies_out, "w", encoding="utf-8", newline="") as f:
        movies.to_csv(f, index=False, lineterminator="\n")
    return {
        RATINGS_FILE: {"bytes": os.path.getsize(ratings_out), "rows": n_ratings},
        MOVIES_FILE: {"bytes": os.path.getsize(movies_out), "rows": len(movies)},
    }

