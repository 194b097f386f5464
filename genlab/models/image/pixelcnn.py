"""Gated PixelCNN (van den Oord et al. 2016) with a discretised logistic mixture output."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genlab.errors import ParameterError
from genlab.models.image.base import ImageModel
from genlab.nets.logistic_mixture import logistic_mixture_logp, logistic_mixture_sample, to_unit
from genlab.params import ParamSpec
from genlab.privacy._sgd_image import PrivateImageSGD

__all__ = ["PixelCNN"]


def _vertical_mask(k: int, mask_center: bool) -> torch.Tensor:
    """Rows above the centre (and the centre row unless `mask_center`) of a k x k kernel."""
    m = torch.ones(k, k)
    m[k // 2 + 1:, :] = 0
    if mask_center:
        m[k // 2, :] = 0
    return m


def _horizontal_mask(k: int, mask_center: bool) -> torch.Tensor:
    """Pixels left of the centre (and the centre unless `mask_center`) of a 1 x k kernel."""
    m = torch.ones(1, k)
    m[0, k // 2 + 1:] = 0
    if mask_center:
        m[0, k // 2] = 0
    return m


class _MaskedConv(nn.Conv2d):
    def __init__(self, cin: int, cout: int, mask: torch.Tensor, dilation: int = 1) -> None:
        kh, kw = mask.shape
        super().__init__(cin, cout, (kh, kw), padding=((kh - 1) // 2 * dilation,
                                                        (kw - 1) // 2 * dilation),
                         dilation=dilation)
        # not persistent: the mask follows from the architecture, the file holds weights only
        self.register_buffer("mask", mask[None, None].clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding,
                        dilation=self.dilation)


def _gate(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class _GatedLayer(nn.Module):
    def __init__(self, c: int, k: int, dilation: int, n_classes: int) -> None:
        super().__init__()
        self.conv_v = _MaskedConv(c, 2 * c, _vertical_mask(k, False), dilation)
        self.conv_h = _MaskedConv(c, 2 * c, _horizontal_mask(k, False), dilation)
        self.v_to_h = nn.Conv2d(2 * c, 2 * c, 1)
        self.h_out = nn.Conv2d(c, c, 1)
        self.cond = nn.Linear(n_classes, 4 * c) if n_classes else None


class _Net(nn.Module):
    """Vertical stack (rows above) and horizontal stack (pixels to the left) without the
    blind spot; `vertical` and `horizontal` are split so sampling can reuse the vertical
    features of a row for all its pixels."""

    def __init__(self, c_in: int, hidden: int, layers: int, k: int, mixtures: int,
                 n_classes: int) -> None:
        super().__init__()
        self.c_in, self.mixtures, self.k = c_in, mixtures, k
        self.dilations = [1 + i % 2 for i in range(layers)]
        self.v_in = _MaskedConv(c_in, hidden, _vertical_mask(k, True))
        self.h_in = _MaskedConv(c_in, hidden, _horizontal_mask(k, True))
        self.layers = nn.ModuleList(_GatedLayer(hidden, k, d, n_classes) for d in self.dilations)
        self.head = nn.Sequential(nn.ELU(), nn.Conv2d(hidden, hidden, 1), nn.ELU(),
                                  nn.Conv2d(hidden, 3 * mixtures * c_in, 1))

    @property
    def reach(self) -> int:
        """Rows above a pixel that its vertical features depend on."""
        return (self.k // 2) * (1 + sum(self.dilations))

    def vertical(self, xs: torch.Tensor, oh: torch.Tensor | None) -> list[torch.Tensor]:
        v = self.v_in(xs)
        feats = []
        for layer in self.layers:
            vf = layer.conv_v(v)
            if layer.cond is not None and oh is not None:
                vf = vf + layer.cond(oh)[:, : vf.shape[1], None, None]
            feats.append(vf)
            v = _gate(vf)
        return feats

    def horizontal(self, xs: torch.Tensor, vfeats: list[torch.Tensor],
                   oh: torch.Tensor | None) -> torch.Tensor:
        h = self.h_in(xs)
        for layer, vf in zip(self.layers, vfeats, strict=True):
            hf = layer.conv_h(h) + layer.v_to_h(vf)
            if layer.cond is not None and oh is not None:
                hf = hf + layer.cond(oh)[:, hf.shape[1]:, None, None]
            h = layer.h_out(_gate(hf)) + h
        return self.head(h)

    def params(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Head output -> mixture logits, means, log scales, each B x K x C x H x W."""
        b, _, hh, ww = out.shape
        p = out.view(b, 3, self.mixtures, self.c_in, hh, ww)
        return p[:, 0], p[:, 1], p[:, 2]

    def forward(self, xs: torch.Tensor, oh: torch.Tensor | None) -> torch.Tensor:
        return self.horizontal(xs, self.vertical(xs, oh), oh)


class PixelCNN(PrivateImageSGD, ImageModel):
    """Gated PixelCNN: an autoregressive model of the pixels in raster order,

        log p(x) = sum_i log p(x_i | x_<i),

    with masked convolutions in a vertical and a horizontal stack (no blind spot), gated
    tanh-sigmoid units and, per pixel, a discretised logistic mixture over 0..255
    (PixelCNN++). `log_prob` is exact in nats per 8-bit image. Colour channels of one pixel
    are independent given the previous pixels (a simplification of PixelCNN++'s channel
    coupling; the likelihood stays exact). Class-conditional through a learned per-layer
    bias of the gates (`fit(data, conditions=["label"])`).

    Sampling is sequential (one pass per pixel), sped up by computing the vertical stack
    once per row on the few rows its receptive field reaches and the horizontal stack only
    on the pixels left of the current one; it is still the slowest family to sample.

    Args:
        hidden: channels of the stacks.
        layers: gated layers (dilation 1, 2, 1, 2, ...).
        kernel: kernel size (odd).
        mixtures: logistic components per pixel value.
        size: (height, width) to resize inputs to.
        epochs, batch_size, lr, ...: see `genlab.train.TrainConfig`.
        seed: seeds initialisation and training (`sample` draws its own seed).
    """

    family: ClassVar[str] = "pixelcnn"
    summary: ClassVar[str] = "Gated PixelCNN, logistic-mixture pixels, exact log_prob"
    when_to_use: ClassVar[str] = "Best likelihood (bits/dim); slow to sample"
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **ImageModel._parameter_constraints,
        "hidden": ("int", 1, 4096),
        "layers": ("int", 1, 64),
        "kernel": ("int", 3, 15),
        "mixtures": ("int", 1, 64),
    }

    train_defaults: ClassVar[dict[str, Any]] = {"batch_size": 16, "lr": 2e-3, "grad_clip": 100.0,
                                                "max_steps": 1_700}  # ~3.5 MNIST epochs, 5 min

    def __init__(
        self,
        *,
        hidden: int = 32,
        layers: int = 5,
        kernel: int = 3,
        mixtures: int = 5,
        seed: int | None = None,
        **shared: Any,
    ) -> None:
        self._init_params(locals())

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.kernel % 2 == 0:
            raise ParameterError(f"PixelCNN: kernel must be odd, got {self.kernel}")

    def _build(self, meta: dict[str, Any]) -> _Net:
        return _Net(int(meta["c"]), self.hidden, self.layers, self.kernel, self.mixtures,
                    int(meta["k"]))

    def _onehot(self, y: torch.Tensor | None) -> torch.Tensor | None:
        return None if y is None or not self.codec_.conditional else F.one_hot(
            y, self.n_classes_).float()

    def _fit_tensors(self, x: torch.Tensor, y: torch.Tensor | None,
                     rng: np.random.Generator) -> None:
        c = self.codec_
        self.meta_ = {"c": c.channels, "k": self.n_classes_}
        self.net_ = self._new_net(rng)  # initial weights from the model's seed alone

        def loss_fn(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            return -self._log_prob_tensor(batch[0], batch[1] if len(batch) > 1 else None)

        self._train(loss_fn, [x] if y is None else [x, y], rng)

    def _log_prob_tensor(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        out = self.net_(to_unit(x), self._onehot(y))
        return logistic_mixture_logp(x, *self.net_.params(out))

    def _sample_tensor(self, n: int, y: torch.Tensor | None,
                       generator: torch.Generator) -> torch.Tensor:
        c = self.codec_
        net, oh = self.net_, self._onehot(y)
        x = torch.zeros((n, c.channels, c.height, c.width), dtype=torch.uint8, device=self.device_)
        xs = to_unit(x)
        for i in range(c.height):
            r0 = max(0, i - net.reach)
            # the vertical features of row i see only rows < i: computed once per row
            vrow = [f[:, :, -1:, :] for f in net.vertical(xs[:, :, r0:i + 1], oh)]
            for j in range(c.width):
                # the horizontal stack at (i, j) sees only pixels (i, <= j) of its input
                out = net.horizontal(xs[:, :, i:i + 1, :j + 1],
                                     [f[..., :j + 1] for f in vrow], oh)
                logits, means, log_scales = net.params(out[..., -1:])
                px = logistic_mixture_sample(logits, means, log_scales, generator)
                x[:, :, i:i + 1, j:j + 1] = px
                xs[:, :, i:i + 1, j:j + 1] = to_unit(px)
        return x
