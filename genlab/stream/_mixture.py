"""The streamed Gaussian mixture: map-reduce EM, one pass per EM iteration.

After the codec and the latent map (`transform="standardise"`: the two moment passes, as
`Standardiser.fit`; `"normal_scores"`: the exact marginals from distinct values, with the
tie jitter drawn per batch as in `genlab.stream._copula`), a start pass keeps the rows
with the `START_ROWS` smallest row hashes (a bottom-k sample: the same rows whatever the
partition, exact under any combine order) and the category counts; k-means on that
sample (seeded as in memory) gives the start. Then each EM iteration is one pass: the
batch's E-step under the current parameters gives the responsibilities, whose sums (n_k,
sum r z, sum r z z^T, per-value sums) and log-likelihood add up over batches; the M-step
is `weighted_moments` / `weighted_cat_probs` on those sums. EM stops as in memory (mean
log-likelihood gain below `tol`, or `max_iter`).

Departures: `n_components` must be given (the in-memory BIC search would take a full EM
per candidate K), and the k-means start is fitted to the sample rather than to every row.
From the same start the EM is the in-memory EM: equal within float-summation order
(tests: 1e-8 relative).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from genlab.errors import ParameterError
from genlab.stream._stage import Stage, codec_stage, encode, need, row_hashes, sum_combine

__all__ = ["START_ROWS", "stages"]

START_ROWS = 20_000


def _features(z: np.ndarray, c: np.ndarray, n_codes: list[int]) -> np.ndarray:
    return np.hstack([z] + [np.eye(m)[c[:, j]] for j, m in enumerate(n_codes)])


def _bottom(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The START_ROWS rows of smallest hash of two parts (ties by the features, so the
    result does not depend on the order)."""
    h = np.concatenate([a["hash"], b["hash"]])
    f = np.vstack([a["features"], b["features"]])
    keep = np.lexsort((*f.T[::-1], h))[:START_ROWS]
    return {"hash": h[keep], "features": f[keep],
            "cats": [x + y for x, y in zip(a["cats"], b["cats"], strict=True)]}


def _latent(plan: Any) -> Iterator[Stage]:
    from genlab.models.table._latent import NormalScores
    from genlab.stream._counts import empirical_from_counts
    from genlab.stream._stage import moments_stages, standardiser, values_stage

    model, codec = plan.model, plan.codec
    got: dict[str, Any] = {}
    if model.transform == "standardise":
        yield from moments_stages(plan, got)
        model.latent_ = standardiser(got, len(codec.numeric))
        return
    yield values_stage(plan, got)
    marginals = [empirical_from_counts(v, c, integer=s.kind == "integer"
                                       or s.datetime_resolution == "D", decimals=s.decimals)
                 for s, (v, c) in zip(codec.numeric, got["values"], strict=True)]
    model.latent_ = NormalScores(marginals, {s.name: "empirical" for s in codec.numeric})


def stages(plan: Any) -> Iterator[Stage]:
    """The mixture's stages (module docstring)."""
    from sklearn.cluster import KMeans

    from genlab.models.table._mixed import MixedMixture
    from genlab.stream._copula import batch_rng

    model = plan.model
    if model.n_components is None:
        raise ParameterError("a streamed mixture needs n_components (the BIC search over K "
                             "would take a full EM per candidate); give n_components=K")
    yield codec_stage(plan)
    yield from _latent(plan)
    codec, seed, k = plan.codec, int(model.seed_), int(model.n_components)
    n_codes = codec.n_codes()
    jitter = model.transform != "standardise"

    def encoded(batch: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        enc = encode(codec, batch)
        rng = batch_rng(seed, batch) if jitter else None
        return model.latent_.for_fitting(enc.x, rng), enc.c

    def start(batch: pd.DataFrame) -> dict[str, Any]:
        z, c = encoded(batch)
        part = {"hash": row_hashes(batch), "features": _features(z, c, n_codes),
                "cats": [np.bincount(c[:, j], minlength=m).astype(np.int64)
                         for j, m in enumerate(n_codes)]}
        return _bottom(part, {"hash": part["hash"][:0], "features": part["features"][:0],
                              "cats": [x * 0 for x in part["cats"]]})

    got: dict[str, Any] = {}
    yield Stage("start sample", start, _bottom, lambda t: got.update(need(t)))
    prior = [cnt / cnt.sum() for cnt in got["cats"]]  # weighted_cat_probs with alpha 0
    state: dict[str, Any] = {"kmeans": None, "mixture": None}
    if k > 1:
        rs = int(np.random.default_rng(seed).integers(2**31))  # as the in-memory BIC loop
        state["kmeans"] = KMeans(n_clusters=k, n_init=1, random_state=rs).fit(got["features"])
    plan.start_ = state["kmeans"]  # type: ignore[attr-defined]

    def resp_of(z: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, float]:
        if state["mixture"] is None:
            if k == 1:
                return np.ones((z.shape[0], 1)), 0.0
            labels = state["kmeans"].predict(_features(z, c, n_codes))
            return np.eye(k)[labels], 0.0
        joint = state["mixture"].joint_log(z, c)
        row_ll = logsumexp(joint, axis=1)
        return np.exp(joint - row_ll[:, None]), float(row_ll.sum())

    def em(batch: pd.DataFrame) -> dict[str, Any]:
        z, c = encoded(batch)
        resp, ll = resp_of(z, c)
        second = (resp.T @ (z[:, :, None] * z[:, None, :]).reshape(z.shape[0], -1)
                  if model.covariance == "full" else resp.T @ z**2)
        return {"nk": resp.sum(axis=0), "first": resp.T @ z, "second": second, "ll": ll,
                "cats": [_value_sums(c[:, j], resp, m) for j, m in enumerate(n_codes)]}

    previous = -np.inf
    for it in range(model.max_iter + 1):
        total: dict[str, Any] = {}
        yield Stage(f"EM {it}", em, sum_combine, lambda t, out=total: out.update(need(t)))
        if state["mixture"] is not None:
            mean_ll = total["ll"] / plan.rows
            model.em_history_.append({"iteration": it, "log_likelihood": mean_ll})
            if k == 1 or mean_ll - previous < model.tol or it == model.max_iter:
                break
            previous = mean_ll
        else:
            model.em_history_ = []
        state["mixture"] = _m_step(total, model, prior, MixedMixture)
    mix = state["mixture"]
    ll = model.em_history_[-1]["log_likelihood"] * plan.rows
    bic = -2 * ll + mix.n_free_parameters(model.covariance) * np.log(plan.rows)
    model.history_ = [{"n_components": k, "bic": float(bic)}]
    model.mixture_ = mix


def _value_sums(codes: np.ndarray, resp: np.ndarray, m: int) -> np.ndarray:
    """sum of responsibilities per (component, value), as `weighted_cat_probs` counts."""
    from scipy import sparse

    onehot = sparse.csr_matrix((np.ones(codes.size), (np.arange(codes.size), codes)),
                               shape=(codes.size, m))
    return np.asarray((onehot.T @ resp).T)


def _m_step(t: dict[str, Any], model: Any, prior: list[np.ndarray], mixed: Any) -> Any:
    """`weighted_moments` and `weighted_cat_probs` from the summed statistics."""
    nk_raw = t["nk"]
    nk = nk_raw + 1e-12
    means = t["first"] / nk[:, None]
    kk, d = means.shape
    if d == 0:
        covs = np.zeros((kk, 0, 0))
    elif model.covariance == "full":
        second = t["second"].reshape(kk, d, d) / nk[:, None, None]
        covs = second - means[:, :, None] * means[:, None, :]
    else:
        var = np.maximum(t["second"] / nk[:, None] - means**2, 0.0)
        covs = var[:, :, None] * np.eye(d)[None]
    covs = covs + model.reg_covar * np.eye(d)[None]
    cats = []
    for counts, p in zip(t["cats"], prior, strict=True):
        probs = (counts + model.alpha * p[None, :]) / (nk_raw[:, None] + model.alpha)
        cats.append(probs / probs.sum(axis=1, keepdims=True))
    return mixed(nk_raw / nk_raw.sum(), means, covs, cats)
