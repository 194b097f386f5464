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
    from genlab.models.table.bayesnet import binned_from_counts as fit

    return fit(v, counts, edges, integer=integer, decimals=decimals)
