"""Multi-scale normalizing flow for images (Glow: actnorm, invertible 1x1 conv, affine
coupling, squeeze, split with learned priors), exact log-density.

Written by hand because zuko (the flow library genlab uses for tables) has no image
transforms: its flows act on flat vectors, without squeeze, 1x1 convolutions or
convolutional coupling networks.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genlab.errors import DataError
from genlab.models.image.base import ImageModel
from genlab.params import ParamSpec
from genlab.seeding import torch_seeded

__all__ = ["ImageFlow"]

_LOG_2PI = math.log(2 * math.pi)
_LOG_256 = math.log(256.0)
_ALPHA = 0.05  # logit-transform margin (RealNVP's value)
DEQUANT_SEED = 7_654_321  # fixed noise in log_prob: the same images always get the same score


def squeeze(x: torch.Tensor) -> torch.Tensor:
    """B x C x H x W -> B x 4C x H/2 x W/2 (each 2 x 2 block becomes 4 channels)."""
    b, c, h, w = x.shape
    x = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(b, 4 * c, h // 2, w // 2)


def unsqueeze(x: torch.Tensor) -> torch.Tensor:
    """Inverse of `squeeze`."""
    b, c, h, w = x.shape
    x = x.view(b, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(b, c // 4, 2 * h, 2 * w)


class ActNorm(nn.Module):
    """y = (x + bias) * exp(log_scale) per channel; initialised from the first batch so the
    output has zero mean and unit variance (Kingma & Dhariwal 2018). log|det| = H W sum s."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.register_buffer("initialized", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not bool(self.initialized):
            with torch.no_grad():
                mean = x.mean(dim=(0, 2, 3), keepdim=True)
                std = x.std(dim=(0, 2, 3), keepdim=True)
                self.bias.copy_(-mean)
                self.log_scale.copy_(-torch.log(std + 1e-6))
                self.initialized.fill_(1.0)
        y = (x + self.bias) * torch.exp(self.log_scale)
        return y, self.log_scale.sum() * x.shape[2] * x.shape[3] * x.new_ones(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.exp(-self.log_scale) - self.bias


class InvConv1x1(nn.Module):
    """Invertible 1x1 convolution, LU-parametrised: W = P L (U + diag(sign e^s)), so
    log|det W| = sum s and the inverse is cheap. log|det| of the layer = H W sum s."""

    def __init__(self, c: int) -> None:
        super().__init__()
        # computed on the CPU even when built on the meta device (shape checks at load)
        q = torch.linalg.qr(torch.randn(c, c, device="cpu"))[0]
        p, lower, upper = torch.linalg.lu(q)
        s = torch.diagonal(upper)
        self.register_buffer("perm", p)
        self.register_buffer("sign", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(c, c), -1))
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(torch.log(torch.abs(s)))

    def weight(self) -> torch.Tensor:
        eye = torch.eye(self.perm.shape[0], device=self.perm.device, dtype=self.lower.dtype)
        lower = self.lower * self.lower_mask + eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign * torch.exp(self.log_s))
        return self.perm @ lower @ upper

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.weight()
        y = F.conv2d(x, w[:, :, None, None])
        return y, self.log_s.sum() * x.shape[2] * x.shape[3] * x.new_ones(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        w_inv = torch.linalg.inv(self.weight())
        return F.conv2d(y, w_inv[:, :, None, None])


class ZeroConv(nn.Module):
    """3x3 convolution initialised at zero (each coupling starts as the identity), with a
    learned output scale as in Glow."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)
        self.scale = nn.Parameter(torch.zeros(1, cout, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * torch.exp(3.0 * self.scale)


def _with_label(x: torch.Tensor, oh: torch.Tensor | None) -> torch.Tensor:
    if oh is None:
        return x
    return torch.cat([x, oh[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])], 1)


class AffineCoupling(nn.Module):
    """x = (a, b): b -> (b + t(a)) * sigmoid(r(a) + 2); a passes through. log|det| = sum log
    sigmoid(.). The label's one-hot (conditional models) is an input of t and r."""

    def __init__(self, c: int, hidden: int, k: int) -> None:
        super().__init__()
        self.ca = c // 2
        self.net = nn.Sequential(
            nn.Conv2d(self.ca + k, hidden, 3, padding=1), nn.ReLU(),
            nn.Conv2d(hidden, hidden, 1), nn.ReLU(), ZeroConv(hidden, 2 * (c - self.ca)))

    def _shift_scale(self, a: torch.Tensor, oh: torch.Tensor | None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        shift, raw = self.net(_with_label(a, oh)).chunk(2, dim=1)
        return shift, torch.sigmoid(raw + 2.0)

    def forward(self, x: torch.Tensor, oh: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = x[:, :self.ca], x[:, self.ca:]
        shift, scale = self._shift_scale(a, oh)
        return torch.cat([a, (b + shift) * scale], 1), torch.log(scale).flatten(1).sum(1)

    def inverse(self, y: torch.Tensor, oh: torch.Tensor | None) -> torch.Tensor:
        a, b = y[:, :self.ca], y[:, self.ca:]
        shift, scale = self._shift_scale(a, oh)
        return torch.cat([a, b / scale - shift], 1)


class _Step(nn.Module):
    def __init__(self, c: int, hidden: int, k: int) -> None:
        super().__init__()
        self.actnorm = ActNorm(c)
        self.invconv = InvConv1x1(c)
        self.coupling = AffineCoupling(c, hidden, k)

    def forward(self, x: torch.Tensor, oh: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        x, ld1 = self.actnorm(x)
        x, ld2 = self.invconv(x)
        x, ld3 = self.coupling(x, oh)
        return x, ld1 + ld2 + ld3

    def inverse(self, y: torch.Tensor, oh: torch.Tensor | None) -> torch.Tensor:
        return self.actnorm.inverse(self.invconv.inverse(self.coupling.inverse(y, oh)))


class _Net(nn.Module):
    """y in [0, 1)^(C x H x W) -> logit transform -> standard-normal noise eps (a list, one
    block per scale) and log|det d eps / d y|. Split priors and the top prior are affine
    maps too, so the whole map to eps is one invertible transform and
    log p(y) = sum log N(eps) + log|det|."""

    def __init__(self, c: int, h: int, w: int, k: int, levels: int, steps: int,
                 hidden: int) -> None:
        super().__init__()
        self.levels = levels
        self.blocks = nn.ModuleList()
        self.priors = nn.ModuleList()
        ch, hh, ww = c, h, w
        for level in range(levels):
            ch, hh, ww = 4 * ch, hh // 2, ww // 2
            self.blocks.append(nn.ModuleList(_Step(ch, hidden, k) for _ in range(steps)))
            if level < levels - 1:
                self.priors.append(ZeroConv(ch // 2 + k, 2 * (ch - ch // 2)))
                ch = ch // 2
        self.top_shape = (ch, hh, ww)
        self.top_prior = nn.Parameter(torch.zeros(1, 2 * ch, hh, ww))
        self.top_label = nn.Linear(k, 2 * ch) if k else None
        if self.top_label is not None:
            nn.init.zeros_(self.top_label.weight)
            nn.init.zeros_(self.top_label.bias)

    def _top(self, oh: torch.Tensor | None, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.top_prior.expand(b, -1, -1, -1)
        if self.top_label is not None and oh is not None:
            p = p + self.top_label(oh)[:, :, None, None]
        mean, logs = p.chunk(2, dim=1)
        return mean, logs

    def forward(self, y: torch.Tensor, oh: torch.Tensor | None
                ) -> tuple[list[torch.Tensor], torch.Tensor]:
        # logit transform (RealNVP): s = a + (1 - 2a) y, z = log s - log(1 - s); bounded,
        # mostly-saturated pixels become an unbounded space the affine layers model easily
        s = _ALPHA + (1 - 2 * _ALPHA) * y
        z = torch.log(s) - torch.log1p(-s)
        logdet = (math.log(1 - 2 * _ALPHA) - torch.log(s) - torch.log1p(-s)).flatten(1).sum(1)
        eps = []
        for level, steps in enumerate(self.blocks):
            z = squeeze(z)
            for step in steps:
                z, ld = step(z, oh)
                logdet = logdet + ld
            if level < self.levels - 1:
                half = z.shape[1] // 2
                z1, z2 = z[:, :half], z[:, half:]
                mean, logs = self.priors[level](_with_label(z1, oh)).chunk(2, dim=1)
                eps.append((z2 - mean) * torch.exp(-logs))
                logdet = logdet - logs.flatten(1).sum(1)
                z = z1
        mean, logs = self._top(oh, z.shape[0])
        eps.append((z - mean) * torch.exp(-logs))
        logdet = logdet - logs.flatten(1).sum(1)
        return eps, logdet

    def log_density(self, y: torch.Tensor, oh: torch.Tensor | None) -> torch.Tensor:
        """log p(y) for y in [0, 1)^D, nats per image."""
        eps, logdet = self(y, oh)
        log_n = sum(-0.5 * (e.pow(2) + _LOG_2PI).flatten(1).sum(1) for e in eps)
        return log_n + logdet

    def inverse(self, eps: list[torch.Tensor], oh: torch.Tensor | None) -> torch.Tensor:
        mean, logs = self._top(oh, eps[-1].shape[0])
        z = eps[-1] * torch.exp(logs) + mean
        for level in reversed(range(self.levels)):
            if level < self.levels - 1:
                mean, logs = self.priors[level](_with_label(z, oh)).chunk(2, dim=1)
                z = torch.cat([z, eps[level] * torch.exp(logs) + mean], 1)
            for step in reversed(self.blocks[level]):
                z = step.inverse(z, oh)
            z = unsqueeze(z)
        return (torch.sigmoid(z) - _ALPHA) / (1 - 2 * _ALPHA)

    def eps_shapes(self, c: int, h: int, w: int) -> list[tuple[int, int, int]]:
        shapes = []
        ch, hh, ww = c, h, w
        for level in range(self.levels):
            ch, hh, ww = 4 * ch, hh // 2, ww // 2
            if level < self.levels - 1:
                shapes.append((ch - ch // 2, hh, ww))
                ch = ch // 2
        shapes.append((ch, hh, ww))
        return shapes


class ImageFlow(ImageModel):
    """Multi-scale normalizing flow in the style of Glow (Kingma & Dhariwal 2018) / RealNVP
    (Dinh et al. 2017): per scale, a squeeze then `steps` x (actnorm, invertible 1x1
    convolution, affine coupling), then half the channels are factored out with a learned
    Gaussian prior given the other half.

    Pixels k in 0..255 are dequantised uniformly, y = (k + u) / 256 with u ~ U[0, 1)^D, and the
    flow is a density on [0, 1)^D; its first layer is RealNVP's logit transform
    logit(0.05 + 0.9 y), with its Jacobian. `log_prob` is of the 8-bit image in nats:
    log p(y) - D log 256 (the density in [0, 256)^D units, a lower bound in expectation on
    the discrete probability), with one fixed draw of u so scores are repeatable;
    `bits_per_dim` divides its negation by D ln 2. Class-conditional through the one-hot
    label in every coupling network, split prior and the top prior.

    Args:
        levels: scales (each halves height and width: both must be divisible by 2**levels).
        steps: flow steps per scale.
        hidden: channels of the coupling networks.
        temperature: sd of the noise when sampling (1 samples the fitted density; Glow's
            0.7 gives cleaner images that are not samples of the density).
        size: (height, width) to resize inputs to.
        epochs, batch_size, lr, ...: see `genlab.train.TrainConfig`.
        seed: seeds initialisation and training (`sample` draws its own seed).
    """

    family: ClassVar[str] = "flow"
    summary: ClassVar[str] = "Glow-style multi-scale flow, exact log-density"
    when_to_use: ClassVar[str] = "Exact likelihood with fast sampling and an invertible code"
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **ImageModel._parameter_constraints,
        "levels": ("int", 1, 8),
        "steps": ("int", 1, 256),
        "hidden": ("int", 1, 4096),
        "temperature": ("float", 0.0, 10.0),
    }

    train_defaults: ClassVar[dict[str, Any]] = {"warmup_steps": 100,
                                                "max_steps": 1_100}  # ~9 MNIST epochs, 5 min

    def __init__(
        self,
        *,
        levels: int = 2,
        steps: int = 8,
        hidden: int = 64,
        temperature: float = 1.0,
        seed: int | None = None,
        **shared: Any,
    ) -> None:
        self._init_params(locals())

    def _check_shape_supported(self) -> None:
        c, f = self.codec_, 2**self.levels
        if c.height % f or c.width % f:
            raise DataError(
                f"the flow with levels={self.levels} needs height and width divisible by {f}, "
                f"got {c.height}x{c.width}; resize with size=(H, W) or lower levels")

    def _build(self, meta: dict[str, Any]) -> _Net:
        return _Net(int(meta["c"]), int(meta["h"]), int(meta["w"]), int(meta["k"]),
                    self.levels, self.steps, self.hidden)

    def _expected_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        # the 1x1 convolutions draw their start on the CPU even on the meta device: seeded
        # here so loading a model leaves the caller's torch random state alone
        with torch_seeded(np.random.default_rng(0)):
            return super()._expected_shapes(meta)

    def _onehot(self, y: torch.Tensor | None) -> torch.Tensor | None:
        return None if y is None or not self.codec_.conditional else F.one_hot(
            y, self.n_classes_).float()

    def _fit_tensors(self, x: torch.Tensor, y: torch.Tensor | None,
                     rng: np.random.Generator) -> None:
        c = self.codec_
        self.meta_ = {"c": c.channels, "h": c.height, "w": c.width, "k": self.n_classes_}
        self.net_ = self._new_net(rng)  # initial weights from the model's seed alone
        d = c.dims

        def loss_fn(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            xb = batch[0]
            yq = (xb.float() + torch.rand(xb.shape, device=xb.device)) / 256.0
            lp = self.net_.log_density(yq, self._onehot(batch[1] if len(batch) > 1 else None))
            return -(lp - d * _LOG_256)

        self._train(loss_fn, [x] if y is None else [x, y], rng)

    def _log_prob_tensor(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        gen = torch.Generator(device=x.device).manual_seed(DEQUANT_SEED)
        u = torch.rand(x.shape, generator=gen, device=x.device)
        yq = (x.float() + u) / 256.0
        return self.net_.log_density(yq, self._onehot(y)) - self.codec_.dims * _LOG_256

    def _encode(self, data: Any) -> np.ndarray:
        """Base-space values z of every image (all scales, flattened: one value per pixel
        and channel), from the centre of each pixel's dequantisation cell; a
        class-conditional flow reads the labels from the data."""
        ds = self._read_for_scoring(data)
        codes = self._score_labels(ds, None)
        if self.codec_.conditional and codes is None:
            raise DataError("this flow is class-conditional: give data with labels to encode")
        x = torch.from_numpy(np.ascontiguousarray(ds.images.transpose(0, 3, 1, 2)))
        out = []
        for s in range(0, x.shape[0], 256):
            y = None if codes is None else torch.as_tensor(codes[s:s + 256], device=self.device_)
            zs, _ = self.net_((x[s:s + 256].to(self.device_).float() + 0.5) / 256.0,
                              self._onehot(y))
            out.append(torch.cat([z.flatten(1) for z in zs], dim=1).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.codec_.dims))

    def _sample_tensor(self, n: int, y: torch.Tensor | None,
                       generator: torch.Generator) -> torch.Tensor:
        c = self.codec_
        eps = [torch.randn((n, *s), generator=generator, device=self.device_) * self.temperature
               for s in self.net_.eps_shapes(c.channels, c.height, c.width)]
        yq = self.net_.inverse(eps, self._onehot(y))
        # the dequantisation cell [k/256, (k+1)/256) holds pixel value k
        return torch.floor(yq * 256.0).clamp(0, 255).to(torch.uint8)
