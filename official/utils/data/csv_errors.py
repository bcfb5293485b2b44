"""Turn pandas CSV parser errors into one-line DataErrors naming file and line."""

import re

import pandas as pd

from official.utils.errors import DataError

_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def from_parser_error(error: pd.errors.ParserError, where: str, first_line: int = 1
                      ) -> DataError:
    """A DataError for `error`, with its line shifted so that line 1 is `first_line`."""
    m = _FIELDS.search(str(error))
    if not m:
        return DataError(f"{where}: cannot parse ({error})")
    return DataError(f"{where} line {first_line + int(m.group(2)) - 1}: expected "
                     f"{m.group(1)} fields, saw {m.group(3)}")
