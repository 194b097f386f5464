"""Comparison reports: one self-contained HTML page of real versus synthetic data.

`render_report` computes per-column similarity scores, column-association matrices and
training curves (`table_stats`), alerts (`alerts`), per-pair scores (`pairs`), quantiles,
validity checks and sample rows (`diagnostics`), draws them with matplotlib and hands the
sections to the one page shell; the page needs nothing else (no network, no JavaScript) to
display. `build_report` writes it; `table_report` (what `genlab.report` calls) returns it as a
`Report`. Columns without a given kind get the kind `TabularCodec.fit` infers.
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
from genlab.report.alerts import alerts_html, find_alerts
from genlab.report.diagnostics import checks_html, quantiles_html, sample_rows_html, validity_checks
from genlab.report.document import Report
from genlab.report.html import ColumnRow, PlotItem, ReportContent, render_document
from genlab.report.kinds import table_kinds
from genlab.report.pairs import pair_figure, pair_scores, pairs_html
from genlab.report.table_stats import Column, association, describe, prepare, similarity, subsample

__all__ = ["build_report", "render_report", "table_report"]

MAX_ASSOCIATION_COLUMNS = 40
WORST_PAIRS = 3
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


@dataclass
class _Pairs:
    """What the association pass yields."""

    pair_trend: float | None
    plots: list[PlotItem]
    note: str
    m_real: np.ndarray | None = None
    m_synth: np.ndarray | None = None


def _associations(real: list[Column], synth: list[Column], names: list[str]) -> _Pairs:
    """Pair trend score, the three heatmaps, an explanatory note and the matrices."""
    if len(names) < 2:
        return _Pairs(None, [], "Fewer than two columns can be associated; no matrix to show.")
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
    return _Pairs(pair_trend, items, note, m_real, m_synth)


def _pairs_section(cols: _Columns, assoc: _Pairs) -> str:
    """The per-pair table, worst first, with the three worst pairs drawn from the rows."""
    if assoc.m_real is None or assoc.m_synth is None:
        return ""
    names = cols.assoc_names
    scores = pair_scores(cols.assoc_real, names, assoc.m_real, assoc.m_synth)
    figures = []
    for p in scores[:WORST_PAIRS]:
        i, j = names.index(p.a), names.index(p.b)
        uri = pair_figure((cols.assoc_real[i], cols.assoc_real[j]),
                          (cols.assoc_synth[i], cols.assoc_synth[j]), (p.a, p.b))
        figures.append((uri, f"{p.a} × {p.b}: score {p.score:.3f} ({p.measure} real "
                             f"{p.real:+.2f}, synthetic {p.synthetic:+.2f})"))
    return pairs_html(scores, figures)


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
    quantiles: list[tuple[str, np.ndarray, np.ndarray, bool]] = field(default_factory=list)


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
        if r.numeric is not None and s.numeric is not None:
            out.quantiles.append((name, r.numeric[~np.isnan(r.numeric)],
                                  s.numeric[~np.isnan(s.numeric)], kind == "datetime"))
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


def render_report(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    title: str = "genlab report",
    kinds: dict[str, str] | None = None,
    history: list[dict[str, float]] | None = None,
    model_info: dict[str, str] | None = None,
    extra_sections: list[tuple[str, str]] | None = None,
    model: Any = None,
) -> str:
    """The report page comparing a synthetic table with the real one, as HTML text.

    Args:
        real: The training (or held-out) data.
        synthetic: Generated data with the same columns.
        title: Page title and heading.
        kinds: Column kinds ("continuous", "integer", "categorical", "boolean", "datetime",
            "id", "constant"); columns left out get the kind `TabularCodec.fit` infers from
            the real table.
        history: Per-epoch metric dicts, plotted against "epoch", "iteration" or "step".
        model_info: Key/value facts about the model shown in the header.
        extra_sections: (heading, HTML fragment) pairs appended verbatim.
        model: The fitted model, for its constraints (checked in the diagnostics).

    Raises:
        DataError: A table is empty or the two tables' columns differ.
        ParameterError: A kind is not one of the known kinds.
    """
    _validate(real, synthetic, kinds)
    synthetic = synthetic[list(real.columns)]
    col_kinds = table_kinds(real, kinds)
    cols = _column_pass(real, synthetic, col_kinds)
    scores = [row.score for row in cols.rows if row.score is not None]
    assoc = _associations(cols.assoc_real, cols.assoc_synth, cols.assoc_names)
    note = assoc.note
    if sum(k not in _UNASSOCIATED for k in col_kinds.values()) > MAX_ASSOCIATION_COLUMNS:
        note += f" Only the first {MAX_ASSOCIATION_COLUMNS} columns are shown."
    training_plot, training_note = _training(history)
    alerts = find_alerts(real, synthetic, col_kinds, names=cols.assoc_names,
                         m_real=assoc.m_real, m_synth=assoc.m_synth)
    content = ReportContent(
        title=title,
        version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        n_real=len(real),
        n_synth=len(synthetic),
        rows=cols.rows,
        column_shape=float(np.mean(scores)) if scores else None,
        pair_trend=assoc.pair_trend,
        column_plots=cols.plots,
        association_plots=assoc.plots,
        association_note=note,
        training_plot=training_plot,
        training_note=training_note,
        model_info=model_info,
        extra_sections=list(extra_sections or ()),
        alerts=alerts_html(alerts),
        quantiles=quantiles_html(cols.quantiles),
        pairs=_pairs_section(cols, assoc),
        checks=checks_html(validity_checks(real, synthetic, col_kinds, model)),
        sample_rows=sample_rows_html(real, synthetic),
    )
    return render_document(content)


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
    model: Any = None,
) -> Path:
    """Write the page of `render_report` (same arguments) atomically to `path` (an .html
    file); returns the path. Nothing is written when the tables are refused."""
    page = render_report(real, synthetic, title=title, kinds=kinds, history=history,
                         model_info=model_info, extra_sections=extra_sections, model=model)
    return Report(page, title=title).save(path)


def table_report(real: object, synthetic: object, path: str | os.PathLike[str] | None = None,
                 *, model: object = None, title: str = "genlab report") -> Report:
    """The table report of `genlab.report`: real vs synthetic tables, plus the fitted
    model's summary, training curve, constraints and (Bayesian network) dependency graph.
    Saved to `path` when one is given."""
    from genlab.data.readers import read_table

    real_df: pd.DataFrame = read_table(real)  # type: ignore[arg-type]
    synth_df: pd.DataFrame = read_table(synthetic)  # type: ignore[arg-type]
    info = kinds = history = extra = None
    if model is not None:
        m: Any = model
        m._check_fitted()
        kinds = getattr(m, "table_schema_", m.schema_).kinds  # the user's columns
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
    page = render_report(real_df, synth_df, title=title, kinds=kinds, history=history,
                         model_info=info, extra_sections=extra, model=model)
    report = Report(page, title=title)
    if path is not None:
        report.save(path)
    return report
