"""An empirical privacy audit: what can an attacker learn about who was in the training set?

Three attacks, each turned into an empirical lower bound on epsilon (Kairouz et al. 2015;
Jagielski et al. 2020): an (epsilon, delta)-DP fit forces every membership test to keep
TPR <= e^epsilon FPR + delta (and the same with the roles of in and out swapped), so

    epsilon >= log((TPR_low - delta) / FPR_high)

with TPR_low / FPR_high one-sided Clopper-Pearson bounds. The attack's threshold is chosen
on one half of the rows and the rates are counted on the other, so the bound holds at the
stated confidence; it is a lower bound: it can show a model leaks, never that it does not.

- membership: the model's log-likelihood of training rows vs held-out rows;
- distance to closest record: how close each row lies to a synthetic sample;
- canaries: k unique rows (each column drawn from a different held-out row) inserted into
  the training table, the model refitted the same way (same family, parameters, epsilon);
  the attack tells the inserted ones from k others that were not.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import beta
from sklearn.metrics import roc_auc_score

from genlab._progress import task
from genlab.data.readers import read_table
from genlab.errors import DataError, ParameterError

__all__ = ["AuditResult", "audit", "epsilon_lower_bound"]

_ROWS = 2_000  # most rows of each side an attack is scored on
CONFIDENCE = 0.95


@dataclass
class AuditResult:
    """What `audit` measured; `lines()` says it in words."""

    claimed_epsilon: float | None
    delta: float
    membership_auc: float
    membership_epsilon: float
    dcr_auc: float
    dcr_epsilon: float
    canaries: int
    canary_auc: float | None
    canary_epsilon: float | None
    rows: int

    @property
    def empirical_epsilon(self) -> float:
        """The largest of the attacks' lower bounds."""
        found = [self.membership_epsilon, self.dcr_epsilon]
        return max(found + ([self.canary_epsilon] if self.canary_epsilon is not None else []))

    def to_dict(self) -> dict[str, Any]:
        """JSON types, with the empirical epsilon."""
        return {**asdict(self), "empirical_epsilon": self.empirical_epsilon}

    def lines(self) -> list[str]:
        """The audit in a few lines."""
        claimed = (f"{self.claimed_epsilon:g}" if self.claimed_epsilon is not None
                   else "none (not a private fit)")
        out = [f"membership (log-likelihood, {self.rows} rows each side): AUC "
               f"{self.membership_auc:.3f}, epsilon >= {self.membership_epsilon:.3f}",
               f"distance to closest record: AUC {self.dcr_auc:.3f}, "
               f"epsilon >= {self.dcr_epsilon:.3f}"]
        if self.canary_auc is not None:
            out.append(f"canaries ({self.canaries} inserted, {self.canaries} not): AUC "
                       f"{self.canary_auc:.3f}, epsilon >= {self.canary_epsilon:.3f}")
        out.append(f"empirical epsilon lower bound {self.empirical_epsilon:.3f} "
                   f"({CONFIDENCE:.0%} confidence, delta {self.delta:.3g}) vs claimed {claimed}")
        return out


def _bound(k_in: int, n_in: int, k_out: int, n_out: int, delta: float, alpha: float) -> float:
    """log((TPR_low - delta) / FPR_high), 0 when not positive."""
    tpr_lo = beta.ppf(alpha, k_in, n_in - k_in + 1) if k_in > 0 else 0.0
    fpr_hi = beta.ppf(1 - alpha, k_out + 1, n_out - k_out) if k_out < n_out else 1.0
    if tpr_lo - delta <= 0 or fpr_hi <= 0:
        return 0.0
    return max(0.0, math.log((tpr_lo - delta) / fpr_hi))


def epsilon_lower_bound(scores_in: np.ndarray, scores_out: np.ndarray, delta: float,
                        rng: np.random.Generator, confidence: float = CONFIDENCE) -> float:
    """Empirical epsilon lower bound of an attack scoring members higher (see module doc):
    threshold and direction chosen on a random half, rates counted on the other half."""
    a, b = rng.permutation(np.asarray(scores_in)), rng.permutation(np.asarray(scores_out))
    a_sel, a_ev = a[: a.size // 2], a[a.size // 2:]
    b_sel, b_ev = b[: b.size // 2], b[b.size // 2:]
    if min(a_ev.size, b_ev.size, a_sel.size, b_sel.size) == 0:
        return 0.0
    # Bonferroni over the two rates
    alpha = (1 - confidence) / 2
    cands = np.unique(np.quantile(np.r_[a_sel, b_sel], np.linspace(0, 1, 201)))
    best, choice = -1.0, (np.inf, 1.0)
    for sign in (1.0, -1.0):
        for t in cands:
            # the threshold scored by the same conservative bound on the selection half
            gain = _bound(int(np.sum(sign * a_sel >= sign * t)), a_sel.size,
                          int(np.sum(sign * b_sel >= sign * t)), b_sel.size, delta, alpha)
            if gain > best:
                best, choice = gain, (float(t), sign)
    t, sign = choice
    return _bound(int(np.sum(sign * a_ev >= sign * t)), a_ev.size,
                  int(np.sum(sign * b_ev >= sign * t)), b_ev.size, delta, alpha)


def _auc(scores_in: np.ndarray, scores_out: np.ndarray) -> float:
    y = np.r_[np.ones(len(scores_in)), np.zeros(len(scores_out))]
    s = np.nan_to_num(np.r_[scores_in, scores_out], nan=-1e300, neginf=-1e300, posinf=1e300)
    return float(roc_auc_score(y, s))


def _canaries(test: pd.DataFrame, k: int, rng: np.random.Generator) -> pd.DataFrame:
    """2k unusual rows: each column's value drawn uniformly among the held-out table's
    distinct values (so rare values and tails are common here), independently by column."""
    rows = {}
    for c in test.columns:
        values = pd.unique(test[c].to_numpy(dtype=object))
        rows[c] = values[rng.integers(values.size, size=2 * k)]
    return pd.DataFrame(rows).astype(test.dtypes.to_dict(), errors="ignore")


def _refit(model: Any, data: pd.DataFrame, seed: int) -> Any:
    fresh = type(model)(**{**model.get_params(), "seed": seed})
    record = getattr(model, "privacy_", None)
    if not record:
        return fresh.fit(data, list(model.conditions_) or None)
    cats = {k: v for k, v in record.get("categories", {}).items()}
    bounds = {k: tuple(v) for k, v in record.get("bounds", {}).items()}
    return fresh.fit(data, list(model.conditions_) or None, epsilon=record["epsilon"],
                     delta=record["delta"], bounds=bounds or None, categories=cats or None)


def _dcr_scores(model: Any, rows: list[pd.DataFrame], n: int, seed: int) -> list[np.ndarray]:
    from sklearn.neighbors import NearestNeighbors

    from genlab.evaluate.privacy import DistanceEncoder

    synth = model.sample(n, seed=seed)
    kinds = {s.name: s.kind for s in model.table_schema_.columns}
    enc = DistanceEncoder(kinds).fit(rows[0])
    index = NearestNeighbors(n_neighbors=1).fit(enc.transform(synth))
    return [-index.kneighbors(enc.transform(r))[0][:, 0] for r in rows]


def audit(model: Any, train: Any, test: Any, *, canaries: int = 50, seed: int = 0,
          delta: float | None = None) -> AuditResult:
    """Audit a fitted table model against its training table `train` and held-out rows
    `test` (paths or DataFrames): membership, distance to closest record and (with
    `canaries` > 0, which refits the model once on `train` plus canaries) a canary test."""
    if getattr(model, "modality", None) != "table":
        raise ParameterError("audit works on table models; this model is "
                             f"{getattr(model, 'modality', type(model).__name__)}")
    if isinstance(canaries, bool) or not isinstance(canaries, int) or canaries < 0:
        raise ParameterError(f"canaries must be an integer >= 0, got {canaries!r}")
    tr, te = read_table(train), read_table(test)
    if list(tr.columns) != list(te.columns):
        raise DataError("the training and held-out tables have different columns; give "
                        "tables with the model's columns")
    rng = np.random.default_rng(seed)
    record = getattr(model, "privacy_", None) or {}
    dlt = float(record.get("delta") or delta or 1.0 / (10 * len(tr)))
    m = min(len(tr), len(te), _ROWS)
    a = tr.iloc[rng.choice(len(tr), m, replace=False)].reset_index(drop=True)
    b = te.iloc[rng.choice(len(te), m, replace=False)].reset_index(drop=True)
    import warnings

    with warnings.catch_warnings(), task("auditing privacy", 3) as advance:
        warnings.simplefilter("ignore")  # held-out values never seen are expected here
        lp_a, lp_b = model.log_prob(a), model.log_prob(b)
        advance(1)
        d_a, d_b = _dcr_scores(model, [a, b], max(m, 1000), seed)
        advance(1)
        canary_auc = canary_eps = None
        if canaries:
            rows = _canaries(te, canaries, rng)
            inside = rng.permutation(2 * canaries) < canaries
            refit = _refit(model, pd.concat([tr, rows[inside]], ignore_index=True), seed)
            lp = refit.log_prob(rows)
            canary_auc = _auc(lp[inside], lp[~inside])
            canary_eps = epsilon_lower_bound(lp[inside], lp[~inside], dlt, rng)
        advance(1)
    return AuditResult(
        claimed_epsilon=record.get("epsilon_spent"), delta=dlt,
        membership_auc=_auc(lp_a, lp_b),
        membership_epsilon=epsilon_lower_bound(lp_a, lp_b, dlt, rng),
        dcr_auc=_auc(d_a, d_b), dcr_epsilon=epsilon_lower_bound(d_a, d_b, dlt, rng),
        canaries=canaries, canary_auc=canary_auc, canary_epsilon=canary_eps, rows=m)
