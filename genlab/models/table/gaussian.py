"""Maximum-likelihood Gaussian: the classic first generative model, fitted to mixed tables."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from genlab._checks import check_params
from genlab.data.tabular import Encoded
from genlab.errors import ParameterError
from genlab.models.table._latent import LatentMap, Standardiser, latent_from_state, latent_shapes
from genlab.models.table._mixed import (
    MixedMixture,
    _log_gauss_all,
    weighted_cat_probs,
    weighted_moments,
)
from genlab.models.table.base import TableModel
from genlab.params import ParamSpec
from genlab.privacy.fit import PrivateFit

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


class Gaussian(PrivateFit, MixtureFamily):
    """Multivariate normal fitted by maximum likelihood, with categorical columns.

    Numeric columns follow N(mu_g, Sigma_g); categorical columns follow independent
    categorical distributions theta_g. Without `conditions` there is one group g, and
    mu, Sigma, theta are the closed-form maximum-likelihood estimates (sample mean, biased
    covariance, frequencies). With `fit(..., conditions=[cols])` there is one Gaussian per
    observed combination of those columns (the class-conditional Gaussian of Gaussian
    discriminant analysis): mu_g is the group's own mean, Sigma_g its covariance shrunk
    towards the pooled within-group covariance by lambda_g pseudo-rows (0: one covariance
    per group, as in QDA; very large: one shared covariance, as in LDA), and theta_g its
    frequencies smoothed towards the pooled ones.

        p(x, c) = sum_g pi_g N(x; mu_g, Sigma_g) prod_j theta_gj[c_j]

    Args:
        covariance: "full" or "diag".
        shrinkage: "auto" chooses lambda_g per group by held-out likelihood (5-fold over a
            grid for the covariance, leave-one-out for each categorical column); a number
            uses that many pseudo-rows for every group and column.
        seed: default seed (the folds of "auto" are drawn from it; otherwise the fit is
            deterministic).

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
        shrinkage: float | Literal["auto"] = "auto",
        seed: int | None = None,
    ) -> None:
        self._init_params(locals())

    def _validate_params(self) -> None:
        if isinstance(self.shrinkage, str):
            if self.shrinkage != "auto":
                raise ParameterError(
                    f"Gaussian: shrinkage must be 'auto' or a number in [0.0, 1e9] "
                    f"(pseudo-rows), got {self.shrinkage!r}")
            specs = {k: v for k, v in self._specs().items() if k != "shrinkage"}
            check_params(type(self).__name__, self.get_params(), specs)
            return
        super()._validate_params()

    dp_mechanism: ClassVar[str] = (
        "noisy sufficient statistics: Gaussian-noised sum and Gram matrix of range-scaled "
        "rows, noisy frequencies")

    def _fit_private(self, enc: Encoded, conditions: list[int], budget: Any, rho: float
                     ) -> None:
        """`fit(data, epsilon=...)`: noisy moments (see `genlab.privacy.gaussian`)."""
        from genlab.privacy.gaussian import fit_private_gaussian

        fit_private_gaussian(self, enc, budget, rho)

    def _fit_arrays(self, enc: Encoded, conditions: list[int], rng: np.random.Generator) -> None:
        z = self._latent_for_fitting(enc, rng)
        n_codes = self.schema_.n_codes()
        pooled = np.ones((enc.n, 1))
        pool_means, pool_covs = weighted_moments(z, pooled, self.covariance, reg=1e-9)
        prior = weighted_cat_probs(enc.c, pooled, n_codes, 0.0, [np.ones(m) for m in n_codes])
        self.group_shrinkage_: list[float] = []
        if not conditions:
            self.mixture_ = MixedMixture(np.ones(1), pool_means, pool_covs, prior)
            self.history_ = []
            return
        keys, group = np.unique(enc.c[:, conditions], axis=0, return_inverse=True)
        group = group.reshape(-1)
        resp = np.eye(len(keys))[group]  # (n, G) one-hot group membership
        nk = resp.sum(axis=0)
        means, covs = weighted_moments(z, resp, self.covariance, reg=0.0)
        target = _within_covariance(z, group, means, pool_covs, self.covariance)
        eye = np.eye(z.shape[1])
        lams = []
        for g in range(len(keys)):
            zg = z[group == g]
            auto = self.shrinkage == "auto"
            lam = _choose_cov_shrinkage(zg, target, self.covariance, rng) if auto else float(
                self.shrinkage)
            lams.append(lam)
            w = nk[g] / (nk[g] + lam) if np.isfinite(lam) else 0.0
            covs[g] = w * covs[g] + (1 - w) * target + _EPS * eye
        self.group_shrinkage_ = lams
        cats = _group_cat_probs(enc.c, group, len(keys), n_codes, prior, self.shrinkage)
        for g, key in enumerate(keys):
            for j, code in zip(conditions, key, strict=True):
                cats[j][g] = np.eye(n_codes[j])[code]
        self.mixture_ = MixedMixture(nk / nk.sum(), means, covs, cats)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, tensors = super()._state()
        if self.group_shrinkage_:
            # JSON has no infinity: null stands for "the pooled covariance itself"
            meta["group_shrinkage"] = [
                None if np.isinf(v) else v for v in self.group_shrinkage_]
        return meta, tensors

    def _restore(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        super()._restore(meta, tensors)
        lams = meta.get("group_shrinkage", [])
        ok = all(v is None or (isinstance(v, (int, float)) and v >= 0) for v in lams)
        if not isinstance(lams, list) or not ok:
            raise ValueError("group_shrinkage must be a list of non-negative numbers or null")
        self.group_shrinkage_ = [float("inf") if v is None else float(v) for v in lams]

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



# --- choosing the shrinkage of each group by held-out likelihood -------------------------

_EPS = 1e-6  # floor on latent variances (standardised units): keeps every Cholesky defined
# candidate pseudo-row counts; inf means the pooled within-group covariance itself
_GRID = np.array([0.0, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 8192, np.inf])
_FOLDS = 5


def _within_covariance(z: np.ndarray, group: np.ndarray, means: np.ndarray,
                       pooled: np.ndarray, covariance: str) -> np.ndarray:
    """Pooled within-group covariance (d, d), the shrinkage target. Shrinking towards the
    total covariance instead would add the spread *between* groups to every group (iris
    setosa's petals drawn 4x too wide); when the groups are nearly all single rows there is
    no within-group spread to pool and the total covariance is the only estimate left."""
    n, d = z.shape
    if n - means.shape[0] < max(2, d):
        return pooled[0]
    resid = z - means[group]
    cov = resid.T @ resid / n
    if covariance == "diag":
        cov = np.diag(np.diag(cov))
    return cov + _EPS * np.eye(d)


def _choose_cov_shrinkage(zg: np.ndarray, target: np.ndarray, covariance: str,
                          rng: np.random.Generator) -> float:
    """The pseudo-row count of `_GRID` whose covariance gives the group's held-out rows the
    highest likelihood (K-fold, folds drawn from `rng`); groups of under 3 rows cannot be
    cross-validated and take the target (inf)."""
    n, d = zg.shape
    if d == 0:
        return 0.0
    if n < 3:
        return float("inf")
    folds = np.array_split(rng.permutation(n), min(_FOLDS, n))
    total = np.zeros(len(_GRID))
    eye = np.eye(d)
    for held in folds:
        train = np.setdiff1d(np.arange(n), held)
        m = zg[train].mean(axis=0)
        resid = zg[train] - m
        s = resid.T @ resid / train.size
        if covariance == "diag":
            s = np.diag(np.diag(s))
        w = np.where(np.isfinite(_GRID), train.size / (train.size + _GRID), 0.0)
        covs = w[:, None, None] * s + (1 - w)[:, None, None] * target + _EPS * eye
        total += _held_out_log_lik(zg[held], m, covs)
    best = int(np.argmax(total))  # first maximum: the least shrinkage among ties
    return float(_GRID[best])


def _held_out_log_lik(x: np.ndarray, mean: np.ndarray, covs: np.ndarray) -> np.ndarray:
    """Summed log N(x; mean, cov_l) for each candidate covariance (L,); -inf where one is
    numerically singular."""
    means = np.broadcast_to(mean, (covs.shape[0], mean.size))
    try:
        return _log_gauss_all(x, means, covs).sum(axis=0)
    except np.linalg.LinAlgError:
        out = np.full(covs.shape[0], -np.inf)
        for i in range(covs.shape[0]):
            try:
                out[i] = _log_gauss_all(x, means[i:i + 1], covs[i:i + 1]).sum()
            except np.linalg.LinAlgError:
                continue
        return out


def _group_cat_probs(c: np.ndarray, group: np.ndarray, n_groups: int, n_codes: list[int],
                     prior: list[np.ndarray], shrinkage: float | str) -> list[np.ndarray]:
    """theta_gj: each group's frequencies plus alpha pseudo-counts spread as the pooled
    frequencies; alpha is `shrinkage`, or under "auto" the grid value with the highest
    leave-one-out likelihood (closed form for this smoothing) per group and column."""
    out = []
    for j, m in enumerate(n_codes):
        counts = np.zeros((n_groups, m))
        np.add.at(counts, (group, c[:, j]), 1.0)
        p = prior[j][0]
        probs = np.empty((n_groups, m))
        for g in range(n_groups):
            alpha = float(shrinkage) if shrinkage != "auto" else _loo_alpha(counts[g], p)
            if np.isinf(alpha):
                probs[g] = p
                continue
            row = counts[g] + alpha * p
            probs[g] = row / row.sum()
        out.append(probs)
    return out


def _loo_alpha(counts: np.ndarray, p: np.ndarray) -> float:
    """Pseudo-count alpha in `_GRID` maximising sum_i log theta_{-i}[c_i], where theta_{-i}
    are the smoothed frequencies without row i."""
    n = counts.sum()
    if n < 2:
        return float("inf")
    seen = counts > 0
    cnt, pr = counts[seen][:, None], p[seen][:, None]
    # no alpha = 0: a category a group never showed keeps a small probability
    alpha = _GRID[np.isfinite(_GRID) & (_GRID > 0)][None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        loo = np.sum(cnt * (np.log(cnt - 1 + alpha * pr) - np.log(n - 1 + alpha)), axis=0)
    loo = np.where(np.isnan(loo), -np.inf, loo)
    return float(alpha[0, int(np.argmax(loo))])
