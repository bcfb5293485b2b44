"""One-line DataErrors that name the file and line of the first bad row.

`check_rows` is the one place the pattern "find the first bad row of a
whole-array check, name its file and line" is written; `from_parser_error`
turns pandas' parser errors into the same form.
"""

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from official.utils.errors import DataError

_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def check_rows(where: str, bad, message: str | Callable[[int], str],
               line_of: Callable[[int], int] | None = None) -> None:
    """Raises a DataError naming the first row where `bad` is True; else returns.

    Args:
      where: the file (or `zip:member`) named in the message.
      bad: bool array-like [n], True for each malformed row.
      message: what is wrong, or row index -> what is wrong.
      line_of: row index -> 1-based line number in the file (default row + 1).

    Raises:
      DataError: `"{where} line {line}: {message}"` for the first bad row.
    """
    bad = np.asarray(bad, dtype=bool)
    if not bad.any():
        return
    row = int(np.argmax(bad))
    line = line_of(row) if line_of is not None else row + 1
    raise DataError(f"{where} line {line}: {message(row) if callable(message) else message}")


def from_parser_error(error: pd.errors.ParserError, where: str, first_line: int = 1
                      ) -> DataError:
    """A DataError for `error`, with its line shifted so that line 1 is `first_line`."""
    m = _FIELDS.search(str(error))
    if not m:
        return DataError(f"{where}: cannot parse ({error})")
    return DataError(f"{where} line {first_line + int(m.group(2)) - 1}: expected "
                     f"{m.group(1)} fields, saw {m.group(3)}")
