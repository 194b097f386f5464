"""Comparison reports: one self-contained HTML page of real versus synthetic data.

`build_report` computes per-column similarity scores, column-association matrices and
training curves (`table_stats`), draws them with matplotlib and hands the sections to the one
page shell; the file needs nothing else (no network, no JavaScript) to display. Columns
without a given kind get the kind `TabularCodec.fit` infers (`genlab.report.kinds`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genlab._version import __version__
from genlab.data.tabular import KINDS
from genlab.errors import DataError, ParameterError
from genlab.report import plots
from genlab.report.html import ColumnRow, PlotItem, ReportContent, write_document
from genlab.report.kinds import table_kinds
from genlab.report.table_stats import Column, association, describe, prepare, similarity, subsample

__all__ = ["build_report", "table_report"]

MAX_ASSOCIATION_COLUMNS = 40
_UNASSOCIATED = ("id", "constant", "text")


def _column_plot(
    r: Column, s: Column, name: str, kind: str, score: float | None
) -> PlotItem | None:
    caption = f"{name} ({kind})" + (f" · similarity {score:.3f}" if score is not None else "")
    if r.numeric is not None and s.numeric is not None:
        a, b = r.numeric[~np.isnan(r.numeric)], s.numeric[~np.isnan(s.numeric)]
        is_int, is_date = kind == "integer", kind == "datetime"
        uri = plots.numeric_histogram(a, b, title=name, integer=is_int, datetime=is_date)
        return PlotItem(uri, f"Histogram of {name}: real vs synthetic", caption)
    if r.labels is not None and s.labels is not None:
        labels, rp, sp = plots.category_shares(r.counts, s.counts, r.n_missing, s.n_missing)
        uri = plots.category_bars(labels, rp, sp, title=name)
        return PlotItem(uri, f"Category shares of {name}: real vs synthetic", caption)
    return None


def _associations(
    real: list[Column], synth: list[Column], names: list[str]
) -> tuple[float | None, list[PlotItem], str]:
    """Pair trend score, the three heatmaps and an explanatory note."""
    if len(names) < 2:
        return None, [], "Fewer than two columns can be associated; no matrix to show."
    m_real, m_synth = association(real), association(synth)
    diff = np.abs(m_real - m_synth)
    pair_trend = float(1.0 - diff[np.triu_indices(len(names), k=1)].mean() / 2.0)
    # Real and synthetic share the -1..1 scale so equal colours mean equal strength.
    matrices = [("real", m_real, {}), ("synthetic", m_synth, {})]
    matrices.append(("|real − synthetic|", diff, {"vmin": 0.0, "vmax": 1.0, "cmap": "Reds"}))
    items = [
        PlotItem(plots.association_heatmap(m, names, title=t, **kw), f"Association matrix: {t}", t)
        for t, m, kw in matrices
    ]
    note = (
        "Pearson correlation between numeric columns, bias-corrected Cramér's V between "
        "categorical columns, correlation ratio (eta) between numeric and categorical."
    )
    return pair_trend, items, note


def _validate(real: object, synthetic: object, kinds: dict[str, str] | None) -> None:
    for name, df in (("real", real), ("synthetic", synthetic)):
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
        if df.empty:
            raise DataError(f"{name} table is empty ({df.shape[0]} rows, {df.shape[1]} columns)")
        if df.columns.has_duplicates:
            dupes = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
            raise DataError(f"{name} table has duplicate column names: {dupes}")
    only_real = [str(c) for c in real.columns if c not in synthetic.columns]
    only_synth = [str(c) for c in synthetic.columns if c not in real.columns]
    if only_real or only_synth:
        parts = []
        if only_real:
            parts.append(f"missing from synthetic: {only_real}")
        if only_synth:
            parts.append(f"missing from real: {only_synth}")
        raise DataError("real and synthetic columns differ; " + "; ".join(parts))
    for column, kind in (kinds or {}).items():
        if kind not in KINDS:
            raise ParameterError(f"kind {kind!r} for column {column!r} is not one of {KINDS}")


@dataclass
class _Columns:
    """What the per-column pass yields: summary rows, plots and the association inputs."""

    rows: list[ColumnRow] = field(default_factory=list)
    plots: list[PlotItem] = field(default_factory=list)
    assoc_real: list[Column] = field(default_factory=list)
    assoc_synth: list[Column] = field(default_factory=list)
    assoc_names: list[str] = field(default_factory=list)


def _column_pass(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[Any, str]) -> _Columns:
    out = _Columns()
    idx_real, idx_synth = subsample(len(real)), subsample(len(synthetic))
    for column in real.columns:
        name, kind = str(column), kinds[column]
        r, s = prepare(real[column], kind), prepare(synthetic[column], kind)
        score = similarity(r, s)
        real_text = describe(r, kind, real[column])
        synth_text = describe(s, kind, synthetic[column])
        out.rows.append(ColumnRow(name, kind, r.missing, s.missing, real_text, synth_text, score))
        plot = _column_plot(r.take(idx_real), s.take(idx_synth), name, kind, score)
        if plot is not None:
            out.plots.append(plot)
        if kind not in _UNASSOCIATED and len(out.assoc_names) < MAX_ASSOCIATION_COLUMNS:
            out.assoc_real.append(r.take(idx_real))
            out.assoc_synth.append(s.take(idx_synth))
            out.assoc_names.append(name)
    return out


def _training(history: list[dict[str, float]] | None) -> tuple[PlotItem | None, str]:
    if not history:
        return None, ""
    uri = plots.training_curves(history)
    if uri is None:
        return None, "The training history holds no numeric metric."
    caption = "metrics per " + (plots.step_key(history) or "history entry")
    return PlotItem(uri, "Training curves", caption), ""


def build_report(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    title: str = "genlab report",
    kinds: dict[str, str] | None = None,
    history: list[dict[str, float]] | None = None,
    model_info: dict[str, str] | None = None,
    extra_sections: list[tuple[str, str]] | None = None,
) -> Path:
    """Write a self-contained HTML report comparing a synthetic table with the real one.

    Args:
        real: The training (or held-out) data.
        synthetic: Generated data with the same columns.
        path: Where to write the HTML file; written atomically.
        title: Page title and heading.
        kinds: Column kinds ("continuous", "integer", "categorical", "boolean", "datetime",
            "id", "constant"); columns left out get the kind `TabularCodec.fit` infers from
            the real table.
        history: Per-epoch metric dicts, plotted against "epoch", "iteration" or "step".
        model_info: Key/value facts about the model shown in the header.
        extra_sections: (heading, HTML fragment) pairs appended verbatim.

    Returns:
        The path of the written file.

    Raises:
        DataError: A table is empty or the two tables' columns differ.
        ParameterError: A kind is not one of the known kinds.
    """
    _validate(real, synthetic, kinds)
    synthetic = synthetic[list(real.columns)]
    col_kinds = table_kinds(real, kinds)
    cols = _column_pass(real, synthetic, col_kinds)
    scores = [row.score for row in cols.rows if row.score is not None]
    pair_trend, association_plots, note = _associations(
        cols.assoc_real, cols.assoc_synth, cols.assoc_names
    )
    if sum(k not in _UNASSOCIATED for k in col_kinds.values()) > MAX_ASSOCIATION_COLUMNS:
        note += f" Only the first {MAX_ASSOCIATION_COLUMNS} columns are shown."
    training_plot, training_note = _training(history)
    content = ReportContent(
        title=title,
        version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        n_real=len(real),
        n_synth=len(synthetic),
        rows=cols.rows,
        column_shape=float(np.mean(scores)) if scores else None,
        pair_trend=pair_trend,
        column_plots=cols.plots,
        association_plots=association_plots,
        association_note=note,
        training_plot=training_plot,
        training_note=training_note,
        model_info=model_info,
        extra_sections=list(extra_sections or ()),
    )
    return write_document(content, path)


def table_report(real: object, synthetic: object, path: str | os.PathLike[str], *,
                 model: object = None, title: str = "genlab report") -> Path:
    """The table report of `genlab.report`: real vs synthetic tables, plus the fitted
    model's summary, training curve and (Bayesian network) dependency graph."""
    from genlab.data.readers import read_table

    real_df: pd.DataFrame = read_table(real)  # type: ignore[arg-type]
    synth_df: pd.DataFrame = read_table(synthetic)  # type: ignore[arg-type]
    info = kinds = history = extra = None
    if model is not None:
        m: Any = model
        m._check_fitted()
        kinds = m.schema_.kinds
        history = m.history_ or None
        info = {
            "family": f"{type(m).__name__} ({m.family})",
            "parameters": repr(m),
            "fit seconds": f"{m.fit_seconds_:.2f}",
            "training rows": str(m.n_rows_),
            "training fingerprint": m.fingerprint_[:16],
            "log_prob": "exact" if m.log_prob_is_exact else "bound / estimate",
        }
        graph_html = getattr(m, "graph_html", None)
        if callable(graph_html):  # families with a structure (the Bayesian network) show it
            extra = [("Learned dependency graph", graph_html())]
    return build_report(real_df, synth_df, path, title=title, kinds=kinds, history=history,
                        model_info=info, extra_sections=extra)
