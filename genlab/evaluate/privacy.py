"""Privacy: do synthetic rows sit closer to training rows than unseen real rows do?

Every distance is Euclidean on standardised numeric columns (plus a missing indicator) and
one-hot categorical columns, with the encoding fitted on the training table. The hold-out
table is the yardstick: fresh real rows from the same population show how close an honest
sample lands to the training rows by chance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from genlab.evaluate._common import (
    CATEGORICAL,
    MISSING,
    NUMERICAL,
    finite,
    labels,
    numeric,
    subsample,
)

__all__ = ["DistanceEncoder", "exact_copy_share", "privacy_scores", "privacy_verdict",
           "unique_value_copies"]

QUERY_ROWS = 5_000
INDEX_ROWS = 50_000
MAX_ONE_HOT = 50


class DistanceEncoder:
    """Standardised numerics (missing → mean) and one-hot categories.

    A numeric column with missing training values also gets a missing indicator; the column
    layout is fixed at `fit`, so every table transforms to the same width.

    Args:
        kinds: Column kind per column ("numerical" or "categorical").
    """

    def __init__(self, kinds: dict[str, str]) -> None:
        self.kinds = kinds

    def fit(self, df: pd.DataFrame) -> DistanceEncoder:
        """Learn means, scales and category vocabularies from `df` (the training table)."""
        self.stats_: dict[str, tuple[float, float, bool]] = {}
        self.vocab_: dict[str, dict[str, int]] = {}
        for c in df.columns:
            if self.kinds[c] == CATEGORICAL:
                lab = pd.Series(labels(df[c]), dtype=object).fillna(MISSING)
                top = lab.value_counts().index[:MAX_ONE_HOT]
                self.vocab_[c] = {v: i for i, v in enumerate(top)}
            else:
                x = numeric(df[c])
                present = x[~np.isnan(x)]
                mean = float(present.mean()) if present.size else 0.0
                std = float(present.std()) if present.size else 0.0
                self.stats_[c] = (mean, std if std > 0 else 1.0, bool(np.isnan(x).any()))
        return self

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Float32 matrix, one row per row of `df`."""
        blocks = []
        for c in df.columns:
            if self.kinds[c] == CATEGORICAL:
                vocab = self.vocab_[c]
                lab = pd.Series(labels(df[c]), dtype=object).fillna(MISSING)
                code = lab.map(vocab).to_numpy(dtype=float)
                onehot = np.zeros((len(df), len(vocab)), dtype=np.float32)
                known = ~np.isnan(code)
                onehot[np.flatnonzero(known), code[known].astype(int)] = 1.0
                blocks.append(onehot)
            else:
                mean, std, has_missing = self.stats_[c]
                x = numeric(df[c])
                miss = np.isnan(x)
                blocks.append(((np.where(miss, mean, x) - mean) / std)[:, None])
                if has_missing:
                    blocks.append(miss[:, None].astype(np.float32))
        return np.hstack(blocks).astype(np.float32)


def _row_keys(df: pd.DataFrame, kinds: dict[str, str]) -> pd.Series:
    # Canonical text per cell so 3 and 3.0, or values read from CSV and Parquet, compare equal.
    parts = []
    for c in df.columns:
        if kinds[c] == CATEGORICAL:
            parts.append(pd.Series(labels(df[c]), dtype=object).fillna("\0"))
        else:
            parts.append(pd.Series(numeric(df[c])).map(lambda v: "\0" if v != v else repr(v)))
    joined = pd.concat(parts, axis=1)
    return pd.Series(pd.util.hash_pandas_object(joined, index=False).to_numpy())


def exact_copy_share(rows: pd.DataFrame, train: pd.DataFrame, kinds: dict[str, str]) -> float:
    """Share of `rows` that equal some training row in every column."""
    known = set(_row_keys(train, kinds))
    return float(_row_keys(rows, kinds).isin(known).mean())


def _neighbours(index: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    nn = NearestNeighbors(n_neighbors=min(k, len(index)), algorithm="brute").fit(index)
    return nn.kneighbors(queries)[0]


def _membership_attack(
    members: np.ndarray, non_members: np.ndarray, synth: np.ndarray
) -> float:
    """ROC AUC of 'closer to a synthetic row means it was trained on' over members vs not."""
    d = _neighbours(synth, np.vstack([members, non_members]), 1)[:, 0]
    y = np.r_[np.ones(len(members)), np.zeros(len(non_members))]
    return float(roc_auc_score(y, -d))


def unique_value_copies(train: pd.DataFrame, synth: pd.DataFrame,
                        kinds: dict[str, str]) -> dict[str, int]:
    """Per non-numeric column, how many synthetic rows hold a value that occurs exactly once
    in training (a comment, a name, a ticket number: what singles out one person)."""
    out: dict[str, int] = {}
    for column, kind in kinds.items():
        if kind == NUMERICAL or column not in synth.columns:
            continue
        counts = train[column].dropna().astype(str).value_counts()
        singles = counts.index[counts == 1]
        if len(singles):
            copied = int(synth[column].dropna().astype(str).isin(set(singles)).sum())
            if copied:
                out[str(column)] = copied
    return out


def privacy_verdict(scores: dict[str, Any]) -> tuple[str, str]:
    """A release verdict ("low risk", "moderate risk" or "high risk") and why."""
    ratio = scores["dcr_ratio"]
    copies, baseline = scores["exact_copy_share"], scores["exact_copy_share_holdout"]
    mia = scores["membership_auc"]
    excess = copies - baseline
    if (ratio is not None and ratio < 0.5) or excess > 0.05 or (mia or 0.5) > 0.6:
        return "high risk", (
            "synthetic rows sit much closer to training rows than fresh real rows do, or copy "
            "them: do not release without a stronger privacy mechanism"
        )
    if (ratio is not None and ratio < 0.9) or excess > 0.005 or (mia or 0.5) > 0.55:
        return "moderate risk", (
            "some synthetic rows are closer to training rows than chance allows: review the "
            "closest rows and consider more smoothing before release"
        )
    return "low risk", (
        "synthetic rows are no closer to training rows than unseen real rows are: no sign of "
        "memorisation by these tests"
    )


def privacy_scores(
    train: pd.DataFrame,
    test: pd.DataFrame,
    synth: pd.DataFrame,
    kinds: dict[str, str],
    seed: int = 0,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Distance to closest record, neighbour distance ratio, exact copies, membership attack.

    Returns:
        The scores and the distance arrays the report plots.
    """
    enc = DistanceEncoder(kinds).fit(train)
    index = enc.transform(subsample(train, INDEX_ROWS, seed))
    q_synth = enc.transform(subsample(synth, QUERY_ROWS, seed + 1))
    q_test = enc.transform(subsample(test, QUERY_ROWS, seed + 2))
    d_synth = _neighbours(index, q_synth, 2)
    d_test = _neighbours(index, q_test, 2)

    def nndr(d: np.ndarray) -> np.ndarray:
        if d.shape[1] < 2:
            return np.ones(len(d))
        return np.divide(d[:, 0], d[:, 1], out=np.ones(len(d)), where=d[:, 1] > 0)

    med_s, med_t = float(np.median(d_synth[:, 0])), float(np.median(d_test[:, 0]))
    p5 = float(np.quantile(d_test[:, 0], 0.05))
    n_mia = min(QUERY_ROWS, len(train), len(test))
    members = enc.transform(subsample(train, n_mia, seed + 3))
    non_members = enc.transform(subsample(test, n_mia, seed + 4))
    synth_index = enc.transform(subsample(synth, INDEX_ROWS, seed + 5))
    mia = _membership_attack(members, non_members, synth_index)
    scores: dict[str, Any] = {
        "dcr_synthetic_median": med_s,
        "dcr_holdout_median": med_t,
        "dcr_ratio": finite(med_s / med_t) if med_t > 0 else (1.0 if med_s > 0 else None),
        "closer_than_holdout_p5_share": float((d_synth[:, 0] < p5).mean()) if p5 > 0 else
        float((d_synth[:, 0] <= 0).mean()),
        "nndr_synthetic_median": float(np.median(nndr(d_synth))),
        "nndr_holdout_median": float(np.median(nndr(d_test))),
        "exact_copy_share": exact_copy_share(synth, train, kinds),
        "exact_copy_share_holdout": exact_copy_share(test, train, kinds),
        "membership_auc": mia,
        "unique_value_copies": unique_value_copies(train, synth, kinds),
    }
    if scores["dcr_ratio"] is None and med_s == 0 and med_t == 0:
        scores["dcr_ratio"] = 0.0 if scores["exact_copy_share"] > 0.5 else 1.0
    scores["verdict"], scores["meaning"] = privacy_verdict(scores)
    return scores, {"dcr_synthetic": d_synth[:, 0], "dcr_holdout": d_test[:, 0]}
