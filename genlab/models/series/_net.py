"""The network of `SeriesModel` and the season finder it falls back on without times."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["MDN", "acf_period"]


class MDN(nn.Module):
    """MLP from lag/season/phase features to a Gaussian mixture over the next value."""

    def __init__(self, n_in: int, hidden: int, layers: int, components: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = n_in
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.GELU()]
            width = hidden
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(width, 3 * components)
        self.components = components

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.head(self.body(feats))
        k = self.components
        logits, mean, raw_scale = out[:, :k], out[:, k:2 * k], out[:, 2 * k:]
        log_scale = torch.clamp(raw_scale, -7.0, 5.0)
        return torch.log_softmax(logits, dim=1), mean, log_scale

    def log_prob(self, feats: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        log_w, mean, log_scale = self(feats)
        z = (y[:, None] - mean) * torch.exp(-log_scale)
        comp = -0.5 * z * z - log_scale - 0.5 * math.log(2 * math.pi)
        return torch.logsumexp(log_w + comp, dim=1)


def acf_period(values: np.ndarray, max_period: int) -> int | None:
    """The lag of the highest autocorrelation peak (a season) in 3..max_period, if clear."""
    x = values - values.mean()
    if x.std() == 0 or max_period < 4:
        return None
    f = np.fft.rfft(x, n=2 * x.size)
    acf = np.fft.irfft(f * np.conj(f))[:max_period + 1]
    acf = acf / acf[0]
    peaks = [k for k in range(3, max_period) if acf[k] > acf[k - 1] and acf[k] >= acf[k + 1]]
    if not peaks:
        return None
    best = max(peaks, key=lambda k: acf[k])
    return int(best) if acf[best] > 0.2 else None
