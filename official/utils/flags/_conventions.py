"""Conventions shared by all flag groups."""

import functools


def help_wrap(text: str) -> str:
    """Help text on one line, for absl to wrap once (wrapping here too broke lines)."""
    return " ".join(text.split())


class bind:  # noqa: N801 (reads like a function at call sites)
    """`bind(fv).DEFINE_string(...)` is `flags.DEFINE_string(..., flag_values=fv)`."""

    def __init__(self, flag_values):
        self._flag_values = flag_values

    def __getattr__(self, name):
        from absl import flags

        return functools.partial(getattr(flags, name), flag_values=self._flag_values)
