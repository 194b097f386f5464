"""Classic image transforms: small seeded objects that compose, built on kornia.

Each transform maps uint8 images N x H x W x C to new uint8 images of the same shape. The
random draws come from the `rng` passed in (a numpy Generator): kornia samples its
parameters from torch's default generator, so every call runs inside
`genlab.seeding.torch_seeded(rng)`, which seeds a fork of that generator and restores it
after; the caller's global torch state is never changed. Flip is off in the default chain
because a mirrored digit or letter is another symbol (or none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genlab.errors import DataError, ParameterError

__all__ = [
    "Compose",
    "ElasticDistortion",
    "Flip",
    "GaussianNoise",
    "ImageTransform",
    "RandomCrop",
    "Rotation",
    "Scaling",
    "Translation",
    "default_image_transforms",
]


def _check_images(images: Any) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.dtype != np.uint8:
        raise DataError(f"images must be uint8 N x H x W (x C), got {arr.dtype} with shape "
                        f"{arr.shape}; read them with genlab.images.read_images")
    return arr


def _positive(name: str, value: float, upper: float | None = None) -> None:
    if not isinstance(value, (int, float)) or value < 0 or (upper is not None and value > upper):
        bound = f" and at most {upper}" if upper is not None else ""
        raise ParameterError(f"{name} must be a number >= 0{bound}, got {value!r}")


@dataclass
class ImageTransform:
    """Base: `transform(images, rng)` draws from `rng`; `__call__(images, seed=)` seeds one."""

    def _kornia(self, size: tuple[int, int]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _apply(self, x: Any, size: tuple[int, int]) -> Any:
        return self._kornia(size)(x)

    def transform(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """New uint8 images (same shape) drawn with `rng`."""
        import torch

        from genlab.seeding import torch_seeded

        arr = _check_images(images)
        if arr.shape[0] == 0:
            return arr.copy()
        x = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255.0
        with torch_seeded(rng), torch.no_grad():
            y = self._apply(x, (arr.shape[1], arr.shape[2]))
        y = (y.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1)
        return y.numpy().copy()

    def __call__(self, images: np.ndarray, seed: int | None = 0) -> np.ndarray:
        """`transform(images, np.random.default_rng(seed))`."""
        return self.transform(images, np.random.default_rng(seed))


@dataclass
class Rotation(ImageTransform):
    """Rotate by a uniform angle in [-degrees, degrees] about the centre."""

    degrees: float = 10.0

    def __post_init__(self) -> None:
        _positive("degrees", self.degrees, 180.0)

    def _kornia(self, size: tuple[int, int]) -> Any:
        import kornia.augmentation as K

        return K.RandomRotation(degrees=float(self.degrees), p=1.0)


@dataclass
class Scaling(ImageTransform):
    """Zoom by a uniform factor in `scale` = (low, high) about the centre."""

    scale: tuple[float, float] = (0.9, 1.1)

    def __post_init__(self) -> None:
        lo, hi = self.scale
        if not 0 < lo <= hi:
            raise ParameterError(f"scale must be (low, high) with 0 < low <= high, got "
                                 f"{self.scale!r}")

    def _kornia(self, size: tuple[int, int]) -> Any:
        import kornia.augmentation as K

        return K.RandomAffine(degrees=0.0, scale=tuple(map(float, self.scale)), p=1.0)


@dataclass
class Translation(ImageTransform):
    """Shift by up to `fraction` of the width and height, each way."""

    fraction: float = 0.1

    def __post_init__(self) -> None:
        _positive("fraction", self.fraction, 1.0)

    def _kornia(self, size: tuple[int, int]) -> Any:
        import kornia.augmentation as K

        f = float(self.fraction)
        return K.RandomAffine(degrees=0.0, translate=(f, f), p=1.0)


@dataclass
class Flip(ImageTransform):
    """Mirror left-right with probability `p` (not for digits or text-like images)."""

    p: float = 0.5

    def __post_init__(self) -> None:
        _positive("p", self.p, 1.0)

    def _kornia(self, size: tuple[int, int]) -> Any:
        import kornia.augmentation as K

        return K.RandomHorizontalFlip(p=float(self.p))


@dataclass
class RandomCrop(ImageTransform):
    """Crop a random box of `scale` of the area (aspect `ratio`) and resize it back."""

    scale: tuple[float, float] = (0.8, 1.0)
    ratio: tuple[float, float] = (0.9, 1.1)

    def __post_init__(self) -> None:
        lo, hi = self.scale
        if not 0 < lo <= hi <= 1:
            raise ParameterError(f"scale must be (low, high) with 0 < low <= high <= 1, got "
                                 f"{self.scale!r}")

    def _kornia(self, size: tuple[int, int]) -> Any:
        import kornia.augmentation as K

        return K.RandomResizedCrop(size, scale=tuple(map(float, self.scale)),
                                   ratio=tuple(map(float, self.ratio)), p=1.0)


@dataclass
class ElasticDistortion(ImageTransform):
    """Elastic distortion (Simard et al. 2003): a smoothed random displacement field;
    `alpha` is its strength as a share of the image size, `sigma` its smoothness in pixels."""

    alpha: float = 1.0
    sigma: float = 4.0

    def __post_init__(self) -> None:
        _positive("alpha", self.alpha)
        if not isinstance(self.sigma, (int, float)) or self.sigma <= 0:
            raise ParameterError(f"sigma must be a number > 0, got {self.sigma!r}")

    def _kornia(self, size: tuple[int, int]) -> Any:
        import kornia.augmentation as K

        k = 2 * int(3 * self.sigma) + 1  # the Gaussian kernel covers +-3 sigma
        return K.RandomElasticTransform(kernel_size=(k, k), sigma=(self.sigma, self.sigma),
                                        alpha=(self.alpha, self.alpha), p=1.0)


@dataclass
class GaussianNoise(ImageTransform):
    """Add Gaussian noise of standard deviation `std` (pixel values scaled to [0, 1])."""

    std: float = 0.05

    def __post_init__(self) -> None:
        _positive("std", self.std, 1.0)

    def _kornia(self, size: tuple[int, int]) -> Any:
        import kornia.augmentation as K

        return K.RandomGaussianNoise(mean=0.0, std=float(self.std), p=1.0)


@dataclass
class Compose(ImageTransform):
    """Apply `transforms` in order, all drawing from the one `rng`."""

    transforms: Sequence[ImageTransform] = field(default_factory=list)

    def __post_init__(self) -> None:
        bad = [t for t in self.transforms if not isinstance(t, ImageTransform)]
        if bad:
            raise ParameterError(f"Compose takes image transforms, got {type(bad[0]).__name__}")

    def _apply(self, x: Any, size: tuple[int, int]) -> Any:
        # neighbouring rotation / scaling / translation become one affine warp: each warp
        # resamples (bilinear), and four in a row blur thin strokes visibly
        run: list[ImageTransform] = []
        for t in [*self.transforms, None]:
            if isinstance(t, (Rotation, Scaling, Translation)):
                run.append(t)
                continue
            if run:
                x = _fused_affine(run)(x)
                run = []
            if t is not None:
                x = t._apply(x, size)
        return x


def _fused_affine(run: list[ImageTransform]) -> Any:
    import kornia.augmentation as K

    degrees, scale, shift = 0.0, None, None
    for t in run:
        if isinstance(t, Rotation):
            degrees = float(t.degrees)
        elif isinstance(t, Scaling):
            scale = tuple(map(float, t.scale))
        elif isinstance(t, Translation):
            shift = (float(t.fraction), float(t.fraction))
    return K.RandomAffine(degrees=degrees, translate=shift, scale=scale, p=1.0)


def default_image_transforms(flip: bool = False) -> Compose:
    """The default chain: small rotation, scaling and translation (one affine warp), then a
    mild elastic distortion; `flip=True` adds left-right mirroring (photos, not digits or
    letters). `GaussianNoise` and `RandomCrop` are available but not in the default."""
    chain: list[ImageTransform] = [Rotation(10.0), Scaling((0.9, 1.1)), Translation(0.08),
                                   ElasticDistortion(1.0, 4.0)]
    if flip:
        chain.insert(0, Flip(0.5))
    return Compose(chain)
