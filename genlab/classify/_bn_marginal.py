"""Exact marginalisation of missing numeric values in a fitted Bayesian network.

The network scores a numeric NaN only where its column had missing values in training
(a "missing" state); elsewhere such a row is impossible to it. Summed out instead, a
missing numeric node contributes its bin states: the density inside a bin, f_j / F_j(bin),
integrates to one, so

    p(observed) = sum over the missing nodes' bins of prod_v P(s_v | s_pa(v))
                  * prod_{j observed} f_j(x_j) / F_j(b_j).

The sum over the missing nodes' bins is done by variable elimination on the CPTs
restricted to each row's observed values (exact, in time set by the network's small
families rather than by the number of combinations).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from genlab.data.columns import Encoded

__all__ = ["marginalising_bayesnet"]

def marginalising_bayesnet(model: Any) -> Any:
    """A shallow copy of a fitted BayesianNetwork whose log_prob sums missing numeric
    values out (columns that had missing values in training keep their "missing" state)."""
    scorer = copy.copy(model)
    scorer._log_prob_arrays = lambda enc: _log_prob(model, enc)
    return scorer


def _log_prob(model: Any, enc: Encoded) -> np.ndarray:
    states, _ = model._states(enc)
    d = len(model.edges_)
    keeps_missing = np.array([e.size + 1 < model.n_states_[j]
                              for j, e in enumerate(model.edges_)], dtype=bool)
    gone = np.isnan(enc.x) & ~keeps_missing[None, :] if d else np.zeros((enc.n, 0), bool)
    states[:, :d][gone] = 0
    lp = np.zeros(enc.n)
    with np.errstate(divide="ignore"):
        for j, (m, cdf) in enumerate(zip(model.marginals_, model._bin_cdf, strict=True)):
            ok = ~np.isnan(enc.x[:, j])
            b = states[ok, j]
            lp[ok] += m.logpdf(enc.x[ok, j]) - np.log(cdf[b + 1] - cdf[b])
        scopes = [(*pa, v) for v, pa in enumerate(model.parents_)]
        patterns, inverse = np.unique(gone, axis=0, return_inverse=True)
        for p, pattern in enumerate(patterns):
            rows = np.flatnonzero(inverse.reshape(-1) == p)
            lp[rows] += _pattern_log(model, states[rows], set(np.flatnonzero(pattern)), scopes)
    return lp


Factor = tuple[list[int], np.ndarray]  # variables, values (rows, *their states)


def _restrict(cpt: np.ndarray, scope: tuple[int, ...], free: set[int],
              s: np.ndarray) -> Factor:
    """A CPT with the observed variables set per row: (rows, *states of the free ones)."""
    keep = [i for i, u in enumerate(scope) if u in free]
    seen = [i for i, u in enumerate(scope) if u not in free]
    table = np.transpose(cpt, seen + keep)
    values = table[tuple(s[:, scope[i]] for i in seen)] if seen else table[None]
    return [scope[i] for i in keep], values


def _aligned(factor: Factor, names: list[int]) -> np.ndarray:
    names_in, values = factor
    order = [0] + [1 + names_in.index(u) for u in names if u in names_in]
    shape = [values.shape[0]] + [values.shape[1 + names_in.index(u)] if u in names_in else 1
                                 for u in names]
    return np.transpose(values, order).reshape(shape)


def _pattern_log(model: Any, s: np.ndarray, missing: set[int],
                 scopes: list[tuple[int, ...]]) -> np.ndarray:
    """Sum of the log CPTs over rows sharing one set of missing nodes, those summed out by
    variable elimination (smallest new factor first; rescaled per step against underflow)."""
    out = np.zeros(s.shape[0])
    factors: list[Factor] = []
    for v, scope in enumerate(scopes):
        if missing & set(scope):
            factors.append(_restrict(model.cpts_[v], scope, missing, s))
        else:
            out += np.log(model.cpts_[v][tuple(s[:, u] for u in scope)])
    left = set(missing)
    while left:
        sizes = {u: np.prod([model.n_states_[w] for w in
                             {w for f in factors if u in f[0] for w in f[0]}]) for u in left}
        u = min(sorted(left), key=sizes.__getitem__)
        left.discard(u)
        with_u = [f for f in factors if u in f[0]]
        factors = [f for f in factors if u not in f[0]]
        names = sorted({w for f in with_u for w in f[0]})
        product = _aligned(with_u[0], names)
        for f in with_u[1:]:
            product = product * _aligned(f, names)
        summed = product.sum(axis=1 + names.index(u))
        scale = summed.reshape(summed.shape[0], -1).max(axis=1)
        scale = np.where(scale > 0, scale, 1.0)
        out += np.log(scale)
        factors.append(([w for w in names if w != u],
                        summed / scale.reshape((-1,) + (1,) * (summed.ndim - 1))))
    for _, values in factors:
        out += np.log(values)
    return out
