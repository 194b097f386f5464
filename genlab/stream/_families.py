"""The stages of each family's streamed fit (`genlab.stream.plan`); every stage after the
codec encodes its batch with the fitted codec. What each computes: `genlab.stream.fit`."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from genlab.errors import ParameterError
from genlab.models.table._bn_graph import BicScorer
from genlab.stream._stage import (
    Stage,
    codec_stage,
    encode,
    moments_stages,
    need,
    standardiser,
    sum_combine,
    values_stage,
)

__all__ = ["CountScorer", "bayesnet_stages", "copula_stages", "gaussian_stages",
           "mixture_stages"]


def gaussian_stages(plan: Any) -> Iterator[Stage]:
    """Codec; means; deviations; sums and cross-products of the standardised values."""
    from genlab.models.table._mixed import MixedMixture

    yield codec_stage(plan)
    sums: dict[str, Any] = {}
    yield from moments_stages(plan, sums)
    model, codec, n = plan.model, plan.codec, plan.rows
    d = len(codec.numeric)
    latent = standardiser(sums, d)

    def products(batch: pd.DataFrame) -> dict[str, Any]:
        z = latent.for_fitting(encode(codec, batch).x, None)
        return {"first": z.sum(axis=0), "second": z.T @ z}

    def finish(total: dict[str, Any] | None) -> None:
        t = need(total)
        nk = n + 1e-12  # as weighted_moments divides
        means = (t["first"] / nk)[None, :]
        if model.covariance == "full":
            covs = t["second"][None] / nk - means[:, :, None] * means[:, None, :]
        else:
            var = np.maximum(np.diag(t["second"]) / nk - means[0] ** 2, 0.0)
            covs = (var[:, None] * np.eye(d))[None]
        covs = covs + 1e-9 * np.eye(d)[None]
        prior = [(c / n)[None, :] for c in sums["cats"]]
        prior = [p / p.sum(axis=1, keepdims=True) for p in prior]
        model.latent_ = latent
        model.mixture_ = MixedMixture(np.ones(1), means, covs, prior)
        model.group_shrinkage_ = []

    yield Stage("moments", products, sum_combine, finish)


class CountScorer(BicScorer):
    """`_bn_graph.BicScorer` from joint counts of every `size` nodes (the counts of any
    smaller family are their margins), so BIC scores equal the in-memory ones exactly."""

    def __init__(self, joint: dict[tuple[int, ...], np.ndarray], n_states: list[int],
                 n: int) -> None:
        # no data matrix: `counts` reads the margins of the joint totals instead
        self.joint, self.n_states, self.n = joint, list(n_states), n
        self._cache = {}

    def counts(self, child: int, parents: tuple[int, ...]) -> np.ndarray:
        """N[parent states..., child state], as `_bn_graph.family_counts`."""
        family = sorted({*parents, child})
        key = next(k for k in self.joint if set(family) <= set(k))
        table = self.joint[key].sum(axis=tuple(i for i, v in enumerate(key) if v not in family))
        order = [family.index(v) for v in (*parents, child)]
        return np.transpose(table, order)


_MAX_CELLS = 200_000_000


def bayesnet_stages(plan: Any) -> Iterator[Stage]:
    """Codec; distinct values (bins and marginals); joint counts of every max_parents + 1
    nodes (structure by BIC and the CPTs from them)."""
    from genlab.models.table._bn_graph import chow_liu, hill_climb, topological_order
    from genlab.stream._counts import binned_from_counts, edges_from_counts

    model = plan.model
    if model.max_parents > 2:
        raise ParameterError("a streamed bayesnet supports max_parents up to 2 (it keeps the "
                             "joint counts of every max_parents + 1 columns); lower it or fit "
                             "in memory")
    yield codec_stage(plan)
    got: dict[str, Any] = {}
    yield values_stage(plan, got)
    n_bins = min(model.n_bins, max(2, int(np.ceil(plan.rows ** (1 / 3)))))
    model.edges_, model.marginals_ = [], []
    for spec, (v, c) in zip(plan.codec.numeric, got["values"], strict=True):
        integer = spec.kind == "integer" or spec.datetime_resolution == "D"
        model.edges_.append(edges_from_counts(v, c, n_bins))
        model.marginals_.append(binned_from_counts(v, c, model.edges_[-1], integer=integer,
                                                   decimals=spec.decimals))
    model._derive()
    k = list(model.n_states_)
    size = min(model.max_parents + 1, len(k))
    groups = list(combinations(range(len(k)), size))
    if sum(int(np.prod([k[v] for v in g])) for g in groups) > _MAX_CELLS:
        raise ParameterError("the joint counts of a streamed bayesnet would not fit in memory; "
                             "lower n_bins or max_parents")

    codec = plan.codec  # partials never hold the plan: they travel to workers

    def partial(batch: pd.DataFrame) -> dict[str, Any]:
        states = model._states(encode(codec, batch))[0].T
        # mixed-radix codes of each group; groups sharing their first nodes come one after
        # another (combinations are lexicographic), so that part is computed once for them
        head, base, out = None, np.zeros(0, np.int64), {}
        for g in groups:
            if g[:-1] != head:
                head, base = g[:-1], np.zeros(states.shape[1], np.int64)
                for v in head:
                    base = base * k[v] + states[v]
            code = base * k[g[-1]] + states[g[-1]]
            out[g] = np.bincount(code, minlength=int(np.prod([k[v] for v in g])))
        return {"joint": {g: t.astype(np.int64) for g, t in out.items()}}

    def finish(total: dict[str, Any] | None) -> None:
        joint = {g: t.reshape([k[v] for v in g]) for g, t in need(total)["joint"].items()}
        scorer = CountScorer(joint, k, plan.rows)
        parents: list[list[int]] = [[] for _ in k]
        if model.max_parents > 0:
            parents = chow_liu(scorer)  # type: ignore[arg-type]
            if model.structure == "hillclimb":
                parents = hill_climb(scorer, parents, model.max_parents)  # type: ignore[arg-type]
        model.parents_ = parents
        model._order = topological_order(parents)
        model.bic_ = float(sum(scorer(v, p) for v, p in enumerate(parents)))
        model.cpts_ = [_cpt(scorer, model, v) for v in range(len(parents))]

    yield Stage("joint counts", partial, sum_combine, finish)


def _cpt(scorer: CountScorer, model: Any, v: int) -> np.ndarray:
    """`BayesianNetwork._cpt` from the counts."""
    counts = scorer.counts(v, tuple(model.parents_[v])).astype(np.float64)
    marginal = scorer.counts(v, ()) / scorer.n
    total = counts.sum(axis=-1, keepdims=True) + model.alpha
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (counts + model.alpha * marginal) / total, marginal)


def copula_stages(plan: Any) -> Iterator[Stage]:
    """See `genlab.stream._copula`."""
    from genlab.stream._copula import stages

    return stages(plan)


def mixture_stages(plan: Any) -> Iterator[Stage]:
    """See `genlab.stream._mixture`."""
    from genlab.stream._mixture import stages

    return stages(plan)
