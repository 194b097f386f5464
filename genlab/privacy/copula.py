"""The Gaussian copula from noisy sufficient statistics.

- each numeric column's marginal: a Gaussian-noised fine histogram over its released range
  (`genlab.privacy.bayesnet.fine_histogram`);
- each categorical column's frequencies: Gaussian-noised counts; its intervals keep the
  released (value) order, since ordering them by the numeric scores would read the data;
- the correlation: the Gaussian mechanism on the sum of outer products z z^T of the rows'
  normal scores, each row's scores clipped to norm C (so replacing a row moves the sum by
  at most sqrt(2) C^2 in Frobenius norm), then normalised; the copula corrects it for the
  attenuation of categorical scores and projects it to the nearest correlation matrix.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from genlab.data.tabular import Encoded
from genlab.models.table._latent import NormalScores
from genlab.privacy.bayesnet import histogram_marginal
from genlab.privacy.budget import Budget

__all__ = ["CORRELATION_SHARE", "fit_private_copula"]

CORRELATION_SHARE = 0.5  # of the family's rho; the rest pays for marginals and frequencies
_ROW_NORM2 = 2.0  # rows' squared score norm is clipped to this times the dimension
_U_EPS = 1e-12
_FLOOR = 1e-4


def _scores(x: np.ndarray, edges: np.ndarray, cdf: np.ndarray, rng: np.random.Generator
            ) -> np.ndarray:
    """Normal scores of x with ties spread uniformly within their fine bin (0 if missing)."""
    z = np.zeros(x.size)
    ok = ~np.isnan(x)
    b = np.clip(np.searchsorted(edges, x[ok], side="right") - 1, 0, edges.size - 2)
    u = cdf[b] + rng.random(b.size) * (cdf[b + 1] - cdf[b])
    z[ok] = ndtri(np.clip(u, _U_EPS, 1 - _U_EPS))
    return z


def fit_private_copula(model: Any, enc: Encoded, budget: Budget, rho: float) -> np.ndarray:
    """Fill a `GaussianCopula`'s marginals and frequencies from `enc` under zCDP budget
    `rho`; return the noisy correlation of the scores, before the copula corrects it for
    the attenuation of categorical scores and projects it to a correlation matrix."""
    schema, rng = model.schema_, budget.rng
    d_num, d_cat = len(schema.numeric), len(schema.categorical)
    dims = d_num + d_cat
    rho_corr = rho * CORRELATION_SHARE if dims > 1 else 0.0
    rho_each = (rho - rho_corr) / max(dims, 1)
    marginals, families, cols = [], {}, []
    for j, spec in enumerate(schema.numeric):
        edges, _, marginal = histogram_marginal(enc.x[:, j], spec, budget, rho_each)
        marginals.append(marginal)
        families[spec.name] = "dp-histogram"
        cols.append(_scores(enc.x[:, j], edges, marginal.cdf_knots, rng))
    model.scores_ = NormalScores(marginals, families)
    model.cat_probs_, model.cat_orders_ = [], []
    for j, m in enumerate(schema.n_codes()):
        counts = np.bincount(enc.c[:, j], minlength=m).astype(np.float64)
        noisy = np.maximum(budget.gaussian(counts, math.sqrt(2), rho_each, "counts"), 0.0)
        probs = noisy + _FLOOR * max(float(noisy.sum()), 1.0) / m
        model.cat_probs_.append(probs / probs.sum())
        model.cat_orders_.append(np.arange(m, dtype=np.int64))
        low, _ = model._bounds(j, enc.c[:, j])
        u = ndtr(low) + rng.random(enc.n) * model.cat_probs_[j][enc.c[:, j]]
        cols.append(ndtri(np.clip(u, _U_EPS, 1 - _U_EPS)))
    if dims <= 1:
        return np.ones((dims, dims))
    z = np.column_stack(cols)
    bound = math.sqrt(_ROW_NORM2 * dims)
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    z = z * np.minimum(1.0, bound / np.maximum(norms, 1e-12))
    upper = np.triu_indices(dims)
    gram = z.T @ z
    noisy = np.zeros((dims, dims))
    noisy[upper] = budget.gaussian(gram[upper], math.sqrt(2) * bound**2, rho_corr,
                                   "correlation")
    noisy = np.triu(noisy) + np.triu(noisy, 1).T
    scale = np.sqrt(np.maximum(np.diag(noisy), 0.05 * enc.n))
    return noisy / np.outer(scale, scale)
