"""Runs absl entry points so that user errors end in one clear line."""

import sys
from collections.abc import Callable
from typing import Any

from absl import app, logging

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


def run(main: Callable[[list[str]], Any]) -> None:
    """Like `absl.app.run(main)`, but a `UserError` prints `error: ...` and exits 1."""
    app.run(_guard(main))
