"""Conventions shared by all flag groups."""

import functools
import textwrap

# Help text is wrapped so `--help` stays readable in an 80-column terminal.
help_wrap = functools.partial(
    textwrap.fill, width=76, initial_indent="", subsequent_indent="  "
)
