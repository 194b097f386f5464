"""Fidelity: how closely synthetic rows follow the real table, column by column and in pairs.

Column shapes and column pair trends follow SDMetrics' definitions (KSComplement,
TVComplement, CorrelationSimilarity, ContingencySimilarity and the way its QualityReport
discretises numeric columns for mixed pairs), so the figures agree with SDMetrics on the same
data. Coverage, missing-value rates and a classifier-based detection score complete the picture.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from genlab.evaluate._common import CATEGORICAL, finite, labels, numeric, subsample

__all__ = [
    "REAL_ASSOCIATION_THRESHOLD",
    "REAL_CORRELATION_THRESHOLD",
    "contingency_similarity",
    "correlation_similarity",
    "detection",
    "fidelity_scores",
    "ks_complement",
    "tv_complement",
]

# SDMetrics 0.32's QualityReport averages only pairs whose real association passes these.
REAL_CORRELATION_THRESHOLD = 0.5
REAL_ASSOCIATION_THRESHOLD = 0.3
_DECIMALS = 14  # SDMetrics rounds to float digits - 1 before the KS test
_N_BINS = 10
_MAX_CODES = 250  # HistGradientBoosting takes at most 255 categories per feature
DETECTION_ROWS = 10_000


def ks_complement(real: np.ndarray, synth: np.ndarray) -> float:
    """1 − the two-sample Kolmogorov–Smirnov statistic over non-missing values (NaN if none)."""
    a = np.round(real[~np.isnan(real)], _DECIMALS)
    b = np.round(synth[~np.isnan(synth)], _DECIMALS)
    if a.size == 0 or b.size == 0:
        return math.nan
    # Only the statistic is used; "asymp" skips the slow exact p-value.
    return 1.0 - float(stats.ks_2samp(a, b, method="asymp").statistic)


def tv_complement(real: np.ndarray, synth: np.ndarray) -> float:
    """1 − total variation distance between category shares, missing values left out."""
    p = pd.Series(real[pd.notna(real)]).value_counts(normalize=True)
    q = pd.Series(synth[pd.notna(synth)]).value_counts(normalize=True)
    if p.empty or q.empty:
        return math.nan
    p, q = p.align(q, fill_value=0.0)
    return 1.0 - 0.5 * float(np.abs(p - q).sum())


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def correlation_similarity(
    real: tuple[np.ndarray, np.ndarray], synth: tuple[np.ndarray, np.ndarray]
) -> tuple[float, float, float]:
    """1 − |Pearson r real − r synthetic| / 2 on rows where both values are present.

    Returns:
        The score and the two correlations (NaN where a column is constant).
    """
    r_real, r_synth = _pearson(*real), _pearson(*synth)
    return 1.0 - abs(r_real - r_synth) / 2.0, r_real, r_synth


def _joint(a: np.ndarray, b: np.ndarray, k_b: int) -> np.ndarray:
    return a.astype(np.int64) * k_b + b.astype(np.int64)


def _cramers_v(table: np.ndarray) -> float:
    """Cramér's V without bias correction (scipy's `association(method="cramer")`)."""
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if min(table.shape) < 2:
        return math.nan
    n = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return math.sqrt(chi2 / n / (min(table.shape) - 1))


def contingency_similarity(
    real: tuple[np.ndarray, np.ndarray], synth: tuple[np.ndarray, np.ndarray]
) -> tuple[float, float, float]:
    """1 − total variation distance between the two tables' joint shares of code pairs.

    Codes are non-negative integers; a missing value must already be a code of its own.

    Returns:
        The score and Cramér's V of the real and the synthetic contingency tables.
    """
    k_a = int(max(real[0].max(), synth[0].max())) + 1
    k_b = int(max(real[1].max(), synth[1].max())) + 1
    p = np.bincount(_joint(*real, k_b), minlength=k_a * k_b) / real[0].size
    q = np.bincount(_joint(*synth, k_b), minlength=k_a * k_b) / synth[0].size
    score = 1.0 - 0.5 * float(np.abs(p - q).sum())
    v_real = _cramers_v((p * real[0].size).reshape(k_a, k_b))
    v_synth = _cramers_v((q * synth[0].size).reshape(k_a, k_b))
    return score, v_real, v_synth


def _digitize(values: np.ndarray) -> np.ndarray | None:
    # As SDMetrics' QualityReport: ten equal-width bins over each table's *own* range, and
    # np.digitize puts NaN (and the maximum) in the code after the last bin.
    present = values[~np.isnan(values)]
    if present.size == 0:
        return None
    return np.digitize(values, np.histogram_bin_edges(present, bins=_N_BINS))


def _category_codes(real: np.ndarray, synth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # One code per label across both tables, missing a code of its own (groupby dropna=False).
    both = pd.Series(np.concatenate([real, synth]), dtype=object).fillna("\0missing")
    codes, _ = pd.factorize(both)
    return codes[: real.size], codes[real.size :]


@dataclass
class _Prepared:
    kind: str
    values: np.ndarray | None = None  # numeric values
    codes: np.ndarray | None = None  # category codes, or digitised numeric values
    cats: np.ndarray | None = None  # category labels


def _prepare(real: pd.DataFrame, synth: pd.DataFrame, kinds: dict[str, str]) -> dict[str, Any]:
    out: dict[str, tuple[_Prepared, _Prepared]] = {}
    for c in real.columns:
        if kinds[c] == CATEGORICAL:
            lr, ls = labels(real[c]), labels(synth[c])
            cr, cs = _category_codes(lr, ls)
            out[c] = (_Prepared(CATEGORICAL, codes=cr, cats=lr),
                      _Prepared(CATEGORICAL, codes=cs, cats=ls))
        else:
            vr, vs = numeric(real[c]), numeric(synth[c])
            out[c] = (_Prepared("numerical", vr, _digitize(vr)),
                      _Prepared("numerical", vs, _digitize(vs)))
    return out


def _range_coverage(real: np.ndarray, synth: np.ndarray) -> float:
    # SDMetrics RangeCoverage: the share of the real range the synthetic values span.
    a, b = real[~np.isnan(real)], synth[~np.isnan(synth)]
    if a.size == 0 or b.size == 0 or a.max() == a.min():
        return math.nan
    width = a.max() - a.min()
    low = max((b.min() - a.min()) / width, 0.0)
    high = max((a.max() - b.max()) / width, 0.0)
    return max(1.0 - (low + high), 0.0)


def _column_scores(c: str, r: _Prepared, s: _Prepared) -> dict[str, Any]:
    if r.kind == CATEGORICAL:
        assert r.cats is not None and s.cats is not None
        real_set = {x for x in r.cats if x is not None}
        synth_set = {x for x in s.cats if x is not None}
        n_new = sum(1 for x in s.cats if x is not None and x not in real_set)
        n_synth = sum(1 for x in s.cats if x is not None)
        shape, metric = tv_complement(r.cats, s.cats), "TVComplement"
        coverage = len(real_set & synth_set) / len(real_set) if real_set else math.nan
        missing_r = float(np.mean([x is None for x in r.cats]))
        missing_s = float(np.mean([x is None for x in s.cats]))
        extra = {"new_category_share": n_new / n_synth if n_synth else 0.0}
    else:
        assert r.values is not None and s.values is not None
        shape, metric = ks_complement(r.values, s.values), "KSComplement"
        coverage = _range_coverage(r.values, s.values)
        a = r.values[~np.isnan(r.values)]
        b = s.values[~np.isnan(s.values)]
        outside = float(((b < a.min()) | (b > a.max())).mean()) if a.size and b.size else 0.0
        missing_r, missing_s = float(np.isnan(r.values).mean()), float(np.isnan(s.values).mean())
        extra = {"out_of_range_share": outside}
    return {
        "kind": r.kind,
        "metric": metric,
        "shape": finite(shape),
        "coverage": finite(coverage),
        "missing_real": missing_r,
        "missing_synthetic": missing_s,
        "missing_similarity": 1.0 - abs(missing_r - missing_s),
        **extra,
    }


def _pair(r1: _Prepared, r2: _Prepared, s1: _Prepared, s2: _Prepared) -> dict[str, Any]:
    if r1.kind != CATEGORICAL and r2.kind != CATEGORICAL:
        assert r1.values is not None and r2.values is not None
        score, a_real, a_synth = correlation_similarity(
            (r1.values, r2.values), (s1.values, s2.values)  # type: ignore[arg-type]
        )
        meets = not math.isnan(a_real) and abs(a_real) > REAL_CORRELATION_THRESHOLD
        metric = "CorrelationSimilarity"
    else:
        if any(p.codes is None for p in (r1, r2, s1, s2)):  # an all-missing numeric column
            return {"metric": "ContingencySimilarity", "score": None, "real": None,
                    "synthetic": None, "meets_threshold": False}
        score, a_real, a_synth = contingency_similarity(
            (r1.codes, r2.codes), (s1.codes, s2.codes)  # type: ignore[arg-type]
        )
        meets = not math.isnan(a_real) and a_real > REAL_ASSOCIATION_THRESHOLD
        metric = "ContingencySimilarity"
    return {"metric": metric, "score": finite(score), "real": finite(a_real),
            "synthetic": finite(a_synth), "meets_threshold": bool(meets)}


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def _hgb_matrix(df: pd.DataFrame, kinds: dict[str, str], vocab: dict[str, dict]) -> np.ndarray:
    cols = []
    for c in df.columns:
        if kinds[c] == CATEGORICAL:
            lab = labels(df[c])
            cols.append(np.array([vocab[c].get(x, _MAX_CODES) if x is not None else np.nan
                                  for x in lab], dtype=float))
        else:
            cols.append(numeric(df[c]))
    return np.column_stack(cols)


def detection(
    real: pd.DataFrame, synth: pd.DataFrame, kinds: dict[str, str], seed: int = 0
) -> dict[str, Any]:
    """Cross-validated ROC AUC of a gradient-boosted classifier telling real from synthetic.

    Equal numbers of real and synthetic rows (at most `DETECTION_ROWS` each), 3-fold stratified
    cross-validation, out-of-fold probabilities. 0.5 means the classifier cannot tell them
    apart; 1.0 means every synthetic row is recognisable.
    """
    n = min(len(real), len(synth), DETECTION_ROWS)
    r, s = subsample(real, n, seed), subsample(synth, n, seed + 1)
    vocab = {}
    for c in real.columns:
        if kinds[c] == CATEGORICAL:
            top = pd.Series(labels(r[c])).value_counts().index[:_MAX_CODES]
            vocab[c] = {x: i for i, x in enumerate(top)}
    x = np.vstack([_hgb_matrix(r, kinds, vocab), _hgb_matrix(s, kinds, vocab)])
    # scikit-learn's boosting fails on a feature with no value; a constant is ignored alike.
    x[:, np.isnan(x).all(axis=0)] = 0.0
    y = np.r_[np.zeros(n), np.ones(n)]
    mask = np.array([kinds[c] == CATEGORICAL for c in real.columns])
    model = HistGradientBoostingClassifier(
        random_state=0, categorical_features=mask if mask.any() else None
    )
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    proba = cross_val_predict(model, x, y, cv=cv, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(y, proba))
    return {"auc": auc, "score": 1.0 - 2.0 * max(auc - 0.5, 0.0), "rows_each": n}


@dataclass
class FidelityDetails:
    """What the report draws: association matrices of both tables (same column order)."""

    columns: list[str]
    real_matrix: np.ndarray
    synth_matrix: np.ndarray
    pairs: list[dict[str, Any]] = field(default_factory=list)


def fidelity_scores(
    real: pd.DataFrame,
    synth: pd.DataFrame,
    kinds: dict[str, str],
    seed: int = 0,
    *,
    detect: bool = True,
) -> tuple[dict[str, Any], FidelityDetails]:
    """All fidelity scores of `synth` against `real` (the training table).

    `detect=False` leaves out the detection classifier (the only slow part).
    """
    prepared = _prepare(real, synth, kinds)
    columns = {str(c): _column_scores(str(c), *prepared[c]) for c in real.columns}
    names = [str(c) for c in real.columns]
    k = len(names)
    m_real, m_synth = np.eye(k), np.eye(k)
    pairs = []
    for (i, a), (j, b) in itertools.combinations(enumerate(real.columns), 2):
        (r1, s1), (r2, s2) = prepared[a], prepared[b]
        p = {"columns": [str(a), str(b)], **_pair(r1, r2, s1, s2)}
        pairs.append(p)
        m_real[i, j] = m_real[j, i] = p["real"] if p["real"] is not None else 0.0
        m_synth[i, j] = m_synth[j, i] = p["synthetic"] if p["synthetic"] is not None else 0.0
    shape = _mean([c["shape"] for c in columns.values()])
    trends_all = _mean([p["score"] for p in pairs])
    trends_strong = _mean([p["score"] for p in pairs if p["meets_threshold"]])
    parts = [v for v in (shape, trends_all) if v is not None]
    sd_parts = [v for v in (shape, trends_strong) if v is not None]
    scores: dict[str, Any] = {
        "quality": float(np.mean(parts)) if parts else None,
        "column_shapes": shape,
        "column_pair_trends": trends_all,
        "column_pair_trends_sdmetrics": trends_strong,
        "quality_sdmetrics": float(np.mean(sd_parts)) if sd_parts else None,
        "n_pairs": len(pairs),
        "n_strong_pairs": sum(p["meets_threshold"] for p in pairs),
        "coverage": _mean([c["coverage"] for c in columns.values()]),
        "missing_similarity": _mean([c["missing_similarity"] for c in columns.values()]),
        "detection": detection(real, synth, kinds, seed) if detect else None,
        "columns": columns,
        "pairs": pairs,
    }
    return scores, FidelityDetails(names, m_real, m_synth, pairs)
