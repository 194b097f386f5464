"""One-dimensional marginals with a piecewise-linear CDF: exact cdf, inverse and density.

The empirical marginal mixes two parts, both piecewise linear, so their mixture is too:

- A (weight 1 - eps): each observed value v spreads its empirical mass uniformly over
  [v - h, v + h], h = half the data's resolution (1 for integers) or half the gap to its
  neighbours. Samples round back to observed values and spikes (e.g. the many zeros of a
  capital-gain column) are reproduced exactly.
- B (weight eps = the Good-Turing estimate of the mass of unseen values, i.e. the share of
  values seen exactly once, at least 1/n and at most 1/2): the interpolated empirical CDF,
  with short linear tails beyond the observed range holding 1/(n + 1) of B's mass each, so
  every value within (or just beyond) the observed range has a positive, finite density.

Sampling uses the part of the CDF over the dequantised range [v_min - h, v_max + h].

Tails. The outermost segment on each side holds the small mass a marginal puts beyond the
observed range. By default that mass is spread as an exponential tail instead, from the
segment's inner knot outwards, with the same mass; its scale is 0.3 interquartile ranges
(`TAIL_SCALE`), or the segment's width if that is smaller: every value on R gets a finite
log-density that falls by one nat per scale beyond the data, and the total mass is still 1.
Inside `strict_support()` the segments stay linear and the density is exactly zero beyond
them (the bounded support).
"""

from __future__ import annotations

import contextlib
import contextvars
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from genlab.data.tabular import ColumnSpec

__all__ = [
    "PiecewiseMarginal",
    "column_resolution",
    "drop_flat_knots",
    "edges_from_counts",
    "empirical_from_counts",
    "fit_adaptive",
    "fit_empirical",
    "fit_parametric",
    "marginals_from_state",
    "marginals_shapes",
    "marginals_state",
    "quantile_edges",
    "smooth_marginal",
    "strict_support",
]

# `log_prob(..., strict=True)` asks for the bounded-support densities; a context variable
# carries that to every marginal without threading a flag through each family's code
_STRICT = contextvars.ContextVar("genlab_strict_support", default=False)


@contextlib.contextmanager
def strict_support(strict: bool = True) -> Iterator[None]:
    """Within the block, marginals have their bounded support (no exponential tails)."""
    token = _STRICT.set(bool(strict))
    try:
        yield
    finally:
        _STRICT.reset(token)


# The exponential tails' scale in interquartile ranges. A normal sample of a few thousand
# values ends near 3.3 sd, where the normal's hazard rate is ~3.3 / sd: an exponential of
# scale ~0.22 IQR. 0.3 is a little gentler. On the ODDS benchmark the tails' scale mattered
# only in the last digit (benchmarks/README.md: 8 rules compared, this one best by 0.002 AP).
TAIL_SCALE = 0.3


@dataclass
class PiecewiseMarginal:
    """A distribution on R with CDF linear between knots `xs` (strictly increasing)."""

    xs: np.ndarray  # (K,)
    cdf_knots: np.ndarray  # (K,) from 0 to 1, non-decreasing
    lo: float  # sampling range
    hi: float

    def _tails(self) -> tuple[float, float, float, float] | None:
        """(left mass, left scale, right mass, right scale), or None without tails."""
        if _STRICT.get() or self.xs.size < 3:
            return None
        k, x = self.cdf_knots, self.xs
        spread = self._spread()
        return (float(k[1] - k[0]), min(float(x[1] - x[0]), spread), float(k[-1] - k[-2]),
                min(float(x[-1] - x[-2]), spread))

    def _spread(self) -> float:
        """TAIL_SCALE x the interquartile range (or, where half the values sit on one spike,
        the central 98% range): the tails' scale, unless the outer segment is narrower."""
        q = np.interp([0.25, 0.75, 0.01, 0.99], self.cdf_knots, self.xs)
        width = q[1] - q[0] if q[1] > q[0] else q[3] - q[2]
        return TAIL_SCALE * float(width) if width > 0 else np.inf

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """F(x)."""
        x = np.asarray(x, dtype=np.float64)
        f = np.interp(x, self.xs, self.cdf_knots, left=0.0, right=1.0)
        tails = self._tails()
        if tails is None:
            return f
        m_lo, s_lo, m_hi, s_hi = tails
        a, b = self.xs[1], self.xs[-2]
        with np.errstate(over="ignore", under="ignore"):
            f = np.where(x < a, m_lo * np.exp(np.minimum(x - a, 0.0) / s_lo), f)
            return np.where(x > b, 1.0 - m_hi * np.exp(-np.maximum(x - b, 0.0) / s_hi), f)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Inverse CDF restricted to the sampling range: u in [0, 1] maps into [lo, hi]."""
        f_lo, f_hi = self.cdf(np.array([self.lo, self.hi]))
        t = f_lo + np.asarray(u, dtype=np.float64) * (f_hi - f_lo)
        x = np.interp(t, self.cdf_knots, self.xs)
        tails = self._tails()
        if tails is not None:
            m_lo, s_lo, m_hi, s_hi = tails
            k = self.cdf_knots
            with np.errstate(divide="ignore", invalid="ignore"):
                x = np.where((t < k[1]) & (m_lo > 0),
                             self.xs[1] + s_lo * np.log(np.maximum(t, 1e-300) / m_lo), x)
                x = np.where((t > k[-2]) & (m_hi > 0),
                             self.xs[-2] - s_hi * np.log(np.maximum(1 - t, 1e-300) / m_hi), x)
        return np.clip(x, self.lo, self.hi)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """log f(x): finite on R by default (the exponential tails); -inf outside the
        bounded support within `strict_support()`."""
        x = np.asarray(x, dtype=np.float64)
        seg = np.clip(np.searchsorted(self.xs, x, side="right") - 1, 0, len(self.xs) - 2)
        slope = np.diff(self.cdf_knots)[seg] / np.diff(self.xs)[seg]
        inside = (x >= self.xs[0]) & (x <= self.xs[-1])
        with np.errstate(divide="ignore"):
            out = np.where(inside & (slope > 0), np.log(np.where(slope > 0, slope, 1.0)),
                           -np.inf)
            tails = self._tails()
            if tails is None:
                return out
            m_lo, s_lo, m_hi, s_hi = tails
            a, b = self.xs[1], self.xs[-2]
            out = np.where(x < a, np.log(m_lo / s_lo) + (x - a) / s_lo, out)
            return np.where(x > b, np.log(m_hi / s_hi) - (x - b) / s_hi, out)

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


def drop_flat_knots(xs: np.ndarray, cdf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots without the flat segments round-off makes: where one atom's end and the next
    one's start differ by a few ulps, the segment between adds less than an ulp to the CDF
    and would read as zero density (a finite value scored -inf)."""
    keep = np.r_[True, np.diff(cdf) > 0]
    keep[-1] = True
    return xs[keep], np.maximum.accumulate(cdf[keep])


def fit_empirical(
    values: np.ndarray, *, integer: bool = False, decimals: int | None = None
) -> PiecewiseMarginal:
    """Fit the smoothed, dequantised empirical marginal described in the module docstring."""
    v, counts = np.unique(values, return_counts=True)
    return empirical_from_counts(v, counts, integer=integer, decimals=decimals)


def empirical_from_counts(v: np.ndarray, counts: np.ndarray, *, integer: bool = False,
                          decimals: int | None = None) -> PiecewiseMarginal:
    """`fit_empirical` of the values with these sorted distinct values `v` and `counts`
    (what a streamed fit adds up over batches)."""
    n = int(counts.sum())
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
    # Good-Turing: the chance that a new draw is a value never seen is about the share of
    # values seen exactly once, so that is the weight of the smooth part.
    eps = float(np.clip(max(int(np.sum(counts == 1)), 1) / n, 0.0, 0.5))
    xs = np.unique(np.r_[ax, bx])
    fa = np.interp(xs, ax, af, left=0.0, right=1.0)
    fb = np.interp(xs, bx, bf)
    xs, knots = drop_flat_knots(xs, (1 - eps) * fa + eps * fb)
    m = PiecewiseMarginal(xs=xs, cdf_knots=knots, lo=float(v[0] - h[0]), hi=float(v[-1] + h[-1]))
    m._v, m._h = v, h
    return m


_PARAMETRIC = ("norm", "lognorm", "gamma", "beta", "uniform", "truncnorm")
_GRID = 2048
_FIT_ROWS = 5000


def _candidate(name: str, v: np.ndarray, lo: float, hi: float) -> Any:
    """A frozen scipy distribution of family `name` fitted to v by maximum likelihood."""
    if name == "norm":
        return stats.norm(*stats.norm.fit(v))
    if name == "uniform":
        return stats.uniform(lo, hi - lo)
    if name == "beta":
        a, b, _, _ = stats.beta.fit(v, floc=lo, fscale=hi - lo)
        return stats.beta(a, b, loc=lo, scale=hi - lo)
    if name == "truncnorm":
        mu, sd = float(np.mean(v)), float(np.std(v))
        a, b, loc, scale = stats.truncnorm.fit(v, (lo - mu) / sd, (hi - mu) / sd, loc=mu, scale=sd)
        return stats.truncnorm(a, b, loc=loc, scale=scale)
    dist = getattr(stats, name)
    return dist(*dist.fit(v, floc=lo - 1e-9 * max(1.0, abs(lo))))


def fit_parametric(
    values: np.ndarray, *, integer: bool = False, decimals: int | None = None,
    rng: np.random.Generator | None = None,
) -> tuple[PiecewiseMarginal, str]:
    """Best of a few parametric families by AIC, tabulated as a piecewise-linear CDF on
    2,048 knots at its own quantiles (so every other operation is shared and exact)."""
    rng = rng or np.random.default_rng(0)
    v = values if values.size <= _FIT_ROWS else rng.choice(values, _FIT_ROWS, replace=False)
    v = v.astype(np.float64)
    base = fit_empirical(values, integer=integer, decimals=decimals)
    lo, hi = base.lo, base.hi
    best, best_aic, best_name = None, np.inf, "norm"
    for name in _PARAMETRIC:
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                dist = _candidate(name, v, lo, hi)
                ll = np.sum(dist.logpdf(v))
        except (ValueError, RuntimeError, FloatingPointError):
            continue
        k = {"uniform": 0, "beta": 2, "truncnorm": 4}.get(name, 2)
        aic = 2 * k - 2 * ll
        if np.isfinite(aic) and aic < best_aic:
            best, best_aic, best_name = dist, aic, name
    if best is None:
        return base, "empirical"
    q = np.linspace(0.0, 1.0, _GRID + 1)[1:-1]
    xs = np.unique(np.r_[lo - (hi - lo), best.ppf(q), hi + (hi - lo)])
    xs = xs[np.isfinite(xs)]
    cdf = best.cdf(xs)
    cdf[0], cdf[-1] = 0.0, 1.0
    keep = np.r_[True, np.diff(cdf) > 0]  # drop flat knots so the inverse is well defined
    xs, cdf = xs[keep], np.maximum.accumulate(cdf[keep])
    fitted = PiecewiseMarginal(xs=xs, cdf_knots=cdf, lo=lo, hi=hi)
    fitted._v, fitted._h = base._v, base._h
    return fitted, best_name


def smooth_marginal(values: np.ndarray, *, resolution: float) -> PiecewiseMarginal:
    """Piecewise-linear CDF through K empirical quantiles (K = n/30, between 8 and 512),
    with linear tails one range wide holding 1/(n+1) each: a smooth density for columns
    whose values are mostly unique (e.g. Adult's fnlwgt), where per-value atoms would put
    half the mass on the training values. The flow's splines refine the shape."""
    v = np.sort(values.astype(np.float64))
    n = v.size
    k = int(np.clip(n // 30, 8, 512))
    tail = 1.0 / (n + 1)
    q = np.linspace(0.0, 1.0, k + 1)
    xs = np.quantile(v, q)
    xs[0], xs[-1] = v[0] - resolution / 2, v[-1] + resolution / 2
    xs, first = np.unique(xs, return_index=True)
    cdf = tail + (1 - 2 * tail) * q[first]
    if xs.size == 1:
        xs, cdf = np.r_[xs - 0.5, xs + 0.5], np.r_[tail, 1 - tail]
    cdf[-1] = 1 - tail
    span = max(float(xs[-1] - xs[0]), 1e-9)
    xs = np.r_[xs[0] - span, xs, xs[-1] + span]
    cdf = np.r_[0.0, cdf, 1.0]
    return PiecewiseMarginal(xs=xs, cdf_knots=cdf, lo=float(v[0]), hi=float(v[-1]))


SMOOTH_SINGLETONS = 0.2  # share of values seen once above which a column gets `smooth_marginal`


def column_resolution(spec: ColumnSpec) -> float:
    """The spacing of a numeric column's values (its dequantisation width), in model units."""
    if spec.kind == "integer":
        return 1.0
    if spec.kind == "datetime":
        per_day = {"D": 1.0, "s": 86_400.0, "ms": 86_400_000.0}
        return 1.0 / per_day[spec.datetime_resolution] if spec.datetime_resolution else 0.0
    return 10.0 ** -spec.decimals if spec.decimals is not None else 0.0


def fit_adaptive(values: np.ndarray, spec: ColumnSpec) -> tuple[PiecewiseMarginal, np.ndarray]:
    """`smooth_marginal` for columns of mostly unique values, `fit_empirical` otherwise;
    returns the marginal and each value's dequantisation half-width."""
    uniques, counts = np.unique(values, return_counts=True)
    r = column_resolution(spec)
    if np.mean(counts == 1) * uniques.size / values.size > SMOOTH_SINGLETONS:
        return smooth_marginal(values, resolution=r), np.full(values.shape, r / 2)
    integer = spec.kind == "integer" or spec.datetime_resolution == "D"
    m = fit_empirical(values, integer=integer, decimals=spec.decimals)
    return m, m.half_widths(values)


def marginals_state(marginals: list[PiecewiseMarginal], prefix: str) -> dict[str, np.ndarray]:
    """Tensors of a list of marginals for the model file: `<prefix>.<j>.xs|cdf|range`."""
    tensors: dict[str, np.ndarray] = {}
    for j, m in enumerate(marginals):
        tensors[f"{prefix}.{j}.xs"] = m.xs
        tensors[f"{prefix}.{j}.cdf"] = m.cdf_knots
        tensors[f"{prefix}.{j}.range"] = np.array([m.lo, m.hi])
    return tensors


def marginals_shapes(knots: list[int], prefix: str) -> dict[str, tuple[int, ...]]:
    """Shapes `marginals_state` writes for marginals with these knot counts."""
    shapes: dict[str, tuple[int, ...]] = {}
    for j, k in enumerate(knots):
        shapes.update({f"{prefix}.{j}.xs": (int(k),), f"{prefix}.{j}.cdf": (int(k),),
                       f"{prefix}.{j}.range": (2,)})
    return shapes


def marginals_from_state(
    tensors: dict[str, np.ndarray], d: int, prefix: str
) -> list[PiecewiseMarginal]:
    """Inverse of `marginals_state`; removes its tensors from `tensors` and checks the knots."""
    out = []
    for j in range(d):
        xs, cdf = tensors.pop(f"{prefix}.{j}.xs"), tensors.pop(f"{prefix}.{j}.cdf")
        lo, hi = tensors.pop(f"{prefix}.{j}.range")
        if np.any(np.diff(xs) <= 0) or np.any(np.diff(cdf) < 0):
            raise ValueError(f"marginal {j} knots are not increasing")
        out.append(PiecewiseMarginal(xs, cdf, float(lo), float(hi)))
    return out


def quantile_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Interior bin edges (strictly increasing) for equal-frequency bins of `values`.

    A value holding more than one bin's worth of rows (a spike, e.g. capital-gain == 0) gets
    a bin of its own; the other values share the remaining bins by quantiles. Edges sit
    half-way between neighbouring distinct values, so no observed value lies on an edge.
    """
    v, counts = np.unique(values, return_counts=True)
    return edges_from_counts(v, counts, n_bins)


def edges_from_counts(v: np.ndarray, counts: np.ndarray, n_bins: int) -> np.ndarray:
    """`quantile_edges` of the values with these sorted distinct values and counts (what a
    streamed fit adds up over batches)."""
    spike = counts > int(counts.sum()) / n_bins
    cuts: set[int] = set()  # cut after distinct value i
    if (~spike).any():
        k_rest = max(1, n_bins - int(spike.sum()))
        cum = np.cumsum(np.where(spike, 0, counts))
        cuts.update(np.searchsorted(cum, cum[-1] * np.arange(1, k_rest) / k_rest).tolist())
    for s in np.flatnonzero(spike):
        cuts.update((int(s) - 1, int(s)))
    idx = np.array(sorted(c for c in cuts if 0 <= c < v.size - 1), dtype=np.int64)
    return (v[idx] + v[idx + 1]) / 2
