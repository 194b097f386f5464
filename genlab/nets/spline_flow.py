"""Building blocks of the flow family: an autoregressive categorical model, a masked spline
flow over normal scores that marginalises missing values exactly, and smooth marginals.

Shapes: n rows, d numeric columns, J categorical columns (in the model's autoregressive
order), M = sum of their code counts, E context features, H hidden units.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from zuko.flows.autoregressive import MaskedAutoregressiveTransform
from zuko.flows.gaussianization import ElementWiseTransform
from zuko.transforms import MonotonicRQSTransform

__all__ = ["CategoricalMADE", "FlowNet"]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)




def _softmax(a: torch.Tensor) -> torch.Tensor:
    # written out: torch's CPU softmax is several times slower over 8-wide rows
    e = torch.exp(a - a.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


class _RQS(MonotonicRQSTransform):
    """zuko's monotonic rational-quadratic spline, constructed with `_softmax` (same maths)."""

    def __init__(self, widths: torch.Tensor, heights: torch.Tensor, derivatives: torch.Tensor,
                 bound: float = 5.0, slope: float = 1e-3) -> None:
        torch.distributions.Transform.__init__(self)
        log_slope = math.log(slope)
        widths = _softmax(widths / (1 + abs(2 * widths / log_slope)))
        heights = _softmax(heights / (1 + abs(2 * heights / log_slope)))
        derivatives = derivatives / (1 + abs(derivatives / log_slope))
        self.horizontal = bound * (2 * torch.cumsum(F.pad(widths, (1, 0)), dim=-1) - 1)
        self.vertical = bound * (2 * torch.cumsum(F.pad(heights, (1, 0)), dim=-1) - 1)
        self.derivatives = torch.exp(F.pad(derivatives, (1, 1)))


class CategoricalMADE(nn.Module):
    """p(c) = prod_k softmax(logits_k(c_<k))[c_k], a MADE (Germain et al., 2015) over
    one-hot codes: column k's logits see only columns before it, so log p(c) is exact and
    normalised. Columns are in the model's order; the first layer is a gather (one-hot
    input), which also makes ancestral sampling cheap (one hidden update per column)."""

    def __init__(self, n_codes: list[int], hidden: int) -> None:
        super().__init__()
        self.n_codes = list(n_codes)
        j = len(n_codes)
        self.register_buffer("offsets", torch.tensor(np.r_[0, np.cumsum(n_codes)[:-1]],
                                                     dtype=torch.long) if j else
                             torch.zeros(0, dtype=torch.long))
        m = int(sum(n_codes))
        col = np.repeat(np.arange(j), n_codes)  # column of each one-hot input / logit
        deg = np.arange(hidden) % max(j, 1)  # hidden unit k sees columns < k + 1
        self.register_buffer("mask1", torch.tensor(deg[:, None] >= col[None, :] + 1,
                                                   dtype=torch.float32))
        self.register_buffer("mask2", torch.tensor(deg[:, None] >= deg[None, :],
                                                   dtype=torch.float32))
        self.register_buffer("mask_out", torch.tensor(deg[None, :] <= col[:, None],
                                                      dtype=torch.float32))
        self.w1 = nn.Parameter(torch.randn(m, hidden) / math.sqrt(max(j, 1)))
        self.b1 = nn.Parameter(torch.zeros(hidden))
        self.layer2 = nn.Linear(hidden, hidden)
        with warnings.catch_warnings():  # no categorical columns: an empty output layer
            warnings.simplefilter("ignore", UserWarning)
            self.out = nn.Linear(hidden, m)
        with torch.no_grad():
            self.out.weight.mul_(0.1)  # start near the marginal frequencies (set as bias)

    def _first(self, c: torch.Tensor) -> torch.Tensor:
        w = self.w1 * self.mask1.T
        return self.b1 + F.embedding(c + self.offsets, w).sum(dim=1)

    def _hidden(self, pre1: torch.Tensor) -> torch.Tensor:
        w2 = self.layer2.weight * self.mask2
        return torch.relu(F.linear(torch.relu(pre1), w2, self.layer2.bias))

    def log_prob(self, c: torch.Tensor) -> torch.Tensor:
        """(n,) log p(c) for codes (n, J)."""
        if not self.n_codes:
            return torch.zeros(c.shape[0], device=c.device)
        h = self._hidden(self._first(c))
        logits = F.linear(h, self.out.weight * self.mask_out, self.out.bias)
        total = torch.zeros(c.shape[0], device=c.device)
        for k, start in enumerate(self.offsets.tolist()):
            lp = torch.log_softmax(logits[:, start:start + self.n_codes[k]], dim=1)
            total = total + lp.gather(1, c[:, k:k + 1]).squeeze(1)
        return total

    @torch.no_grad()
    def sample(
        self, n: int, fixed: dict[int, int], rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Ancestral draw of (n, J) codes with columns in `fixed` (position -> code) held.

        Returns the codes and log w = sum over held columns after the first free one of
        log p(held value | earlier columns): the draw follows p(c | held) once reweighted
        by w, and w <= 1, so accepting a row with probability w is exact rejection
        sampling (held columns at the start of the order have constant w and are skipped).
        """
        j = len(self.n_codes)
        codes = np.zeros((n, j), dtype=np.int64)
        logw = np.zeros(n)
        pre1 = self.b1.expand(n, -1).clone()
        w1 = self.w1 * self.mask1.T
        w_out = self.out.weight * self.mask_out
        leading = True
        for k, start in enumerate(self.offsets.tolist()):
            stop = start + self.n_codes[k]
            logits = F.linear(self._hidden(pre1), w_out[start:stop], self.out.bias[start:stop])
            logp = torch.log_softmax(logits.double(), dim=1).cpu().numpy()
            if k in fixed:
                codes[:, k] = fixed[k]
                if not leading:
                    logw += logp[:, fixed[k]]
            else:
                leading = False
                cdf = np.cumsum(np.exp(logp), axis=1)
                u = rng.random(n)[:, None] * cdf[:, -1:]
                codes[:, k] = np.minimum((u > cdf).sum(axis=1), self.n_codes[k] - 1)
            pre1 += w1[torch.as_tensor(codes[:, k] + start, device=pre1.device)]
        return codes, logw


class FlowNet(nn.Module):
    """The network of the flow family: p(c) by `CategoricalMADE`, and a conditional neural
    spline flow (Durkan et al., 2019; zuko's masked autoregressive transforms, Papamakarios
    et al., 2017) for the numeric normal scores z given a context embedding of the codes and
    of which numeric values are missing.

    Missing values are marginalised exactly: a missing coordinate is fed to every
    transform as 0 and passed through unchanged with no Jacobian term, so for a fixed
    missingness pattern the flow is a triangular bijection of the observed coordinates
    alone and N(T(z_obs)) |det dT/dz_obs| is a normalised density of z_obs.
    """

    def __init__(self, n_codes: list[int], d: int, n_missing_cols: int, *, transforms: int,
                 hidden: int, layers: int, bins: int, embed: int, passes: int | None) -> None:
        super().__init__()
        self.d = d
        self.cat = CategoricalMADE(n_codes, hidden)
        m = int(sum(n_codes))
        self.context = embed if (m or n_missing_cols) and d else 0
        if self.context:
            self.embed = nn.Embedding(max(m, 1), embed)
            self.miss_embed = nn.Linear(d, embed)
        orders = [torch.arange(d), torch.arange(d).flip(0)]
        spline = {"univariate": _RQS,
                  "shapes": [(bins,), (bins,), (bins - 1,)], "hidden_features": [hidden] * layers}
        self.transforms = nn.ModuleList(
            MaskedAutoregressiveTransform(d, self.context, order=orders[i % 2], passes=passes,
                                          **spline)
            if d > 1 else ElementWiseTransform(d, self.context, **spline)
            for i in range(transforms if d else 0)
        )

    def embed_context(self, c: torch.Tensor, miss: torch.Tensor) -> torch.Tensor | None:
        """(n, E) context from codes and the missingness mask, or None without one."""
        if not self.context:
            return None
        out = self.miss_embed(miss.to(self.miss_embed.weight.dtype))
        if c.shape[1]:
            out = out + self.embed(c + self.cat.offsets).sum(dim=1)
        return out

    def _univariate(self, t: nn.Module, ctx: torch.Tensor | None,
                    x: torch.Tensor) -> torch.distributions.Transform:
        dep = t.meta(ctx, x) if isinstance(t, MaskedAutoregressiveTransform) else t(ctx)
        return dep.base

    def forward_transform(self, z: torch.Tensor, miss: torch.Tensor,
                          ctx: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Normal scores z (n, d) -> base values y and log |det dy_obs / dz_obs| per row;
        missing coordinates come out as 0 and add nothing."""
        obs = ~miss
        x = torch.where(obs, z, torch.zeros_like(z))
        ladj = torch.zeros(z.shape[0], dtype=z.dtype, device=z.device)
        for t in self.transforms:
            y, elem = self._univariate(t, ctx, x).call_and_ladj(x)
            x = torch.where(obs, y, torch.zeros_like(y))
            ladj = ladj + torch.where(obs, elem.expand_as(x), torch.zeros_like(x)).sum(dim=1)
        return x, ladj

    def flow_log_prob(self, z: torch.Tensor, miss: torch.Tensor,
                      ctx: torch.Tensor | None) -> torch.Tensor:
        """(n,) log q(z_obs | context), the missing coordinates marginalised exactly."""
        y, ladj = self.forward_transform(z, miss, ctx)
        base = torch.where(~miss, -0.5 * y**2 - _HALF_LOG_2PI, torch.zeros_like(y)).sum(dim=1)
        return base + ladj

    @torch.no_grad()
    def flow_sample(self, eps: torch.Tensor, ctx: torch.Tensor | None) -> torch.Tensor:
        """Inverse of the flow for complete rows: base noise (n, d) -> normal scores z."""
        z = eps
        for t in reversed(self.transforms):
            z = t(ctx).inv(z)
        return z
