"""Gaussian copula: per-column marginals joined by a multivariate normal dependence."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from scipy.special import ndtr, ndtri

from genlab.data.tabular import Encoded
from genlab.errors import DataError
from genlab.models.table._latent import NormalScores, latent_from_state, latent_shapes
from genlab.models.table._marginal import PiecewiseMarginal
from genlab.models.table._mixed import gaussian_log_density, missing_patterns
from genlab.models.table._rectangle import log_rectangle_prob, sample_truncated
from genlab.models.table.base import TableModel
from genlab.params import ParamSpec
from genlab.privacy.fit import PrivateFit

__all__ = ["GaussianCopula"]

_U_EPS = 1e-12


def _nearest_correlation(s: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    vals, vecs = np.linalg.eigh((s + s.T) / 2)
    s = (vecs * np.maximum(vals, floor)) @ vecs.T
    d = np.sqrt(np.diag(s))
    return s / np.outer(d, d)


def _attenuation(probs: np.ndarray) -> float:
    """E[z * s] for a standard normal z and s drawn in z's interval (probs in order)."""
    p = probs[probs > 0]
    edges = ndtri(np.clip(np.r_[0.0, np.cumsum(p)], 0.0, 1.0))
    dens = np.exp(-0.5 * edges**2) / np.sqrt(2 * np.pi)  # phi(+-inf) = 0
    return float(np.sum((dens[:-1] - dens[1:]) ** 2 / p))


def _leading_score(z: np.ndarray) -> np.ndarray:
    """Scores on the first principal axis of standardised columns (missing as 0)."""
    z = np.nan_to_num(z)
    if z.shape[1] == 1:
        return z[:, 0]
    _, vecs = np.linalg.eigh(np.cov(z, rowvar=False))
    return z @ vecs[:, -1]


def _psd_cholesky(cov: np.ndarray) -> np.ndarray:
    """Cholesky factor of a covariance that may be semi-definite from rounding."""
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    return np.linalg.cholesky((vecs * np.maximum(vals, 1e-12)) @ vecs.T)


class GaussianCopula(PrivateFit, TableModel):
    """Gaussian copula with empirical marginals and categorical columns as intervals.

    Each numeric column j has a marginal CDF F_j (the smoothed, dequantised empirical
    distribution of `genlab.models.table._marginal`); each categorical column splits (0, 1) into
    intervals, one per value, as wide as its frequency. A latent z ~ N(0, R) gives
    x_j = F_j^{-1}(Phi(z_j)) and c_j = the value whose interval holds Phi(z_j). So

        p(x, c) = prod_j f_j(x_j) * N(z_x; 0, R_xx) / prod_j phi(z_j)
                  * P(z_c in rect(c) | z_x),        z_j = Phi^{-1}(F_j(x_j))

    The last factor is a Gaussian rectangle probability: exact with one categorical
    column, and computed by the GHK simulator with `n_points` fixed quasi-random points
    (deterministic, relative error ~1e-3) with more. R is the correlation of the normal
    scores of the training rows (ties and categories spread uniformly within their
    intervals with a fixed seed), projected to the nearest positive-definite correlation.

    Conditioning on categorical columns restricts their latent scores to the value's
    interval: exact for one column, importance resampling for several.

    Args:
        marginals: "empirical" (default) or "parametric": the best of normal, log-normal,
            gamma, beta, uniform and truncated normal by AIC, per column
            (`marginal_families_` says which was chosen).
        n_points: quasi-random points for categorical rectangle probabilities.
        seed: seeds the jitter of ties while fitting.

    Example:
        >>> import pandas as pd, numpy as np
        >>> rng = np.random.default_rng(0)
        >>> a = rng.normal(size=300)
        >>> df = pd.DataFrame({"a": a, "b": a + rng.normal(size=300) * 0.1})
        >>> m = GaussianCopula(seed=0).fit(df)
        >>> bool(m.correlation_[0, 1] > 0.9)
        True
    """

    family: ClassVar[str] = "copula"
    summary: ClassVar[str] = "Empirical marginals joined by a Gaussian copula"
    when_to_use: ClassVar[str] = "The strong classical default: fast, faithful marginals"
    adult_fit_time: ClassVar[str] = "< 1 s"
    conditioning: ClassVar[str] = "truncated latent (exact for one column)"
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **TableModel._parameter_constraints,
        "marginals": ("choice", ("empirical", "parametric")),
        "n_points": ("int", 16, 1_000_000),
    }

    def __init__(
        self,
        *,
        marginals: Literal["empirical", "parametric"] = "empirical",
        n_points: int = 256,
        seed: int | None = None,
    ) -> None:
        self._init_params(locals())

    # -- fit ------------------------------------------------------------------------------
    def _fit_arrays(self, enc: Encoded, conditions: list[int], rng: np.random.Generator) -> None:
        self.scores_ = NormalScores.fit(enc.x, self.schema_.numeric, rng, kind=self.marginals)
        latent = self.scores_.for_fitting(enc.x, rng)
        scores = [latent[:, j] for j in range(latent.shape[1])]
        # Order each column's intervals by the mean leading principal score of the numeric
        # columns within each value, so that a value tied to high numbers sits at the top
        # of (0, 1): a copula can only express monotone dependence through the order.
        lead = _leading_score(np.column_stack(scores)) if scores else np.zeros(enc.n)
        self.cat_probs_, self.cat_orders_ = [], []
        for j, m in enumerate(self.schema_.n_codes()):
            codes = enc.c[:, j]
            counts = np.bincount(codes, minlength=m)
            probs = counts / enc.n
            means = np.bincount(codes, weights=lead, minlength=m) / np.maximum(counts, 1)
            order = np.lexsort((np.arange(m), means)) if scores else np.arange(m)
            self.cat_probs_.append(probs)
            self.cat_orders_.append(order.astype(np.int64))
            low, high = self._bounds(j, codes)
            u = ndtr(low) + rng.random(enc.n) * probs[codes]
            scores.append(ndtri(np.clip(u, _U_EPS, 1 - _U_EPS)))
        z = np.column_stack(scores)
        corr = np.atleast_2d(np.corrcoef(z, rowvar=False)) if z.shape[1] > 1 else np.ones((1, 1))
        self.correlation_ = self._corrected(corr, latent.shape[1])

    def _corrected(self, corr: np.ndarray, d: int) -> np.ndarray:
        """The latent correlation from the scores' one (`d` numeric columns first)."""
        # A categorical score drawn uniformly inside its value's interval correlates with the
        # latent z only by a = sum_k (phi(lo_k) - phi(hi_k))^2 / p_k (its first Hermite
        # coefficient), so observed correlations are attenuated by a_i a_j; undo that.
        atten = np.ones(corr.shape[0])
        for j in range(len(self.cat_probs_)):
            atten[d + j] = _attenuation(self.cat_probs_[j][self.cat_orders_[j]])
        corr = np.clip(corr / np.outer(atten, atten), -0.995, 0.995)
        np.fill_diagonal(corr, 1.0)
        return _nearest_correlation(corr)

    dp_mechanism: ClassVar[str] = (
        "noisy sufficient statistics: Gaussian-noised histograms, frequencies and clipped "
        "normal-score Gram matrix")

    def _fit_private(self, enc: Encoded, conditions: list[int], budget: Any, rho: float
                     ) -> None:
        """`fit(data, epsilon=...)`: noisy statistics (see `genlab.privacy.copula`)."""
        from genlab.privacy.copula import fit_private_copula

        corr = fit_private_copula(self, enc, budget, rho)
        self.correlation_ = self._corrected(corr, len(self.schema_.numeric))

    # -- helpers --------------------------------------------------------------------------
    def _bounds(self, j: int, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latent interval [low, high] of each code of categorical column j."""
        order = self.cat_orders_[j]
        p = self.cat_probs_[j][order]
        below = np.r_[0.0, np.cumsum(p)]
        above = np.r_[np.cumsum(p[::-1])[::-1], 0.0]
        # upper edges from the mass above them: 1 - cumsum rounds an edge at 1 - 1e-17 to
        # a finite 8.2 sigma, cutting the top interval short of +inf
        edges = np.where(below <= 0.5, ndtri(np.clip(below, 0.0, 1.0)),
                         -ndtri(np.clip(above, 0.0, 1.0)))
        edges[0], edges[-1] = -np.inf, np.inf
        position = np.empty_like(order)
        position[order] = np.arange(order.size)
        return edges[position[codes]], edges[position[codes] + 1]

    def _decode_latent(self, z: np.ndarray, fixed: dict[int, int]) -> Encoded:
        d = len(self.schema_.numeric)
        u = ndtr(z)
        x = self.scores_.inverse(z[:, :d])
        c = np.empty((z.shape[0], len(self.cat_probs_)), dtype=np.int64)
        for j, (probs, order) in enumerate(zip(self.cat_probs_, self.cat_orders_, strict=True)):
            cum = np.cumsum(probs[order])
            position = np.minimum(np.searchsorted(cum, u[:, d + j] * cum[-1], side="right"),
                                  probs.size - 1)
            c[:, j] = fixed[j] if j in fixed else order[position]
        return Encoded(x=x, c=c)

    # -- sample ---------------------------------------------------------------------------
    def _sample_arrays(
        self, n: int, conditions: dict[int, int], rng: np.random.Generator
    ) -> Encoded:
        r = self.correlation_
        dims = r.shape[0]
        d = len(self.schema_.numeric)
        if not conditions:
            z = rng.standard_normal((n, dims)) @ np.linalg.cholesky(r).T
            return self._decode_latent(z, {})
        for j, code in conditions.items():
            if self.cat_probs_[j][code] <= 0:
                raise DataError(
                    f"value of {self.schema_.categorical[j].name!r} has probability zero"
                )
        cond = [d + j for j in conditions]
        rest = [i for i in range(dims) if i not in cond]
        bounds = [self._bounds(j, np.array([code])) for j, code in conditions.items()]
        lower = np.array([b[0][0] for b in bounds])
        upper = np.array([b[1][0] for b in bounds])
        z = np.empty((n, dims))
        z[:, cond] = sample_truncated(lower, upper, r[np.ix_(cond, cond)], n, rng)
        if rest:
            gain = np.linalg.solve(r[np.ix_(cond, cond)], r[np.ix_(cond, rest)])  # (C, R)
            cov = r[np.ix_(rest, rest)] - r[np.ix_(rest, cond)] @ gain
            chol = _psd_cholesky(cov)
            z[:, rest] = z[:, cond] @ gain + rng.standard_normal((n, len(rest))) @ chol.T
        return self._decode_latent(z, conditions)

    # -- log_prob -------------------------------------------------------------------------
    def _log_prob_arrays(self, enc: Encoded) -> np.ndarray:
        n, d = enc.x.shape
        r = self.correlation_
        cats = list(range(d, r.shape[0]))
        # the scores' log-Jacobian is sum_j log f_j(x_j) - log phi(z_j): the marginals and
        # the division of the copula density by the standard normal densities
        z, lp = self.scores_.forward(enc.x)
        bounds = [self._bounds(j, enc.c[:, j]) for j in range(len(cats))]
        lower = np.column_stack([b[0] for b in bounds]) if cats else np.zeros((n, 0))
        upper = np.column_stack([b[1] for b in bounds]) if cats else np.zeros((n, 0))
        for pattern_rows, observed in missing_patterns(z):
            rows = np.arange(n) if pattern_rows is None else pattern_rows
            obs = list(observed)
            zo = z[np.ix_(rows, obs)]
            if obs:
                lp[rows] += gaussian_log_density(zo, np.zeros(len(obs)), r[np.ix_(obs, obs)])
            if cats:
                if obs:
                    gain = np.linalg.solve(r[np.ix_(obs, obs)], r[np.ix_(obs, cats)])
                    mean = zo @ gain
                    cov = r[np.ix_(cats, cats)] - r[np.ix_(cats, obs)] @ gain
                else:
                    mean, cov = np.zeros((rows.size, len(cats))), r[np.ix_(cats, cats)]
                lp[rows] += log_rectangle_prob(
                    lower[rows], upper[rows], mean, cov, n_points=self.n_points, seed=0
                )
        return lp

    # -- persistence ----------------------------------------------------------------------
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, tensors = self.scores_.state()
        tensors["correlation"] = self.correlation_
        tensors.update({f"cat_probs.{j}": p for j, p in enumerate(self.cat_probs_)})
        tensors.update({f"cat_order.{j}": o for j, o in enumerate(self.cat_orders_)})
        return meta, tensors

    def _expected_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        d = len(self.schema_.numeric)
        dims = d + len(self.schema_.categorical)
        shapes: dict[str, tuple[int, ...]] = {"correlation": (dims, dims),
                                              **latent_shapes(meta, d)}
        for j, m in enumerate(self.schema_.n_codes()):
            shapes.update({f"cat_probs.{j}": (m,), f"cat_order.{j}": (m,)})
        return shapes

    def _restore(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.correlation_ = tensors["correlation"]
        np.linalg.cholesky(self.correlation_)  # raises LinAlgError (a ValueError) if not PD
        scores = latent_from_state(meta, tensors, len(self.schema_.numeric))
        if not isinstance(scores, NormalScores):
            raise ValueError("a copula needs normal-score marginals")
        self.scores_ = scores
        n_cat = len(self.schema_.categorical)
        self.cat_probs_ = [tensors[f"cat_probs.{j}"] for j in range(n_cat)]
        self.cat_orders_ = [tensors[f"cat_order.{j}"].astype(np.int64) for j in range(n_cat)]
        for j, order in enumerate(self.cat_orders_):
            if not np.array_equal(np.sort(order), np.arange(order.size)):
                raise ValueError(f"cat_order.{j} is not a permutation")

    @property
    def marginals_(self) -> list[PiecewiseMarginal]:
        """The fitted marginal of each numeric column."""
        return self.scores_.marginals

    @property
    def marginal_families_(self) -> dict[str, str]:
        """Which marginal family each numeric column got ("empirical" or a scipy name)."""
        return self.scores_.families
