"""The image modality on the one contract: the image codec in, uint8 image arrays out.

A family subclasses `ImageModel` and fills only tensor hooks:

- `_build(meta) -> nn.Module` from JSON metadata;
- `_fit_tensors(x, y, rng)`: x uint8 N x C x H x W, y int64 labels or None; sets
  `self.meta_`, builds with `self.net_ = self._new_net(rng)` and trains;
- `_sample_tensor(n, y, generator) -> uint8 N x C x H x W` (y: one label per image or None);
- `_log_prob_tensor(x, y) -> nats per image` (likelihood families).

Class-conditioning is switched on with `fit(data, conditions=["label"])` (command line:
`--condition label`); the data must then carry labels (class sub-folders, a `labels` array
in the .npz, or the idx labels file beside the images). `sample(n, conditions={"label":
"7"})` then draws that class; the labels of the samples travel in `attrs` to the writer.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, ClassVar

import numpy as np
import torch

from genlab._progress import task
from genlab.data.images import ImageCodec, ImageSet, read_images
from genlab.errors import DataError, ParameterError
from genlab.models.base import Conditions, Model
from genlab.models.labels import LABEL, ClassLabels
from genlab.models.neural import TorchModule, torch_generator
from genlab.params import ParamSpec
from genlab.provenance import attach

__all__ = ["LABEL", "ImageModel", "dequantize", "from_unit_float", "to_unit_float"]

_LN2 = math.log(2.0)
_SCORE_BATCH = 256


def to_unit_float(images: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 in [0, 1] (value / 255); `from_unit_float` inverts it exactly."""
    return np.asarray(images, dtype=np.float32) / np.float32(255.0)


def from_unit_float(x: np.ndarray) -> np.ndarray:
    """float images in [0, 1] -> uint8 (rounded, clipped)."""
    return np.clip(np.round(np.asarray(x, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def dequantize(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform dequantisation: uint8 k -> (k + u) / 256 with u ~ U[0, 1), in [0, 1)."""
    u = rng.random(np.shape(images))
    return ((np.asarray(images, dtype=np.float64) + u) / 256.0).astype(np.float32)


def _fingerprint(ds: ImageSet) -> str:
    h = hashlib.sha256()
    h.update(str(ds.images.shape).encode())
    h.update(np.ascontiguousarray(ds.images).tobytes())
    if ds.labels is not None:
        h.update(np.ascontiguousarray(ds.labels).tobytes())
    return h.hexdigest()


def _nchw(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


class ImageModel(ClassLabels, TorchModule, Model):
    """Base of the image families (see the module docstring)."""

    modality: ClassVar[str] = "image"
    conditioning: ClassVar[str] = "class label (--condition label)"
    sample_options: ClassVar[dict[str, ParamSpec]] = {"batch_size": ("int", 1, 65536)}
    modality_params: ClassVar[dict[str, Any]] = {"size": None}  # (height, width) to resize to
    train_defaults: ClassVar[dict[str, Any]] = {
        "epochs": 1000, "batch_size": 64, "lr": 1e-3, "weight_decay": 0.0, "optimizer": "adam",
        "val_fraction": 0.05, "patience": 10, "grad_clip": 50.0, "warmup_steps": 0,
        "max_steps": 2_000,  # families set their own: ~5 min of 8,000 MNIST digits each
    }
    codec_: ImageCodec

    def _validate_params(self) -> None:
        super()._validate_params()
        size = getattr(self, "size", None)
        if size is not None and not (
                isinstance(size, tuple) and len(size) == 2 and all(
                    isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 1 <= v <= 4096
                    for v in size)):
            raise ParameterError(f"{type(self).__name__}: size must be (height, width) with "
                                 f"integers in [1, 4096], got {size!r}")

    # -- fitting ----------------------------------------------------------------------------
    def _fit(self, data: Any, conditions: list[str], rng: np.random.Generator,
             **options: Any) -> tuple[int, str]:
        """Fit to images (folder, .npy/.npz, idx file, uint8 array or `ImageSet`)."""
        if options:
            raise ParameterError(f"image models take no fit options, got {sorted(options)}")
        if any(c != LABEL for c in conditions):
            raise ParameterError(f"image models condition only on 'label', got {conditions}; use "
                                 "conditions=['label'] (command line: --condition label)")
        ds = read_images(data, size=getattr(self, "size", None))
        conditional = bool(conditions)
        if conditional and ds.labels is None:
            raise DataError("conditions=['label'] needs labels: use class sub-folders, a "
                            "'labels' array in the .npz, or the idx labels file beside the images")
        if len(ds) < 2:
            raise DataError(f"need at least 2 images to fit, got {len(ds)}")
        n, h, w, c = ds.images.shape
        self.codec_ = ImageCodec(h, w, c, ds.classes, conditional)
        self._check_shape_supported()
        y = torch.from_numpy(ds.labels) if conditional and ds.labels is not None else None
        counts = (np.bincount(ds.labels, minlength=len(ds.classes or [])).tolist()
                  if ds.labels is not None else None)
        self._fit_tensors(_nchw(ds.images), y, rng)
        self.meta_["class_counts"] = counts
        return n, _fingerprint(ds)

    def _check_shape_supported(self) -> None:
        """Families with size constraints (e.g. the flow's squeezes) refuse here."""

    # -- the codec in the model file ------------------------------------------------------
    def _codec_dict(self) -> dict[str, Any]:
        return self.codec_.to_dict()

    def _codec_from_dict(self, data: dict[str, Any]) -> None:
        self.codec_ = ImageCodec.from_dict(data)

    # -- sampling ---------------------------------------------------------------------------
    def _sample(self, n: int, conditions: Conditions, rng: np.random.Generator,
                batch_size: int = 256) -> np.ndarray:
        """`n` images, uint8 N x H x W x C; `conditions={"label": ...}` takes a class name
        or code for all samples or one per sample (default: the training proportions)."""
        codes = self._label_codes(n, self._label_of(conditions), rng)
        gen = torch_generator(rng, self.device_)
        out = []
        with task(f"sampling {type(self).__name__}", n) as advance:
            for s in range(0, n, batch_size):
                y = None if codes is None else torch.as_tensor(
                    codes[s:s + batch_size], device=self.device_)
                b = min(batch_size, n - s)
                out.append(self._sample_tensor(b, y, gen).cpu().numpy())
                advance(b)
        images = np.ascontiguousarray(np.concatenate(out).transpose(0, 2, 3, 1))
        if codes is None:
            return images
        return attach(images, {}, labels=codes, classes=list(self.codec_.classes or []))

    # -- scores -----------------------------------------------------------------------------
    def _read_for_scoring(self, data: Any) -> ImageSet:
        c = self.codec_
        ds = read_images(data, size=getattr(self, "size", None))
        if ds.images.shape[1:] != (c.height, c.width, c.channels):
            h, w, ch = ds.images.shape[1:]
            raise DataError(f"images are {h}x{w}x{ch} but the model was fitted on "
                            f"{c.height}x{c.width}x{c.channels}; resize them (size=) to match")
        return ds

    def _score_labels(self, ds: ImageSet, labels: Any) -> np.ndarray | None:
        """Label codes for scoring (`labels`: one for all images or one per image; else the
        data's own), or None to marginalise over the classes."""
        if not self.codec_.conditional:
            if labels is not None:
                self.label_code(labels)  # raises the "not conditional" message
            return None
        if labels is not None:
            many = isinstance(labels, (list, tuple, np.ndarray))
            values = list(np.asarray(labels).reshape(-1)) if many else [labels] * len(ds)
            if len(values) != len(ds):
                raise ParameterError(f"{len(values)} labels given for {len(ds)} images; give "
                                     "one label, or one per image")
            return np.asarray([self.label_code(v) for v in values], np.int64)
        if ds.labels is None or ds.classes is None:
            return None
        return np.asarray([self.label_code(ds.classes[k]) for k in ds.labels], np.int64)

    def _log_prob(self, data: Any, conditions: Conditions | None,
                  **options: Any) -> np.ndarray:
        """Nats per 8-bit image; a conditional model scores log p(x | label) with
        `conditions={"label": ...}` or the data's labels, else log sum_y p(x | y) p(y)."""
        if options:
            raise ParameterError(f"image log_prob takes no options, got {sorted(options)}")
        ds = self._read_for_scoring(data)
        codes = self._score_labels(ds, self._label_of(conditions))
        x = _nchw(ds.images)
        out = []
        with task(f"scoring with {type(self).__name__}", len(ds)) as advance:
            for s in range(0, len(ds), _SCORE_BATCH):
                xb = x[s:s + _SCORE_BATCH].to(self.device_)
                if not self.codec_.conditional or codes is not None:
                    yb = None if codes is None else torch.as_tensor(
                        codes[s:s + _SCORE_BATCH], device=self.device_)
                    out.append(self._log_prob_tensor(xb, yb).double().cpu())
                else:
                    out.append(self._marginal_log_prob(xb))
                advance(xb.shape[0])
        return torch.cat(out).numpy()

    def _marginal_log_prob(self, xb: torch.Tensor) -> torch.Tensor:
        """log sum_y p(x | y) p(y) with p(y) the training class shares."""
        counts = np.asarray(self.class_counts_, np.float64)
        log_prior = np.log(counts / counts.sum())
        per = [self._log_prob_tensor(xb, torch.full((xb.shape[0],), k, device=self.device_))
               .double().cpu() + log_prior[k] for k in range(self.n_classes_) if counts[k] > 0]
        return torch.logsumexp(torch.stack(per), dim=0)

    def bits_per_dim(self, data: Any, conditions: Conditions | None = None) -> float:
        """Mean negative log-likelihood in bits per pixel value: -mean log p(x) / (D ln 2),
        with p the probability of the 8-bit image (for density models, the density of the
        dequantised image in [0, 256)^D, so the log 256 per value of the [0, 1) scaling is
        included)."""
        lp = self.log_prob(data, conditions=conditions)
        return float(-lp.mean() / (self.codec_.dims * _LN2))

    # -- family hooks ---------------------------------------------------------------------
    def _fit_tensors(self, x: torch.Tensor, y: torch.Tensor | None,
                     rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _sample_tensor(self, n: int, y: torch.Tensor | None,
                       generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def _log_prob_tensor(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError
