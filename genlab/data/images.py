"""The image codec: reading folders of PNG/JPEG, .npy/.npz arrays and MNIST idx(.gz) files,
and writing samples as PNG grids or folders of PNG files.

Everything is read into one `ImageSet`: a uint8 array N x H x W x C (C = 1 for grayscale,
3 for colour) and optional integer labels with their class names. Conversions, documented:

- RGBA / LA images are composited onto a white background (as a viewer shows them) and
  become RGB / grayscale; palette images become RGB (or grayscale when the palette is);
  16-bit grayscale is scaled to 8 bits;
- a folder mixing grayscale and colour images is read as colour;
- images of different sizes are refused unless `size=(height, width)` is given, in which
  case every image is resized to it (Lanczos); `size` also resizes arrays and idx files.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from genlab._atomic import atomic_path
from genlab.data.idx import idx_ndim, labels_beside, read_idx
from genlab.errors import DataError, ParameterError

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageCodec",
    "ImageSet",
    "is_image_input",
    "make_grid",
    "read_images",
    "read_png",
    "write_image_samples",
    "write_png",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_CONVERT = {"P": "RGB", "1": "L", "CMYK": "RGB", "YCbCr": "RGB", "HSV": "RGB", "LAB": "RGB"}


@dataclass
class ImageSet:
    """Images as uint8 N x H x W x C, optional labels (int codes into `classes`)."""

    images: np.ndarray
    labels: np.ndarray | None = None
    classes: list[str] | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])


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


def _is_idx_name(name: str) -> bool:
    low = name.lower()
    return ("idx" in low or "ubyte" in low) and not low.endswith((".txt", ".md"))


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def is_image_input(path: Path) -> bool:
    """True when `path` is something `read_images` reads (the modality detector)."""
    p = Path(path)
    name = p.name.lower()
    if p.is_dir():
        if _image_files(p) or any(_is_idx_name(c.name) for c in p.iterdir() if c.is_file()):
            return True
        return any(c.is_dir() and _image_files(c) for c in p.iterdir())
    if name.endswith((*IMAGE_SUFFIXES, ".npz")):
        return True  # tables are never .npz; a missing `images` key gets its own message
    if name.endswith(".npy"):
        # a 3-D or 4-D array is images; a 1-D/2-D one is a table's business
        try:
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return False
        return arr.ndim in (3, 4)
    return _is_idx_name(name)


# -- single files -------------------------------------------------------------------------
def _to_array(img: Image.Image, where: str) -> np.ndarray:
    """One PIL image -> uint8 H x W x C with the documented conversions."""
    mode = img.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
        img = img.convert("L" if mode == "LA" else "RGB")
    elif mode in ("I;16", "I;16B", "I;16L", "I"):
        a16 = np.asarray(img, dtype=np.float64)
        top = 65535.0 if a16.max() > 255 else 255.0
        return np.clip(np.round(a16 / top * 255), 0, 255).astype(np.uint8)[..., None]
    elif mode in _CONVERT:
        img = img.convert(_CONVERT[mode])
    elif mode not in ("L", "RGB"):
        raise DataError(f"{where}: image mode {mode!r} is not supported; save it as 8-bit "
                        "grayscale or RGB PNG")
    arr = np.asarray(img, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def read_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one PNG/JPEG file as uint8 H x W x C (see the module docstring for conversions)."""
    p = Path(path)
    try:
        with Image.open(p) as img:
            img.load()
            return _to_array(img, str(p))
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"cannot read image {str(p)!r}: the file is corrupt or not a PNG/JPEG "
                        f"({reason}); replace or remove it") from None


def write_png(path: str | os.PathLike[str], image: np.ndarray,
              provenance: dict[str, Any] | None = None) -> Path:
    """Write one uint8 H x W x C (C 1 or 3) or H x W image as a PNG, atomically; with
    `provenance`, it goes in an iTXt chunk (`genlab.provenance_files`)."""
    from genlab.provenance_files import png_info

    arr = _check_uint8_image(image)
    pil = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr,
                          mode="L" if arr.shape[2] == 1 else "RGB")
    with atomic_path(path) as tmp:
        # no other metadata (no time stamp): the same pixels and provenance, the same bytes
        pil.save(tmp, format="PNG", optimize=False, pnginfo=png_info(provenance))
    return Path(path)


def _check_uint8_image(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise DataError(f"an image to write must be uint8 H x W x 1 or 3, got {arr.dtype} "
                        f"{arr.shape}")
    return arr


def make_grid(images: np.ndarray, ncol: int | None = None, pad: int = 2,
              scale: int = 1) -> np.ndarray:
    """Tile N uint8 H x W x C images into one uint8 image (rows of `ncol`, `pad` px gaps in
    mid grey, each pixel `scale` times larger)."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    n, h, w, c = arr.shape
    if n == 0:
        raise DataError("cannot make a grid of zero images")
    ncol = ncol or int(math.ceil(math.sqrt(n)))
    nrow = int(math.ceil(n / ncol))
    grid = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), 128, np.uint8)
    for i in range(n):
        r, q = divmod(i, ncol)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h,
             pad + q * (w + pad): pad + q * (w + pad) + w] = arr[i]
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    return grid


def _class_tags(samples: Any, n: int) -> list[str]:
    """`_<class>` per sample from the labels `sample` attached (empty when unknown)."""
    attrs = getattr(samples, "attrs", None) or {}
    labels, classes = attrs.get("labels"), attrs.get("classes")
    if labels is None or len(labels) != n:  # a slice of the samples keeps stale labels
        return [""] * n
    names = [classes[int(k)] if classes else str(k) for k in labels]
    return ["_" + re.sub(r"[^A-Za-z0-9._-]", "_", str(v)) for v in names]


def write_image_samples(samples: Any, path: Path) -> tuple[Path, str]:
    """Write uint8 N x H x W x C samples: a `.png` path is one grid, a path without suffix
    a folder of PNG files (`sample_00000_<class>.png`); returns (target, summary)."""
    from genlab.watermark import watermarker

    mark = watermarker(samples)  # the model id, invisibly, unless --no-watermark
    images = np.asarray(samples)
    images = images[..., None] if images.ndim == 3 else images
    out, n = Path(path), images.shape[0]
    if out.suffix.lower() == ".png":
        write_png(out, *mark(make_grid(images)))
        return out, f"a grid of {n} samples"
    if out.suffix:
        raise ParameterError(f"unsupported output {str(out)!r} for images; give a .png file "
                             "(one grid) or a folder name (one PNG per sample)")
    if out.exists() and not out.is_dir():
        raise ParameterError(f"{str(out)!r} exists and is not a folder; give a new folder name")
    out.mkdir(parents=True, exist_ok=True)
    for i, tag in enumerate(_class_tags(samples, n)):
        write_png(out / f"sample_{i:05d}{tag}.png", *mark(images[i]))  # each atomically
    return out, f"{n} PNG files"


# -- whole inputs ---------------------------------------------------------------------------
def _resize(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    if arr.shape[:2] == (h, w):
        return arr
    pil = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    out = np.asarray(pil.resize((w, h), Image.Resampling.LANCZOS), dtype=np.uint8)
    return out[..., None] if out.ndim == 2 else out


def _check_size(size: tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise DataError(f"size must be (height, width), got {size!r}") from None
    if not (1 <= h <= 4096 and 1 <= w <= 4096):
        raise DataError(f"size must be two integers in [1, 4096], got {size!r}")
    return h, w


def _stack(arrays: list[np.ndarray], names: list[str], size: tuple[int, int] | None,
           where: str) -> np.ndarray:
    if size is not None:
        arrays = [_resize(a, size) for a in arrays]
    else:
        first = arrays[0].shape[:2]
        for a, name in zip(arrays, names, strict=True):
            if a.shape[:2] != first:
                raise DataError(
                    f"{where}: images have different sizes ({first[0]}x{first[1]} in "
                    f"{names[0]!r}, {a.shape[0]}x{a.shape[1]} in {name!r}); pass size=(H, W) "
                    f"(command line: --param size=[H,W]) to resize them all")
    if max(a.shape[2] for a in arrays) == 3:
        arrays = [np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a for a in arrays]
    return np.stack(arrays)


def _read_folder(folder: Path, size: tuple[int, int] | None) -> ImageSet:
    entries = [p for p in sorted(folder.iterdir()) if not p.name.startswith(".")]
    files = [p for p in entries if p.is_file()]
    subdirs = [p for p in entries if p.is_dir()]
    idx = [p for p in files if _is_idx_name(p.name)]
    if idx and not any(p.suffix.lower() in IMAGE_SUFFIXES for p in files):
        images = [p for p in idx if idx_ndim(p) >= 3]
        if len(images) != 1:
            raise DataError(
                f"{str(folder)!r} holds {len(images)} idx image files "
                f"({', '.join(p.name for p in images) or 'none'}); give the one to use")
        return _read_idx_images(images[0], size)
    others = [p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
    if others:
        raise DataError(f"{str(folder)!r} holds a non-image file {others[0].name!r}; genlab "
                        f"reads .png/.jpg/.jpeg files (move other files out of the folder)")
    classes = [d for d in subdirs if _image_files(d)]
    if files and classes:
        raise DataError(f"{str(folder)!r} mixes images and class sub-folders; put every image "
                        "in a class sub-folder, or none")
    if files:
        return ImageSet(_stack([read_png(p) for p in files], [p.name for p in files], size,
                               str(folder)))
    if not classes:
        raise DataError(f"{str(folder)!r} holds no PNG/JPEG images (directly or in class "
                        "sub-folders); point to a folder of images")
    arrays, names, labels = [], [], []
    for code, sub in enumerate(classes):
        bad = [p for p in sub.iterdir() if not p.name.startswith(".") and (
            p.is_dir() or p.suffix.lower() not in IMAGE_SUFFIXES)]
        if bad:
            raise DataError(f"{str(sub)!r} holds a non-image entry {bad[0].name!r}; genlab "
                            "reads .png/.jpg/.jpeg files (move it out)")
        for p in _image_files(sub):
            arrays.append(read_png(p))
            names.append(f"{sub.name}/{p.name}")
            labels.append(code)
    return ImageSet(_stack(arrays, names, size, str(folder)), np.asarray(labels, np.int64),
                    [d.name for d in classes])


def _read_idx_images(path: Path, size: tuple[int, int] | None) -> ImageSet:
    arr = read_idx(path)
    if arr.ndim == 1:
        raise DataError(f"{str(path)!r} is an idx label file; give the images file "
                        "(labels beside it are read automatically)")
    images = _array_images(arr, str(path), size)
    beside = labels_beside(path)
    return ImageSet(images) if beside is None else _with_labels(images, read_idx(beside),
                                                                str(beside))


def _array_images(arr: np.ndarray, where: str, size: tuple[int, int] | None) -> np.ndarray:
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[3] not in (1, 3, 4) or arr.shape[0] == 0:
        raise DataError(f"{where}: images must be N x H x W or N x H x W x C (C 1, 3 or 4), "
                        f"got shape {arr.shape}")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.integer) and arr.min() >= 0 and arr.max() <= 255:
            arr = arr.astype(np.uint8)
        else:
            raise DataError(f"{where}: images must be uint8 in 0..255, got {arr.dtype}; convert "
                            "with (x * 255).round().astype('uint8') for values in [0, 1]")
    if arr.shape[3] == 4:  # RGBA: composite onto white, as for files
        alpha = arr[..., 3:].astype(np.float64) / 255
        arr = np.round(arr[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    if size is not None:
        arr = np.stack([_resize(a, size) for a in arr])
    return np.ascontiguousarray(arr)


def _with_labels(images: np.ndarray, labels: np.ndarray, where: str) -> ImageSet:
    labels = np.asarray(labels).reshape(-1)
    if labels.size != images.shape[0]:
        raise DataError(f"{where}: {labels.size} labels for {images.shape[0]} images; give one "
                        "label per image")
    values, codes = np.unique(labels, return_inverse=True)
    return ImageSet(images, codes.astype(np.int64), [str(v) for v in values])


def read_images(data: str | os.PathLike[str] | np.ndarray | ImageSet,
                size: tuple[int, int] | None = None) -> ImageSet:
    """Read images from a folder, .npy/.npz, idx(.gz) file, a uint8 array or an `ImageSet`.

    Args:
        data: the input (see the module docstring for formats and conversions).
        size: (height, width) to resize every image to; without it mixed sizes are refused.
    """
    size = _check_size(size)
    if isinstance(data, ImageSet):
        return ImageSet(_array_images(data.images, "images", size), data.labels, data.classes)
    if isinstance(data, np.ndarray):
        return ImageSet(_array_images(data, "images", size))
    if not isinstance(data, (str, os.PathLike)):
        raise DataError(f"images are a folder, a .npy/.npz or idx file, or a uint8 array; got "
                        f"{type(data).__name__}")
    p = Path(data)
    if not p.exists():
        raise DataError(f"{str(p)!r} does not exist; give a folder of images, a .npy/.npz file "
                        "or an idx file")
    if p.is_dir():
        return _read_folder(p, size)
    name = p.name.lower()
    if name.endswith(IMAGE_SUFFIXES):
        return ImageSet(_stack([read_png(p)], [p.name], size, str(p)))
    if name.endswith(".npy"):
        try:
            arr = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise DataError(f"cannot read {str(p)!r} as a numpy array: {err}") from None
        return ImageSet(_array_images(arr, str(p), size))
    if name.endswith(".npz"):
        try:
            with np.load(p, allow_pickle=False) as z:
                if "images" not in z.files:
                    raise DataError(f"{str(p)!r} has no 'images' array (it holds {z.files}); "
                                    "save with np.savez(path, images=..., labels=...)")
                arr, labels = z["images"], (z["labels"] if "labels" in z.files else None)
        except (OSError, ValueError) as err:
            if isinstance(err, DataError):
                raise
            raise DataError(f"cannot read {str(p)!r} as a .npz file: {err}") from None
        images = _array_images(arr, str(p), size)
        return ImageSet(images) if labels is None else _with_labels(images, labels, str(p))
    if _is_idx_name(name):
        return _read_idx_images(p, size)
    raise DataError(f"{str(p)!r} is not an image input; give a folder of PNG/JPEG images, a "
                    ".npy/.npz file or an MNIST idx(.gz) file")
