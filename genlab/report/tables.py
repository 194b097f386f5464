"""Comparison reports: one self-contained HTML page of real versus synthetic data.

`build_report` computes per-column similarity scores, column-association matrices and
training curves, draws them with matplotlib and writes a single HTML file that needs nothing
else (no network, no JavaScript) to display.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from genlab._atomic import atomic_path
from genlab._version import __version__
from genlab.errors import DataError, ParameterError
from genlab.report import plots
from genlab.report.html import ColumnRow, PlotItem, ReportContent, render_document

__all__ = ["build_report", "table_report"]

KINDS = ("continuous", "integer", "categorical", "boolean", "datetime", "id", "constant")
NUMERIC_KINDS = ("continuous", "integer", "datetime")
MAX_ROWS = 50_000
MAX_ASSOCIATION_COLUMNS = 40
MAX_DISTINCT_FOR_CATEGORICAL = 20
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


@dataclass
class _Column:
    """One column of one table, in the form the statistics need."""

    missing: float
    numeric: np.ndarray | None = None  # float64, NaN where missing or not finite
    codes: np.ndarray | None = None  # int64 per row, -1 where missing
    labels: list[str] | None = None  # label of each code

    @property
    def counts(self) -> dict[str, int]:
        assert self.codes is not None and self.labels is not None
        tally = np.bincount(self.codes[self.codes >= 0], minlength=len(self.labels))
        return {label: int(n) for label, n in zip(self.labels, tally, strict=True) if n}

    @property
    def n_missing(self) -> int:
        assert self.codes is not None
        return int((self.codes < 0).sum())

    def take(self, index: np.ndarray | None) -> _Column:
        if index is None:
            return self
        return _Column(
            self.missing,
            None if self.numeric is None else self.numeric[index],
            None if self.codes is None else self.codes[index],
            self.labels,
        )


def _infer_kind(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s.dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(s.dtype) and s.nunique() > MAX_DISTINCT_FOR_CATEGORICAL:
        return "continuous"
    return "categorical"


def _label(value: object) -> str:
    # 3, 3.0 and np.int64(3) must land in one category whichever table they come from.
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def _prepare(s: pd.Series, kind: str) -> _Column:
    missing = float(s.isna().mean())
    if kind in NUMERIC_KINDS:
        if kind == "datetime":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # format-guessing warnings on string dates
                ts = pd.to_datetime(s, errors="coerce", utc=True)
            values = ((ts - _EPOCH) / pd.Timedelta(days=1)).to_numpy("float64", na_value=np.nan)
        else:
            raw = s.astype(object) if isinstance(s.dtype, pd.CategoricalDtype) else s
            values = pd.Series(pd.to_numeric(raw, errors="coerce")).to_numpy(
                "float64", na_value=np.nan
            )
        # Copy: to_numpy may hand back a read-only view of the caller's data.
        values = np.where(np.isfinite(values), values, np.nan)
        return _Column(missing, numeric=values)
    if kind == "id":
        return _Column(missing)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    remap = np.empty(len(uniques), dtype=np.int64)
    position: dict[str, int] = {}
    for i, value in enumerate(uniques):
        remap[i] = position.setdefault(_label(value), len(position))
    out = np.where(codes >= 0, remap[np.maximum(codes, 0)] if len(remap) else 0, -1)
    return _Column(missing, codes=out.astype(np.int64), labels=list(position))


def _fmt(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.4g}"


def _describe(col: _Column, kind: str, s: pd.Series) -> str:
    if col.numeric is not None:
        v = col.numeric[~np.isnan(col.numeric)]
        if v.size == 0:
            return "no values"
        mean, std = float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0
        if kind == "datetime":
            stamp = (_EPOCH + pd.Timedelta(days=mean)).tz_localize(None).round("s")
            when = stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()
            return f"mean {when}, std {_fmt(std)} days"
        return f"mean {_fmt(mean)}, std {_fmt(std)}"
    if col.labels is not None:
        counts = col.counts
        total = sum(counts.values())
        if not total:
            return "no values"
        top = max(counts.values()) / total
        return f"{len(counts)} categories, top {100 * top:.1f}%"
    return f"{s.nunique():,} distinct"


def _similarity(real: _Column, synth: _Column) -> float | None:
    if real.numeric is not None and synth.numeric is not None:
        a, b = real.numeric[~np.isnan(real.numeric)], synth.numeric[~np.isnan(synth.numeric)]
        if a.size == 0 or b.size == 0:
            return 1.0 if a.size == b.size else 0.0
        # Only the statistic is needed; "asymp" skips the slow exact p-value computation.
        return 1.0 - float(stats.ks_2samp(a, b, method="asymp").statistic)
    if real.labels is not None and synth.labels is not None:
        p, q = real.counts, synth.counts
        n_p, n_q = len(real.codes), len(synth.codes)
        keys = set(p) | set(q)
        tvd = sum(abs(p.get(k, 0) / n_p - q.get(k, 0) / n_q) for k in keys)
        tvd += abs(real.n_missing / n_p - synth.n_missing / n_q)
        return 1.0 - min(1.0, 0.5 * tvd)
    return None


def _dense_codes(col: _Column) -> tuple[np.ndarray, int]:
    # Missing becomes one more category, as in the total variation distance.
    assert col.codes is not None and col.labels is not None
    k = len(col.labels)
    return np.where(col.codes < 0, k, col.codes), k + 1


def _cramers_v(a: np.ndarray, ka: int, b: np.ndarray, kb: int) -> float:
    """Bias-corrected Cramér's V (Bergsma 2013)."""
    n = a.size
    table = np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb).astype(float)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    r, k = table.shape
    if n < 2 or r < 2 or k < 2:
        return 0.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    r_corr, k_corr = r - (r - 1) ** 2 / (n - 1), k - (k - 1) ** 2 / (n - 1)
    denom = min(k_corr - 1, r_corr - 1)
    return float(min(1.0, math.sqrt(phi2 / denom))) if denom > 0 else 0.0


def _eta(x: np.ndarray, g: np.ndarray, k: int) -> float:
    """Correlation ratio of numeric `x` on groups `g`, over rows where `x` is present."""
    keep = ~np.isnan(x)
    x, g = x[keep], g[keep]
    if x.size < 2:
        return 0.0
    n_g = np.bincount(g, minlength=k)
    sums = np.bincount(g, weights=x, minlength=k)
    mean = x.mean()
    ss_total = float(((x - mean) ** 2).sum())
    if ss_total <= 0:
        return 0.0
    present = n_g > 0
    ss_between = float((n_g[present] * (sums[present] / n_g[present] - mean) ** 2).sum())
    return float(min(1.0, math.sqrt(max(0.0, ss_between / ss_total))))


def _association(cols: list[_Column]) -> np.ndarray:
    """Pearson, Cramér's V and correlation ratio between every pair of columns."""
    k = len(cols)
    m = np.eye(k)
    numeric = [i for i, c in enumerate(cols) if c.numeric is not None]
    if len(numeric) >= 2:
        frame = pd.DataFrame({i: cols[i].numeric for i in numeric})
        with np.errstate(all="ignore"):
            corr = frame.corr(method="pearson", min_periods=3).to_numpy()
        for a, i in enumerate(numeric):
            for b, j in enumerate(numeric):
                if i != j:
                    m[i, j] = corr[a, b]
    dense = {i: _dense_codes(c) for i, c in enumerate(cols) if c.codes is not None}
    for i in range(k):
        for j in range(i + 1, k):
            if i in dense and j in dense:
                m[i, j] = m[j, i] = _cramers_v(*dense[i], *dense[j])
            elif i in dense or j in dense:
                num, cat = (j, i) if i in dense else (i, j)
                m[i, j] = m[j, i] = _eta(cols[num].numeric, *dense[cat])
    # A constant or empty column has no measurable association: count it as none.
    m[np.isnan(m)] = 0.0
    np.fill_diagonal(m, 1.0)
    return m


def _subsample(n: int, seed: int = 0) -> np.ndarray | None:
    if n <= MAX_ROWS:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, MAX_ROWS, replace=False))


def _column_plot(
    r: _Column, s: _Column, name: str, kind: str, score: float | None
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
    real: list[_Column], synth: list[_Column], names: list[str]
) -> tuple[float | None, list[PlotItem], str]:
    """Pair trend score, the three heatmaps and an explanatory note."""
    if len(names) < 2:
        return None, [], "Fewer than two columns can be associated; no matrix to show."
    m_real, m_synth = _association(real), _association(synth)
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
            "id", "constant"); columns left out are inferred from the real table.
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
    kinds = kinds or {}
    names = [str(c) for c in real.columns]
    col_kinds = [kinds.get(c) or _infer_kind(real[c]) for c in real.columns]
    idx_real, idx_synth = _subsample(len(real)), _subsample(len(synthetic))

    rows: list[ColumnRow] = []
    column_plots: list[PlotItem] = []
    assoc_real: list[_Column] = []
    assoc_synth: list[_Column] = []
    assoc_names: list[str] = []
    for column, name, kind in zip(real.columns, names, col_kinds, strict=True):
        r, s = _prepare(real[column], kind), _prepare(synthetic[column], kind)
        score = _similarity(r, s)
        real_text, synth_text = (
            _describe(r, kind, real[column]),
            _describe(s, kind, synthetic[column]),
        )
        rows.append(ColumnRow(name, kind, r.missing, s.missing, real_text, synth_text, score))
        plot = _column_plot(r.take(idx_real), s.take(idx_synth), name, kind, score)
        if plot is not None:
            column_plots.append(plot)
        if kind not in ("id", "constant") and len(assoc_names) < MAX_ASSOCIATION_COLUMNS:
            assoc_real.append(r.take(idx_real))
            assoc_synth.append(s.take(idx_synth))
            assoc_names.append(name)

    scores = [row.score for row in rows if row.score is not None]
    column_shape = float(np.mean(scores)) if scores else None
    pair_trend, association_plots, note = _associations(assoc_real, assoc_synth, assoc_names)
    if sum(k not in ("id", "constant") for k in col_kinds) > MAX_ASSOCIATION_COLUMNS:
        note += f" Only the first {MAX_ASSOCIATION_COLUMNS} columns are shown."

    training_plot, training_note = None, ""
    if history:
        uri = plots.training_curves(history)
        if uri is None:
            training_note = "The training history holds no numeric metric."
        else:
            training_plot = PlotItem(
                uri,
                "Training curves",
                "metrics per " + (plots.step_key(history) or "history entry"),
            )

    content = ReportContent(
        title=title,
        version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        n_real=len(real),
        n_synth=len(synthetic),
        rows=rows,
        column_shape=column_shape,
        pair_trend=pair_trend,
        column_plots=column_plots,
        association_plots=association_plots,
        association_note=note,
        training_plot=training_plot,
        training_note=training_note,
        model_info=model_info,
        extra_sections=list(extra_sections or ()),
    )
    document = render_document(content)
    with atomic_path(path) as tmp:
        tmp.write_text(document, encoding="utf-8")
    return Path(path)


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
