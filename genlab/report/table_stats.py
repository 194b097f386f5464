"""Statistics of the table report: per-column similarity, summaries and associations.

A column of either table is first turned into a `Column` (float values for numeric kinds,
dense category codes otherwise), so both tables' statistics are computed the same way.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from genlab.report.kinds import NUMERIC_KINDS

__all__ = ["MAX_ROWS", "Column", "association", "describe", "prepare", "similarity", "subsample"]

MAX_ROWS = 50_000
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


@dataclass
class Column:
    """One column of one table, in the form the statistics need."""

    missing: float
    numeric: np.ndarray | None = None  # float64, NaN where missing or not finite
    codes: np.ndarray | None = None  # int64 per row, -1 where missing
    labels: list[str] | None = None  # label of each code

    @property
    def counts(self) -> dict[str, int]:
        """Rows per label, labels without rows left out."""
        assert self.codes is not None and self.labels is not None
        tally = np.bincount(self.codes[self.codes >= 0], minlength=len(self.labels))
        return {label: int(n) for label, n in zip(self.labels, tally, strict=True) if n}

    @property
    def n_missing(self) -> int:
        """Rows with no value."""
        assert self.codes is not None
        return int((self.codes < 0).sum())

    def take(self, index: np.ndarray | None) -> Column:
        """The rows at `index` (all rows when None)."""
        if index is None:
            return self
        return Column(
            self.missing,
            None if self.numeric is None else self.numeric[index],
            None if self.codes is None else self.codes[index],
            self.labels,
        )


def _label(value: object) -> str:
    # 3, 3.0 and np.int64(3) must land in one category whichever table they come from.
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def prepare(s: pd.Series, kind: str) -> Column:
    """One table's column in the form the statistics need, read as `kind`."""
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
        return Column(missing, numeric=values)
    if kind in ("id", "text"):  # unique by nature: no distribution to compare
        return Column(missing)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    remap = np.empty(len(uniques), dtype=np.int64)
    position: dict[str, int] = {}
    for i, value in enumerate(uniques):
        remap[i] = position.setdefault(_label(value), len(position))
    out = np.where(codes >= 0, remap[np.maximum(codes, 0)] if len(remap) else 0, -1)
    return Column(missing, codes=out.astype(np.int64), labels=list(position))


def _fmt(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.4g}"


def describe(col: Column, kind: str, s: pd.Series) -> str:
    """A one-line summary of the column: mean and spread, or categories and the top share."""
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


def similarity(real: Column, synth: Column) -> float | None:
    """1 - KS statistic (numeric) or 1 - total variation (categories); None for id columns."""
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


def _dense_codes(col: Column) -> tuple[np.ndarray, int]:
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


def association(cols: list[Column]) -> np.ndarray:
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


def subsample(n: int, seed: int = 0) -> np.ndarray | None:
    """Sorted row indices of at most `MAX_ROWS` rows, None when all `n` rows fit."""
    if n <= MAX_ROWS:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, MAX_ROWS, replace=False))
