"""HTML rendering of a report: one self-contained page, inline CSS, images as data URIs.

Everything here turns precomputed values into markup; every user-supplied string goes through
`html.escape`, except the fragments of `extra_sections`, which are inserted verbatim on purpose.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from genlab.report.shell import BASE_CSS

__all__ = ["BASE_CSS", "ColumnRow", "PlotItem", "ReportContent", "render_document"]




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


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _pct(x: float) -> str:
    return "—" if math.isnan(x) else f"{100 * x:.1f}%"


def _score_text(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.3f}"


def _score_attr(x: float | None) -> str:
    # Full precision in a data attribute so tools can read the exact score from the page.
    return "" if x is None or math.isnan(x) else repr(float(x))


def _img(item: PlotItem) -> str:
    return (
        f'<figure><img src="{item.uri}" alt="{_e(item.alt)}" loading="eager">'
        f"<figcaption>{_e(item.caption)}</figcaption></figure>"
    )


def _header(c: ReportContent) -> str:
    parts = [
        f"<header><h1>{_e(c.title)}</h1>",
        f'<p class="meta">genlab {_e(c.version)} · created <time datetime="{_e(c.created)}">'
        f"{_e(c.created)}</time> · {c.n_real:,} real rows, {c.n_synth:,} synthetic rows</p>",
    ]
    if c.model_info:
        body = "".join(
            f'<tr><th scope="row">{_e(k)}</th><td>{_e(v)}</td></tr>'
            for k, v in c.model_info.items()
        )
        parts.append(f'<table class="model-info"><caption hidden>Model</caption>{body}</table>')
    parts.append("</header>")
    return "".join(parts)


def _score_card(ident: str, label: str, value: float | None, help_text: str) -> str:
    return (
        f'<div class="score"><span class="value" id="{ident}" data-value="{_score_attr(value)}">'
        f'{_score_text(value)}</span><span class="label">{_e(label)}: {_e(help_text)}</span></div>'
    )


def _summary(c: ReportContent) -> str:
    cards = "".join(
        [
            _score_card(
                "column-shape-score",
                "Column shape score",
                c.column_shape,
                "mean per-column similarity (1 − KS statistic or 1 − total variation)",
            ),
            _score_card(
                "pair-trend-score",
                "Pair trend score",
                c.pair_trend,
                "1 − mean |real − synthetic association| / 2 over column pairs",
            ),
        ]
    )
    head = (
        "<tr><th>Column</th><th>Kind</th><th>Missing (real)</th><th>Missing (synthetic)</th>"
        "<th>Real</th><th>Synthetic</th><th>Similarity</th></tr>"
    )
    body = "".join(
        f'<tr data-column="{_e(r.name)}"><td>{_e(r.name)}</td><td>{_e(r.kind)}</td>'
        f'<td class="num">{_pct(r.missing_real)}</td><td class="num">{_pct(r.missing_synth)}</td>'
        f"<td>{_e(r.real)}</td><td>{_e(r.synthetic)}</td>"
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
    return f'<section id="distributions"><h2>Column distributions</h2>{inner}</section>'


def _associations(c: ReportContent) -> str:
    note = f'<p class="note">{_e(c.association_note)}</p>' if c.association_note else ""
    plots = "".join(_img(p) for p in c.association_plots)
    row = f'<div class="row">{plots}</div>' if plots else ""
    return f'<section id="associations"><h2>Column associations</h2>{note}{row}</section>'


def _training(c: ReportContent) -> str:
    if c.training_plot is None and not c.training_note:
        return ""
    inner = _img(c.training_plot) if c.training_plot is not None else ""
    note = f'<p class="note">{_e(c.training_note)}</p>' if c.training_note else ""
    return f'<section id="training"><h2>Training curves</h2>{note}{inner}</section>'


def _extras(c: ReportContent) -> str:
    return "".join(
        f'<section class="extra"><h2>{_e(heading)}</h2>{fragment}</section>'
        for heading, fragment in c.extra_sections
    )


def render_document(content: ReportContent) -> str:
    """Render the whole report page as one HTML string."""
    body = "".join(
        [
            _header(content),
            _summary(content),
            _columns(content),
            _associations(content),
            _training(content),
            _extras(content),
            f"<footer>Generated by genlab {_e(content.version)}.</footer>",
        ]
    )
    # The empty data-URI icon stops browsers asking the file system for a favicon.
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{_e(content.title)}</title><style>{BASE_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )
