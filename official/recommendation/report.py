"""Put finished ncf_main runs side by side in one HTML page with figures.

    python -m official.recommendation.report --model_dirs A,B,C --output page.html

Each run is a --model_dir of a finished ncf_main run (a `--model auto`
search shows every trial). The page holds the validation curves (PNGs in
`<page>_files/`), a leaderboard of every model on validation, and each
run's test metrics (read once, after selection). ncf_main writes the same
page for one run as `<model_dir>/report.html` (`--report`).
"""

import os
from collections.abc import Sequence

from absl import flags, logging

from official.utils.flags import core as flags_core
from official.utils.misc import atomic_io

REPORT = "report.html"


def write(model_dirs: Sequence[str], output: str, title: str | None = None) -> str:
    """Writes the page for `model_dirs` to `output` (and its figures); returns `output`.

    Raises:
      UserError: a directory is not a finished run.
    """
    from official.recommendation.reporting import figures, page, runs

    loaded = [runs.load(d) for d in model_dirs]
    where = os.path.dirname(os.path.abspath(output))
    folder = f"{os.path.splitext(os.path.basename(output))[0]}_files"
    os.makedirs(os.path.join(where, folder), exist_ok=True)
    shown = []
    for by, caption in (("epoch", "validation metric against epoch"),
                        ("time", "validation metric against wall time")):
        rel = f"{folder}/validation_by_{by}.png"
        figures.validation_curves(loaded, os.path.join(where, rel), by)
        shown.append((rel, caption))
    title = title or ("ncf_main: " + ", ".join(r.name for r in loaded))
    with atomic_io.atomic_write(output, "w", encoding="utf-8") as f:
        f.write(page.render(loaded, shown, title))
    return output


def write_for_run(model_dir: str) -> str:
    """Writes `<model_dir>/report.html` for one finished run; returns its path."""
    path = write([model_dir], os.path.join(model_dir, REPORT))
    logging.info("Report: %s", path)
    return path


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """--model_dirs, --output, --title."""
    fd = flags_core.bind(fv)
    fd.DEFINE_list("model_dirs", None, "Comma-separated model_dirs of finished ncf_main runs.")
    fd.DEFINE_string("output", "report.html", "The HTML page written (figures go to "
                                              "<output stem>_files/ beside it).")
    fd.DEFINE_string("title", None, "The page's title (default: the runs' names).")
    fd.mark_flag_as_required("model_dirs")


def main(_) -> None:
    """Writes the page and names it."""
    fv = flags.FLAGS
    print(write(fv.model_dirs, fv.output, fv.title), flush=True)


def cli_main() -> None:
    """Console entry point (`official-report`)."""
    from official.utils.misc import cli

    define_flags()
    cli.run(main, tensorflow=False)


if __name__ == "__main__":
    cli_main()
