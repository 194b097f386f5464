"""The anomaly report: score distribution with the threshold, flagged rows or intervals,
and for a series the series itself with the flagged spans shaded. One self-contained page."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from genlab.provenance import now
from genlab.report.plots import figure_to_data_uri
from genlab.report.shell import esc, info_table, section, write_page

__all__ = ["write_anomaly_report"]

_FLAG = "#d62728"
_ROWS_SHOWN = 50


def _score_histogram(scores: np.ndarray, threshold: float, label: str) -> str:
    fig = Figure(figsize=(7.0, 3.0))
    ax = fig.add_subplot()
    finite = scores[np.isfinite(scores)]
    if finite.size:
        ax.hist(finite, bins=60, color="#1f77b4", alpha=0.8)
    if np.isfinite(threshold):
        ax.axvline(threshold, color=_FLAG, lw=2, label=f"threshold {threshold:.3g}")
        ax.legend(frameon=False)
    ax.set_xlabel(label)
    ax.set_ylabel("count (log scale)")
    ax.set_yscale("log")
    fig.tight_layout()
    return figure_to_data_uri(fig)


def _series_plot(x: np.ndarray | pd.Series, values: np.ndarray, spans: pd.DataFrame,
                 truth: list[tuple[object, object]] | None) -> str:
    fig = Figure(figsize=(11.0, 3.2))
    ax = fig.add_subplot()
    ax.plot(x, values, lw=0.6, color="#1d2430")
    for _, row in spans.iterrows():
        ax.axvspan(row["start"], row["end"], color=_FLAG, alpha=0.3, lw=0)
    for a, b in truth or []:
        ax.axvspan(a, b, ymin=0, ymax=0.06, color="#2ca02c", alpha=0.9, lw=0)
    ax.set_ylabel("value")
    ax.margins(x=0)
    fig.autofmt_xdate()
    fig.tight_layout()
    return figure_to_data_uri(fig)


def _table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in df.columns)
    body = []
    for _, row in df.iterrows():
        cells = []
        for v in row:
            if isinstance(v, float):
                cells.append(f'<td class="num">{v:.4g}</td>')
            else:
                cells.append(f"<td>{esc(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>'
            + "".join(body) + "</tbody></table></div>")


def _figure(uri: str, alt: str, caption: str) -> str:
    return (f'<figure><img src="{uri}" alt="{esc(alt)}"><figcaption>{esc(caption)}'
            "</figcaption></figure>")


def _cards(cards: list[tuple[str, str]]) -> str:
    return '<div class="scores">' + "".join(
        f'<div class="score"><span class="value">{esc(v)}</span>'
        f'<span class="label">{esc(k)}</span></div>' for k, v in cards) + "</div>"


def _flagged(flagged: pd.DataFrame) -> str:
    if not len(flagged):
        return '<p class="note">Nothing passed the threshold.</p>'
    more = len(flagged) - _ROWS_SHOWN
    return _table(flagged.head(_ROWS_SHOWN)) + (
        f'<p class="note">{more} more in the output file.</p>' if more > 0 else "")


def write_anomaly_report(
    path: str | os.PathLike[str],
    *,
    scores: np.ndarray,
    threshold: float,
    info: dict[str, str],
    flagged: pd.DataFrame,
    series: tuple[np.ndarray | pd.Series, np.ndarray] | None = None,
    truth: list[tuple[object, object]] | None = None,
    title: str = "genlab anomaly report",
) -> Path:
    """Write the report; `flagged` is the explained rows (tables) or the intervals (series),
    `series` the (x, values) to draw with the intervals shaded."""
    score_label = "window score (mean surprise, nats)" if series is not None else (
        "anomaly score (-log p, nats)")
    what = "intervals" if series is not None else "rows"
    cards = [("scored points" if series is not None else "scored rows",
              f"{int(np.isfinite(scores).sum()):,}"),
             (f"flagged {what}", f"{len(flagged):,}"),
             ("threshold: higher scores are more anomalous", f"{threshold:.4g}")]
    parts = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">{esc(now())}</p>',
        _cards(cards),
        info_table(info),
        section("Score distribution", _figure(
            _score_histogram(scores, threshold, score_label),
            "histogram of anomaly scores with the threshold",
            f"Scores of every {'point' if series is not None else 'row'}; the red line is the "
            "threshold above which they are flagged.")),
    ]
    if series is not None:
        x, values = series
        caption = "Flagged intervals shaded red" + (
            "; known anomaly windows marked green along the bottom" if truth else "") + "."
        parts.append(section("Series and flagged intervals", _figure(
            _series_plot(x, values, flagged, truth),
            "the series with flagged intervals shaded", caption)))
    parts.append(section(f"Flagged {what}", _flagged(flagged)))
    return write_page(path, title, parts)
