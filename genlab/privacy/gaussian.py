"""The multivariate Gaussian from noisy sufficient statistics.

Numeric columns are mapped to [-1, 1] by their released ranges (so no row moves a sum by
more than a known amount; missing cells sit at the centre), then

- the sum of the rows (L2 sensitivity 2 sqrt(d) to replacing one) and the Gram matrix
  sum z z^T (sqrt(2) d in Frobenius norm) each get Gaussian noise; the covariance is
  S2 / n - mean mean^T projected to positive definite;
- each categorical column's frequencies are Gaussian-noised counts projected to
  non-negative counts summing to n.

One component: `conditions=` at fit are sampled exactly through the categorical columns,
which the model keeps independent of the numeric ones.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from genlab.data.tabular import Encoded
from genlab.models.table._latent import Standardiser
from genlab.models.table._mixed import MixedMixture
from genlab.privacy.bayesnet import project_counts
from genlab.privacy.budget import Budget

__all__ = ["fit_private_gaussian"]

_FLOOR = 1e-4
_EIG_FLOOR = 1e-4  # of the [-1, 1] scale: the covariance stays well conditioned


def fit_private_gaussian(model: Any, enc: Encoded, budget: Budget, rho: float) -> None:
    """Fill a `Gaussian`'s fitted state from `enc` under zCDP budget `rho`."""
    schema = model.schema_
    lo = np.array([float(s.min) for s in schema.numeric])
    hi = np.array([float(s.max) for s in schema.numeric])
    d, n_codes = lo.size, schema.n_codes()
    shares = {"mean": 1.0 * (d > 0), "covariance": 2.0 * (d > 0),
              **{f"cat{j}": 1.0 for j in range(len(n_codes))}}
    unit = rho / max(sum(shares.values()), 1e-12)
    model.latent_ = Standardiser((lo + hi) / 2, np.where(hi > lo, (hi - lo) / 2, 1.0))
    z = np.clip(model.latent_.for_fitting(enc.x, budget.rng), -1.0, 1.0)
    n = enc.n
    mean, cov = np.zeros((1, d)), np.zeros((1, d, d))
    if d:
        total = budget.gaussian(z.sum(axis=0), 2 * math.sqrt(d), unit * shares["mean"],
                                "counts")
        upper = np.triu_indices(d)
        gram = np.zeros((d, d))
        gram[upper] = budget.gaussian((z.T @ z)[upper], math.sqrt(2) * d,
                                      unit * shares["covariance"], "counts")
        gram = np.triu(gram) + np.triu(gram, 1).T
        m = np.clip(total / n, -1.0, 1.0)
        c = gram / n - np.outer(m, m)
        if model.covariance == "diag":
            c = np.diag(np.diag(c))
        vals, vecs = np.linalg.eigh((c + c.T) / 2)
        mean[0], cov[0] = m, (vecs * np.maximum(vals, _EIG_FLOOR)) @ vecs.T
    cats = []
    for j, k in enumerate(n_codes):
        counts = np.bincount(enc.c[:, j], minlength=k).astype(np.float64)
        noisy = project_counts(budget.gaussian(counts, math.sqrt(2), unit, "counts"), n)
        p = noisy + _FLOOR * n / k
        cats.append((p / p.sum())[None, :])
    model.mixture_ = MixedMixture(np.ones(1), mean, cov, cats)
    model.group_shrinkage_ = []
    model.history_ = []
