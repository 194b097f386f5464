"""Normalizing flow for mixed tables: exact log-likelihoods with a neural spline flow."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.special import ndtr

from genlab.data.tabular import Encoded
from genlab.errors import DataError
from genlab.models.table._dequantise import half_widths
from genlab.models.table._marginal import (
    PiecewiseMarginal,
    fit_adaptive,
    marginals_from_state,
    marginals_shapes,
    marginals_state,
)
from genlab.models.table.neural import NeuralModel
from genlab.nets.spline_flow import FlowNet
from genlab.params import ParamSpec
from genlab.privacy._sgd_fit import PrivateSGD, dp_marginal
from genlab.seeding import torch_generator, torch_seeded

__all__ = ["Flow"]

_U_EPS = 1e-12
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
_CHUNK = 65_536
_REJECTION_BUDGET = 4_000_000  # proposals per sampling call before falling back to resampling


class Flow(PrivateSGD, NeuralModel):
    """Normalizing flow: categorical columns autoregressively, numeric ones by a
    conditional neural spline flow over their normal scores.

    A row is (x, c): numeric values x (d columns) and category codes c (J columns).

        log p(x, c) = log p(c) + sum_j log f_j(x_j) + log q(z | c) - sum_j log phi(z_j),
        z_j = Phi^{-1}(F_j(x_j))

    - p(c) = prod_k p(c_k | c_<k) is a MADE over one-hot codes (Germain et al., 2015), so
      category probabilities are exact and sum to one; columns declared at fit come first.
    - F_j, f_j: a fixed per-column Gaussianising layer. Columns with repeated values
      (integers, spikes such as capital-gain's zeros) use the dequantised empirical
      marginal of `genlab.models.table._marginal` (each value v spread over [v - h, v + h]);
      columns of mostly unique values use a smooth quantile CDF. Either way F_j is a
      continuous CDF, so x -> z is invertible with Jacobian f_j(x_j) / phi(z_j), and the
      flow only has to learn the dependence left in z.
    - q(z | c): a masked autoregressive flow (Papamakarios et al., 2017) of rational-
      quadratic spline transforms (Durkan et al., 2019), from `zuko`, with the codes and
      the missingness mask as context. Training draws z uniformly in F over each value's
      dequantisation interval (fresh every epoch); validation and `log_prob` use z of the
      value itself.

    So `log_prob` is an exact density in the user's units for numeric columns times an
    exact probability for categorical ones. An integer value's density is that of the
    continuous relaxation (the integer spread over [v - 1/2, v + 1/2]) at the value,
    the library's convention for integer columns. Missing numeric values are marginalised
    exactly (see `FlowNet`); their pattern is missing completely at random (base class).

    Conditioning: declared columns are first in the order of p(c), so they are fixed and
    the rest drawn ancestrally, exactly. For other categorical columns, rows are drawn
    with the held values fixed when reached and accepted with probability p(held values |
    earlier columns) <= 1: exact rejection sampling from p(c | held). If a very rare value
    exhausts 4 million proposals, the missing rows are resampled from the proposals in
    proportion to that probability (importance resampling, approximate). Numeric columns
    then follow q(z | c) exactly.

    Args:
        transforms: spline transforms in the flow.
        hidden_features: units per hidden layer (flow and categorical networks).
        hidden_layers: hidden layers of each transform's network.
        bins: spline bins.
        embed: size of the context embedding of codes and missingness.
        coupling: two-pass coupling transforms (fast sampling) instead of fully
            autoregressive ones (d sequential passes when sampling).
        epochs, batch_size, lr, weight_decay, optimizer, val_fraction, patience, grad_clip,
        max_minutes, warmup_steps, device: see `genlab.train.TrainConfig`.
        seed: seeds initialisation, training and default sampling.

    References: Papamakarios et al. 2017, Masked Autoregressive Flow for Density
    Estimation; Durkan et al. 2019, Neural Spline Flows; Rozet et al., zuko.

    Example:
        >>> import pandas as pd, numpy as np
        >>> rng = np.random.default_rng(0)
        >>> df = pd.DataFrame({"a": rng.normal(size=200).round(2),
        ...                    "b": rng.choice(["x", "y"], size=200)})
        >>> m = Flow(epochs=2, seed=0).fit(df)
        >>> m.sample(5, seed=1).shape
        (5, 2)
    """

    family: ClassVar[str] = "flow"
    log_prob_is_exact: ClassVar[bool] = True
    summary: ClassVar[str] = "Neural spline flow over normal scores, autoregressive categories"
    when_to_use: ClassVar[str] = "Exact likelihoods with flexible non-linear dependence"
    adult_fit_time: ClassVar[str] = "~30 s"
    conditioning: ClassVar[str] = "exact (declared: ordered first; others: rejection sampling)"
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **NeuralModel._parameter_constraints,
        "transforms": ("int", 1, 64),
        "hidden_features": ("int", 2, 4096),
        "hidden_layers": ("int", 1, 8),
        "bins": ("int", 2, 128),
        "embed": ("int", 1, 1024),
        "coupling": ("bool",),
    }

    train_defaults: ClassVar[dict[str, Any]] = {
        "epochs": 100,
        "batch_size": 512,
        "weight_decay": 0.0,
        "optimizer": "adam",
        "patience": 8,
        "max_steps": 8_000,  # ~2.5 min on one thread; early stopping ends Adult first
    }

    def __init__(
        self,
        *,
        transforms: int = 3,
        hidden_features: int = 96,
        hidden_layers: int = 2,
        bins: int = 8,
        embed: int = 32,
        coupling: bool = True,
        seed: int | None = None,
        **shared: Any,
    ) -> None:
        self._init_params(locals())

    def _build(self, meta: dict[str, Any]) -> FlowNet:
        return FlowNet(
            list(meta["n_codes"]), int(meta["d"]), int(meta["n_missing"]),
            transforms=self.transforms, hidden=self.hidden_features, layers=self.hidden_layers,
            bins=self.bins, embed=self.embed, passes=2 if self.coupling else None,
        )

    # -- the Gaussianising layer ------------------------------------------------------------
    def _scores(self, x: np.ndarray, shift: np.ndarray | float = 0.0) -> np.ndarray:
        """u_j = F_j(x_j + shift_j) per column (NaN stays NaN)."""
        u = np.full(x.shape, np.nan)
        shift = np.broadcast_to(shift, x.shape)
        for j, m in enumerate(self.marginals_):
            ok = ~np.isnan(x[:, j])
            u[ok, j] = m.cdf(x[ok, j] + shift[ok, j])
        return u

    def _log_marginals(self, x: np.ndarray) -> np.ndarray:
        """sum over observed j of log f_j(x_j)."""
        out = np.zeros(x.shape[0])
        for j, m in enumerate(self.marginals_):
            ok = ~np.isnan(x[:, j])
            out[ok] += m.logpdf(x[ok, j])
        return out

    # -- fit ------------------------------------------------------------------------------
    def _fit_arrays(self, enc: Encoded, conditions: list[int], rng: np.random.Generator) -> None:
        x, n, dp = enc.x, enc.n, self._dp_plan  # dp: a DP-SGD fit, no statistic copied
        self.marginals_: list[PiecewiseMarginal] = []
        half = np.zeros(x.shape)
        for j, spec in enumerate(self.schema_.numeric):
            ok = ~np.isnan(x[:, j])
            marginal, half[ok, j] = fit_adaptive(x[ok, j], spec) if dp is None else (
                dp_marginal(dp, x[ok, j], spec, x.shape[1]))
            self.marginals_.append(marginal)
        n_codes = self.schema_.n_codes()
        order = list(conditions) + [j for j in range(len(n_codes)) if j not in conditions]
        self.meta_ = {
            "d": x.shape[1],
            "n_codes": [n_codes[j] for j in order],
            "order": order,
            "n_missing": int(np.isnan(x).any(axis=0).sum()) if dp is None else sum(
                s.missing_rate > 0 for s in self.schema_.numeric),
            "knots": [int(m.xs.size) for m in self.marginals_],
        }
        with torch_seeded(rng):  # initialise from the model's seed only
            self.net_ = self._build(self.meta_)
        c = enc.c[:, order]
        with torch.no_grad():  # start p(c) at the smoothed marginal frequencies
            freq = [np.log((np.bincount(c[:, k], minlength=m) + 0.5) / (n + 0.5 * m))
                    for k, m in enumerate(self.meta_["n_codes"])]
            if freq and dp is None:
                self.net_.cat.out.bias.copy_(torch.as_tensor(np.concatenate(freq)))
        tensors = self._train_tensors(enc, rng, half)
        net = self.net_

        def loss_fn(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            codes, lo, hi, mid, missing, log_f = batch
            # uniform dequantisation in F-space while training; the values themselves for
            # validation, so early stopping watches the real held-out log-likelihood
            u = lo + torch.rand(lo.shape, dtype=lo.dtype, device=lo.device) * (hi - lo) if (
                net.training) else mid
            return -self._joint_log_prob(codes, u, missing, log_f)

        self._train(loss_fn, tensors, rng)

    def _train_tensors(self, enc: Encoded, rng: np.random.Generator,
                       half: np.ndarray | None = None) -> list[torch.Tensor]:
        """Training tensors of rows `enc` (also a streamed fit's fresh buffer), as the
        autoregressive family's `_train_tensors` makes them, with codes in flow order."""
        x = enc.x
        half = half_widths(self.marginals_, x, self.schema_) if half is None else half
        xf = np.nan_to_num(x)
        return [
            torch.as_tensor(enc.c[:, self.meta_["order"]], dtype=torch.long),
            torch.as_tensor(np.nan_to_num(self._scores(xf, -half), nan=0.5)),
            torch.as_tensor(np.nan_to_num(self._scores(xf, half), nan=0.5)),
            torch.as_tensor(np.nan_to_num(self._scores(x), nan=0.5)),
            torch.as_tensor(np.isnan(x)),
            torch.as_tensor(self._log_marginals(x)),
        ]

    def _joint_log_prob(self, codes: torch.Tensor, u: torch.Tensor, miss: torch.Tensor,
                        log_f: torch.Tensor) -> torch.Tensor:
        """log p(x, c) per row from codes (AR order), F-scores u, mask and sum log f_j."""
        net = self.net_
        z = torch.special.ndtri(u.clamp(_U_EPS, 1 - _U_EPS))
        z = torch.where(miss, torch.zeros_like(z), z)
        log_phi = torch.where(miss, torch.zeros_like(z), -0.5 * z**2 - _HALF_LOG_2PI).sum(1)
        lp = net.cat.log_prob(codes)
        if net.d:
            ctx = net.embed_context(codes, miss)
            lp = lp + net.flow_log_prob(z.float(), miss, ctx) - log_phi.float()
        return lp + log_f.float()

    # -- log_prob -------------------------------------------------------------------------
    def _log_prob_arrays(self, enc: Encoded) -> np.ndarray:
        miss = np.isnan(enc.x)
        u = np.nan_to_num(self._scores(enc.x), nan=0.5)
        log_f = self._log_marginals(enc.x)
        c = enc.c[:, self.meta_["order"]]
        out = np.empty(enc.n)
        self.net_.eval()
        with torch.no_grad():
            for s in range(0, enc.n, _CHUNK):
                rows = slice(s, s + _CHUNK)
                lp = self._joint_log_prob(
                    self._to_tensor(c[rows], torch.long), self._to_tensor(u[rows], torch.float64),
                    self._to_tensor(miss[rows], torch.bool),
                    self._to_tensor(log_f[rows], torch.float64),
                )
                out[rows] = lp.double().cpu().numpy()
        return np.where(np.isfinite(log_f), out, -np.inf)

    def _encode(self, data: Any) -> np.ndarray:
        """Base-space values of the numeric columns per row: y = flow(Phi^-1(F(x)) | codes),
        standard normal under the model; a missing value's coordinate is 0."""
        if not self.meta_["d"]:
            raise DataError("this flow has no numeric columns, so its base space is empty; "
                            "encode needs a table with numbers (or use the vae family)")
        enc = self._encoded(data)
        miss = self._to_tensor(np.isnan(enc.x), torch.bool)
        z = torch.special.ndtri(self._to_tensor(np.nan_to_num(
            self._scores(enc.x), nan=0.5), torch.float64).clamp(_U_EPS, 1 - _U_EPS))
        codes = self._to_tensor(enc.c[:, self.meta_["order"]], torch.long)
        out = []
        for s in range(0, enc.n, _CHUNK):
            ctx = self.net_.embed_context(codes[s:s + _CHUNK], miss[s:s + _CHUNK])
            y, _ = self.net_.forward_transform(z[s:s + _CHUNK].float(), miss[s:s + _CHUNK], ctx)
            out.append(y.double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.meta_["d"]))

    # -- sample ---------------------------------------------------------------------------
    def _sample_codes(self, n: int, fixed: dict[int, int], rng: np.random.Generator) -> np.ndarray:
        """(n, J) codes in model order from p(c | fixed), by exact rejection (see class)."""
        cat = self.net_.cat
        codes, logw = cat.sample(n, fixed, rng)
        if not np.any(logw):  # no conditions, or only leading ones: exact ancestral draw
            return codes
        kept, proposed = [], n
        while True:
            accept = rng.random(codes.shape[0]) < np.exp(logw)
            kept.append(codes[accept])
            got = sum(k.shape[0] for k in kept)
            if got >= n or proposed >= _REJECTION_BUDGET:
                break
            rate = max(got / proposed, 1e-4)
            m = int(min(max((n - got) / rate * 1.2, 1000), 500_000))
            codes, logw = cat.sample(m, fixed, rng)
            proposed += m
        out = np.concatenate(kept)[:n]
        if out.shape[0] < n:  # a very rare value: importance resampling from the last proposals
            w = np.exp(logw - logw.max())
            pick = rng.choice(codes.shape[0], size=n - out.shape[0], p=w / w.sum())
            out = np.concatenate([out, codes[pick]])
        return out

    def _sample_arrays(
        self, n: int, conditions: dict[int, int], rng: np.random.Generator
    ) -> Encoded:
        order = self.meta_["order"]
        position = {j: k for k, j in enumerate(order)}
        self.net_.eval()
        codes = self._sample_codes(n, {position[j]: v for j, v in conditions.items()}, rng)
        c = np.empty_like(codes)
        c[:, order] = codes
        d = int(self.meta_["d"])
        x = np.zeros((n, d))
        if d:
            gen = torch_generator(rng, self.device_)
            with torch.no_grad():
                for s in range(0, n, _CHUNK):
                    rows = slice(s, s + _CHUNK)
                    ct = self._to_tensor(codes[rows], torch.long)
                    eps = torch.randn((ct.shape[0], d), generator=gen, device=self.device_)
                    miss = torch.zeros_like(eps, dtype=torch.bool)
                    z = self.net_.flow_sample(eps, self.net_.embed_context(ct, miss))
                    x[rows] = z.double().cpu().numpy()
            u = ndtr(x)
            for j, m in enumerate(self.marginals_):
                x[:, j] = m.ppf(u[:, j])
        return Encoded(x=x, c=c)

    # -- persistence ----------------------------------------------------------------------
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, tensors = super()._state()
        return meta, {**tensors, **marginals_state(self.marginals_, "marginal")}

    def _expected_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        d = len(self.schema_.numeric)
        knots = [int(k) for k in meta["knots"]]
        n_codes = self.schema_.n_codes()
        if len(knots) != d or int(meta["d"]) != d or sorted(meta["order"]) != list(
                range(len(n_codes))) or list(meta["n_codes"]) != [n_codes[j]
                                                                  for j in meta["order"]]:
            raise ValueError("fitted metadata does not match the codec's columns")
        # built on the CPU, not the meta device: zuko's masked layers call torch.unique
        with torch.random.fork_rng(devices=[]):
            state = self._build(meta).state_dict()
        shapes = {f"net.{k}": tuple(v.shape) for k, v in state.items()}
        return {**shapes, **marginals_shapes(knots, "marginal")}

    def _restore(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.marginals_ = marginals_from_state(tensors, len(self.schema_.numeric), "marginal")
        super()._restore(meta, tensors)
