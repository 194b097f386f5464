"""Invertible per-column maps from numeric columns to a latent space, with exact Jacobians.

- `Standardiser`: z = (x - loc) / scale.
- `NormalScores`: z = Phi^{-1}(F_j(x)) with F_j a fitted marginal (`_marginal.py`), so each
  latent column is standard normal and a model of z only has to capture dependence.

Both give `forward(x) -> (z, log|dz/dx| per row)` over observed cells (NaN stays NaN and
contributes nothing), `inverse(z) -> x`, `for_fitting(x, rng)` (training scores, missing cells
filled), and tensors for the model file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from genlab.data.tabular import ColumnSpec
from genlab.models.table._marginal import (
    PiecewiseMarginal,
    fit_empirical,
    fit_parametric,
    marginals_from_state,
    marginals_shapes,
    marginals_state,
)

__all__ = ["LatentMap", "NormalScores", "Standardiser", "latent_from_state"]

_U_EPS = 1e-12
_HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


class LatentMap:
    """Interface of the per-column maps."""

    name = ""

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(z, log-Jacobian per row) for x (n, d) with NaN for missing cells."""
        raise NotImplementedError

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """x from z."""
        raise NotImplementedError

    def for_fitting(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Latent training values with no NaN."""
        raise NotImplementedError

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON metadata and tensors for the model file."""
        raise NotImplementedError


@dataclass
class Standardiser(LatentMap):
    """z = (x - loc) / scale per column."""

    loc: np.ndarray
    scale: np.ndarray
    name = "standardise"

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardiser:
        """Mean and standard deviation of the observed values (1 where constant)."""
        if x.size == 0:
            return cls(np.zeros(x.shape[1]), np.ones(x.shape[1]))
        scale = np.nanstd(x, axis=0)
        return cls(np.nanmean(x, axis=0), np.where(scale > 0, scale, 1.0))

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = (x - self.loc) / self.scale
        return z, -np.where(np.isnan(z), 0.0, np.log(self.scale)).sum(axis=1)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return z * self.scale + self.loc

    def for_fitting(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # mean imputation: missing cells sit at the centre and add no spurious correlation
        return np.nan_to_num(self.forward(x)[0], nan=0.0)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"latent": self.name}, {"latent.loc": self.loc, "latent.scale": self.scale}


@dataclass
class NormalScores(LatentMap):
    """z_j = Phi^{-1}(F_j(x_j)) with log-Jacobian log f_j(x_j) - log phi(z_j)."""

    marginals: list[PiecewiseMarginal]
    families: dict[str, str] = field(default_factory=dict)
    name = "normal_scores"

    @classmethod
    def fit(cls, x: np.ndarray, specs: list[ColumnSpec], rng: np.random.Generator,
            kind: str = "empirical") -> NormalScores:
        """Fit one marginal per numeric column ("empirical" or "parametric")."""
        marginals, families = [], {}
        for j, spec in enumerate(specs):
            col = x[:, j]
            v = col[~np.isnan(col)]
            integer = spec.kind == "integer" or spec.datetime_resolution == "D"
            if kind == "parametric":
                m, family = fit_parametric(v, integer=integer, decimals=spec.decimals, rng=rng)
            else:
                m, family = fit_empirical(v, integer=integer, decimals=spec.decimals), "empirical"
            marginals.append(m)
            families[spec.name] = family
        return cls(marginals, families)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = np.full(x.shape, np.nan)
        logjac = np.zeros(x.shape[0])
        for j, m in enumerate(self.marginals):
            ok = ~np.isnan(x[:, j])
            z[ok, j] = ndtri(np.clip(m.cdf(x[ok, j]), _U_EPS, 1 - _U_EPS))
            logjac[ok] += m.logpdf(x[ok, j]) + 0.5 * z[ok, j] ** 2 + _HALF_LOG_2PI
        return z, logjac

    def inverse(self, z: np.ndarray) -> np.ndarray:
        if not self.marginals:
            return np.zeros((z.shape[0], 0))
        return np.column_stack([m.ppf(ndtr(z[:, j])) for j, m in enumerate(self.marginals)])

    def for_fitting(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Scores of values jittered within their dequantisation width (ties would otherwise
        pile up on one score); missing cells get independent N(0, 1) draws, which carry no
        dependence information."""
        z = rng.standard_normal(x.shape)
        for j, m in enumerate(self.marginals):
            ok = ~np.isnan(x[:, j])
            v = x[ok, j]
            jittered = v + rng.uniform(-1, 1, v.size) * m.half_widths(v)
            z[ok, j] = ndtri(np.clip(m.cdf(jittered), _U_EPS, 1 - _U_EPS))
        return z

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        tensors = marginals_state(self.marginals, "latent")
        meta = {"latent": self.name, "knots": [int(m.xs.size) for m in self.marginals],
                "marginal_families": self.families}
        return meta, tensors


def latent_shapes(meta: dict[str, Any], d: int) -> dict[str, tuple[int, ...]]:
    """Tensor shapes a latent map of `meta` needs for d numeric columns."""
    if meta.get("latent") == Standardiser.name:
        return {"latent.loc": (d,), "latent.scale": (d,)}
    if meta.get("latent") != NormalScores.name:
        raise ValueError(f"unknown latent map {meta.get('latent')!r}")
    knots = list(meta["knots"])
    if len(knots) != d:
        raise ValueError(f"config lists {len(knots)} marginals for {d} numeric columns")
    return marginals_shapes(knots, "latent")


def latent_from_state(meta: dict[str, Any], tensors: dict[str, np.ndarray], d: int) -> LatentMap:
    """Rebuild a latent map from the model file, validating the knots."""
    if meta.get("latent") == Standardiser.name:
        scale = tensors["latent.scale"]
        if np.any(scale <= 0):
            raise ValueError("latent.scale must be positive")
        return Standardiser(tensors["latent.loc"], scale)
    marginals = marginals_from_state(dict(tensors), d, "latent")
    return NormalScores(marginals, dict(meta.get("marginal_families") or {}))
