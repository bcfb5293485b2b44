"""Reading an interaction log: CSV / TSV (optionally .gz) or Parquet, by column name.

pyarrow reads the file multi-threaded; id columns come back
dictionary-encoded, so millions of string ids cost one int32 code a row
plus one copy of each distinct id. Ids keep the text the file holds
(`u09633433` keeps its leading zero); a column whose every id is a
canonical integer (no sign other than '-', no leading zero) becomes int64.

Every problem is a `DataError` of one line naming the file and, where there
is one, the column and the row (1-based, the header being row 1).
"""

import csv
import gzip
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from official.utils.errors import DataError

DELIMITERS = ",\t;|"
_CANONICAL_INT = re.compile(r"^(0|-?[1-9][0-9]{0,17})$")
_ROW = re.compile(r"Row #(\d+)")
_COLUMN = re.compile(r"CSV column #(\d+)")
_ISO = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
_NUMBER = r"^\s*-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"


def is_parquet(path: str) -> bool:
    """True for a Parquet file (its magic bytes, whatever its name)."""
    with open(path, "rb") as f:
        return f.read(4) == b"PAR1"


def _open_text(path: str):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", encoding="utf-8", newline="") if gz else open(
        path, encoding="utf-8", newline="")


def header_and_delimiter(path: str, delimiter: str | None) -> tuple[list[str], str]:
    """(column names, delimiter) of a CSV / TSV, the delimiter sniffed unless given.

    Raises:
      DataError: empty, not UTF-8, or no column names.
    """
    try:
        with _open_text(path) as f:
            sample = f.read(64 * 1024)
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from e
    except (OSError, EOFError) as e:
        raise DataError(f"{path} cannot be read: {e}") from e
    first = sample.splitlines()[0] if sample.strip() else ""
    if not first.strip():
        raise DataError(f"{path} is empty: expected a header row of column names")
    if delimiter is None:
        counts = {d: first.count(d) for d in DELIMITERS}
        delimiter = max(counts, key=counts.get) if max(counts.values()) else ","
    names = next(csv.reader([first], delimiter=delimiter))
    return [n.strip() for n in names], delimiter


def _error_line(path: str, e: Exception, column: str | None = None) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    row = _ROW.search(str(e))
    where = f" row {int(row.group(1)) + 1}" if row else ""
    what = f" column {column!r}" if column else ""
    return f"{path}{what}{where}: {text}"


def read_table(path: str, wanted: dict[str, str], delimiter: str | None = None) -> pa.Table:
    """The file's `wanted` columns (role -> name) as a table with role names.

    Raises:
      DataError: the file is missing, empty, not UTF-8, malformed, or lacks a column.
    """
    try:
        parquet = is_parquet(path)
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from e
    if parquet:
        try:
            names = pq.read_schema(path).names
        except (pa.ArrowException, OSError) as e:
            raise DataError(_error_line(path, e)) from e
    else:
        names, delimiter = header_and_delimiter(path, delimiter)
    missing = [n for n in wanted.values() if n not in names]
    if missing:
        raise DataError(f"{path} has no column {missing[0]!r}; its columns are "
                        f"{', '.join(names)}")
    try:
        if parquet:
            table = pq.read_table(path, columns=list(dict.fromkeys(wanted.values())))
        else:
            # Ids are read as text (leading zeros survive); numbers and times are
            # typed by pyarrow (strings where a value is not a number: checked later).
            ids = [wanted[r] for r in ("user", "item") if r in wanted]
            table = pacsv.read_csv(
                path, parse_options=pacsv.ParseOptions(delimiter=delimiter),
                convert_options=pacsv.ConvertOptions(
                    include_columns=list(dict.fromkeys(wanted.values())),
                    column_types={n: pa.string() for n in ids},
                    strings_can_be_null=True, quoted_strings_can_be_null=False))
    except (pa.ArrowException, OSError, UnicodeDecodeError, EOFError) as e:
        column = _COLUMN.search(str(e))
        name = names[int(column.group(1))] if column and int(column.group(1)) < len(names) else None
        raise DataError(_error_line(path, e, name)) from e
    if table.num_rows == 0:
        raise DataError(f"{path} has a header but no rows")
    return pa.table({role: table.column(name) for role, name in wanted.items()})


def _bad_row(path: str, column: str, bad: pa.ChunkedArray, what: str,
             header_rows: int) -> DataError:
    row = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0])
    return DataError(f"{path} column {column!r} row {row + 1 + header_rows}: {what}")


def ids(path: str, column: str, values: pa.ChunkedArray, header_rows: int
        ) -> tuple[np.ndarray, np.ndarray]:
    """(codes int32 [R], sorted distinct ids) of an id column; ints stay int64.

    Raises:
      DataError: an empty or missing id, or a column type that cannot hold ids.
    """
    kind = values.type
    if pa.types.is_dictionary(kind):  # Parquet's dictionary pages: decoded only if odd
        if (pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)
                ) and not values.null_count:
            return _dictionary_ids(path, column, values, header_rows)
        values, kind = values.cast(kind.value_type), kind.value_type
    if not (pa.types.is_integer(kind) or pa.types.is_string(kind)
            or pa.types.is_large_string(kind)):
        raise DataError(f"{path} column {column!r} has type {kind}, which cannot hold ids "
                        "(use integer or string ids)")
    if values.null_count:
        raise _bad_row(path, column, pc.is_null(values), "empty id", header_rows)
    if not pa.types.is_integer(kind):
        empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(values)), 0)
        if pc.any(empty).as_py():
            raise _bad_row(path, column, empty, "empty id", header_rows)
    encoded = pc.dictionary_encode(values).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    distinct = encoded.dictionary
    if pa.types.is_integer(kind):
        return _sorted_ids(codes, distinct.to_numpy(zero_copy_only=False).astype(np.int64))
    return _sorted_ids(codes, _text_ids(distinct))


def _text_ids(distinct: pa.Array) -> np.ndarray:
    """The distinct text ids as objects, or int64 when every one is a canonical integer."""
    text = distinct.to_pylist()
    uniques = np.array(text, dtype=object)
    return uniques.astype(np.int64) if all(_CANONICAL_INT.match(t) for t in text) else uniques


def _dictionary_ids(path: str, column: str, values: pa.ChunkedArray, header_rows: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """`ids` of a dictionary-encoded text column, without decoding its rows."""
    table = pa.table({"v": values}).unify_dictionaries()
    chunks = table.column("v").chunks
    distinct = chunks[0].dictionary if chunks else pa.array([], pa.string())
    empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(distinct)), 0)
    codes = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in chunks]
                           ).astype(np.int32, copy=False)
    if pc.any(empty).as_py():
        bad = np.isin(codes, np.flatnonzero(empty.to_numpy(zero_copy_only=False)))
        if bad.any():
            raise _bad_row(path, column, pa.chunked_array([bad]), "empty id", header_rows)
    return _sorted_ids(codes, _text_ids(distinct))


def _sorted_ids(codes: np.ndarray, uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes renumbered in sorted id order, the sorted ids)."""
    order = np.argsort(uniques, kind="stable")
    rank = np.empty(len(order), np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    return rank[codes], uniques[order]


def numbers(path: str, column: str, values: pa.ChunkedArray, header_rows: int,
            what: str) -> np.ndarray:
    """float64 [R] of a numeric column (`what`: "rating" or "weight").

    Raises:
      DataError: an empty, NaN or non-numeric value (naming its row).
    """
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        ok = pc.fill_null(pc.match_substring_regex(values, _NUMBER), False)
        if not pc.all(ok).as_py():
            raise _bad_row(path, column, pc.invert(ok), f"not a number (a {what})", header_rows)
        values = pc.cast(pc.utf8_trim_whitespace(values), pa.float64())
    elif pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        values = pc.cast(values, pa.float64())
    else:
        raise DataError(f"{path} column {column!r} has type {values.type}, not a number")
    out = values.to_numpy(zero_copy_only=False).astype(np.float64)
    if np.isnan(out).any():
        raise _bad_row(path, column, pa.chunked_array([np.isnan(out)]),
                       f"empty or NaN {what}", header_rows)
    return out


def timestamps(path: str, column: str, values: pa.ChunkedArray, header_rows: int
               ) -> tuple[np.ndarray, str]:
    """(int64 [R] Unix seconds, "unix" or "iso") of a timestamp column, its format detected.

    Raises:
      DataError: a value that is neither a number of seconds nor an ISO-8601 date.
    """
    kind = values.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        secs = pc.cast(pc.cast(values, pa.timestamp("s")), pa.int64())
        return secs.to_numpy(zero_copy_only=False).astype(np.int64), "iso"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return numbers(path, column, values, header_rows, "timestamp").astype(np.int64), "unix"
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise DataError(f"{path} column {column!r} has type {kind}, not a timestamp")
    values = pc.utf8_trim_whitespace(values)
    numeric = pc.fill_null(pc.match_substring_regex(values, _NUMBER), False)
    if pc.all(numeric).as_py():
        secs = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
        return np.floor(secs).astype(np.int64), "unix"
    iso = pc.fill_null(pc.match_substring_regex(values, _ISO), False)
    if not pc.all(iso).as_py():
        bad = pc.invert(pc.or_(iso, numeric)) if pc.any(iso).as_py() else pc.invert(numeric)
        raise _bad_row(path, column, bad, "not a timestamp (Unix seconds or an ISO-8601 "
                       "date)", header_rows)
    # Dates alone get midnight; values without an offset are taken as UTC.
    try:
        parsed = pc.cast(pc.replace_substring(values, " ", "T"), pa.timestamp("s"))
        return pc.cast(parsed, pa.int64()).to_numpy(zero_copy_only=False).astype(np.int64), "iso"
    except pa.ArrowException:  # offsets ("Z", "+02:00") or mixed forms: pandas parses them
        pass
    import pandas as pd

    try:
        stamps = pd.to_datetime(values.to_pandas(), format="ISO8601", utc=True)
    except (ValueError, TypeError) as e:
        raise DataError(_error_line(path, e, column)) from e
    seconds = stamps.dt.tz_convert(None).to_numpy().astype("datetime64[s]")
    return seconds.astype(np.int64), "iso"
