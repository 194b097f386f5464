"""The anomaly report: score distribution with the threshold, flagged rows or intervals,
and for a series the series itself with the flagged spans shaded. One self-contained page."""

from __future__ import annotations

import html
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from genlab._atomic import atomic_path
from genlab._version import __version__
from genlab.report.html import BASE_CSS
from genlab.report.plots import figure_to_data_uri

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
    ax.set_ylabel("count")
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
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for _, row in df.iterrows():
        cells = []
        for v in row:
            if isinstance(v, float):
                cells.append(f'<td class="num">{v:.4g}</td>')
            else:
                cells.append(f"<td>{html.escape(str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>'
            + "".join(body) + "</tbody></table></div>")


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
    n_flag = len(flagged)
    what = "intervals" if series is not None else "rows"
    cards = [("scored points" if series is not None else "scored rows",
              f"{int(np.isfinite(scores).sum()):,}"),
             (f"flagged {what}", f"{n_flag:,}"), ("threshold", f"{threshold:.4g}")]
    card_html = "".join(f'<div class="score"><span class="value">{html.escape(v)}</span>'
                        f'<span class="label">{html.escape(k)}</span></div>' for k, v in cards)
    info_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                        for k, v in info.items())
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">genlab {__version__} · '
        f"{datetime.now(UTC).isoformat(timespec='seconds')}</p>",
        f'<div class="scores">{card_html}</div>',
        f"<table>{info_rows}</table>",
        "<h2>Score distribution</h2>",
        f'<figure><img src="{_score_histogram(scores, threshold, score_label)}" '
        f'alt="histogram of anomaly scores with the threshold"><figcaption>Scores of every '
        f"{'point' if series is not None else 'row'}; the red line is the threshold "
        "above which they are flagged.</figcaption></figure>",
    ]
    if series is not None:
        x, values = series
        parts += [
            "<h2>Series and flagged intervals</h2>",
            f'<figure><img src="{_series_plot(x, values, flagged, truth)}" '
            'alt="the series with flagged intervals shaded"><figcaption>Flagged intervals '
            "shaded red" + ("; known anomaly windows marked green along the bottom"
                            if truth else "") + ".</figcaption></figure>",
        ]
    parts.append(f"<h2>Flagged {what}</h2>")
    if n_flag:
        parts.append(_table(flagged.head(_ROWS_SHOWN)))
        if n_flag > _ROWS_SHOWN:
            parts.append(f'<p class="note">{n_flag - _ROWS_SHOWN} more in the output file.</p>')
    else:
        parts.append('<p class="note">Nothing passed the threshold.</p>')
    doc = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
           f"<title>{html.escape(title)}</title><style>{BASE_CSS}</style></head><body><main>"
           + "".join(parts) + "</main></body></html>")
    target = Path(path)
    with atomic_path(target) as tmp:
        tmp.write_text(doc, encoding="utf-8")
    return target
