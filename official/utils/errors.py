"""Errors a user can cause and fix (bad flag, missing or corrupt data).

Entry points render a `UserError` as one line on stderr and exit non-zero
(see `official.utils.misc.cli.run`); anything else is a programming error and
keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input: flags, files, data or environment."""


class DataError(UserError):
    """A data file is missing, corrupt, malformed or cannot be written."""
