"""Gaussian rectangle probabilities and truncated sampling (the GHK simulator).

P(L <= z <= U) for z ~ N(mu, S) has no closed form beyond one dimension. GHK writes z =
mu + C e with C = chol(S) and draws e_j one at a time from a standard normal truncated to
the interval that keeps z_j inside [L_j, U_j] given e_<j; the product of those interval
probabilities is an unbiased estimate. With fixed scrambled-Sobol points it is deterministic;
in one dimension it is exact. Shapes: n rows, J dims, M quasi-random points.

Everything is in log space: an interval far in a tail (a category whose latent interval lies
many standard deviations from the conditional mean, common when numeric columns predict it
well) has a probability like 1e-400, which `Phi(b) - Phi(a)` rounds to 0. The interval is
first reflected into the lower half, where log Phi is accurate (`log_ndtr`), and draws in it
use the inverse of log Phi (`ndtri_exp`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr, logsumexp, ndtri_exp
from scipy.stats import qmc

__all__ = ["log_interval", "log_rectangle_prob", "sample_truncated"]

_CHUNK = 2048
_W_EPS = 1e-16
_LN2 = float(np.log(2.0))


def _points(m: int, dims: int, seed: int) -> np.ndarray:
    return qmc.Sobol(d=max(dims, 1), scramble=True, seed=seed).random(m)


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """log(1 - exp(x)) for x <= 0, accurate at both ends."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > -_LN2, np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def log_interval(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log(Phi(b) - Phi(a)) for a <= b, accurate however far in a tail; also what a draw
    inside the interval needs: whether it was reflected (`flip`) and log Phi of its lower
    end after reflection."""
    with np.errstate(invalid="ignore"):
        flip = (a + b) > 0
    lo, hi = np.where(flip, -b, a), np.where(flip, -a, b)
    l_lo, l_hi = log_ndtr(lo), log_ndtr(hi)
    with np.errstate(invalid="ignore"):
        log_w = l_hi + _log1mexp(np.minimum(l_lo - l_hi, 0.0))
    return np.where(hi > lo, log_w, -np.inf), flip, l_lo


def _draw(log_w: np.ndarray, flip: np.ndarray, l_lo: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Standard normal draws truncated to the intervals of `log_interval`, w uniform."""
    log_t = np.logaddexp(l_lo, np.log(np.clip(w, _W_EPS, 1 - _W_EPS)) + log_w)
    e = ndtri_exp(np.minimum(log_t, 0.0))
    return np.where(flip, -e, e)


def _ghk(
    lower: np.ndarray, upper: np.ndarray, mean: np.ndarray, chol: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return per-(row, point) log weights (n, M) and the standard draws e (n, M, J)."""
    n, dims = lower.shape
    m = w.shape[0]
    e = np.zeros((n, m, dims))
    logw = np.zeros((n, m))
    for j in range(dims):
        shift = mean[:, j, None] + e[:, :, :j] @ chol[j, :j]
        a = (lower[:, j, None] - shift) / chol[j, j]
        b = (upper[:, j, None] - shift) / chol[j, j]
        log_w, flip, l_lo = log_interval(a, b)
        logw += log_w
        # an empty interval (a zero-probability code) has weight 0; its draw is irrelevant
        drawn = _draw(np.where(np.isfinite(log_w), log_w, 0.0), flip, l_lo, w[None, :, j])
        e[:, :, j] = np.where(np.isfinite(drawn), drawn, 0.0)
    return logw, e


def log_rectangle_prob(
    lower: np.ndarray,
    upper: np.ndarray,
    mean: np.ndarray,
    cov: np.ndarray,
    *,
    n_points: int = 256,
    seed: int = 0,
) -> np.ndarray:
    """log P(lower <= z <= upper) per row for z ~ N(mean_row, cov); (n, J) bounds -> (n,)."""
    n, dims = lower.shape
    if dims == 0:
        return np.zeros(n)
    chol = np.linalg.cholesky(cov)
    if dims == 1:
        s = chol[0, 0]
        return log_interval((lower[:, 0] - mean[:, 0]) / s, (upper[:, 0] - mean[:, 0]) / s)[0]
    w = _points(n_points, dims, seed)
    out = np.empty(n)
    for start in range(0, n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        logw, _ = _ghk(lower[sl], upper[sl], mean[sl], chol, w)
        with np.errstate(divide="ignore"):
            out[sl] = logsumexp(logw, axis=1) - np.log(w.shape[0])
    return out


def sample_truncated(
    lower: np.ndarray, upper: np.ndarray, cov: np.ndarray, n: int, rng: np.random.Generator,
    *, oversample: int = 8,
) -> np.ndarray:
    """Draw n vectors z ~ N(0, cov) restricted to [lower, upper] (J,), by GHK proposals and
    importance resampling (exact in one dimension, consistent in more)."""
    dims = lower.shape[0]
    chol = np.linalg.cholesky(cov)
    m = n if dims == 1 else n * oversample
    lo = np.broadcast_to(lower, (1, dims))
    hi = np.broadcast_to(upper, (1, dims))
    logw, e = _ghk(lo, hi, np.zeros((1, dims)), chol, rng.random((m, dims)))
    z = e[0] @ chol.T  # (m, J)
    if dims == 1:
        return z
    w = np.exp(logw[0] - logw[0].max())
    pick = rng.choice(m, size=n, p=w / w.sum())
    return z[pick]
