"""Tail rules compared on ODDS: fit the default detector once per set and seed (the
anomaly.py protocol), then rescore the held-out rows with the marginals' exponential tails
scaled by each rule (only scores beyond the training range depend on it).

Run: OMP_NUM_THREADS=1 .venv/bin/python -W ignore benchmarks/anomaly_tail_rules.py [seeds]
The "iqr 0.3" rule here has no fallback for a zero IQR; the shipped rule
(`_marginal.TAIL_SCALE`) falls back to the central 98% range (benchmarks/README.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from genlab.anomaly import AnomalyDetector
from genlab.models.table import _marginal as M

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "odds"
ODDS = ["cardio", "thyroid", "satimage-2", "mammography"]
RULES = [("segment", 1.0), ("segment", 0.3), ("segment", 0.1), ("segment", 0.03),
         ("quantile", 0.05), ("quantile", 0.01), ("iqr", 1.0), ("iqr", 0.3)]
SHIPPED = M.PiecewiseMarginal._tails


def _quantile(m: M.PiecewiseMarginal, level: float) -> float:
    return float(np.interp(level, m.cdf_knots, m.xs))


def make_rule(kind: str, p: float):
    """A `_tails` replacement: the shipped masses with this rule's scales."""
    def rule(self: M.PiecewiseMarginal):
        with M.strict_support(False):
            base = SHIPPED(self)
        if base is None:
            return None
        m_lo, _, m_hi, _ = base
        w_lo, w_hi = self.xs[1] - self.xs[0], self.xs[-1] - self.xs[-2]
        if kind == "segment":
            return m_lo, w_lo * p, m_hi, w_hi * p
        if kind == "quantile":
            s_lo = max(_quantile(self, p) - self.xs[1], 1e-12)
            s_hi = max(self.xs[-2] - _quantile(self, 1 - p), 1e-12)
        else:
            s_lo = s_hi = max(p * (_quantile(self, 0.75) - _quantile(self, 0.25)), 1e-12)
        return m_lo, min(w_lo, s_lo), m_hi, min(w_hi, s_hi)
    return rule


def main() -> None:
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    res: dict[tuple[str, float], list[tuple[str, float, float]]] = {r: [] for r in RULES}
    for name in ODDS:
        d = np.load(DATA / f"{name}.npz")
        x, y = d["X"].astype(np.float64), d["y"].astype(int)
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            normal = rng.permutation(np.flatnonzero(y == 0))
            n_fit = int(0.6 * normal.size)
            test = np.r_[normal[n_fit:], np.flatnonzero(y == 1)]
            M.PiecewiseMarginal._tails = SHIPPED
            det = AnomalyDetector("autoregressive", seed=seed).fit(x[normal[:n_fit]])
            for r in RULES:
                M.PiecewiseMarginal._tails = make_rule(*r)
                s = np.asarray(det.score(x[test]), float)
                res[r].append((name, roc_auc_score(y[test], s),
                               average_precision_score(y[test], s)))
            M.PiecewiseMarginal._tails = SHIPPED
            print(name, seed, {f"{k}{p}": round(res[(k, p)][-1][2], 4) for k, p in RULES},
                  flush=True)
    for r in RULES:
        auc = np.mean([np.mean([a for n, a, _ in res[r] if n == d]) for d in ODDS])
        ap = np.mean([np.mean([b for n, _, b in res[r] if n == d]) for d in ODDS])
        print(f"{r[0]} {r[1]}: mean ROC AUC {auc:.4f}, mean AP {ap:.4f}")


if __name__ == "__main__":
    main()
