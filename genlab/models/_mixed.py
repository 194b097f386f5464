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
from scipy.special import logsumexp

from genlab.errors import DataError

__all__ = ["MixedMixture", "gaussian_log_density", "weighted_cat_probs", "weighted_moments"]

_LOG_2PI = np.log(2.0 * np.pi)


def gaussian_log_density(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """log N(x; mean, cov) for rows of x (n, d), via a Cholesky factor."""
    d = x.shape[1]
    if d == 0:
        return np.zeros(x.shape[0])
    chol = np.linalg.cholesky(cov)
    diff = (x - mean).T  # (d, n)
    sol = np.linalg.solve(chol, diff) if d > 1 else diff / chol[0, 0]
    maha = np.sum(sol**2, axis=0)
    return -0.5 * (d * _LOG_2PI + maha) - np.sum(np.log(np.diag(chol)))


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
                out += np.log(probs[:, c[:, j]]).T
        return out

    def joint_log(self, x: np.ndarray, c: np.ndarray) -> np.ndarray:
        """(n, K) log pi_k + log p(x, c | k); NaN entries of x are marginalised out."""
        n = x.shape[0]
        out = self._cat_log(c)
        with np.errstate(divide="ignore"):
            out += np.log(self.weights)[None, :]
        if x.shape[1] == 0:
            return out
        isna = np.isnan(x)
        patterns, inverse = np.unique(isna, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        for p, pattern in enumerate(patterns):
            rows = np.flatnonzero(inverse == p)
            obs = np.flatnonzero(~pattern)
            if obs.size == 0:
                continue
            xo = x[np.ix_(rows, obs)]
            for k in range(self.n_components):
                cov = self.covs[k][np.ix_(obs, obs)]
                out[rows, k] += gaussian_log_density(xo, self.means[k, obs], cov)
        assert out.shape == (n, self.n_components)
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
    covs = np.empty((k, d, d))
    for i in range(k):
        diff = x - means[i]
        if covariance == "full":
            covs[i] = (resp[:, i, None] * diff).T @ diff / nk[i]
        else:
            covs[i] = np.diag((resp[:, i, None] * diff**2).sum(axis=0) / nk[i])
        covs[i] += reg * np.eye(d)
    return means, covs


def weighted_cat_probs(
    c: np.ndarray, resp: np.ndarray, n_codes: list[int], alpha: float, prior: list[np.ndarray]
) -> list[np.ndarray]:
    """theta_kj with `alpha` pseudo-counts spread as `prior` (the pooled frequencies)."""
    out = []
    nk = resp.sum(axis=0)
    for j, m in enumerate(n_codes):
        counts = np.zeros((resp.shape[1], m))
        for code in range(m):
            counts[:, code] = resp[c[:, j] == code].sum(axis=0)
        probs = (counts + alpha * prior[j][None, :]) / (nk[:, None] + alpha)
        out.append(probs / probs.sum(axis=1, keepdims=True))
    return out
