"""Image evaluation: a small classifier trained by genlab, Fréchet distance and
precision / recall / density / coverage in its feature space, conditional accuracy,
near-copies of training images, PSNR and SSIM.

Difference from FID: FID uses the pool features of an Inception-v3 trained on ImageNet,
which cannot be downloaded here. genlab trains a small CNN classifier on the dataset
itself (`ImageClassifier`) and uses its penultimate layer (128 features). The numbers are
comparable between models scored with the same classifier on the same data, never with
published FIDs; the features know only this dataset's classes, so they are more sensitive
to class identity and less to generic image statistics than Inception's.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import linalg
from torch import nn
from torch.nn import functional as F

from genlab.data.images import ImageSet, read_images
from genlab.errors import DataError
from genlab.models.image.vae import pad_image, pad_to
from genlab.seeding import torch_seeded
from genlab.train import TrainConfig, fit_loop, resolve_device

__all__ = [
    "ImageClassifier",
    "frechet_distance",
    "near_copy_share",
    "nearest_neighbours",
    "prdc",
    "psnr",
    "ssim",
]


class _ClassifierNet(nn.Module):
    def __init__(self, c: int, h: int, w: int, k: int, width: int) -> None:
        super().__init__()
        self.hp, self.wp = pad_to(h), pad_to(w)
        self.features = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.25),
            nn.Linear(2 * width * (self.hp // 4) * (self.wp // 4), 128), nn.ReLU())
        self.out = nn.Linear(128, k)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(pad_image(x.float() / 127.5 - 1.0, self.hp, self.wp, -1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(x))


@dataclass
class ImageClassifier:
    """Small CNN classifier whose 128-d penultimate layer is the feature space of the image
    metrics (see the module docstring). Trained with genlab's shared loop."""

    width: int = 32
    epochs: int = 20
    max_minutes: float | None = None  # a safety cap only; off, so the result is the machine's
    batch_size: int = 128
    seed: int = 0
    device: str = "auto"

    def fit(self, data: Any) -> ImageClassifier:
        """Train on labelled images (anything `read_images` reads)."""
        ds = read_images(data) if not isinstance(data, ImageSet) else data
        if ds.labels is None or ds.classes is None:
            raise DataError("the metric classifier needs labelled images (class sub-folders, "
                            "a 'labels' array or idx labels)")
        n, h, w, c = ds.images.shape
        self.classes_ = list(ds.classes)
        self.shape_ = (h, w, c)
        rng = np.random.default_rng(self.seed)
        with torch_seeded(rng):  # initial weights from `seed` alone
            self.net_ = _ClassifierNet(c, h, w, len(self.classes_), self.width)
        x = torch.from_numpy(np.ascontiguousarray(ds.images.transpose(0, 3, 1, 2)))
        y = torch.from_numpy(ds.labels)
        device = resolve_device(self.device)
        self.net_.to(device)

        def loss_fn(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            return F.cross_entropy(self.net_(batch[0]), batch[1], reduction="none")

        config = TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=1e-3,
                             optimizer="adam", val_fraction=0.1, patience=3,
                             max_minutes=self.max_minutes, warmup_steps=0, device=self.device)
        with torch_seeded(rng, device):  # dropout draws, the caller's state untouched
            self.history_ = fit_loop(self.net_, loss_fn, [x.to(device), y.to(device)], config,
                                     seed=self.seed,
                                     description="fitting metric classifier").history
        self.net_.eval()
        return self

    def _batches(self, images: np.ndarray, fn: Any) -> np.ndarray:
        arr = np.asarray(images)
        if arr.ndim == 3:
            arr = arr[..., None]
        if arr.shape[1:] != self.shape_:
            raise DataError(f"images are {arr.shape[1:]}, the classifier was trained on "
                            f"{self.shape_}")
        x = torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))
        device = next(self.net_.parameters()).device
        with torch.no_grad():
            return torch.cat([fn(x[s:s + 512].to(device)).cpu()
                              for s in range(0, x.shape[0], 512)]).numpy()

    def features(self, images: np.ndarray) -> np.ndarray:
        """Penultimate-layer features, N x 128 (uint8 N x H x W x C input)."""
        return self._batches(images, self.net_.embed)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Predicted class codes."""
        return self._batches(images, self.net_).argmax(1)

    def accuracy(self, images: np.ndarray, labels: np.ndarray) -> float:
        """Share of images classified as `labels` (class codes)."""
        return float(np.mean(self.predict(images) == np.asarray(labels)))


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (the FID formula):
    |mu_r - mu_f|^2 + tr(S_r + S_f - 2 (S_r S_f)^(1/2))."""
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    with warnings.catch_warnings():
        # fewer samples than features make S singular; the square root is still defined
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():  # regularise as pytorch-fid does
            off = np.eye(s1.shape[0]) * 1e-6
            covmean = linalg.sqrtm((s1 + off) @ (s2 + off))
    covmean = np.real(covmean)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ta, tb = torch.from_numpy(a.astype(np.float32)), torch.from_numpy(b.astype(np.float32))
    return torch.cdist(ta, tb).numpy()


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision, recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020)
    of fake features against real ones, with k-nearest-neighbour balls."""
    if len(real) <= k or len(fake) <= k:
        raise DataError(f"prdc needs more than k={k} real and fake images")
    d_rr = _pairwise(real, real)
    d_ff = _pairwise(fake, fake)
    r_radius = np.sort(d_rr, axis=1)[:, k]  # column 0 is the point itself
    f_radius = np.sort(d_ff, axis=1)[:, k]
    d_rf = _pairwise(real, fake)
    inside = d_rf < r_radius[:, None]  # fake j inside real i's ball
    precision = float(inside.any(axis=0).mean())
    recall = float((d_rf < f_radius[None, :]).any(axis=1).mean())
    density = float(inside.sum(axis=0).mean() / k)
    coverage = float((d_rf.min(axis=1) < r_radius).mean())
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


def nearest_neighbours(queries: np.ndarray, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index and Euclidean pixel distance (values 0..1) of each query's nearest pool image."""
    q = queries.reshape(len(queries), -1).astype(np.float32) / 255
    p = pool.reshape(len(pool), -1).astype(np.float32) / 255
    idx, dist = [], []
    for s in range(0, len(q), 512):
        d = _pairwise(q[s:s + 512], p)
        j = d.argmin(1)
        idx.append(j)
        dist.append(d[np.arange(len(j)), j])
    return np.concatenate(idx), np.concatenate(dist)


def near_copy_share(samples: np.ndarray, train: np.ndarray, held_out: np.ndarray,
                    quantile: float = 0.01) -> dict[str, float]:
    """Share of samples closer (in pixels) to their nearest training image than the closest
    `quantile` of held-out real images are: held-out images are not copies, so a share well
    above `quantile` means the model reproduces training images."""
    _, d_real = nearest_neighbours(held_out, train)
    threshold = float(np.quantile(d_real, quantile))
    _, d_fake = nearest_neighbours(samples, train)
    return {"near_copy_share": float(np.mean(d_fake < threshold)), "threshold": threshold,
            "expected_share": quantile}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over images of the peak signal-to-noise ratio (dB) of uint8 images."""
    x = a.reshape(len(a), -1).astype(np.float64)
    y = b.reshape(len(b), -1).astype(np.float64)
    mse = np.maximum(((x - y) ** 2).mean(1), 1e-10)
    return float(np.mean(10 * np.log10(255.0**2 / mse)))


def _gauss_window(size: int = 7, sigma: float = 1.5) -> torch.Tensor:
    g = torch.exp(-((torch.arange(size) - size // 2) ** 2).double() / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(a: np.ndarray, b: np.ndarray, window: int = 7) -> float:
    """Mean structural similarity (Wang et al. 2004) of uint8 N x H x W x C images, with a
    Gaussian window (sigma 1.5; 7 x 7 rather than 11 x 11 because 28 x 28 images are small),
    per channel, averaged over valid positions."""
    x = torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).double()
    y = torch.from_numpy(np.ascontiguousarray(b.transpose(0, 3, 1, 2))).double()
    c = x.shape[1]
    win = _gauss_window(window).expand(c, 1, window, window).contiguous()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def filt(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, win, groups=c)

    mx, my = filt(x), filt(y)
    sxx = filt(x * x) - mx**2
    syy = filt(y * y) - my**2
    sxy = filt(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    value = float(s.mean())
    return value if math.isfinite(value) else float("nan")
