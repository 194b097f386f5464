"""Maximum-likelihood Gaussian: the classic first generative model, fitted to mixed tables."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from genlab.data.tabular import Encoded
from genlab.models.table._latent import LatentMap, Standardiser, latent_from_state, latent_shapes
from genlab.models.table._mixed import MixedMixture, weighted_cat_probs, weighted_moments
from genlab.models.table.base import TableModel
from genlab.params import ParamSpec

__all__ = ["Gaussian", "MixtureFamily"]


class MixtureFamily(TableModel):
    """Shared sampling, scoring and persistence for families stored as a `MixedMixture`.

    Numeric columns are mapped to a latent space by `latent_` (standardisation, or normal
    scores for `GaussianMixture(transform="normal_scores")`) before fitting; `log_prob` adds
    that map's log-Jacobian, so densities are per unit of the user's columns.
    """

    covariance: str
    latent_: LatentMap

    def _make_latent(self, enc: Encoded, rng: np.random.Generator) -> LatentMap:
        return Standardiser.fit(enc.x)

    def _latent_for_fitting(self, enc: Encoded, rng: np.random.Generator) -> np.ndarray:
        self.latent_ = self._make_latent(enc, rng)
        return self.latent_.for_fitting(enc.x, rng)

    def _sample_arrays(
        self, n: int, conditions: dict[int, int], rng: np.random.Generator
    ) -> Encoded:
        z, c = self.mixture_.sample(n, conditions, rng)
        return Encoded(x=self.latent_.inverse(z), c=c)

    def _log_prob_arrays(self, enc: Encoded) -> np.ndarray:
        z, logjac = self.latent_.forward(enc.x)
        return self.mixture_.log_prob(z, enc.c) + logjac

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        m = self.mixture_
        meta, tensors = self.latent_.state()
        tensors.update({"weights": m.weights, "means": m.means, "covs": m.covs})
        tensors.update({f"cat_probs.{j}": p for j, p in enumerate(m.cat_probs)})
        return {"n_components": m.n_components, **meta}, tensors

    def _expected_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        k, d = int(meta["n_components"]), len(self.schema_.numeric)
        shapes = {"weights": (k,), "means": (k, d), "covs": (k, d, d), **latent_shapes(meta, d)}
        shapes.update({f"cat_probs.{j}": (k, m) for j, m in enumerate(self.schema_.n_codes())})
        return shapes

    def _restore(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        cats = [tensors[f"cat_probs.{j}"] for j in range(len(self.schema_.categorical))]
        weights = tensors["weights"]
        if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
            raise ValueError("component weights must be non-negative and sum to 1")
        for k in range(weights.shape[0]):
            if tensors["covs"].shape[1] and np.any(np.linalg.eigvalsh(tensors["covs"][k]) <= 0):
                raise ValueError(f"covariance {k} is not positive definite")
        self.mixture_ = MixedMixture(weights, tensors["means"], tensors["covs"], cats)
        self.latent_ = latent_from_state(meta, tensors, len(self.schema_.numeric))

    @property
    def n_components_(self) -> int:
        """Number of mixture components of the fitted model."""
        return self.mixture_.n_components


class Gaussian(MixtureFamily):
    """Multivariate normal fitted by maximum likelihood, with categorical columns.

    Numeric columns follow N(mu_g, Sigma_g); categorical columns follow independent
    categorical distributions theta_g. Without `conditions` there is one group g, and
    mu, Sigma, theta are the closed-form maximum-likelihood estimates (sample mean, biased
    covariance, frequencies). With `fit(..., conditions=[cols])` there is one Gaussian per
    observed combination of those columns (the class-conditional Gaussian of Gaussian
    discriminant analysis), each shrunk towards the pooled fit by `shrinkage` pseudo-rows.

        p(x, c) = sum_g pi_g N(x; mu_g, Sigma_g) prod_j theta_gj[c_j]

    Args:
        covariance: "full" or "diag".
        shrinkage: pseudo-rows pulling each group's estimates towards the pooled ones.
        seed: default seed (recorded; the fit itself is deterministic).

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"h": [1.6, 1.7, 1.8, 1.75], "w": [55.0, 70.0, 80.0, 72.0]})
        >>> m = Gaussian(seed=0).fit(df)
        >>> m.sample(3, seed=1).shape
        (3, 2)
    """

    family: ClassVar[str] = "gaussian"
    summary: ClassVar[str] = "Maximum-likelihood multivariate normal (one per condition group)"
    when_to_use: ClassVar[str] = "A baseline, teaching, near-normal numeric data"
    adult_fit_time: ClassVar[str] = "< 1 s"
    conditioning: ClassVar[str] = "exact (groups + Bayes' rule)"
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **TableModel._parameter_constraints,
        "covariance": ("choice", ("full", "diag")),
        "shrinkage": ("float", 0.0, 1e9),
    }

    def __init__(
        self,
        *,
        covariance: Literal["full", "diag"] = "full",
        shrinkage: float = 10.0,
        seed: int | None = None,
    ) -> None:
        self._init_params(locals())

    def _fit_arrays(self, enc: Encoded, conditions: list[int], rng: np.random.Generator) -> None:
        z = self._latent_for_fitting(enc, rng)
        n_codes = self.schema_.n_codes()
        pooled = np.ones((enc.n, 1))
        pool_means, pool_covs = weighted_moments(z, pooled, self.covariance, reg=1e-9)
        prior = weighted_cat_probs(enc.c, pooled, n_codes, 0.0, [np.ones(m) for m in n_codes])
        if not conditions:
            self.mixture_ = MixedMixture(np.ones(1), pool_means, pool_covs, prior)
            self.history_ = []
            return
        keys, group = np.unique(enc.c[:, conditions], axis=0, return_inverse=True)
        resp = np.eye(len(keys))[group.reshape(-1)]  # (n, G) one-hot group membership
        nk = resp.sum(axis=0)
        means, covs = weighted_moments(z, resp, self.covariance, reg=0.0)
        lam = self.shrinkage
        w = (nk / (nk + lam))[:, None]
        means = w * means + (1 - w) * pool_means
        covs = w[:, :, None] * covs + (1 - w)[:, :, None] * pool_covs + 1e-9 * np.eye(z.shape[1])
        cats = weighted_cat_probs(enc.c, resp, n_codes, lam, [p[0] for p in prior])
        for g, key in enumerate(keys):
            for j, code in zip(conditions, key, strict=True):
                cats[j][g] = np.eye(n_codes[j])[code]
        self.mixture_ = MixedMixture(nk / nk.sum(), means, covs, cats)

    @property
    def mean_(self) -> np.ndarray:
        """Mean of the numeric columns in the user's units (pooled over groups)."""
        m, lat = self.mixture_, self.latent_
        assert isinstance(lat, Standardiser)
        return (m.weights @ m.means) * lat.scale + lat.loc

    @property
    def covariance_(self) -> np.ndarray:
        """Covariance of the numeric columns in the user's units (pooled over groups)."""
        m = self.mixture_
        mu = m.weights @ m.means
        within = np.einsum("k,kij->ij", m.weights, m.covs)
        between = np.einsum("k,ki,kj->ij", m.weights, m.means - mu, m.means - mu)
        assert isinstance(self.latent_, Standardiser)
        return (within + between) * np.outer(self.latent_.scale, self.latent_.scale)

