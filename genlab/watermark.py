"""An invisible watermark on generated images carrying the model id (64 bits,
`genlab.provenance_files.model_id`), so an image stripped of its metadata can still be
traced to the model that made it.

The embedding is the `invisible-watermark` package's DWT-DCT method (`EmbedMaxDct`: each
4 x 4 block of the Haar approximation band holds one bit by quantising its largest
coefficient, the 64 bits repeated over the image). Departures from the package's own
`WatermarkEncoder`, measured in benchmarks/watermark.py: the mark goes in the luma channel
(the package marks the chroma channels, which a grayscale digit does not use and which JPEG
subsamples: its mark does not survive JPEG q=75, the luma one does, at the same PSNR); the
wavelet transform is done here (the package's swaps the horizontal and vertical detail
bands on the way back, harmless only on flat chroma); and the package's 256 x 256 floor is
replaced by room for each bit `MIN_REPEATS` times (about 128 x 128 and up, e.g. a grid of
36 MNIST digits).

It survives JPEG at quality 75; it does not survive resizing or cropping (the block grid
moves), which the benchmark reports. Optional: `pip install genlab[watermark]`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genlab.errors import ParameterError

__all__ = ["BITS", "FOUND_AT", "MIN_REPEATS", "available", "bit_accuracy", "can_mark",
           "detect", "embed", "extract", "payload_bits", "record", "watermarker"]

BITS = 64  # the model id's 16 hex digits
SCALE = 36  # the package's default quantisation step: survives JPEG q=75, ~42 dB on MNIST
BLOCK = 4
MIN_REPEATS = 4  # fewer copies of each bit and a JPEG flips too many
FOUND_AT = 56 / 64  # chance of >= 56 of 64 bits matching at random: about 1e-10
METHOD = "dwt-dct (invisible-watermark EmbedMaxDct on luma)"


def available() -> bool:
    """Whether the watermark libraries are installed (`genlab[watermark]`)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("imwatermark", "pywt", "cv2"))


def can_mark(shape: tuple[int, ...]) -> bool:
    """Whether an H x W (x C) image has room for every bit `MIN_REPEATS` times."""
    return (shape[0] // (2 * BLOCK)) * (shape[1] // (2 * BLOCK)) >= MIN_REPEATS * BITS


def payload_bits(model_id: str) -> np.ndarray:
    """The 64 bits of a 16-hex-digit model id."""
    try:
        raw = bytes.fromhex(model_id)
    except (ValueError, TypeError):
        raw = b""
    if len(raw) * 8 != BITS:
        raise ParameterError(f"a watermark carries a model id of 16 hex digits, got "
                             f"{model_id!r}")
    return np.unpackbits(np.frombuffer(raw, dtype=np.uint8)).astype(int)


def _luma(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    arr = arr[..., None] if arr.ndim == 2 else arr
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise ParameterError(f"a watermarked image is uint8 H x W x 1 or 3, got {arr.dtype} "
                             f"{arr.shape}")
    if arr.shape[2] == 1:
        return arr[..., 0].astype(np.float64)
    import cv2

    return cv2.cvtColor(arr, cv2.COLOR_RGB2YCrCb)[..., 0].astype(np.float64)


def _check_room(shape: tuple[int, ...]) -> None:
    if not can_mark(shape):
        raise ParameterError(f"an image of {shape[0]} x {shape[1]} is too small for a "
                             f"{BITS}-bit watermark; it needs about 128 x 128 or more (write "
                             "a grid of samples)")


def embed(image: np.ndarray, model_id: str) -> np.ndarray:
    """`image` (uint8 H x W x C) with the model id hidden in it; same shape and dtype."""
    import pywt
    from imwatermark.maxDct import EmbedMaxDct

    _check_room(np.shape(image))
    arr = np.asarray(image)
    arr = arr[..., None] if arr.ndim == 2 else arr
    y = _luma(arr)
    h, w = y.shape[0] // BLOCK * BLOCK, y.shape[1] // BLOCK * BLOCK
    approx, details = pywt.dwt2(y[:h, :w], "haar")
    EmbedMaxDct(list(payload_bits(model_id)), wmLen=BITS, block=BLOCK).encode_frame(approx,
                                                                                   SCALE)
    marked = y.copy()
    marked[:h, :w] = pywt.idwt2((approx, details), "haar")
    if arr.shape[2] == 1:
        return np.clip(np.rint(marked), 0, 255).astype(np.uint8)[..., None]
    import cv2

    ycc = cv2.cvtColor(arr, cv2.COLOR_RGB2YCrCb).astype(np.float64)
    ycc[..., 0] = marked
    ycc = np.clip(np.rint(ycc), 0, 255).astype(np.uint8)
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)


def extract(image: np.ndarray) -> np.ndarray:
    """The 64 bits read from an image (a majority vote over their copies)."""
    import pywt
    from imwatermark.maxDct import EmbedMaxDct

    _check_room(np.shape(image))
    y = _luma(image)
    h, w = y.shape[0] // BLOCK * BLOCK, y.shape[1] // BLOCK * BLOCK
    approx, _ = pywt.dwt2(y[:h, :w], "haar")
    votes = EmbedMaxDct([], wmLen=BITS, block=BLOCK).decode_frame(
        approx, SCALE, [[] for _ in range(BITS)])
    return (np.array([np.mean(v) for v in votes]) > 0.5).astype(int)


def bit_accuracy(image: np.ndarray, model_id: str) -> float:
    """Share of the model id's bits read back from `image` (0.5: no mark of this model)."""
    return float(np.mean(extract(image) == payload_bits(model_id)))


def detect(image: np.ndarray, model_id: str) -> tuple[bool, float]:
    """(whether the image carries this model's watermark, the bit accuracy)."""
    acc = bit_accuracy(image, model_id)
    return acc >= FOUND_AT, acc


def record(model_id: str) -> dict[str, Any]:
    """What the provenance says about a watermark applied."""
    return {"method": METHOD, "payload": "model id", "model_id": model_id, "bits": BITS,
            "scale": SCALE}


def watermarker(samples: Any) -> Any:
    """For a writer of image samples: a function `image -> (image, provenance)` that marks
    each image with the model id from the samples' provenance and notes it there. Nothing is
    marked without a provenance, when `attrs["watermark"]` is False (`--no-watermark`), for
    an image too small to hold the bits, or without the libraries (a warning says which)."""
    import warnings

    attrs = getattr(samples, "attrs", None) or {}
    prov = attrs.get("provenance")
    keys = ("family", "training_fingerprint", "model_created_at")
    on = bool(prov) and attrs.get("watermark", True) is not False and all(
        prov.get(k) for k in keys)
    if on and not available():
        warnings.warn("images written without a watermark: install genlab[watermark] "
                      "(invisible-watermark) to mark them, or pass --no-watermark",
                      stacklevel=3)
        on = False
    said: list[bool] = []

    def mark(image: np.ndarray) -> tuple[np.ndarray, dict[str, Any] | None]:
        if not on or prov is None:
            return image, prov
        if not can_mark(np.shape(image)):
            if not said:
                said.append(True)
                warnings.warn(f"images of {np.shape(image)[0]} x {np.shape(image)[1]} are too "
                              "small for a watermark and were written without one (their "
                              "provenance is in the file); write a grid (.png) to mark it",
                              stacklevel=3)
            return image, prov
        from genlab.provenance_files import model_id

        ident = model_id(*(str(prov[k]) for k in keys))
        return embed(image, ident), {**prov, "watermark": record(ident)}

    return mark
