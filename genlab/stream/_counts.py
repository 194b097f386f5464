"""Exact marginals from a column's distinct values and their counts (the "exact two-pass
method" of a streamed fit): the in-memory fits (`bayesnet.quantile_edges`,
`bayesnet.binned_marginal`, `_marginal.fit_empirical`) begin with `np.unique(values,
return_counts=True)` and use nothing else of the values, so the same arithmetic on merged
(values, counts) gives the identical marginal (tests/test_stream_families.py checks it).

Memory is the column's distinct values, which the fitted model stores as knots anyway; a
column of all-different floats holds as many knots as rows in memory too.
"""

from __future__ import annotations

import numpy as np

from genlab.models.table._marginal import (
    PiecewiseMarginal,
    drop_flat_knots,
    edges_from_counts,
    empirical_from_counts,
)

__all__ = ["distinct_counts", "edges_from_counts", "empirical_from_counts",
           "binned_from_counts", "merge_distinct"]


def distinct_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct non-NaN values and their counts (int64)."""
    v, c = np.unique(values[~np.isnan(values)], return_counts=True)
    return v, c.astype(np.int64)


def merge_distinct(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values and counts of two parts together (exact; any order)."""
    v = np.concatenate([a[0], b[0]])
    c = np.concatenate([a[1], b[1]])
    u, inverse = np.unique(v, return_inverse=True)
    total = np.zeros(u.size, dtype=np.int64)
    np.add.at(total, inverse, c)  # integer adds: exact, unlike bincount's float weights
    return u, total


def binned_from_counts(v: np.ndarray, counts: np.ndarray, edges: np.ndarray, *,
                       integer: bool, decimals: int | None) -> PiecewiseMarginal:
    """`bayesnet.binned_marginal` of the values with these distinct values and counts."""
    from genlab.models.table.bayesnet import _piece_density

    size = int(counts.sum())
    gaps = np.diff(v)
    res = 1.0 if integer else 10.0**-decimals if decimals is not None else (
        float(np.median(gaps)) if gaps.size else 1.0)
    h = np.minimum(res / 2, np.minimum(np.r_[np.inf, gaps], np.r_[gaps, np.inf]) / 2)
    h = np.maximum(h, 1e-9 * max(1.0, float(np.abs(v).max())))
    b = np.searchsorted(edges, v, side="right")
    n_k = np.bincount(b, weights=counts, minlength=edges.size + 1)
    singles = np.bincount(b, weights=counts == 1, minlength=edges.size + 1)
    eps = np.clip(np.maximum(singles, 1) / n_k, 0.0, 0.5)
    lo, hi = np.r_[v[0] - h[0], edges], np.r_[edges, v[-1] + h[-1]]
    width = max(float(v[-1] - v[0]), res)
    tail = n_k[[0, -1]] * eps[[0, -1]] / (n_k[[0, -1]] + 1)
    smooth = n_k * eps
    smooth[[0, -1]] -= tail
    atoms = (v - h, v + h, counts * (1 - eps[b]) / size)
    cover = (np.r_[lo[0] - width, lo, hi[-1]], np.r_[lo[0], hi, hi[-1] + width],
             np.r_[tail[0], smooth, tail[1]] / size)
    xs = np.unique(np.r_[atoms[0], atoms[1], cover[0], cover[1]])
    mid = (xs[:-1] + xs[1:]) / 2
    dens = _piece_density(mid, *atoms) + _piece_density(mid, *cover)
    cdf = np.r_[0.0, np.cumsum(dens * np.diff(xs))]
    xs, cdf = drop_flat_knots(xs, cdf / cdf[-1])
    return PiecewiseMarginal(xs=xs, cdf_knots=cdf, lo=float(xs[0]), hi=float(xs[-1]))
