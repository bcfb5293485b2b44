"""Errors a user can cause and fix (bad flag, missing or corrupt data).

Entry points render a `UserError` as one line on stderr and exit non-zero
(see `official.utils.misc.cli.run`); anything else is a programming error and
keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input: flags, files, data or environment."""


class DataError(UserError):
    """A data file is missing, corrupt, malformed or cannot be written."""


def first_line(error: BaseException, limit: int = 200) -> str:
    """An error's first line for a one-line message, cut at a word near `limit` characters."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ..."
