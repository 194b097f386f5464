"""Alerts in the spirit of ydata-profiling, for the real and the synthetic table side by side.

Each alert names a property a data scientist checks before trusting a table (a constant or
unique column, high cardinality, skew, many zeros, missing values and how they co-occur,
duplicate rows, strongly associated pairs) and shows it for both tables, so the reader sees
at once whether the synthetic data kept it, lost it or made it up.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from genlab.report.kinds import NUMERIC_KINDS
from genlab.report.shell import esc

__all__ = ["Alert", "alerts_html", "find_alerts"]

HIGH_CARDINALITY = 50  # distinct categories (ydata-profiling's default threshold)
SKEW = 3.0  # |sample skewness| above this is "skewed"
ZEROS = 0.10  # share of exact zeros
MISSING = 0.05  # share of missing values
TOGETHER = 0.5  # Jaccard overlap of two columns' missing rows
STRONG = 0.7  # |association| of a "strongly associated" pair
_MAX_PATTERN_COLUMNS = 30


@dataclass(frozen=True)
class Alert:
    """One alert: what, on which column(s), and its reading in either table (None: absent)."""

    kind: str
    columns: str
    real: str | None
    synthetic: str | None

    @property
    def status(self) -> str:
        """"kept" (both tables), "lost" (real only) or "new" (synthetic only)."""
        if self.real is not None and self.synthetic is not None:
            return "kept"
        return "lost" if self.real is not None else "new"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _column_checks(s: pd.Series, kind: str) -> dict[str, str]:
    """Alert kind -> reading, for the alerts this column raises in one table."""
    out: dict[str, str] = {}
    n = len(s)
    present = s.dropna()
    if n == 0:
        return out
    missing = 1.0 - len(present) / n
    if missing > MISSING:
        out["missing"] = f"{_pct(missing)} missing"
    if present.empty:
        return out
    distinct = int(present.nunique())
    if distinct == 1:
        out["constant"] = f"one value: {str(present.iloc[0])[:30]!r}"
    elif distinct == len(present) and kind not in ("continuous", "datetime") and distinct > 1:
        out["unique"] = f"all {distinct:,} values distinct"
    if kind == "categorical" and distinct > HIGH_CARDINALITY:
        out["high cardinality"] = f"{distinct:,} categories"
    if kind in NUMERIC_KINDS and kind != "datetime":
        values = pd.to_numeric(present, errors="coerce").dropna().astype(float)
        if len(values) >= 3:
            zeros = float((values == 0).mean())
            if zeros > ZEROS:
                out["many zeros"] = f"{_pct(zeros)} zeros"
            skew = float(values.skew())
            if math.isfinite(skew) and abs(skew) > SKEW:
                out["skewed"] = f"skewness {skew:.1f}"
    return out


def _missing_patterns(real: pd.DataFrame, synth: pd.DataFrame) -> list[Alert]:
    """Pairs of columns that are missing in the same rows (e.g. workclass and occupation)."""
    def masks(df: pd.DataFrame) -> dict[str, np.ndarray]:
        return {str(c): df[c].isna().to_numpy() for c in df.columns[:_MAX_PATTERN_COLUMNS]}

    mr, ms = masks(real), masks(synth)
    alerts = []
    for a, b in itertools.combinations(mr, 2):
        readings = []
        for m in (mr, ms):
            either = int((m[a] | m[b]).sum())
            both = int((m[a] & m[b]).sum())
            overlap = both / either if either else 0.0
            share = both / max(len(m[a]), 1)
            readings.append(f"missing together in {_pct(share)} of rows "
                            f"({_pct(overlap)} of their missing rows)"
                            if either and overlap >= TOGETHER and share > 0.001 else None)
        if readings[0] or readings[1]:
            alerts.append(Alert("missing pattern", f"{a} & {b}", *readings))
    return alerts


def _duplicates(df: pd.DataFrame) -> str | None:
    try:
        n = int(df.duplicated().sum())
    except TypeError:  # unhashable cells (lists): no row can be compared
        return None
    return f"{n:,} duplicate rows ({_pct(n / max(len(df), 1))})" if n else None


def _strong_pairs(names: Sequence[str], m_real: np.ndarray | None,
                  m_synth: np.ndarray | None) -> list[Alert]:
    if m_real is None or m_synth is None:
        return []
    alerts = []
    for i, j in itertools.combinations(range(len(names)), 2):
        r, s = float(m_real[i, j]), float(m_synth[i, j])
        if abs(r) >= STRONG or abs(s) >= STRONG:
            alerts.append(Alert("strongly associated", f"{names[i]} & {names[j]}",
                                f"{r:+.2f}" if abs(r) >= STRONG else None,
                                f"{s:+.2f}" if abs(s) >= STRONG else None))
    return alerts


def find_alerts(real: pd.DataFrame, synth: pd.DataFrame, kinds: dict[object, str], *,
                names: Sequence[str] = (), m_real: np.ndarray | None = None,
                m_synth: np.ndarray | None = None) -> list[Alert]:
    """Every alert of either table: per column, missing patterns, duplicates, strong pairs.

    `names`, `m_real`, `m_synth` are the association matrices of the report (same order)."""
    alerts: list[Alert] = []
    dup_r, dup_s = _duplicates(real), _duplicates(synth)
    if dup_r or dup_s:
        alerts.append(Alert("duplicate rows", "all columns", dup_r, dup_s))
    order = ("constant", "unique", "high cardinality", "missing", "many zeros", "skewed")
    for column in real.columns:
        r = _column_checks(real[column], kinds[column])
        s = _column_checks(synth[column], kinds[column])
        for kind in order:
            if kind in r or kind in s:
                alerts.append(Alert(kind, str(column), r.get(kind), s.get(kind)))
    alerts += _missing_patterns(real, synth)
    alerts += _strong_pairs(names, m_real, m_synth)
    return alerts


_STATUS = {"kept": ("ok", "in both"), "lost": ("warn", "real only"),
           "new": ("bad", "synthetic only")}


def alerts_html(alerts: Sequence[Alert]) -> str:
    """The alerts as a table; rows where the tables disagree are marked."""
    if not alerts:
        return '<p class="note">No alerts in either table.</p>'
    rows = []
    for a in alerts:
        cls, said = _STATUS[a.status]
        rows.append(
            f'<tr class="alert {cls}" data-alert="{esc(a.kind)}"><td><span class="tag">'
            f"{esc(a.kind)}</span></td><td>{esc(a.columns)}</td><td>{esc(a.real or '—')}</td>"
            f"<td>{esc(a.synthetic or '—')}</td><td>{esc(said)}</td></tr>")
    counts = {k: sum(a.status == k for a in alerts) for k in _STATUS}
    lead = (f'<p>{len(alerts)} alerts: {counts["kept"]} in both tables, {counts["lost"]} only '
            f'in the real table (lost), {counts["new"]} only in the synthetic table (made up). '
            "Thresholds: more than "
            f"{HIGH_CARDINALITY} categories, |skewness| &gt; {SKEW:g}, more than "
            f"{100 * ZEROS:.0f}% zeros or {100 * MISSING:.0f}% missing, association ≥ "
            f"{STRONG:g}.</p>")
    return (lead + '<div class="table-wrap"><table class="alerts"><thead><tr><th>Alert</th>'
            "<th>Column(s)</th><th>Real</th><th>Synthetic</th><th>Where</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")
