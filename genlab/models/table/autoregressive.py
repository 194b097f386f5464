"""Autoregressive model of mixed tables: one exact conditional per column, in a fixed order."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from scipy.special import ndtr

from genlab.data.tabular import CATEGORICAL_KINDS, NUMERIC_KINDS, Encoded
from genlab.models.neural import one_thread
from genlab.models.table._ar_heads import ARNet, build_net, output_bias
from genlab.models.table._dequantise import half_widths
from genlab.models.table._marginal import (
    PiecewiseMarginal,
    fit_adaptive,
    marginals_from_state,
    marginals_shapes,
    marginals_state,
)
from genlab.models.table.neural import NeuralModel
from genlab.params import ParamSpec
from genlab.privacy._sgd_fit import PrivateSGD, dp_marginal
from genlab.seeding import torch_seeded

__all__ = ["Autoregressive"]

_U_EPS = 1e-12
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
_CHUNK = 65_536
_REJECTION_BUDGET = 4_000_000  # proposals per sampling call before importance resampling


class Autoregressive(PrivateSGD, NeuralModel):
    """Autoregressive model: the joint as a product of per-column conditionals.

    With the columns in a fixed order v_1..v_D (declared conditions first, then the other
    categorical columns, then the numeric ones),

        log p(row) = sum_q log p(v_q | v_<q)

    - categorical v_q: a softmax over its codes (a missing value is one more code);
    - numeric v_q = x_j: a missingness indicator, then for a present value a mixture of K
      Gaussians over its normal score z_j = Phi^{-1}(F_j(x_j)), where F_j is a fixed,
      invertible Gaussianising marginal (the dequantised empirical CDF of
      `genlab.models.table._marginal`, or a smooth quantile CDF for columns of mostly unique
      values). So p(x_j | v_<q) = P(present) q(z_j | v_<q) f_j(x_j) / phi(z_j), the
      Jacobian included, and a missing cell contributes log P(missing).

    Every factor is normalised, so `log_prob` is exact: densities per unit of each numeric
    column times probabilities. Spikes (capital-gain's zeros) occupy a whole interval of z,
    so the mixture head reproduces them; training draws z uniformly within each value's
    dequantisation interval (fresh each batch), validation and `log_prob` use the value.

    The conditionals come from one network: by default a MADE-style masked MLP (Germain et
    al., 2015) with residual hidden layers, one pass for all D conditionals when scoring
    and about one pass when sampling (each hidden unit is computed once, when the columns
    it sees are drawn). `network="transformer"` uses a small causal transformer over
    column tokens instead (Vaswani et al., 2017). Measured on Adult (one CPU thread): the
    MLP reached -28.02 nats per held-out row in 20 s and samples ~80,000 rows/s; the
    transformer (width 64, 2 blocks) -28.11 after a 2.5-minute budget, at ~1,000 rows/s.

    Conditioning: declared columns come first in the order, so they are fixed and the rest
    is drawn ancestrally, exactly. Any other categorical column is held when its turn
    comes and the row is kept with probability p(held value | earlier columns) <= 1: exact
    rejection sampling from the model's own p(row | held). One fixed order keeps
    `log_prob` and conditional samples on the same joint (order-agnostic training would
    give each order its own, slightly different, joint). If a very rare value exhausts 4
    million proposals, the remaining rows are resampled from proposals in proportion to
    that probability (importance resampling, approximate), so n rows always come back.

    Args:
        network: "made" (masked MLP) or "transformer".
        hidden: hidden units per layer (MLP) or model width (transformer).
        layers: hidden layers (MLP) or transformer blocks.
        components: Gaussians per numeric head.
        order: "categorical_first" (default) or "data" (the table's order); declared
            conditions always come first.
        epochs, batch_size, lr, weight_decay, optimizer, val_fraction, patience, grad_clip,
        max_minutes, warmup_steps, device: see `genlab.train.TrainConfig`.
        seed: seeds initialisation, training and default sampling.

    References: Germain et al. 2015, MADE: Masked Autoencoder for Distribution Estimation;
    Uria et al. 2016, Neural Autoregressive Distribution Estimation; Vaswani et al. 2017,
    Attention Is All You Need.

    Example:
        >>> import pandas as pd, numpy as np
        >>> rng = np.random.default_rng(0)
        >>> df = pd.DataFrame({"a": rng.normal(size=200).round(2),
        ...                    "b": rng.choice(["x", "y"], size=200)})
        >>> m = Autoregressive(epochs=3, hidden=16, seed=0).fit(df)
        >>> m.sample(5, seed=1).shape
        (5, 2)
        >>> bool(np.isfinite(m.log_prob(df)).all())
        True
    """

    family: ClassVar[str] = "autoregressive"
    log_prob_is_exact: ClassVar[bool] = True
    models_missing: ClassVar[bool] = True
    summary: ClassVar[str] = "Product of per-column conditionals (masked MLP or transformer)"
    when_to_use: ClassVar[str] = "Exact likelihoods and high-fidelity mixed tables"
    adult_fit_time: ClassVar[str] = "~20 s"
    conditioning: ClassVar[str] = "exact (declared: ordered first; others: rejection sampling)"
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **NeuralModel._parameter_constraints,
        "network": ("choice", ("made", "transformer")),
        "hidden": ("int", 2, 4096),
        "layers": ("int", 1, 16),
        "components": ("int", 1, 64),
        "order": ("choice", ("categorical_first", "data")),
    }

    train_defaults: ClassVar[dict[str, Any]] = {
        "batch_size": 512,
        "weight_decay": 1e-4,
        "optimizer": "adam",
        "patience": 10,
        "max_steps": 16_000,  # ~2.5 min on one thread; early stopping ends Adult first
    }

    def __init__(
        self,
        *,
        network: Literal["made", "transformer"] = "made",
        hidden: int = 128,
        layers: int = 2,
        components: int = 8,
        order: Literal["categorical_first", "data"] = "categorical_first",
        seed: int | None = None,
        **shared: Any,
    ) -> None:
        self._init_params(locals())

    net_: ARNet

    def _build(self, meta: dict[str, Any]) -> ARNet:
        n_codes = iter(meta["n_codes"])
        columns = [next(n_codes) if kind == "c" else 0 for kind, _ in meta["columns"]]
        return build_net(self.network, columns, self.components, self.hidden, self.layers)

    # -- the Gaussianising layer ------------------------------------------------------------
    def _numeric_order(self) -> list[int]:
        return [j for kind, j in self.meta_["columns"] if kind == "n"]

    def _scores(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """u = F(x) and sum over observed cells of log f(x), numerics in model order."""
        u = np.full(x.shape, 0.5)
        log_f = np.zeros(x.shape[0])
        for j, m in enumerate(self.marginals_):
            ok = ~np.isnan(x[:, j])
            u[ok, j] = m.cdf(x[ok, j])
            log_f[ok] += m.logpdf(x[ok, j])
        return u[:, self._numeric_order()], log_f

    def _joint(self, codes: torch.Tensor, u: torch.Tensor, miss: torch.Tensor,
               log_f: torch.Tensor) -> torch.Tensor:
        """log p(row) from codes and F-scores (model order); the Jacobian
        f(x) / phi(z) of each present value is added here."""
        z = torch.special.ndtri(u.clamp(_U_EPS, 1 - _U_EPS))
        z = torch.where(miss, torch.zeros_like(z), z)
        log_phi = torch.where(miss, torch.zeros_like(z), -0.5 * z**2 - _HALF_LOG_2PI).sum(1)
        lp = self.net_.log_prob(codes, z.float(), miss, self._has_missing).double()
        return lp + log_f - log_phi

    @property
    def _has_missing(self) -> torch.Tensor:
        return torch.as_tensor(self.meta_["missing"], dtype=torch.bool, device=self.device_)

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
        cats = [("c", j) for j in conditions]
        if self.order == "data":
            num_i, cat_i = iter(range(x.shape[1])), iter(range(enc.c.shape[1]))
            rest = [("n", next(num_i)) if s.kind in NUMERIC_KINDS else ("c", next(cat_i))
                    for s in self.schema_.columns if s.kind in NUMERIC_KINDS + CATEGORICAL_KINDS]
        else:
            rest = [("c", j) for j in range(enc.c.shape[1])] + [("n", j)
                                                                   for j in range(x.shape[1])]
        columns = cats + [c for c in rest if c not in cats]
        n_codes = self.schema_.n_codes()
        num_order = [j for kind, j in columns if kind == "n"]
        self.meta_ = {
            "columns": [[kind, int(j)] for kind, j in columns],
            "n_codes": [n_codes[j] for kind, j in columns if kind == "c"],
            "missing": [bool(np.isnan(x[:, j]).any()) if dp is None else
                        self.schema_.numeric[j].missing_rate > 0 for j in num_order],
            "knots": [int(m.xs.size) for m in self.marginals_],
        }
        with torch_seeded(rng):  # initialise from the model's seed only
            self.net_ = self._build(self.meta_)
        with torch.no_grad():  # start every head at its column's marginal
            for q, (kind, j) in enumerate(columns):
                bias = output_bias(self.net_, q)
                if kind == "c" and dp is None:
                    freq = np.bincount(enc.c[:, j], minlength=n_codes[j]) + 0.5
                    bias.copy_(torch.as_tensor(np.log(freq / freq.sum())))
                elif kind == "n":
                    k = self.components
                    rate = (np.isnan(x[:, j]).sum() + 0.5) / (n + 1) if dp is None else min(
                        max(self.schema_.numeric[j].missing_rate, 0.5 / n), 0.5)
                    bias[k:2 * k] = torch.linspace(-1.5, 1.5, k)
                    bias[2 * k:3 * k] = math.log(math.expm1(0.6))
                    bias[3 * k] = math.log(rate / (1 - rate))
        tensors = self._train_tensors(enc, rng, half)

        def loss_fn(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            codes, lo, hi, mid, missing, lf = batch
            # dequantise within each value's interval while training; the values themselves
            # for validation, so early stopping watches the real held-out log-likelihood
            u = lo + torch.rand(lo.shape, dtype=lo.dtype, device=lo.device) * (hi - lo) if (
                self.net_.training) else mid
            return -self._joint(codes, u, missing, lf)

        with one_thread(self.device_):
            self._train(loss_fn, tensors, rng)

    def _train_tensors(self, enc: Encoded, rng: np.random.Generator,
                       half: np.ndarray | None = None) -> list[torch.Tensor]:
        """The training tensors of rows `enc` once the marginals and order are fitted (a
        streamed fit's fresh buffer too): codes in model order, the F-scores of each value's
        dequantisation interval and of the value, the missing mask and sum log f. `half`:
        the interval half-widths (default: from the fitted marginals)."""
        x = enc.x
        if half is None:
            half = half_widths(self.marginals_, x, self.schema_)
        c = enc.c[:, [j for kind, j in self.meta_["columns"] if kind == "c"]]
        miss = np.isnan(x)[:, self._numeric_order()]
        xf = np.nan_to_num(x)
        u_lo = self._scores(np.where(np.isnan(x), np.nan, xf - half))[0]
        u_hi = self._scores(np.where(np.isnan(x), np.nan, xf + half))[0]
        u_mid, log_f = self._scores(x)
        return [torch.as_tensor(c, dtype=torch.long), torch.as_tensor(u_lo),
                torch.as_tensor(u_hi), torch.as_tensor(u_mid), torch.as_tensor(miss),
                torch.as_tensor(log_f)]

    # -- log_prob -------------------------------------------------------------------------
    def _log_prob_arrays(self, enc: Encoded) -> np.ndarray:
        miss = np.isnan(enc.x)[:, self._numeric_order()]
        u, log_f = self._scores(enc.x)
        c = enc.c[:, [j for kind, j in self.meta_["columns"] if kind == "c"]]
        out = np.empty(enc.n)
        self.net_.eval()
        with torch.no_grad(), one_thread(self.device_):
            for s in range(0, enc.n, _CHUNK):
                rows = slice(s, s + _CHUNK)
                out[rows] = self._joint(
                    self._to_tensor(c[rows], torch.long), self._to_tensor(u[rows], torch.float64),
                    self._to_tensor(miss[rows], torch.bool),
                    self._to_tensor(log_f[rows], torch.float64)).cpu().numpy()
        return np.where(np.isfinite(log_f), out, -np.inf)

    # -- sample ---------------------------------------------------------------------------
    @torch.no_grad()
    def _draw(self, n: int, fixed: dict[int, int], rng: np.random.Generator,
              reject: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ancestral draw of n proposals with positions in `fixed` held. With `reject`,
        a held column after the first free one keeps each row with probability
        p(held | earlier) (fewer rows come back); without, log of that is summed in logw."""
        net, k = self.net_, self.components
        state = net.init_state(n)
        logw, z64, leading = np.zeros(n), np.zeros((n, len(net.num_pos))), True
        for q, (kind, _) in enumerate(self.meta_["columns"]):
            p = net.params_at(state, q).double().cpu().numpy()
            m = p.shape[0]
            if kind == "c":
                prob = np.exp(p - p.max(axis=1, keepdims=True))
                if q in fixed:
                    code = np.full(m, fixed[q])
                    if not leading:
                        p_held = prob[:, fixed[q]] / prob.sum(axis=1)
                        if reject:
                            keep = rng.random(m) < p_held
                            state = {key: v if key == "w" else _rows(v, keep, key == "hT")
                                     for key, v in state.items()}
                            logw, z64, code = logw[keep], z64[keep], code[keep]
                        else:
                            logw += np.log(p_held)
                else:
                    leading = False
                    code = _categorical(prob, rng)
                net.set_column(state, q, torch.as_tensor(code, device=self.device_))
            else:
                leading = False
                comp = _categorical(np.exp(p[:, :k] - p[:, :k].max(axis=1, keepdims=True)), rng)
                mu = np.take_along_axis(p[:, k:2 * k], comp[:, None], 1)[:, 0]
                raw = np.take_along_axis(p[:, 2 * k:3 * k], comp[:, None], 1)[:, 0]
                z = mu + (np.logaddexp(0.0, raw) + 1e-3) * rng.standard_normal(m)
                j = net.num_pos.index(q)
                missing = (rng.random(m) < 1 / (1 + np.exp(-p[:, 3 * k]))) & (
                    self.meta_["missing"][j])
                z = np.where(missing, 0.0, z)
                z64[:, j] = np.where(missing, np.nan, z)
                net.set_column(state, q, torch.as_tensor(z, dtype=torch.float32,
                                                         device=self.device_),
                               torch.as_tensor(missing, dtype=torch.float32, device=self.device_))
        return state["codes"].cpu().numpy(), z64, logw

    def _sample_model_order(self, n: int, fixed: dict[int, int],
                            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(codes, z) in model order from p(row | fixed), exact by rejection (see class)."""
        free_before = [q for q in fixed if any(p not in fixed for p in range(q))]
        codes, zs, got, proposed = [], [], 0, 0
        while got < n:
            want = n - got
            if free_before:
                rate = max(got / proposed, 1e-4) if proposed else 0.5
                want = int(min(max(want / rate * 1.2, 1000), _CHUNK))
            if free_before and proposed >= _REJECTION_BUDGET:
                # a very rare value: importance resampling from one more batch of proposals
                c, z, logw = self._draw(_CHUNK, fixed, rng, reject=False)
                w = np.exp(logw - logw.max())
                pick = rng.choice(c.shape[0], size=n - got, p=w / w.sum())
                codes.append(c[pick])
                zs.append(z[pick])
                break
            c, z, _ = self._draw(min(want, _CHUNK), fixed, rng, reject=True)
            proposed += min(want, _CHUNK)
            codes.append(c[:n - got])
            zs.append(z[:n - got])
            got += codes[-1].shape[0]
        return np.concatenate(codes), np.concatenate(zs)

    def _sample_arrays(
        self, n: int, conditions: dict[int, int], rng: np.random.Generator
    ) -> Encoded:
        columns = self.meta_["columns"]
        position = {j: q for q, (kind, j) in enumerate(columns) if kind == "c"}
        self.net_.eval()
        with one_thread(self.device_):
            codes, z = self._sample_model_order(
                n, {position[j]: v for j, v in conditions.items()}, rng)
        c = np.empty_like(codes)
        c[:, [j for kind, j in columns if kind == "c"]] = codes
        x = np.empty_like(z)
        for i, j in enumerate(self._numeric_order()):
            m = self.marginals_[j]
            # the exact inverse of F (the codec clips to the observed range)
            x[:, j] = np.where(np.isnan(z[:, i]), np.nan,
                               np.interp(ndtr(np.nan_to_num(z[:, i])), m.cdf_knots, m.xs))
        return Encoded(x=x, c=c)

    # -- persistence ----------------------------------------------------------------------
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, tensors = super()._state()
        return meta, {**tensors, **marginals_state(self.marginals_, "marginal")}

    def _expected_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        d, n_codes = len(self.schema_.numeric), self.schema_.n_codes()
        columns = [(str(kind), int(j)) for kind, j in meta["columns"]]
        knots = [int(k) for k in meta["knots"]]
        cat_order = [j for kind, j in columns if kind == "c"]
        if (sorted(cat_order) != list(range(len(n_codes)))
                or sorted(j for kind, j in columns if kind == "n") != list(range(d))
                or len(columns) != d + len(n_codes) or len(knots) != d
                or len(meta["missing"]) != d
                or list(meta["n_codes"]) != [n_codes[j] for j in cat_order]):
            raise ValueError("fitted metadata does not match the codec's columns")
        return {**super()._expected_shapes(meta), **marginals_shapes(knots, "marginal")}

    def _restore(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.marginals_ = marginals_from_state(tensors, len(self.schema_.numeric), "marginal")
        super()._restore(meta, tensors)


def _rows(value: Any, keep: np.ndarray, transposed: bool = False) -> Any:
    """The kept rows of a sampling-state entry (a tensor or a list of them; rows are the
    columns of a transposed one)."""
    if isinstance(value, list):
        return [_rows(v, keep, transposed) for v in value]
    mask = torch.as_tensor(keep, device=value.device)
    return value[:, mask] if transposed else value[mask]


def _categorical(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row from unnormalised probabilities (inverse CDF)."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0])[:, None] * cdf[:, -1:]
    return np.minimum((u > cdf).sum(axis=1), probs.shape[1] - 1)
