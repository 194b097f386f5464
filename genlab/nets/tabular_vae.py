"""Networks and likelihood pieces of the table VAE (TVAE style): the encoder / decoder
pair, the training log-likelihood of the mode-normalised blocks, the exact data
log-likelihood in the user's units, and the aggregate posterior per categorical code."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genlab.data.modes import ModeNormalizer

__all__ = ["FIXED_SIGMA", "VAENet", "block_loglik", "data_loglik", "fit_aggregate_posterior"]

CHUNK = 65_536  # encoder rows per pass (bounded memory, fast matmuls)
_LOG_2PI = math.log(2 * math.pi)
FIXED_SIGMA = 0.1  # decoder sd of alpha when fixed; start of the learned one (as TVAE)
_LOG_SIGMA_RANGE = (math.log(0.01), 0.0)  # TVAE clamps the learned sd to [0.01, 1]


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


class VAENet(nn.Module):
    """Encoder x, m -> (mu, log var) of q(z | x, m); decoder z, m -> raw block outputs.

    `agg_mean` / `agg_var` (buffers, so they travel with the weights) hold, per categorical
    code, the moments of the aggregate posterior of the training rows with that code: the
    proposal for conditioning on rare undeclared values.
    """

    def __init__(self, width: int, cond_width: int, latent: int, hidden: tuple[int, ...],
                 n_num: int, n_codes: int, learned: bool) -> None:
        super().__init__()
        h = list(hidden)
        self.encoder = nn.Sequential(_mlp([width + cond_width, *h]), nn.Linear(h[-1], 2 * latent))
        self.decoder = nn.Sequential(_mlp([latent + cond_width, *h[::-1]]),
                                     nn.Linear(h[0], width))
        self.log_sigma = nn.Parameter(torch.full((n_num,), math.log(FIXED_SIGMA)),
                                      requires_grad=learned)
        self.register_buffer("agg_mean", torch.zeros(n_codes, latent))
        self.register_buffer("agg_var", torch.ones(n_codes, latent))

    def encode(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(torch.cat([x, cond], 1)).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 8.0)  # keeps exp(logvar) finite in early steps

    def decode(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, cond], 1))

    def sigma(self) -> torch.Tensor:
        return self.log_sigma.clamp(*_LOG_SIGMA_RANGE).exp()


def block_loglik(net: VAENet, normalizer: ModeNormalizer, raw: torch.Tensor, d: torch.Tensor,
                 skip: set[int]) -> torch.Tensor:
    """log p(block row | z) of the training representation (mode given), per row."""
    total = raw.new_zeros(raw.shape[0])
    sigma = net.sigma()
    for b in normalizer.blocks:
        if b.kind == "num":
            s = sigma[b.index]
            err = (d[:, b.start] - torch.tanh(raw[:, b.start])) / s
            total = total - 0.5 * err**2 - torch.log(s) - 0.5 * _LOG_2PI
            span = slice(b.start + 1, b.start + b.width)
        elif b.index in skip:
            continue  # a declared condition is an input, not a target
        else:
            span = slice(b.start, b.start + b.width)
        total = total + (F.log_softmax(raw[:, span], 1) * d[:, span]).sum(1)
    return total


def data_loglik(net: VAENet, nrm: ModeNormalizer, cond_cols: list[int], raw: torch.Tensor,
                x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """log p(x, c | z) in the user's units, modes marginalised, NaN cells dropped."""
    skip = set(cond_cols)
    total = raw.new_zeros(raw.shape[0], dtype=torch.float64)
    sigma = net.sigma().double()
    for b in nrm.blocks:
        if b.kind == "num":
            col = x[:, b.index]
            ok = ~torch.isnan(col)
            alpha = nrm.numeric_alpha(b.index, torch.nan_to_num(col))
            a, s = torch.tanh(raw[:, b.start]).double()[:, None], sigma[b.index]
            log_pi = F.log_softmax(raw[:, b.start + 1:b.start + b.width].double(), 1)
            term = torch.logsumexp(
                log_pi - 0.5 * ((alpha - a) / s) ** 2 - torch.log(s) - 0.5 * _LOG_2PI
                + nrm.log_jacobian(b.index, torch.float64, raw.device), dim=1)
            total = total + torch.where(ok, term, torch.zeros_like(term))
        elif b.index not in skip:
            logits = F.log_softmax(raw[:, b.start:b.start + b.width], 1)
            total = total + logits.gather(1, c[:, b.index:b.index + 1])[:, 0].double()
    return total


def fit_aggregate_posterior(net: VAENet, data: np.ndarray, c: np.ndarray, cond: torch.Tensor,
                            code_offsets: np.ndarray, counts_per_column: list[np.ndarray]) -> None:
    """Per categorical code, the moments of the aggregate posterior of the training rows
    holding it, into the net's `agg_mean` / `agg_var` buffers."""
    dev = next(net.parameters()).device
    lat = net.agg_mean.shape[1]
    total = net.agg_mean.shape[0]
    s1, s2 = torch.zeros(total, lat, dtype=torch.float64), torch.zeros(total, lat,
                                                                      dtype=torch.float64)
    counts = (np.concatenate(counts_per_column) if counts_per_column else np.zeros(0))
    with torch.no_grad():
        for s in range(0, data.shape[0], CHUNK):
            rows = torch.as_tensor(data[s:s + CHUNK], dtype=torch.float32, device=dev)
            mu, logvar = net.encode(rows, cond[s:s + CHUNK].to(dev))
            mu, var = mu.double().cpu(), logvar.double().exp().cpu()
            for j, off in enumerate(code_offsets):
                idx = torch.as_tensor(off + c[s:s + CHUNK, j])
                s1.index_add_(0, idx, mu)
                s2.index_add_(0, idx, var + mu**2)
        k = torch.as_tensor(np.maximum(counts, 1.0))[:, None]
        mean = s1 / k
        var = torch.where(torch.as_tensor(counts)[:, None] > 0,
                          (s2 / k - mean**2).clamp_min(1e-4), torch.ones_like(mean))
        net.agg_mean.copy_(mean.float())
        net.agg_var.copy_(var.float())
