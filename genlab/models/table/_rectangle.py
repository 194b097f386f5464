"""Gaussian rectangle probabilities and truncated sampling (the GHK simulator).

P(L <= z <= U) for z ~ N(mu, S) has no closed form beyond one dimension. GHK writes z =
mu + C e with C = chol(S) and draws e_j one at a time from a standard normal truncated to
the interval that keeps z_j inside [L_j, U_j] given e_<j; the product of those interval
probabilities is an unbiased estimate. With fixed scrambled-Sobol points it is deterministic;
in one dimension it is exact. Shapes: n rows, J dims, M quasi-random points.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri
from scipy.stats import qmc

__all__ = ["log_rectangle_prob", "sample_truncated"]

_CHUNK = 2048
_TINY = 1e-300


def _points(m: int, dims: int, seed: int) -> np.ndarray:
    return qmc.Sobol(d=max(dims, 1), scramble=True, seed=seed).random(m)


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
        a = ndtr((lower[:, j, None] - shift) / chol[j, j])
        b = ndtr((upper[:, j, None] - shift) / chol[j, j])
        width = np.maximum(b - a, 0.0)
        logw += np.log(np.maximum(width, _TINY))
        u = np.clip(a + w[None, :, j] * width, 1e-16, 1 - 1e-16)
        e[:, :, j] = ndtri(u)
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
        p = ndtr((upper[:, 0] - mean[:, 0]) / s) - ndtr((lower[:, 0] - mean[:, 0]) / s)
        with np.errstate(divide="ignore"):
            return np.log(np.maximum(p, 0.0))
    w = _points(n_points, dims, seed)
    out = np.empty(n)
    for start in range(0, n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        logw, _ = _ghk(lower[sl], upper[sl], mean[sl], chol, w)
        top = logw.max(axis=1, keepdims=True)
        out[sl] = top[:, 0] + np.log(np.mean(np.exp(logw - top), axis=1))
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
