"""The report page: HTML around the figures, the leaderboard and the winner's test metrics.

Every number is printed rounded and carried at full precision in a
`data-value` attribute, so tools (and tests) read exactly what the JSON holds.
"""

import html
from collections.abc import Sequence

from official.recommendation.reporting.runs import Entry, Run

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px}
th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.winner{background:#fff5cc;font-weight:bold}.note{color:#555;font-size:13px}
img{max-width:100%;border:1px solid #ddd;margin:6px 0}"""


def _num(value, digits: int = 4) -> str:
    if value is None:
        return "<td class='n'>&ndash;</td>"
    text = f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    return f"<td class='n' data-value='{value!r}'>{text}</td>"


def _settings(entry: Entry) -> str:
    return html.escape(", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                                 for k, v in entry.settings.items() if k != "model") or "-")


def _leaderboard(runs: Sequence[Run]) -> str:
    rows = [(r, e) for r in runs for e in r.entries]
    rows.sort(key=lambda re: -(re[1].value if re[1].value is not None else -1.0))
    head = ("<tr><th>#</th>" + ("<th>run</th>" if len(runs) > 1 else "")
            + "<th>model</th><th>settings</th><th>state</th><th>validation</th>"
              "<th>HR</th><th>NDCG</th><th>epoch</th><th>time s</th><th>peak MB</th>"
              "<th>coverage@K</th><th>popularity@K</th></tr>")
    body = []
    for rank, (run, e) in enumerate(rows, 1):
        m = e.metrics
        hr = m.get("HR", m.get("HR_full"))
        ndcg = m.get("NDCG", m.get("NDCG_full"))
        note = f"<br><span class='note'>{html.escape(e.note)}</span>" if e.note else ""
        body.append(
            f"<tr class='{'winner' if e.winner else ''}' data-label='{html.escape(e.label)}'>"
            f"<td>{rank}</td>" + (f"<td>{html.escape(run.name)}</td>" if len(runs) > 1 else "")
            + f"<td>{html.escape(e.model)}<br><span class='note'>{html.escape(e.label)}"
              f"</span></td><td>{_settings(e)}</td>"
              f"<td>{html.escape(e.state)}{note}</td>"
            + _num(e.value) + _num(hr) + _num(ndcg)
            + _num(e.selected_epoch if e.selected_epoch else None)
            + _num(e.seconds, 1) + _num(e.peak_rss_mb, 0)
            + _num(m.get("Coverage_full")) + _num(m.get("PopularityPercentile_full"))
            + "</tr>")
    return f"<table id='leaderboard'>{head}{''.join(body)}</table>"


def _test(run: Run) -> str:
    w = run.winner
    title = html.escape(run.name)
    if not run.test:
        return (f"<p id='test-{title}'><b>{title}</b>: the test set was not read "
                "(--noevaluate_test or no test split).</p>")
    cells = "".join(f"<th>{html.escape(k)}</th>" for k in run.test)
    values = "".join(_num(v) for v in run.test.values())
    what = (f"{html.escape(w.model)} ({_settings(w)})" if w else "")
    refit = run.result.get("retrained_epochs")
    return (f"<p><b>{title}</b>: test metrics of the reported model {what}"
            + (f", refitted on train + validation for {refit} epoch(s)" if refit else "")
            + ", read once, after selection:</p>"
            f"<table class='test' id='test-{title}'><tr>{cells}</tr><tr>{values}</tr></table>")


def render(runs: Sequence[Run], figures: Sequence[tuple[str, str]], title: str) -> str:
    """The report's HTML.

    Args:
      runs: the runs shown.
      figures: (relative PNG path, caption) of each figure.
      title: the page's title.
    """
    metric = " / ".join(sorted({r.metric for r in runs}))
    intro = (f"Selection and every number in the leaderboard are on the <b>validation</b> "
             f"split carved out of the training data ({html.escape(metric)}); the test set is "
             "read once, for the reported model only, after selection.")
    budget = [f"{html.escape(r.name)}: {r.result['trials']} trials in "
              f"{r.result.get('seconds', 0):.0f} s of a {r.result['budget_seconds']:.0f} s "
              "budget" + "".join(f"; {html.escape(n)}" for n in r.notes)
              for r in runs if "budget_seconds" in r.result]
    figs = "".join(f"<figure><img src='{html.escape(p)}' alt='{html.escape(c)}'>"
                   f"<figcaption class='note'>{html.escape(c)}</figcaption></figure>"
                   for p, c in figures)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class='note'>{intro}</p>"
            + (f"<p class='note'>{'; '.join(budget)}.</p>" if budget else "")
            + "<h2>Test metrics</h2>" + "".join(_test(r) for r in runs)
            + f"<h2>Validation curves</h2>{figs}<h2>Leaderboard</h2>{_leaderboard(runs)}"
            "<p class='note'>validation: the selection metric at the selected epoch; "
            "coverage@K: share of the catalogue in some user's top K; popularity@K: mean "
            "training-popularity percentile of the recommended items (full ranking, "
            "validation users).</p></body></html>\n")
