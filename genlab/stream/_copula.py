"""The streamed Gaussian copula (`marginals="empirical"`), in five passes:

1. the codec; 2. every numeric column's distinct values and counts, so the marginals are
   the in-memory ones exactly (`genlab.stream._counts`); 3. the moments of the jittered
   normal scores (their covariance gives the leading principal axis); 4. per categorical
   value its count and the sum of the leading score (the value order of the intervals);
   5. the moments of all scores, numeric and categorical (the correlation, then the same
   attenuation correction and nearest-correlation projection as in memory).

The one departure from the in-memory fit is where the random numbers come from. In memory,
one generator seeded by the model's seed draws the tie jitter and the categorical scores
row after row of the whole table, which no batched or distributed pass can replay. Here
each batch draws them from `default_rng([seed, h])`, h taken from the batch's row hashes,
the same in every pass over the same batches, so passes 3 to 5 see the same scores. The
marginals, the category probabilities and (where the leading scores are not tied) the
value orders are the in-memory ones, or those reversed: the sign of the leading axis
is fixed here (entries summing >= 0) but LAPACK's choice in memory, and a reversed order
with the sign of that column's correlations flipped is the same model; the correlation
differs by the jitter's sampling noise only, O(1 / sqrt(rows)) (tests: within
4 / sqrt(rows) on 20,000 rows).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from genlab.errors import ParameterError
from genlab.stream._stage import Stage, codec_stage, encode, need, row_hashes, sum_combine

__all__ = ["batch_rng", "stages"]

_U_EPS = 1e-12


def batch_rng(seed: int, batch: pd.DataFrame) -> np.random.Generator:
    """The generator of one batch's random draws: the same for the same rows and seed."""
    h = row_hashes(batch)
    key = int(np.bitwise_xor.reduce(h * np.uint64(0x9E3779B97F4A7C15))) if h.size else 0
    return np.random.default_rng([int(seed), key & 0xFFFFFFFF, key >> 32, h.size])


def _moments(z: np.ndarray) -> dict[str, Any]:
    return {"n": z.shape[0], "first": z.sum(axis=0), "second": z.T @ z}


def _cov(t: dict[str, Any]) -> np.ndarray:
    """The unbiased covariance, as `np.cov`, from the moments."""
    n, mean = t["n"], t["first"] / t["n"]
    return (t["second"] - n * np.outer(mean, mean)) / (n - 1)


def stages(plan: Any) -> Iterator[Stage]:
    """The copula's stages (module docstring)."""
    from genlab.models.table._latent import NormalScores
    from genlab.stream._counts import empirical_from_counts
    from genlab.stream._stage import values_stage

    model = plan.model
    if model.marginals != "empirical":
        raise ParameterError("a streamed copula fits marginals='empirical' (a parametric fit "
                             "subsamples the whole column); drop marginals= or fit in memory")
    yield codec_stage(plan)
    got: dict[str, Any] = {}
    yield values_stage(plan, got)
    codec, seed = plan.codec, int(model.seed_)
    marginals = []
    for spec, (v, c) in zip(codec.numeric, got["values"], strict=True):
        integer = spec.kind == "integer" or spec.datetime_resolution == "D"
        marginals.append(empirical_from_counts(v, c, integer=integer, decimals=spec.decimals))
    model.scores_ = NormalScores(marginals, {s.name: "empirical" for s in codec.numeric})
    d, n_codes = len(codec.numeric), codec.n_codes()

    def scores(batch: pd.DataFrame) -> tuple[Any, np.ndarray, np.random.Generator]:
        rng = batch_rng(seed, batch)
        enc = encode(codec, batch)
        return enc, model.scores_.for_fitting(enc.x, rng), rng

    axis = np.ones((d, 1))
    if d > 1:
        yield Stage("score moments", lambda b: _moments(scores(b)[1]), sum_combine,
                    lambda t: got.update(axis=np.linalg.eigh(_cov(need(t)))[1][:, -1:]))
        # an eigenvector's sign is LAPACK's choice; fix it (the sum of its entries >= 0)
        axis = got["axis"] * (1.0 if got["axis"].sum() >= 0 else -1.0)

    def by_value(batch: pd.DataFrame) -> dict[str, Any]:
        enc, z, _ = scores(batch)
        lead = (z @ axis)[:, 0] if d else np.zeros(enc.n)
        return {"counts": [np.bincount(enc.c[:, j], minlength=m).astype(np.int64)
                           for j, m in enumerate(n_codes)],
                "lead": [np.bincount(enc.c[:, j], weights=lead, minlength=m)
                         for j, m in enumerate(n_codes)]}

    def got_values(total: dict[str, Any] | None) -> None:
        t = need(total)
        model.cat_probs_, model.cat_orders_ = [], []
        for counts, lead, m in zip(t["counts"], t["lead"], n_codes, strict=True):
            means = lead / np.maximum(counts, 1)
            order = np.lexsort((np.arange(m), means)) if d else np.arange(m)
            model.cat_probs_.append(counts / plan.rows)
            model.cat_orders_.append(order.astype(np.int64))

    if n_codes:
        yield Stage("value order", by_value, sum_combine, got_values)
    else:
        model.cat_probs_, model.cat_orders_ = [], []

    def all_scores(batch: pd.DataFrame) -> dict[str, Any]:
        enc, z, rng = scores(batch)
        cols = [z]
        for j in range(len(n_codes)):
            codes = enc.c[:, j]
            low, _ = model._bounds(j, codes)
            u = ndtr(low) + rng.random(enc.n) * model.cat_probs_[j][codes]
            cols.append(ndtri(np.clip(u, _U_EPS, 1 - _U_EPS))[:, None])
        return _moments(np.hstack(cols))

    def got_corr(total: dict[str, Any] | None) -> None:
        cov = _cov(need(total))
        if cov.shape[0] > 1:
            sd = np.sqrt(np.diag(cov))
            corr = np.clip(cov / np.outer(sd, sd), -1.0, 1.0)  # as np.corrcoef
        else:
            corr = np.ones((1, 1))
        model.correlation_ = model._corrected(corr, d)

    yield Stage("correlation", all_scores, sum_combine, got_corr)
