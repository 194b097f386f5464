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
    """The distinct values and counts of two parts together (exact; any order). Both parts
    are sorted and distinct (as `distinct_counts` gives them), so one merge does: the
    running total is not sorted again for every batch (that made the pass slower as a
    high-cardinality column's distinct values grew)."""
    (va, ca), (vb, cb) = a, b
    if va.size < vb.size:  # insert the smaller part into the larger
        (va, ca), (vb, cb) = (vb, cb), (va, ca)
    at = np.searchsorted(va, vb)
    hit = at < va.size
    hit[hit] = va[at[hit]] == vb[hit]
    total = ca.astype(np.int64, copy=True)
    total[at[hit]] += cb[hit]  # integer adds: exact; `at[hit]` distinct as vb is
    new = ~hit
    return np.insert(va, at[new], vb[new]), np.insert(total, at[new], cb[new])


def binned_from_counts(v: np.ndarray, counts: np.ndarray, edges: np.ndarray, *,
                       integer: bool, decimals: int | None) -> PiecewiseMarginal:
    """`bayesnet.binned_marginal` of the values with these distinct values and counts."""
    from genlab.models.table.bayesnet import binned_from_counts as fit

    return fit(v, counts, edges, integer=integer, decimals=decimals)
