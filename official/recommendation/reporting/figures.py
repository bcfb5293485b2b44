"""The report's figures: validation curves of every trial, by epoch and by wall time.

matplotlib with the Agg backend (no display needed); each figure is written
atomically as a PNG.
"""

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

from official.recommendation.reporting.runs import Run  # noqa: E402
from official.utils.misc import atomic_io  # noqa: E402

_STYLES = ("-", "--", ":", "-.")


def _colors(runs: Sequence[Run]) -> dict[str, str]:
    models = sorted({e.model for r in runs for e in r.entries})
    palette = plt.get_cmap("tab10").colors
    return {m: matplotlib.colors.to_hex(palette[i % len(palette)]) for i, m in enumerate(models)}


def validation_curves(runs: Sequence[Run], path: str, by: str) -> None:
    """Writes the validation metric of every entry against epoch or wall time.

    Args:
      runs: the runs shown (several: one line style each).
      path: the PNG written.
      by: "epoch" (x: epoch) or "time" (x: seconds since the run started).
    """
    colors = _colors(runs)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    seen = set()
    for i, run in enumerate(runs):
        for e in run.entries:
            if not e.curve:
                continue
            xs = [p[0] if by == "epoch" else e.started + p[1] for p in e.curve]
            ys = [p[2] for p in e.curve]
            label = e.model if len(runs) == 1 else f"{run.name}: {e.model}"
            ax.plot(xs, ys, _STYLES[i % len(_STYLES)], marker="." if len(xs) < 40 else None,
                    color=colors[e.model], linewidth=2.5 if e.winner else 1.0,
                    alpha=1.0 if e.winner else 0.6,
                    label=None if label in seen else label)
            seen.add(label)
            if e.winner and e.selected_epoch and e.selected_epoch <= len(e.curve):
                p = e.curve[e.selected_epoch - 1]
                ax.plot([p[0] if by == "epoch" else e.started + p[1]], [p[2]], "*",
                        color=colors[e.model], markersize=14, markeredgecolor="black")
    metrics = sorted({r.metric for r in runs})
    ax.set_xlabel("epoch" if by == "epoch" else "seconds since the run started")
    ax.set_ylabel(f"validation {' / '.join(metrics)}")
    ax.set_title(f"Validation {' / '.join(metrics)} of every "
                 f"{'trial' if any(len(r.entries) > 1 for r in runs) else 'run'} "
                 f"(thick: reported model, star: selected epoch)", fontsize=10)
    ax.grid(True, alpha=0.3)
    if seen:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_io.atomic_write(path, "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)
