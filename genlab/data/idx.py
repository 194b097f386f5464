"""MNIST's idx(.gz) format: the header, the array, and the labels file beside an images file
(read by `genlab.data.images`)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from genlab.errors import DataError

__all__ = ["idx_ndim", "labels_beside", "read_idx"]

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _open_maybe_gz(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"cannot read {str(path)!r}: {err}; the file is damaged") from None


def idx_ndim(path: Path) -> int:
    """Dimensions an idx file declares (0 when it is not one): 3 for images, 1 for labels."""
    head = _open_maybe_gz(path)[:4]
    return head[3] if len(head) == 4 and head[:2] == b"\x00\x00" else 0


def read_idx(path: Path) -> np.ndarray:
    """The array of an idx(.gz) file, native byte order; one-line DataError when damaged."""
    data = _open_maybe_gz(path)
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in _IDX_TYPES:
        raise DataError(f"{str(path)!r} is not an idx file (bad magic number); give MNIST-format "
                        "idx(.gz) files")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    dtype, body = np.dtype(_IDX_TYPES[data[2]]), data[4 + 4 * ndim:]
    if len(body) != int(np.prod(dims)) * dtype.itemsize:
        raise DataError(f"{str(path)!r} is truncated: {len(body)} bytes for dims {dims}")
    return np.frombuffer(body, dtype=dtype).reshape(dims).copy()  # writable, native


def labels_beside(path: Path) -> Path | None:
    """The labels file MNIST names beside an images file (`...-labels-idx1-...`), if any."""
    name = path.name
    for a, b in (("images-idx3", "labels-idx1"), ("images", "labels")):
        if a in name:
            cand = path.with_name(name.replace(a, b))
            if cand.exists():
                return cand
    return None
