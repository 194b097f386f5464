"""Discretised logistic (mixture) likelihood of 8-bit pixels (Salimans et al. 2017, PixelCNN++).

Pixel value k in {0..255} maps to c = 2k/255 - 1 in [-1, 1]; its probability is the mass of
a logistic (mixture) on the bin [c - 1/255, c + 1/255], with the outer bins reaching to
-inf / +inf so the 256 masses sum to one. The log-probabilities are of the discrete pixels,
so their negated sum over an image is directly its code length in nats (no Jacobian).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

__all__ = ["logistic_mixture_logp", "logistic_mixture_sample", "to_unit"]

_HALF_BIN = 1.0 / 255.0
_LOG_BIN = math.log(2.0 / 255.0)
LOG_SCALE_MIN = -7.0


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 -> float in [-1, 1] (bin centres)."""
    return x.float() * (2.0 / 255.0) - 1.0


def logistic_mixture_logp(x: torch.Tensor, logits: torch.Tensor, means: torch.Tensor,
                          log_scales: torch.Tensor) -> torch.Tensor:
    """log P(x) summed per image.

    Args:
        x: uint8 pixels, B x C x H x W.
        logits, means, log_scales: B x K x C x H x W mixture weights (unnormalised), locations
            in [-1, 1] units and log scales (clamped below at -7).
    Returns:
        B log-probabilities in nats.
    """
    xs = to_unit(x).unsqueeze(1)
    log_scales = log_scales.clamp(min=LOG_SCALE_MIN)
    inv_s = torch.exp(-log_scales)
    centered = xs - means
    plus_in = inv_s * (centered + _HALF_BIN)
    min_in = inv_s * (centered - _HALF_BIN)
    log_cdf_plus = plus_in - F.softplus(plus_in)  # log sigmoid(plus_in): mass of the 0 bin
    log_one_minus_cdf_min = -F.softplus(min_in)  # mass of the 255 bin
    cdf_delta = torch.sigmoid(plus_in) - torch.sigmoid(min_in)
    mid_in = inv_s * centered
    # density times bin width: used where the bin mass underflows float32 (far tails)
    log_pdf_mid = mid_in - log_scales - 2.0 * F.softplus(mid_in) + _LOG_BIN
    inner = torch.where(cdf_delta > 1e-5, torch.log(cdf_delta.clamp(min=1e-12)), log_pdf_mid)
    log_probs = torch.where(xs < -0.999, log_cdf_plus,
                            torch.where(xs > 0.999, log_one_minus_cdf_min, inner))
    log_probs = log_probs + torch.log_softmax(logits, dim=1)
    return torch.logsumexp(log_probs, dim=1).flatten(1).sum(1)


def logistic_mixture_sample(logits: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor,
                            generator: torch.Generator | None) -> torch.Tensor:
    """Draw uint8 pixels B x C x H x W from the mixture (same layout as the log-probability)."""
    b, k = logits.shape[:2]
    u = torch.rand(logits.shape, generator=generator, device=logits.device).clamp(1e-5, 1 - 1e-5)
    # Gumbel-max picks a component with the softmax(logits) probabilities
    choice = (logits - torch.log(-torch.log(u))).argmax(dim=1, keepdim=True)
    mu = means.gather(1, choice).squeeze(1)
    ls = log_scales.clamp(min=LOG_SCALE_MIN).gather(1, choice).squeeze(1)
    v = torch.rand(mu.shape, generator=generator, device=mu.device).clamp(1e-5, 1 - 1e-5)
    x = mu + torch.exp(ls) * (torch.log(v) - torch.log1p(-v))
    return torch.round((x.clamp(-1.0, 1.0) + 1.0) * 127.5).to(torch.uint8)


def logistic_mixture_mean(logits: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """Mean of the (continuous) mixture as uint8 pixels: the point prediction."""
    w = torch.softmax(logits, dim=1)
    m = (w * means).sum(1)
    return torch.round((m.clamp(-1.0, 1.0) + 1.0) * 127.5).to(torch.uint8)
