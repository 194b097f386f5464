"""Super-resolution as a conditional model p(high-resolution image | its low-resolution one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genlab.data.images import read_images
from genlab.errors import DataError, ParameterError
from genlab.models.base import Conditions
from genlab.models.image.base import ImageModel
from genlab.nets.logistic_mixture import logistic_mixture_logp, logistic_mixture_sample, to_unit
from genlab.params import ParamSpec
from genlab.provenance import attach
from genlab.seeding import check_seed, draw_seed, torch_generator

__all__ = ["SuperResolution", "bicubic_upsample", "downsample"]


def downsample(images: np.ndarray, factor: int) -> np.ndarray:
    """Low-resolution version of uint8 N x H x W x C images: the mean of each factor x factor
    block (what a coarser sensor records), rounded to uint8."""
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).double()
    low = F.avg_pool2d(x, factor)
    return np.clip(np.round(low.numpy()), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1).copy()


def bicubic_upsample(low: np.ndarray, factor: int) -> np.ndarray:
    """Bicubic upsampling (the classical baseline) of uint8 N x h x w x C images."""
    x = torch.from_numpy(np.ascontiguousarray(low.transpose(0, 3, 1, 2))).float()
    up = F.interpolate(x, scale_factor=factor, mode="bicubic", align_corners=False)
    return np.clip(np.round(up.numpy()), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1).copy()


class _Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(c, c, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _Net(nn.Module):
    """Residual conv body at low resolution, sub-pixel upsampling (ESPCN), a refinement at
    high resolution; predicts a correction to the bicubic image and a per-pixel log scale."""

    def __init__(self, c: int, factor: int, hidden: int, blocks: int) -> None:
        super().__init__()
        self.factor = factor
        self.inp = nn.Conv2d(c, hidden, 3, padding=1)
        self.body = nn.Sequential(*(_Block(hidden) for _ in range(blocks)), nn.ReLU())
        self.up = nn.Sequential(nn.Conv2d(hidden, 16 * factor * factor, 3, padding=1),
                                nn.PixelShuffle(factor), nn.ReLU())
        self.refine = nn.Sequential(nn.Conv2d(16 + c, 32, 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(32, 2 * c, 3, padding=1))

    def forward(self, low: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """low: B x C x h x w in [-1, 1] -> (location, log scale) at high resolution."""
        bic = F.interpolate(low, scale_factor=self.factor, mode="bicubic", align_corners=False)
        f = self.up(self.body(self.inp(low)))
        loc_delta, log_scale = self.refine(torch.cat([f, bic], 1)).chunk(2, dim=1)
        return bic + loc_delta, log_scale


class SuperResolution(ImageModel):
    """Conditional model of a high-resolution image given its low-resolution version
    (`factor` x smaller, block means): each pixel is a discretised logistic whose location
    and scale a convolutional network predicts from the low-resolution image, pixels being
    independent given it. `log_prob` is the exact log p(high | low) in nats per image;
    `superresolve` returns the per-pixel location (the point estimate that PSNR scores) and
    `sample_given` draws from the model.

    Use: sharpening low-resolution scans. It fits on high-resolution images only (the
    low-resolution inputs are made by block-averaging); class labels are not used.
    Command line: `genlab fit imgs/ --model superres -o sr.genlab`, then
    `genlab sample sr.genlab --prompt lowres/ -o sharp/` super-resolves the images in `lowres/`.

    Args:
        factor: resolution ratio (height and width must be divisible by it).
        hidden: channels of the low-resolution body.
        blocks: residual blocks.
        size: (height, width) to resize inputs to.
        epochs, batch_size, lr, ...: see `genlab.train.TrainConfig`.
        seed: seeds initialisation and training (`sample` draws its own seed).
    """

    family: ClassVar[str] = "superres"
    summary: ClassVar[str] = "Super-resolution p(high | low), exact conditional log_prob"
    when_to_use: ClassVar[str] = "Sharpen low-resolution images (e.g. 7x7 -> 28x28)"
    conditioning: ClassVar[str] = "the low-resolution image (prompt=PATH, --prompt PATH)"
    sample_options: ClassVar[dict[str, ParamSpec]] = {
        **ImageModel.sample_options,
        "prompt": ("path?", "low-resolution images (a folder, .npy/.npz or idx file)"),
        "draw": ("bool",),  # True: a seeded draw from p(high | low), not the location
    }
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **ImageModel._parameter_constraints,
        "factor": ("int", 2, 16),
        "hidden": ("int", 1, 4096),
        "blocks": ("int", 0, 64),
    }
    train_defaults: ClassVar[dict[str, Any]] = {"max_steps": 2_200}  # ~19 MNIST epochs, 5 min

    def __init__(
        self,
        *,
        factor: int = 4,
        hidden: int = 64,
        blocks: int = 4,
        seed: int | None = None,
        **shared: Any,
    ) -> None:
        self._init_params(locals())

    def _fit(self, data: Any, conditions: list[str], rng: np.random.Generator,
             **options: Any) -> tuple[int, str]:
        if conditions:
            raise ParameterError("superres conditions on the low-resolution image; class "
                                 "labels are not used (drop --condition)")
        return super()._fit(data, conditions, rng, **options)

    def _check_shape_supported(self) -> None:
        c, f = self.codec_, self.factor
        if c.height % f or c.width % f:
            raise DataError(f"superres with factor={f} needs height and width divisible by {f}, "
                            f"got {c.height}x{c.width}; resize with size=(H, W)")

    def _build(self, meta: dict[str, Any]) -> _Net:
        return _Net(int(meta["c"]), self.factor, self.hidden, self.blocks)

    def _low_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 high-res B x C x H x W -> its low-res version in [-1, 1] (uint8 block means)."""
        low = torch.round(F.avg_pool2d(x.double(), self.factor)).clamp(0, 255)
        return to_unit(low)

    def _fit_tensors(self, x: torch.Tensor, y: torch.Tensor | None,
                     rng: np.random.Generator) -> None:
        self.meta_ = {"c": self.codec_.channels}
        self.net_ = self._new_net(rng)  # initial weights from the model's seed alone

        def loss_fn(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            return -self._log_prob_tensor(batch[0], None)

        self._train(loss_fn, [x], rng)

    def _log_prob_tensor(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        loc, log_scale = self.net_(self._low_tensor(x))
        return logistic_mixture_logp(x, torch.zeros_like(loc).unsqueeze(1), loc.unsqueeze(1),
                                     log_scale.unsqueeze(1))

    # -- conditional outputs --------------------------------------------------------------------
    def _low_input(self, low: Any) -> torch.Tensor:
        c = self.codec_
        ds = read_images(low)
        expect = (c.height // self.factor, c.width // self.factor, c.channels)
        if ds.images.shape[1:] != expect:
            h, w, ch = ds.images.shape[1:]
            raise DataError(f"low-resolution images are {h}x{w}x{ch}; this model expects "
                            f"{expect[0]}x{expect[1]}x{expect[2]} (1/{self.factor} of "
                            f"{c.height}x{c.width})")
        arr = np.ascontiguousarray(ds.images.transpose(0, 3, 1, 2))
        return to_unit(torch.from_numpy(arr)).to(self.device_)

    def superresolve(self, low: Any, *, batch_size: int = 256) -> np.ndarray:
        """High-resolution estimates (uint8 N x H x W x C, the per-pixel location) of
        low-resolution images (uint8 array, folder or file)."""
        self._check_fitted()
        lt = self._low_input(low)
        self.net_.eval()
        with torch.no_grad():
            out = [self.net_(lt[s:s + batch_size])[0] for s in range(0, lt.shape[0], batch_size)]
        loc = torch.cat(out)
        return torch.round((loc.clamp(-1, 1) + 1) * 127.5).to(torch.uint8).cpu().numpy(
        ).transpose(0, 2, 3, 1).copy()

    def sample_given(self, low: Any, *, seed: int | None = None) -> np.ndarray:
        """One draw from p(high | low) per low-resolution image (uint8 N x H x W x C); the
        same `seed` gives the same draw, none a fresh one."""
        self._check_fitted()
        given = check_seed(seed)
        return self._draw(low, np.random.default_rng(draw_seed() if given is None else given))

    def _draw(self, low: Any, rng: np.random.Generator) -> np.ndarray:
        lt = self._low_input(low)
        gen = torch_generator(rng, self.device_)
        self.net_.eval()
        with torch.no_grad():
            loc, log_scale = self.net_(lt)
            x = logistic_mixture_sample(torch.zeros_like(loc).unsqueeze(1), loc.unsqueeze(1),
                                        log_scale.unsqueeze(1), gen)
        return x.cpu().numpy().transpose(0, 2, 3, 1).copy()

    def _sample(self, n: int, conditions: Conditions, rng: np.random.Generator,
                batch_size: int = 256, prompt: str | None = None,
                draw: bool = False) -> np.ndarray:
        """`sample(n, prompt="lowres/")` (command line: `genlab sample sr.genlab --prompt
        lowres/ -o sharp/`): super-resolve (at most `n` of) the low-resolution images at
        `prompt`, each as its per-pixel location (the sharpest estimate), or with
        `draw=True` as one draw from p(high | low) from the sample's seed."""
        if prompt is None:
            raise ParameterError("superres draws images given low-resolution ones: pass "
                                 "prompt=PATH (command line: --prompt LOWRES_IMAGES), or use "
                                 "superresolve(low) / sample_given(low)")
        if conditions:
            raise ParameterError("superres takes no conditions (--where); its condition is "
                                 "the low-resolution image given by prompt")
        low = Path(prompt)
        high = self._draw(low, rng) if draw else self.superresolve(low, batch_size=batch_size)
        return attach(high[:n], {}, source=str(prompt))
