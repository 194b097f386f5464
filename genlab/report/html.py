"""The sections of the table report, as HTML fragments for the one page shell.

Everything here turns precomputed values into markup; every user-supplied string goes through
`esc`, except the fragments of `extra_sections`, which are inserted verbatim on purpose. The
doctype, style, footer and the write itself are `genlab.report.shell`'s.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from genlab.report.shell import BASE_CSS, esc, render_page, section, write_page

__all__ = [
    "BASE_CSS",
    "ColumnRow",
    "PlotItem",
    "ReportContent",
    "render_document",
    "report_fragments",
    "write_document",
]

@dataclass(frozen=True)
class ColumnRow:
    """One line of the summary table."""

    name: str
    kind: str
    missing_real: float
    missing_synth: float
    real: str
    synthetic: str
    score: float | None


@dataclass(frozen=True)
class PlotItem:
    """One image with its caption; `uri` is a PNG data URI."""

    uri: str
    alt: str
    caption: str


@dataclass(frozen=True)
class ReportContent:
    """Everything a report page shows, already computed."""

    title: str
    version: str
    created: str
    n_real: int
    n_synth: int
    rows: Sequence[ColumnRow]
    column_shape: float | None
    pair_trend: float | None
    column_plots: Sequence[PlotItem]
    association_plots: Sequence[PlotItem]
    association_note: str = ""
    training_plot: PlotItem | None = None
    training_note: str = ""
    model_info: Mapping[str, object] | None = None
    extra_sections: Sequence[tuple[str, str]] = ()
    alerts: str = ""  # the HTML fragments of the sections below, built by their modules
    quantiles: str = ""
    pairs: str = ""
    checks: str = ""
    sample_rows: str = ""


def _pct(x: float) -> str:
    return "—" if math.isnan(x) else f"{100 * x:.1f}%"


def _score_text(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.3f}"


def _score_attr(x: float | None) -> str:
    # Full precision in a data attribute so tools can read the exact score from the page.
    return "" if x is None or math.isnan(x) else repr(float(x))


def _img(item: PlotItem) -> str:
    return (
        f'<figure><img src="{item.uri}" alt="{esc(item.alt)}" loading="eager">'
        f"<figcaption>{esc(item.caption)}</figcaption></figure>"
    )


def _header(c: ReportContent) -> str:
    parts = [
        f"<header><h1>{esc(c.title)}</h1>",
        f'<p class="meta">genlab {esc(c.version)} · created <time datetime="{esc(c.created)}">'
        f"{esc(c.created)}</time> · {c.n_real:,} real rows, {c.n_synth:,} synthetic rows</p>",
    ]
    if c.model_info:
        body = "".join(
            f'<tr><th scope="row">{esc(k)}</th><td>{esc(v)}</td></tr>'
            for k, v in c.model_info.items()
        )
        parts.append(f'<table class="model-info"><caption hidden>Model</caption>{body}</table>')
    parts.append("</header>")
    return "".join(parts)


def _score_card(ident: str, label: str, value: float | None, help_text: str) -> str:
    return (
        f'<div class="score"><span class="value" id="{ident}" data-value="{_score_attr(value)}">'
        f'{_score_text(value)}</span>'
        f'<span class="label">{esc(label)}: {esc(help_text)}</span></div>'
    )


def _summary(c: ReportContent) -> str:
    cards = "".join(
        [
            _score_card(
                "column-shape-score",
                "Column shape score",
                c.column_shape,
                "higher is better, 1 = identical; mean per-column similarity "
                "(1 − KS statistic or 1 − total variation)",
            ),
            _score_card(
                "pair-trend-score",
                "Pair trend score",
                c.pair_trend,
                "higher is better, 1 = identical; 1 − mean |real − synthetic association| / 2 "
                "over column pairs",
            ),
        ]
    )
    head = (
        "<tr><th>Column</th><th>Kind</th><th>Missing (real)</th><th>Missing (synthetic)</th>"
        "<th>Real</th><th>Synthetic</th><th>Similarity</th></tr>"
    )
    body = "".join(
        f'<tr data-column="{esc(r.name)}"><td>{esc(r.name)}</td><td>{esc(r.kind)}</td>'
        f'<td class="num">{_pct(r.missing_real)}</td><td class="num">{_pct(r.missing_synth)}</td>'
        f"<td>{esc(r.real)}</td><td>{esc(r.synthetic)}</td>"
        f'<td class="num similarity" data-score="{_score_attr(r.score)}">'
        f"{_score_text(r.score)}</td></tr>"
        for r in c.rows
    )
    return (
        f'<section id="summary"><h2>Summary</h2><div class="scores">{cards}</div>'
        f'<div class="table-wrap"><table class="summary"><thead>{head}</thead>'
        f"<tbody>{body}</tbody></table></div></section>"
    )


def _columns(c: ReportContent) -> str:
    if not c.column_plots:
        inner = '<p class="note">No plottable columns.</p>'
    else:
        inner = '<div class="grid">' + "".join(_img(p) for p in c.column_plots) + "</div>"
    lead = ('<p class="note">Real: solid blue outline; synthetic: dashed orange. Mostly-zero '
            "columns show the share of zeros as its own bar; long-tailed ones a log axis.</p>"
            if c.column_plots else "")
    return (f'<section id="distributions"><h2>Column distributions</h2>{lead}{inner}'
            f"{c.quantiles}</section>")


def _optional(ident: str, heading: str, fragment: str) -> str:
    if not fragment:
        return ""
    return f'<section id="{ident}"><h2>{esc(heading)}</h2>{fragment}</section>'


def _diagnostics(c: ReportContent) -> str:
    if not c.checks and not c.sample_rows:
        return ""
    rows = f"<h3>Sample rows</h3>{c.sample_rows}" if c.sample_rows else ""
    return (f'<section id="diagnostics"><h2>Diagnostics</h2><h3>Validity of the synthetic rows'
            f"</h3>{c.checks}{rows}</section>")


def _associations(c: ReportContent) -> str:
    note = f'<p class="note">{esc(c.association_note)}</p>' if c.association_note else ""
    plots = "".join(_img(p) for p in c.association_plots)
    row = f'<div class="row">{plots}</div>' if plots else ""
    return f'<section id="associations"><h2>Column associations</h2>{note}{row}</section>'


def _training(c: ReportContent) -> str:
    if c.training_plot is None and not c.training_note:
        return ""
    inner = _img(c.training_plot) if c.training_plot is not None else ""
    note = f'<p class="note">{esc(c.training_note)}</p>' if c.training_note else ""
    return f'<section id="training"><h2>Training curves</h2>{note}{inner}</section>'


def _extras(c: ReportContent) -> str:
    return "".join(section(heading, fragment, css_class="extra")
                   for heading, fragment in c.extra_sections)


def report_fragments(content: ReportContent) -> list[str]:
    """The page's sections in order: header, summary, alerts, distributions, pairs,
    associations, diagnostics, training, extras."""
    return [
        _header(content),
        _summary(content),
        _optional("alerts", "Alerts", content.alerts),
        _columns(content),
        _optional("pairs", "Column pairs", content.pairs),
        _associations(content),
        _diagnostics(content),
        _training(content),
        _extras(content),
    ]


def render_document(content: ReportContent) -> str:
    """The whole report page as one HTML string (the shell around `report_fragments`)."""
    return render_page(content.title, report_fragments(content))


def write_document(content: ReportContent, path: str | os.PathLike[str]) -> Path:
    """Write the report page atomically to `path`; returns the path."""
    return write_page(path, content.title, report_fragments(content))
