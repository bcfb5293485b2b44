"""Runs absl entry points so that every failure ends in one clear line.

* A `UserError` (bad flag, missing or corrupt data, ...) prints `error: ...`.
* A full disk, a read-only file system or a denied permission anywhere
  (`OSError`, or TensorFlow's error for it) prints the path and the reason.
* Anything else is a bug: one line naming it and a log file that holds the
  traceback (`<tmp>/official-<program>-<pid>.log`), not the traceback itself.

Each exits with status 1 (130 on Ctrl-C).
"""

import datetime
import errno
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from typing import Any

from absl import app, flags, logging

from official.utils.errors import UserError, first_line
from official.utils.logs import run_summary, terminal

# OS errors a user fixes (space, permissions, a read-only mount), also as
# TensorFlow reports them in its own errors' messages.
_ENVIRONMENT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)
_ENVIRONMENT_TEXTS = ("No space left on device", "Disk quota exceeded", "Permission denied",
                      "Read-only file system")


def environment_problem(error: BaseException) -> str | None:
    """One line for an out-of-space / permission / read-only error, else None."""
    if isinstance(error, OSError) and error.errno in _ENVIRONMENT_ERRNOS:
        where = error.filename or "a file"
        return f"{where}: {error.strerror or os.strerror(error.errno)}"
    text = str(error)
    reason = next((t for t in _ENVIRONMENT_TEXTS if t in text), None)
    if reason and type(error).__module__.startswith("tensorflow"):
        return f"{reason} ({first_line(error, 300)})"
    return None


def report_bug(error: BaseException, program: str) -> str:
    """Writes the traceback to a log file; returns the one line for the terminal."""
    path = os.path.join(tempfile.gettempdir(), f"official-{program}-{os.getpid()}.log")
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"{datetime.datetime.now().isoformat()} {' '.join(sys.argv)}\n")
            f.write("".join(traceback.format_exception(error)))
        where = f"traceback in {path}"
    except OSError:
        where = "the traceback could not be written to a log file"
    return (f"unexpected {type(error).__name__}: {first_line(error, 300)} ({where}; please "
            "report it)")


def _guard(main: Callable[[list[str]], Any]) -> Callable[[list[str]], Any]:
    def wrapped(argv: list[str]) -> Any:
        try:
            return main(argv)
        except UserError as e:
            message = str(e)
        except KeyboardInterrupt:
            _fail("interrupted; complete outputs are kept, partial ones removed", 130)
        except SystemExit:
            raise
        except Exception as e:  # noqa: BLE001  (every failure ends in one line)
            program = os.path.basename(sys.argv[0] or "official").removesuffix(".py")
            message = environment_problem(e) or report_bug(e, program)
        _fail(message, 1)

    return wrapped


def _fail(message: str, status: int) -> None:
    """Prints `error: message` as the run's last line on stderr and exits with `status`.

    Whatever would follow it (TensorFlow's shutdown messages, warnings of
    checkpoint objects torn down at exit) goes to /dev/null.
    """
    logging.flush()
    sys.stdout.flush()
    print(f"error: {message}", file=sys.stderr, flush=True)
    terminal.silence_stderr()
    sys.exit(status)


HELP_FLAGS = ("--help", "-help", "-h", "-?", "--helpshort", "-helpshort")
FULL_HELP_FLAGS = ("--helpfull", "-helpfull")


def _stem(module: str) -> str:
    """"official.recommendation.ncf_main" or ".../ncf_main.py" -> "ncf_main"."""
    return module.rsplit("/", 1)[-1].removesuffix(".py").rsplit(".", 1)[-1]


def program_help(doc: str | None, flag_values: flags.FlagValues,
                 program: tuple[str, ...] = ()) -> str:
    """`--help`: the program's docstring, then its flags and the shared ones it uses.

    Args:
      doc: the program's module docstring.
      flag_values: the parsed flags.
      program: names absl may file the program's own flags under (its module
        name; its file path when it runs as `__main__`); listed first, with the
        flags of its `<name>_flags` module (`ncf_main`: `ncf_flags`), titled
        with the program's name.

    Flags are grouped by the module that defines them; only the package's
    modules are listed (absl's and TensorFlow's own flags are in --helpfull).
    """
    stems = {_stem(p) for p in program if p}
    stems |= {s.removesuffix("_main") + "_flags" for s in stems if s.endswith("_main")}
    by_module = flag_values.flags_by_module_dict()
    own = [m for m in by_module if m in program or ("official" in m and _stem(m) in stems)]
    shared = sorted(m for m in by_module if "official" in m and m not in own)
    label = next((_stem(p) for p in program if p and _stem(p) != "__main__"), "")
    parts = [(doc or "").strip()]
    for m in own:  # the program's own flags, under its name
        text = flag_values.module_help(m).lstrip("\n")
        parts.append(f"{label}:" + text[text.index("\n"):] if label and "\n" in text
                     else text)
    parts += [flag_values.module_help(m) for m in shared]
    return "\n\n".join(p for p in parts if p) + "\n"


def import_tensorflow_quietly() -> str:
    """Imports TensorFlow with its C++ start-up messages captured; returns them.

    TensorFlow's native code writes its start-up messages (oneDNN, CUDA
    drivers, `failed call to cuInit` on a machine without a GPU, CPU
    features) to the process's stderr before its log level applies, so they
    are captured at the file-descriptor level while TensorFlow is imported
    and lists its devices; `TF_CPP_MIN_LOG_LEVEL` is set to 2 (warnings and
    info off) for the rest of the run, and TensorFlow's Python logger shows
    warnings and errors only (not its saver and SavedModel info lines). A
    user who sets `TF_CPP_MIN_LOG_LEVEL` to 0 or 1 gets everything as
    TensorFlow prints it; 2 or 3 (also what a parent program leaves to the
    processes it starts) still has the start-up lines captured, which
    TensorFlow prints whatever the level.
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2") in ("0", "1"):
        return ""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
            tf.get_logger().setLevel("WARNING")
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        return captured.read().decode(errors="replace")


def run(main: Callable[[list[str]], Any], tensorflow: bool = True) -> None:
    """Like `absl.app.run(main)`, but a `UserError` prints `error: ...` and exits 1.

    `--help` prints `program_help` and `--helpfull` every flag, both to
    stdout with exit status 0 (absl exits 1 after help); neither imports
    TensorFlow. Once the flags parse, TensorFlow is imported quietly
    (`import_tensorflow_quietly`; the captured messages are logged at DEBUG)
    unless `tensorflow` is False (a program that needs none).
    """
    args = sys.argv[1:]
    if any(a in FULL_HELP_FLAGS for a in args):
        print(flags.FLAGS.get_help())
        sys.exit(0)
    if any(a in HELP_FLAGS for a in args):
        print(program_help(sys.modules[main.__module__].__doc__, flags.FLAGS,
                           (main.__module__, sys.argv[0])), end="")
        sys.exit(0)
    def main_after_startup(argv: list[str]) -> Any:
        terminal.configure(_stem(main.__module__ if main.__module__ != "__main__"
                                 else sys.argv[0]), flags.FLAGS["log_dir"].value)
        # After the flags parsed (bad ones fail fast); not at all for data-only programs.
        startup = import_tensorflow_quietly() if tensorflow else ""
        if startup:
            logging.debug("TensorFlow start-up messages:\n%s", startup)
        return main(argv)

    main_after_startup.__module__ = main.__module__
    app.run(_guard(main_after_startup), flags_parser=parse_flags)


def parse_flags(argv: list[str]) -> list[str]:
    """Absl's flag parsing, with a bad flag as one `error: ...` line and exit status 1.

    (absl itself prints "FATAL Flags parsing error" and a second line
    pointing to --helpshort.)
    """
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        _fail(f"{first_line(e, 300)} (--help lists the flags)", 1)


def training_entry(define_flags: Callable[[], None],
                   run_from_flags: Callable[[flags.FlagValues], dict],
                   model_dir: Callable[[flags.FlagValues], str]) -> Callable[[], None]:
    """A console entry point that defines the flags, runs, and prints the closing summary.

    Args:
      define_flags: registers the program's flags in `flags.FLAGS`.
      run_from_flags: parsed flags -> the run's result (`run_loop.run`'s).
      model_dir: parsed flags -> the run's model_dir (--model_dir or its default).
    """
    def main(_: list[str]) -> None:
        fv = flags.FLAGS
        result = run_from_flags(fv)
        validated = "selected_epoch" in result
        run_summary.print_summary(result, fv.selection_metric if validated else None, str,
                                  os.path.join(model_dir(fv), "eval_results.json"),
                                  fv.export_dir)

    main.__module__ = run_from_flags.__module__  # its docstring is the program's --help

    def entry() -> None:
        define_flags()
        run(main)

    return entry
