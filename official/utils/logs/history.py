"""`<model_dir>/history.json`: every evaluation cycle of a run, for its report.

One entry per cycle ({"epoch", "seconds", metrics...}; seconds of training
and evaluation since the run started, summed over resumes) and the run's
facts (its settings). Rewritten atomically after each cycle; a resumed run
drops the cycles at or after the epoch it resumes from.
"""

import os
from typing import Any

from official.utils.misc import atomic_io

HISTORY = "history.json"


def read(model_dir: str) -> dict[str, Any]:
    """The run's history: {"facts": {...}, "cycles": [...]} (empty when none)."""
    found = atomic_io.read_json(os.path.join(model_dir, HISTORY))
    return found if isinstance(found, dict) else {"facts": {}, "cycles": []}


def append(model_dir: str, epoch: int, seconds: float, metrics: dict[str, float],
           facts: dict[str, Any]) -> None:
    """Records the cycle that ended at `epoch` after `seconds` of training and evaluation."""
    history = read(model_dir)
    cycles = [c for c in history.get("cycles", []) if c.get("epoch", 0) < epoch]
    before = cycles[-1]["seconds"] if cycles else 0.0
    cycles.append({"epoch": epoch, "seconds": round(before + seconds, 3),
                   **{k: float(v) for k, v in metrics.items()}})
    atomic_io.write_json(os.path.join(model_dir, HISTORY), {"facts": facts, "cycles": cycles})
