"""One-dimensional marginals with a piecewise-linear CDF: exact cdf, inverse and density.

The empirical marginal mixes two parts, both piecewise linear, so their mixture is too:

- A (weight 1 - eps): each observed value v spreads its empirical mass uniformly over
  [v - h, v + h], h = half the data's resolution (1 for integers) or half the gap to its
  neighbours. Samples round back to observed values and spikes (e.g. the many zeros of a
  capital-gain column) are reproduced exactly.
- B (weight eps = 1/sqrt(n), clipped to [0.001, 0.05]): the interpolated empirical CDF,
  with short linear tails beyond the observed range holding 1/(n + 1) of B's mass each, so
  every value within (or just beyond) the observed range has a positive, finite density.

Sampling uses the part of the CDF over the dequantised range [v_min - h, v_max + h].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PiecewiseMarginal", "fit_empirical"]


@dataclass
class PiecewiseMarginal:
    """A distribution on R with CDF linear between knots `xs` (strictly increasing)."""

    xs: np.ndarray  # (K,)
    cdf_knots: np.ndarray  # (K,) from 0 to 1, non-decreasing
    lo: float  # sampling range
    hi: float

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """F(x)."""
        return np.interp(x, self.xs, self.cdf_knots, left=0.0, right=1.0)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Inverse CDF restricted to the sampling range: u in [0, 1] maps into [lo, hi]."""
        f_lo, f_hi = self.cdf(np.array([self.lo, self.hi]))
        return np.interp(f_lo + u * (f_hi - f_lo), self.cdf_knots, self.xs)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """log f(x); -inf outside the support."""
        seg = np.clip(np.searchsorted(self.xs, x, side="right") - 1, 0, len(self.xs) - 2)
        slope = np.diff(self.cdf_knots)[seg] / np.diff(self.xs)[seg]
        inside = (x >= self.xs[0]) & (x <= self.xs[-1])
        with np.errstate(divide="ignore"):
            return np.where(inside & (slope > 0), np.log(np.where(slope > 0, slope, 1.0)), -np.inf)

    def half_widths(self, x: np.ndarray) -> np.ndarray:
        """Width of the dequantisation noise at each value, for rank jittering while fitting."""
        return self._h[np.clip(np.searchsorted(self._v, x), 0, len(self._v) - 1)]

    _v: np.ndarray = None  # type: ignore[assignment]
    _h: np.ndarray = None  # type: ignore[assignment]


def _resolution(v: np.ndarray, integer: bool, decimals: int | None) -> float:
    if integer:
        return 1.0
    if decimals is not None:
        return 10.0 ** (-decimals)
    gaps = np.diff(v)
    return float(np.median(gaps)) if gaps.size else 1.0


def fit_empirical(
    values: np.ndarray, *, integer: bool = False, decimals: int | None = None
) -> PiecewiseMarginal:
    """Fit the smoothed, dequantised empirical marginal described in the module docstring."""
    v, counts = np.unique(values, return_counts=True)
    n = values.size
    p = counts / n
    r = _resolution(v, integer, decimals)
    gaps = np.diff(v)
    left = np.r_[np.inf, gaps]
    right = np.r_[gaps, np.inf]
    h = np.minimum(r / 2, np.minimum(left, right) / 2)
    if v.size == 1:
        h = np.array([max(r / 2, abs(v[0]) * 1e-6, 1e-9)])
    cum = np.cumsum(p)
    # Part A: uniform atoms [v - h, v + h].
    ax = np.column_stack([v - h, v + h]).ravel()
    af = np.column_stack([cum - p, cum]).ravel()
    # Part B: interpolated mid-point ECDF with tails.
    tail_mass = 1.0 / (n + 1)
    span = max(float(v[-1] - v[0]), 2 * float(h.max()))
    if v.size > 1:
        mid = cum - p / 2
        inner = tail_mass + (1 - 2 * tail_mass) * (mid - mid[0]) / (mid[-1] - mid[0])
    else:
        inner = np.array([0.5])
    bx = np.r_[v[0] - span, v, v[-1] + span]
    bf = np.r_[0.0, inner, 1.0]
    eps = float(np.clip(1 / np.sqrt(n), 0.001, 0.05))
    xs = np.unique(np.r_[ax, bx])
    fa = np.interp(xs, ax, af, left=0.0, right=1.0)
    fb = np.interp(xs, bx, bf)
    knots = (1 - eps) * fa + eps * fb
    m = PiecewiseMarginal(xs=xs, cdf_knots=knots, lo=float(v[0] - h[0]), hi=float(v[-1] + h[-1]))
    m._v, m._h = v, h
    return m
