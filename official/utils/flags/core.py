"""Public entry to the flag groups.

Programs call the `define_*` functions at import of their `__main__` block,
read `flags.FLAGS` only in `main`, and pass plain values to library code.
Validators check values only; they never touch the file system and code never
changes a flag's value.
"""

from official.utils.flags._base import define_base
from official.utils.flags._benchmark import define_benchmark
from official.utils.flags._conventions import bind, help_wrap
from official.utils.flags._performance import define_performance

__all__ = ["bind", "define_base", "define_benchmark", "define_performance", "help_wrap"]
