"""The closing summary every training program prints: one shape for ncf, census and movielens.

    selected epoch 3 of 3 by validation HR@10 (the test split was read once, after selection)
      validation  HR@10 0.6507  NDCG@10 0.4448
      test        HR@10 0.6467  NDCG@10 0.4423
    results: /tmp/ncf/eval_results.json (full precision); export: /tmp/ncf_export

Numbers are rounded for people (`terminal.human`); eval_results.json and
metric.log keep full precision.
"""

from collections.abc import Callable

from official.utils.logs import terminal

# Bookkeeping of a run's result, not metrics.
_NOT_METRICS = ("epoch", "selected_epoch", "retrained_epochs", "loss", "examples_per_second",
                "top_k", "eval_protocol")


def settings_note(settings: dict) -> str:
    """" (ease_lambda 500)" for {"ease_lambda": 500.0}; "" for {}."""
    text = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in settings.items())
    return f" ({text})" if text else ""


def _metrics(result: dict, prefix: str, label: Callable[[str], str],
             skip: tuple[str, ...]) -> str:
    shown = [(name.removeprefix(prefix), value) for name, value in result.items()
             if name.startswith(prefix) and name not in skip
             and not (prefix == "" and name.startswith("validation_"))
             and isinstance(value, int | float) and not isinstance(value, bool)]
    return "  ".join(f"{label(n)} {terminal.human(v)}" for n, v in shown)


def summary_lines(result: dict, selection_metric: str | None, label: Callable[[str], str],
                  results_path: str | None = None, export_dir: str | None = None,
                  chosen: dict | None = None) -> list[str]:
    """The summary of a run's result (`run_loop.train_and_report`'s dict).

    Args:
      result: the run's result: test metrics by name, `validation_<name>`,
        "selected_epoch" / "epoch" and bookkeeping.
      selection_metric: the metric that selected the epoch (None: no validation).
      label: metric name -> how people read it ("HR" -> "HR@10").
      results_path: eval_results.json, named on the last line.
      export_dir: where the model was exported, or None.
      chosen: settings the fit chose by validation (EASE's lambda), named on
        the first line.
    """
    extra = settings_note(chosen or {})
    epochs = result.get("epoch")
    of = f" of {epochs}" if epochs else ""
    test = _metrics(result, "", label, _NOT_METRICS + tuple(chosen or ()))
    if "selected_epoch" in result:
        lines = [f"selected epoch {result['selected_epoch']}{of}{extra} by validation "
                 f"{label(selection_metric or '')}"
                 + (" (the test split was read once, after selection)" if test else
                    " (the test split was not read)")]
        lines.append(f"  validation  {_metrics(result, 'validation_', label, ())}")
    else:
        lines = [f"epoch {epochs}{extra}: no validation split, so the last epoch is "
                 "reported"]
    if test:
        lines.append(f"  test        {test}")
    where = []
    if results_path:
        where.append(f"results: {results_path} (full precision)")
    if export_dir:
        where.append(f"export: {export_dir}")
    if where:
        lines.append("; ".join(where))
    return lines


def parse(text: str) -> dict[str, dict[str, float]]:
    """The metrics of a printed summary: {"validation": {label: value}, "test": {...}}.

    For tools and tests that read a program's stdout (values as rounded
    there; eval_results.json has full precision). Labels are as printed
    ("HR@10"); "k" / "M" suffixes are expanded.
    """
    scale = {"k": 1e3, "M": 1e6, "G": 1e9}
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        words = line.split()
        if line.startswith("  ") and words and words[0] in ("validation", "test"):
            pairs = zip(words[1::2], words[2::2], strict=False)
            out[words[0]] = {k: float(v[:-1]) * scale[v[-1]] if v[-1] in scale else float(v)
                             for k, v in pairs}
    return out


def print_summary(*args, **kwargs) -> None:
    """Prints `summary_lines(*args, **kwargs)` to stdout."""
    print("\n".join(summary_lines(*args, **kwargs)), flush=True)
