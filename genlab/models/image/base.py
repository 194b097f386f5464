"""What every image family shares: the codec, fitting, labels, sampling, scores, outputs.

A family subclasses `ImageModel` (with the `TorchModule` mixin) and fills:

- `_build(meta) -> nn.Module` from JSON metadata;
- `_fit_tensors(x, y, rng)`: x uint8 N x C x H x W, y int64 labels or None; sets
  `self.meta_`, `self.net_` and trains;
- `_sample_tensor(y, generator) -> uint8 N x C x H x W` (y: one label per image or None);
- `_log_prob_tensor(x, y) -> nats per image` (likelihood families).

Class-conditioning is switched on with `fit(data, conditions=["label"])` (command line:
`--condition label`); the data must then carry labels (class sub-folders, a `labels` array
in the .npz, or the idx labels file beside the images).
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from genlab._progress import task
from genlab.data.images import ImageSet, make_grid, read_images, write_png
from genlab.errors import DataError, ParameterError, UnsupportedOperation
from genlab.models.base import ParamSpec
from genlab.models.neural import TRAIN_CONSTRAINTS, torch_generator
from genlab.models.registry import DataModel
from genlab.provenance import write_provenance

__all__ = ["ImageCodec", "ImageModel", "LABEL"]

LABEL = "label"
_LN2 = math.log(2.0)
_SCORE_BATCH = 256


@dataclass
class ImageCodec:
    """The image format a model was fitted on: size, channels, class names."""

    height: int
    width: int
    channels: int
    classes: list[str] | None = None
    conditional: bool = False

    @property
    def dims(self) -> int:
        """Pixel values per image (D in bits/dim)."""
        return self.height * self.width * self.channels

    def to_dict(self) -> dict[str, Any]:
        """As JSON types."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageCodec:
        """Inverse of `to_dict`."""
        classes = d.get("classes")
        return cls(int(d["height"]), int(d["width"]), int(d["channels"]),
                   None if classes is None else [str(c) for c in classes],
                   bool(d.get("conditional", False)))


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


class ImageModel(DataModel):
    """Base of the image families (see the module docstring)."""

    modality: ClassVar[str] = "image"
    conditioning: ClassVar[str] = "class label (--condition label)"
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **DataModel._parameter_constraints,
        **TRAIN_CONSTRAINTS,
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
    def fit(self, data: Any, conditions: list[str] | None = None) -> ImageModel:
        """Fit to images (folder, .npy/.npz, idx file, uint8 array or `ImageSet`).

        `conditions=["label"]` makes the model class-conditional (labels required)."""
        rng = self._begin_fit()
        start = time.perf_counter()
        conds = list(conditions or [])
        if any(c != LABEL for c in conds):
            raise ParameterError(f"image models condition only on 'label', got {conds}; use "
                                 "conditions=['label'] (command line: --condition label)")
        ds = read_images(data, size=getattr(self, "size", None))
        conditional = bool(conds)
        if conditional and ds.labels is None:
            raise DataError("conditions=['label'] needs labels: use class sub-folders, a "
                            "'labels' array in the .npz, or the idx labels file beside the images")
        if len(ds) < 2:
            raise DataError(f"need at least 2 images to fit, got {len(ds)}")
        n, h, w, c = ds.images.shape
        self.codec_ = ImageCodec(h, w, c, ds.classes, conditional)
        self._check_shape_supported()
        x = torch.from_numpy(np.ascontiguousarray(ds.images.transpose(0, 3, 1, 2)))
        y = torch.from_numpy(ds.labels) if conditional and ds.labels is not None else None
        counts = (np.bincount(ds.labels, minlength=len(ds.classes or [])).tolist()
                  if ds.labels is not None else None)
        self._fit_tensors(x, y, rng)
        self.meta_["class_counts"] = counts
        self._end_fit(start, n, _fingerprint(ds))
        return self

    def _check_shape_supported(self) -> None:
        """Families with size constraints (e.g. the flow's squeezes) refuse here."""

    def _fit_tensors(self, x: torch.Tensor, y: torch.Tensor | None,
                     rng: np.random.Generator) -> None:
        raise NotImplementedError

    @property
    def n_classes_(self) -> int:
        """Number of classes the model conditions on (0 when unconditional)."""
        return len(self.codec_.classes or []) if self.codec_.conditional else 0

    # -- codec hooks --------------------------------------------------------------------------
    def _codec_dict(self) -> dict[str, Any]:
        return self.codec_.to_dict()

    def _codec_from_dict(self, data: dict[str, Any]) -> None:
        self.codec_ = ImageCodec.from_dict(data)

    @property
    def class_counts_(self) -> list[int] | None:
        """Training images per class (None without labels)."""
        return self.meta_.get("class_counts")  # type: ignore[attr-defined]

    # -- labels -----------------------------------------------------------------------------
    def label_code(self, label: int | str) -> int:
        """Code of a class given by name ("7") or by code; one-line error if unknown."""
        classes = self.codec_.classes or []
        if not self.codec_.conditional:
            raise ParameterError(f"this {type(self).__name__} is not class-conditional; fit it "
                                 "with conditions=['label'] (--condition label)")
        text = str(label)
        if text in classes:
            return classes.index(text)
        raise ParameterError(f"unknown label {label!r}; the classes are {', '.join(classes)}")

    def _labels_for(self, n: int, label: Any, rng: np.random.Generator) -> np.ndarray | None:
        if not self.codec_.conditional:
            if label is not None:
                self.label_code(label)  # raises the "not conditional" message
            return None
        if label is None:  # classes in their training proportions
            counts = np.asarray(self.class_counts_ or [1] * self.n_classes_, np.float64)
            return rng.choice(len(counts), size=n, p=counts / counts.sum()).astype(np.int64)
        if isinstance(label, (list, tuple, np.ndarray)):
            codes = np.asarray([self.label_code(v) for v in label], np.int64)
            if codes.size != n:
                raise ParameterError(f"{codes.size} labels given for {n} samples")
            return codes
        return np.full(n, self.label_code(label), np.int64)

    # -- sampling ---------------------------------------------------------------------------
    def sample(self, n: int, *, label: Any = None, seed: int | None = None,
               batch_size: int = 256) -> np.ndarray:
        """Draw `n` images as uint8 N x H x W x C.

        `label`: a class name or code for all samples, one per sample, or None (classes in
        their training proportions for a conditional model)."""
        return self.sample_with_labels(n, label=label, seed=seed, batch_size=batch_size)[0]

    def sample_with_labels(self, n: int, *, label: Any = None, seed: int | None = None,
                           batch_size: int = 256) -> tuple[np.ndarray, np.ndarray | None]:
        """Like `sample`, also returning the label code of each sample (None if unconditional)."""
        self._check_fitted()
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
            raise ParameterError(f"n must be a non-negative integer, got {n!r}")
        rng = np.random.default_rng(self.seed_ if seed is None else seed)
        codes = self._labels_for(int(n), label, rng)
        gen = torch_generator(rng, self.device_)
        out = []
        self.net_.eval()
        with torch.no_grad(), task(f"sampling {type(self).__name__}", n) as advance:
            for s in range(0, n, batch_size):
                y = None if codes is None else torch.as_tensor(
                    codes[s:s + batch_size], device=self.device_)
                b = min(batch_size, n - s)
                out.append(self._sample_tensor(b, y, gen).cpu().numpy())
                advance(b)
        c = self.codec_
        arr = (np.concatenate(out) if out else np.zeros((0, c.channels, c.height, c.width),
                                                           np.uint8))
        return np.ascontiguousarray(arr.transpose(0, 2, 3, 1)), codes

    def _sample_tensor(self, n: int, y: torch.Tensor | None,
                       generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

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
        """Label codes of the model's classes for scoring, or None to marginalise over them."""
        if not self.codec_.conditional:
            return None
        if labels is not None:
            return np.asarray([self.label_code(v) for v in np.asarray(labels).reshape(-1)])
        if ds.labels is None or ds.classes is None:
            return None
        return np.asarray([self.label_code(ds.classes[k]) for k in ds.labels], np.int64)

    def log_prob(self, data: Any, *, labels: Any = None) -> np.ndarray:
        """Log-likelihood of each image in nats (of the 8-bit image: pixel values 0..255).

        A conditional model scores log p(x | label) with the data's labels (or `labels`),
        and the marginal log sum_y p(x | y) p(y) when there are none. See `bits_per_dim`."""
        self._check_fitted()
        if not self.supports_log_prob:
            raise UnsupportedOperation(f"{type(self).__name__} has no likelihood; use a vae, "
                                       "pixelcnn or flow model to score images")
        ds = self._read_for_scoring(data)
        codes = self._score_labels(ds, labels)
        x = torch.from_numpy(np.ascontiguousarray(ds.images.transpose(0, 3, 1, 2)))
        out = []
        self.net_.eval()
        with torch.no_grad(), task(f"scoring with {type(self).__name__}", len(ds)) as advance:
            for s in range(0, len(ds), _SCORE_BATCH):
                xb = x[s:s + _SCORE_BATCH].to(self.device_)
                if not self.codec_.conditional or codes is not None:
                    yb = None if codes is None else torch.as_tensor(
                        codes[s:s + _SCORE_BATCH], device=self.device_)
                    out.append(self._log_prob_tensor(xb, yb).double().cpu())
                else:
                    counts = np.asarray(self.class_counts_, np.float64)
                    log_prior = np.log(counts / counts.sum())
                    per = [self._log_prob_tensor(xb, torch.full((xb.shape[0],), k,
                                                                device=self.device_)).double().cpu()
                           + log_prior[k] for k in range(self.n_classes_) if counts[k] > 0]
                    out.append(torch.logsumexp(torch.stack(per), dim=0))
                advance(xb.shape[0])
        return torch.cat(out).numpy()

    def bits_per_dim(self, data: Any, *, labels: Any = None) -> float:
        """Mean negative log-likelihood in bits per pixel value: -mean log p(x) / (D ln 2),
        with p the probability of the 8-bit image (for density models, the density of the
        dequantised image in [0, 256)^D, so the log 256 per value of the [0, 1) scaling is
        included)."""
        lp = self.log_prob(data, labels=labels)
        return float(-lp.mean() / (self.codec_.dims * _LN2))

    def _log_prob_tensor(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    # -- outputs ----------------------------------------------------------------------------
    def write_samples(
        self,
        output: str | os.PathLike[str],
        n: int,
        *,
        seed: int | None = None,
        where: dict[str, str] | None = None,
        prompt: str | None = None,
    ) -> str:
        """`genlab sample`: a `.png` output is one sample grid, any other path a folder of
        PNG files (sample_00000.png, ...); provenance goes to `<output>.provenance.json`."""
        if prompt is not None:
            raise ParameterError("--prompt applies to sequence models, not to image models")
        where = dict(where or {})
        unknown = sorted(set(where) - {LABEL})
        if unknown:
            raise ParameterError(f"image models take only --where label=..., got {unknown}")
        label = where.get(LABEL)
        images, codes = self.sample_with_labels(n, label=label, seed=seed)
        return self._write_images(output, images, codes, seed=seed, label=label)

    def _write_images(self, output: str | os.PathLike[str], images: np.ndarray,
                      codes: np.ndarray | None, **extra: Any) -> str:
        out = Path(output)
        n = images.shape[0]
        if out.suffix.lower() == ".png":
            if n == 0:
                raise ParameterError("a sample grid needs n >= 1")
            write_png(out, make_grid(images))
            what = f"a grid of {n} samples"
        elif out.suffix:
            raise ParameterError(f"unsupported output {str(out)!r} for images; give a .png file "
                                 "(one grid) or a folder name (one PNG per sample)")
        else:
            if out.exists() and not out.is_dir():
                raise ParameterError(f"{str(out)!r} exists and is not a folder")
            out.mkdir(parents=True, exist_ok=True)
            classes = self.codec_.classes or []
            for i in range(n):
                tag = f"_{classes[codes[i]]}" if codes is not None and classes else ""
                write_png(out / f"sample_{i:05d}{tag}.png", images[i])
            what = f"{n} PNG files"
        side = write_provenance(out, self.provenance(n=n, **extra))
        return f"wrote {what} -> {out} (provenance: {side.name})"

    def write_report(self, path: str | os.PathLike[str], *,
                     data: str | os.PathLike[str] | None = None) -> Path:
        """Self-contained HTML report: samples, training curves, scores on `data`, latent
        views (VAE); see `genlab.report.images`."""
        from genlab.report.images import write_image_report

        return write_image_report(self, path, data=data)
