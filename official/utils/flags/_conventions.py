"""Conventions shared by all flag groups."""

import functools
import math
import sys


def help_wrap(text: str) -> str:
    """Help text on one line, for absl to wrap once (wrapping here too broke lines)."""
    return " ".join(text.split())


def is_finite_or_unset(value) -> bool:
    """True for None or a finite number; False for nan and +-inf."""
    return value is None or math.isfinite(value)


def register_finite(name: str, flag_values) -> None:
    """The shared validator of float flags: nan and +-inf are refused, naming the flag.

    absl's `lower_bound` / `upper_bound` let nan through (every comparison
    with nan is False) and accept +-inf, so every float flag of the package
    gets this validator (`bind` registers it with each `DEFINE_float`).
    """
    from absl import flags

    flags.register_validator(name, is_finite_or_unset,
                             message=f"--{name} must be a finite number (not nan or inf)",
                             flag_values=flag_values)


class bind:  # noqa: N801 (reads like a function at call sites)
    """`bind(fv).DEFINE_string(...)` is `flags.DEFINE_string(..., flag_values=fv)`.

    `DEFINE_float` also registers `register_finite` for the flag.
    """

    def __init__(self, flag_values):
        self._flag_values = flag_values

    def __getattr__(self, name):
        from absl import flags

        define = functools.partial(getattr(flags, name), flag_values=self._flag_values)
        if name != "DEFINE_float":
            return define

        def define_finite_float(flag_name, *args, **kwargs):
            # absl files a flag under the module that called DEFINE_*: the caller's, not this.
            caller = sys._getframe(1).f_globals.get("__name__", "")
            kwargs.setdefault("module_name", sys.argv[0] if caller == "__main__" else caller)
            holder = define(flag_name, *args, **kwargs)
            register_finite(flag_name, self._flag_values)
            return holder

        return define_finite_float
