"""Provenance travels with every output: in `attrs["provenance"]` of what `sample` returns
(a DataFrame, an array of images, a list of sequences) and in a JSON sidecar beside every
file written from it."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from genlab._atomic import atomic_path

__all__ = ["SampleArray", "SampleList", "attach", "now", "provenance_of", "sidecar_path",
           "write_provenance"]


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class SampleArray(np.ndarray):
    """An ndarray of samples (e.g. images) carrying `attrs`, like a DataFrame's."""

    attrs: dict[str, Any]

    def __array_finalize__(self, obj: Any) -> None:
        self.attrs = dict(getattr(obj, "attrs", {}) or {})


class SampleList(list):  # type: ignore[type-arg]
    """A list of samples (texts, molecules, pieces) carrying `attrs`, like a DataFrame's."""

    attrs: dict[str, Any]


def attach(samples: Any, provenance: dict[str, Any], **attrs: Any) -> Any:
    """`samples` with `attrs["provenance"]` (and `attrs`) set: DataFrames keep their type,
    arrays become `SampleArray`, lists `SampleList`."""
    old = dict(getattr(samples, "attrs", None) or {})
    if isinstance(samples, np.ndarray):
        samples = samples.view(SampleArray)
    elif isinstance(samples, list):
        samples = SampleList(samples)
    samples.attrs = {**old, **attrs, "provenance": provenance}
    return samples


def provenance_of(samples: Any) -> dict[str, Any] | None:
    """The provenance recorded on samples, if any."""
    return (getattr(samples, "attrs", None) or {}).get("provenance")


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """Where the provenance of `path` is written: `<path>.provenance.json`."""
    p = Path(path)
    return p.with_name(p.name + ".provenance.json")


def write_provenance(path: str | os.PathLike[str], provenance: dict[str, object]) -> Path:
    """Write the provenance of the output at `path` to its sidecar, atomically."""
    side = sidecar_path(path)
    with atomic_path(side) as tmp:
        tmp.write_text(json.dumps(provenance, indent=1, default=str), encoding="utf-8")
    return side
