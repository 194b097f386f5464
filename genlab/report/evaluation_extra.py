"""The evaluation report's reading aids: quantiles, per-pair scores worst first, and (when
the evaluation hands the report its rows) alerts, the worst pairs drawn, validity checks and
sample rows, built by the same modules as the table report's."""

from __future__ import annotations

import math
from typing import Any

from genlab.report.alerts import alerts_html, find_alerts
from genlab.report.diagnostics import checks_html, quantiles_html, sample_rows_html, validity_checks
from genlab.report.evaluation_figures import EvaluationData
from genlab.report.kinds import table_kinds
from genlab.report.pairs import PairScore, pair_figure, pairs_html
from genlab.report.table_stats import prepare

__all__ = ["diagnostics_section", "pairs_section", "quantiles_fragment"]

WORST_PAIRS = 3


def quantiles_fragment(data: EvaluationData) -> str:
    """Quantiles of every numeric column, real against synthetic."""
    return quantiles_html([(c.name, c.real_values, c.synth_values, c.datetime)
                           for c in data.columns if not c.categorical])


def _pair_scores(scores: dict[str, Any]) -> list[PairScore]:
    out = []
    for p in scores["fidelity"].get("pairs") or []:
        a, b = p["columns"]
        measure = "Pearson r" if p["metric"] == "CorrelationSimilarity" else "Cramér's V"
        out.append(PairScore(a, b, measure, p["real"], p["synthetic"], p["score"]))
    return sorted(out, key=lambda p: (math.inf if p.score is None else p.score, p.a, p.b))


def _figures(pairs: list[PairScore], data: EvaluationData) -> list[tuple[str, str]]:
    real, synth = data.real_rows, data.synth_rows
    if real is None or synth is None:
        return []
    kinds = table_kinds(real)
    figures = []
    for p in [q for q in pairs if q.score is not None][:WORST_PAIRS]:
        cols = [(prepare(real[c], kinds[c]), prepare(synth[c], kinds[c])) for c in (p.a, p.b)]
        if any(r.numeric is None and r.codes is None for r, _ in cols):
            continue  # an id or text column has no joint distribution to draw
        uri = pair_figure((cols[0][0], cols[1][0]), (cols[0][1], cols[1][1]), (p.a, p.b))
        figures.append((uri, f"{p.a} × {p.b}: score {p.score:.3f}"))
    return figures


def pairs_section(scores: dict[str, Any], data: EvaluationData) -> str:
    """Every column pair's trend score, worst first, and the worst pairs drawn."""
    pairs = _pair_scores(scores)
    explain = ("Pearson r for two numeric columns, Cramér's V of the contingency table for a "
               "pair with a categorical column (numeric columns cut into 10 bins); the score "
               "is SDMetrics' CorrelationSimilarity (1 − |r real − r synthetic| / 2) or "
               "ContingencySimilarity (1 − total variation of the joint shares).")
    return ('<section id="pairs"><h2>Column pairs</h2>'
            f"{pairs_html(pairs, _figures(pairs, data), explain=explain)}</section>")


def diagnostics_section(data: EvaluationData) -> str:
    """Alerts, validity checks and sample rows, when the report has the rows."""
    real, synth = data.real_rows, data.synth_rows
    if real is None or synth is None:
        return ""
    synth = synth[list(real.columns)]
    kinds = table_kinds(real)
    return ('<section id="alerts"><h2>Alerts</h2>'
            f"{alerts_html(find_alerts(real, synth, kinds))}</section>"
            '<section id="diagnostics"><h2>Diagnostics</h2>'
            f"<h3>Validity of the synthetic rows</h3>"
            f"{checks_html(validity_checks(real, synth, kinds))}"
            f"<h3>Sample rows</h3>{sample_rows_html(real, synth)}</section>")
