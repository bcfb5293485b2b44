"""Runs absl entry points so that user errors end in one clear line."""

import sys
from collections.abc import Callable
from typing import Any

from absl import app, flags, logging

from official.utils.errors import UserError


def _guard(main: Callable[[list[str]], Any]) -> Callable[[list[str]], Any]:
    def wrapped(argv: list[str]) -> Any:
        try:
            return main(argv)
        except UserError as e:
            logging.flush()
            print(f"error: {e}", file=sys.stderr)
            sys.exit(1)
        except KeyboardInterrupt:
            print("error: interrupted; complete outputs are kept, partial ones removed",
                  file=sys.stderr)
            sys.exit(130)

    return wrapped


HELP_FLAGS = ("--help", "-help", "-h", "-?", "--helpshort", "-helpshort")
FULL_HELP_FLAGS = ("--helpfull", "-helpfull")


def program_help(doc: str | None, flag_values: flags.FlagValues,
                 program: tuple[str, ...] = ()) -> str:
    """`--help`: the program's docstring, then its flags and the shared ones it uses.

    Args:
      doc: the program's module docstring.
      flag_values: the parsed flags.
      program: names absl may file the program's own flags under (its module
        name; its file path when it runs as `__main__`); listed first.

    Flags are grouped by the module that defines them; only the package's
    modules are listed (absl's and TensorFlow's own flags are in --helpfull).
    """
    by_module = flag_values.flags_by_module_dict()
    own = [m for m in by_module if m in program]
    shared = sorted(m for m in by_module if "official" in m and m not in own)
    parts = [(doc or "").strip(), *(flag_values.module_help(m) for m in (*own, *shared))]
    return "\n\n".join(p for p in parts if p) + "\n"


def run(main: Callable[[list[str]], Any]) -> None:
    """Like `absl.app.run(main)`, but a `UserError` prints `error: ...` and exits 1.

    `--help` prints `program_help` and `--helpfull` every flag, both to
    stdout with exit status 0 (absl exits 1 after help).
    """
    args = sys.argv[1:]
    if any(a in FULL_HELP_FLAGS for a in args):
        print(flags.FLAGS.get_help())
        sys.exit(0)
    if any(a in HELP_FLAGS for a in args):
        print(program_help(sys.modules[main.__module__].__doc__, flags.FLAGS,
                           (main.__module__, sys.argv[0])), end="")
        sys.exit(0)
    app.run(_guard(main))
