"""Gaussian mixture for mixed tables, fitted by EM, components chosen by BIC."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from scipy.special import logsumexp
from sklearn.cluster import KMeans

from genlab._progress import task
from genlab.data.tabular import Encoded
from genlab.models.table._latent import LatentMap, NormalScores, Standardiser
from genlab.models.table._mixed import MixedMixture, weighted_cat_probs, weighted_moments
from genlab.models.table.base import TableModel
from genlab.models.table.gaussian import MixtureFamily
from genlab.params import ParamSpec

__all__ = ["GaussianMixture"]

CANDIDATES = (1, 2, 3, 5, 8, 12, 16, 24, 32, 48)


class GaussianMixture(MixtureFamily):
    """Finite mixture of Gaussians with per-component categorical tables (latent classes).

        p(x, c) = sum_k pi_k N(z; mu_k, Sigma_k) prod_j theta_kj[c_j] * |dz/dx|

    where z is the latent image of the numeric columns (`transform`) and |dz/dx| its
    Jacobian, so the density is exact in the user's units.

    Fitted by expectation-maximisation from a k-means start. Unless `n_components` is
    given, K is chosen from (1, 2, 3, 5, 8, ...) by the Bayesian information criterion,
    stopping once BIC has risen twice. Categorical tables get `alpha` pseudo-counts spread
    as the pooled frequencies, so every observed value keeps a positive probability in
    every component (conditional sampling on rare values always works).

    Args:
        n_components: K, or None to choose it by BIC.
        max_components: largest K tried by the BIC search.
        covariance: "full" or "diag".
        max_iter: EM iterations per K.
        tol: stop EM when the mean log-likelihood per row improves by less than this.
        reg_covar: added to covariance diagonals (in standardised units) to keep them
            positive definite when a component sits on a spike of repeated values.
        alpha: pseudo-count for categorical tables.
        transform: "normal_scores" (default) maps each numeric column through its empirical
            marginal to a standard normal score first (like the copula), so components model
            dependence rather than skewed or spiky marginals; "standardise" fits the mixture
            to the standardised values (a classic GMM).
        seed: seeds the k-means start.

    Example:
        >>> import pandas as pd, numpy as np
        >>> rng = np.random.default_rng(0)
        >>> df = pd.DataFrame({"x": np.r_[rng.normal(-3, 1, 100), rng.normal(3, 1, 100)]})
        >>> GaussianMixture(transform="standardise", seed=0).fit(df).n_components_
        2
    """

    family: ClassVar[str] = "mixture"
    summary: ClassVar[str] = "Gaussian mixture with latent classes, EM + BIC"
    when_to_use: ClassVar[str] = "Multi-modal numeric data, clusters, fast exact likelihoods"
    adult_fit_time: ClassVar[str] = "~20 s"
    conditioning: ClassVar[str] = "exact (Bayes' rule over components)"
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **TableModel._parameter_constraints,
        "n_components": ("int?", 1, 10_000),
        "max_components": ("int", 1, 10_000),
        "covariance": ("choice", ("full", "diag")),
        "max_iter": ("int", 1, 100_000),
        "tol": ("float", 0.0, 1.0),
        "reg_covar": ("float", 0.0, 1.0),
        "alpha": ("float", 0.0, 1e6),
        "transform": ("choice", ("normal_scores", "standardise")),
    }

    def __init__(
        self,
        *,
        n_components: int | None = None,
        max_components: int = 32,
        covariance: Literal["full", "diag"] = "full",
        max_iter: int = 200,
        tol: float = 1e-4,
        reg_covar: float = 1e-4,
        alpha: float = 1.0,
        transform: Literal["normal_scores", "standardise"] = "normal_scores",
        seed: int | None = None,
    ) -> None:
        self._init_params(locals())

    def _make_latent(self, enc: Encoded, rng: np.random.Generator) -> LatentMap:
        if self.transform == "standardise":
            return Standardiser.fit(enc.x)
        return NormalScores.fit(enc.x, self.schema_.numeric, rng)

    def _fit_arrays(self, enc: Encoded, conditions: list[int], rng: np.random.Generator) -> None:
        z = self._latent_for_fitting(enc, rng)
        n_codes = self.schema_.n_codes()
        ones = np.ones((enc.n, 1))
        prior = [p[0] for p in weighted_cat_probs(enc.c, ones, n_codes, 0.0,
                                                  [np.ones(m) for m in n_codes])]
        features = np.hstack([z] + [np.eye(m)[enc.c[:, j]] for j, m in enumerate(n_codes)])
        n_unique = len(np.unique(features, axis=0)) if enc.n <= 5000 else enc.n
        if self.n_components is not None:
            ks = [min(self.n_components, n_unique)]
        else:
            ks = [k for k in CANDIDATES if k <= min(self.max_components, n_unique)]
        best: tuple[float, MixedMixture, list[dict[str, float]]] | None = None
        rises = 0
        with task("fitting GaussianMixture (BIC search)", len(ks)) as advance:
            for k in ks:
                seed = int(rng.integers(2**31))
                mixture, history = self._em(z, enc.c, features, k, n_codes, prior, seed)
                ll = history[-1]["log_likelihood"] * enc.n
                bic = -2 * ll + mixture.n_free_parameters(self.covariance) * np.log(enc.n)
                advance(1, K=k, BIC=float(bic))
                self.history_.append({"n_components": k, "bic": float(bic)})
                if best is None or bic < best[0]:
                    best, rises = (bic, mixture, history), 0
                else:
                    rises += 1
                    if rises >= 2:
                        break
        assert best is not None
        self.mixture_ = best[1]
        self.em_history_ = best[2]

    def _em(
        self,
        z: np.ndarray,
        c: np.ndarray,
        features: np.ndarray,
        k: int,
        n_codes: list[int],
        prior: list[np.ndarray],
        seed: int,
    ) -> tuple[MixedMixture, list[dict[str, float]]]:
        n = z.shape[0]
        if k == 1:
            resp = np.ones((n, 1))
        else:
            labels = KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(features)
            resp = np.eye(k)[labels]
        history: list[dict[str, float]] = []
        previous = -np.inf
        for it in range(self.max_iter):
            nk = resp.sum(axis=0)
            means, covs = weighted_moments(z, resp, self.covariance, self.reg_covar)
            cats = weighted_cat_probs(c, resp, n_codes, self.alpha, prior)
            mixture = MixedMixture(nk / nk.sum(), means, covs, cats)
            joint = mixture.joint_log(z, c)
            row_ll = logsumexp(joint, axis=1)
            resp = np.exp(joint - row_ll[:, None])
            mean_ll = float(row_ll.mean())
            history.append({"iteration": it + 1, "log_likelihood": mean_ll})
            if k == 1 or mean_ll - previous < self.tol:
                break
            previous = mean_ll
        return mixture, history
