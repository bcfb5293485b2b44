"""Conventions shared by all flag groups."""

import functools
import textwrap

# Help text is wrapped so `--help` stays readable in an 80-column terminal.
help_wrap = functools.partial(
    textwrap.fill, width=76, initial_indent="", subsequent_indent="  "
)


class bind:  # noqa: N801 (reads like a function at call sites)
    """`bind(fv).DEFINE_string(...)` is `flags.DEFINE_string(..., flag_values=fv)`."""

    def __init__(self, flag_values):
        self._flag_values = flag_values

    def __getattr__(self, name):
        from absl import flags

        return functools.partial(getattr(flags, name), flag_values=self._flag_values)
