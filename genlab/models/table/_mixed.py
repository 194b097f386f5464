"""Mixed-type mixture: the maths the Gaussian and GaussianMixture families share.

A row is (x, c): numeric values x in R^d and category codes c_1..c_J. The density is

    p(x, c) = sum_k pi_k N(x; mu_k, Sigma_k) prod_j theta_kj[c_j]

so categorical columns are independent of each other and of x *within* a component; the
components carry the dependence. `Gaussian` fixes one component per combination of its
declared condition columns; `GaussianMixture` learns latent components by EM.

Shapes: n rows, d numeric dims, K components, J categorical columns, M_j codes of column j.
Numeric values are standardised by the family (loc, scale) before they reach these helpers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.linalg import solve_triangular
from scipy.special import logsumexp

from genlab.errors import DataError

__all__ = [
    "MixedMixture",
    "gaussian_log_density",
    "missing_patterns",
    "weighted_cat_probs",
    "weighted_moments",
]

_LOG_2PI = np.log(2.0 * np.pi)


def gaussian_log_density(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """log N(x; mean, cov) for rows of x (n, d), via a Cholesky factor."""
    d = x.shape[1]
    if d == 0:
        return np.zeros(x.shape[0])
    chol = np.linalg.cholesky(cov)
    diff = (x - mean).T  # (d, n)
    sol = solve_triangular(chol, diff, lower=True, check_finite=False)
    maha = np.sum(sol**2, axis=0)
    return -0.5 * (d * _LOG_2PI + maha) - np.sum(np.log(np.diag(chol)))


def _log_gauss_all(x: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
    """(n, K) log N(x; mean_k, cov_k) for every component at once."""
    d = x.shape[1]
    chol = np.linalg.cholesky(covs)  # (K, d, d)
    inv = np.linalg.inv(chol)  # lower-triangular inverses, so |inv (x - mu)|^2 is Mahalanobis
    k = means.shape[0]
    # one GEMM for all components: (n, d) @ (d, K*d)
    y = (x @ inv.reshape(k * d, d).T).reshape(-1, k, d) - np.einsum("kij,kj->ki", inv, means)
    logdet = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    return -0.5 * (d * _LOG_2PI + np.sum(y**2, axis=2)) - logdet[None, :]


def missing_patterns(x: np.ndarray) -> list[tuple[np.ndarray | None, np.ndarray]]:
    """Group rows by which columns are observed: [(rows or None for all, observed cols)]."""
    isna = np.isnan(x)
    if not isna.any():
        return [(None, np.arange(x.shape[1]))]
    patterns, inverse = np.unique(isna, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    return [(np.flatnonzero(inverse == p), np.flatnonzero(~pat)) for p, pat in enumerate(patterns)]


@dataclass
class MixedMixture:
    """Parameters of a mixed-type mixture, with exact log density, posterior and sampling."""

    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, d)
    covs: np.ndarray  # (K, d, d)
    cat_probs: list[np.ndarray]  # J arrays (K, M_j)

    @property
    def n_components(self) -> int:
        """K."""
        return int(self.weights.shape[0])

    def _cat_log(self, c: np.ndarray) -> np.ndarray:
        """(n, K) sum over categorical columns of log theta_kj[c_j]."""
        out = np.zeros((c.shape[0], self.n_components))
        with np.errstate(divide="ignore"):
            for j, probs in enumerate(self.cat_probs):
                out += np.log(probs).T[c[:, j]]
        return out

    def joint_log(self, x: np.ndarray, c: np.ndarray) -> np.ndarray:
        """(n, K) log pi_k + log p(x, c | k); NaN entries of x are marginalised out."""
        out = self._cat_log(c)
        with np.errstate(divide="ignore"):
            out += np.log(self.weights)[None, :]
        if x.shape[1] == 0:
            return out
        for rows, obs in missing_patterns(x):
            if obs.size == 0:
                continue
            if rows is None:
                out += _log_gauss_all(x, self.means, self.covs)
                continue
            sub = np.ix_(obs, obs)
            out[rows] += _log_gauss_all(x[np.ix_(rows, obs)], self.means[:, obs],
                                        self.covs[:, sub[0], sub[1]])
        return out

    def log_prob(self, x: np.ndarray, c: np.ndarray) -> np.ndarray:
        """log p(x, c) per row."""
        return logsumexp(self.joint_log(x, c), axis=1)

    def component_posterior(self, conditions: dict[int, int]) -> np.ndarray:
        """p(k | c_j = code for the conditioned columns), shape (K,)."""
        with np.errstate(divide="ignore"):
            logw = np.log(self.weights).copy()
            for j, code in conditions.items():
                logw += np.log(self.cat_probs[j][:, code])
        if not np.isfinite(logw).any():
            raise DataError(
                "the requested combination of condition values never occurs together in the "
                "training data, so the model gives it probability zero; relax the conditions"
            )
        w = np.exp(logw - logw.max())
        return w / w.sum()

    def sample(
        self, n: int, conditions: dict[int, int], rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw (x, c); conditioned columns are fixed and the component is drawn from its
        posterior given them, so the rest follows p(x, c_rest | c_cond) exactly."""
        post = self.component_posterior(conditions)
        comp = rng.choice(self.n_components, size=n, p=post)
        d = self.means.shape[1]
        x = np.empty((n, d))
        for k in np.unique(comp):
            rows = np.flatnonzero(comp == k)
            chol = np.linalg.cholesky(self.covs[k]) if d else np.zeros((0, 0))
            x[rows] = self.means[k] + rng.standard_normal((rows.size, d)) @ chol.T
        c = np.empty((n, len(self.cat_probs)), dtype=np.int64)
        for j, probs in enumerate(self.cat_probs):
            if j in conditions:
                c[:, j] = conditions[j]
                continue
            cdf = np.cumsum(probs[comp], axis=1)
            u = rng.random(n)[:, None] * cdf[:, -1:]
            c[:, j] = np.minimum((u > cdf).sum(axis=1), probs.shape[1] - 1)
        return x, c

    def n_free_parameters(self, covariance: str) -> int:
        """Free parameters, for BIC."""
        k, d = self.means.shape
        cov = d * (d + 1) // 2 if covariance == "full" else d
        cats = sum(p.shape[1] - 1 for p in self.cat_probs)
        return (k - 1) + k * (d + cov + cats)


def weighted_moments(
    x: np.ndarray, resp: np.ndarray, covariance: str, reg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Means (K, d) and covariances (K, d, d) weighted by responsibilities (n, K)."""
    nk = resp.sum(axis=0) + 1e-12
    means = (resp.T @ x) / nk[:, None]
    k, d = means.shape
    # E_k[x x^T] - mu_k mu_k^T with one GEMM over all components; x is standardised, so the
    # subtraction loses no meaningful precision.
    if d == 0:
        covs = np.zeros((k, 0, 0))
    elif covariance == "full":
        outer = (x[:, :, None] * x[:, None, :]).reshape(-1, d * d)
        second = (resp.T @ outer).reshape(k, d, d) / nk[:, None, None]
        covs = second - means[:, :, None] * means[:, None, :]
    else:
        var = np.maximum((resp.T @ x**2) / nk[:, None] - means**2, 0.0)
        covs = var[:, :, None] * np.eye(d)[None]
    return means, covs + reg * np.eye(d)[None]


def weighted_cat_probs(
    c: np.ndarray, resp: np.ndarray, n_codes: list[int], alpha: float, prior: list[np.ndarray]
) -> list[np.ndarray]:
    """theta_kj with `alpha` pseudo-counts spread as `prior` (the pooled frequencies)."""
    out = []
    n = c.shape[0]
    nk = resp.sum(axis=0)
    rows = np.arange(n)
    for j, m in enumerate(n_codes):
        onehot = sparse.csr_matrix((np.ones(n), (rows, c[:, j])), shape=(n, m))
        counts = np.asarray((onehot.T @ resp).T)  # (K, M_j)
        probs = (counts + alpha * prior[j][None, :]) / (nk[:, None] + alpha)
        out.append(probs / probs.sum(axis=1, keepdims=True))
    return out
