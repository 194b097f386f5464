"""One writer for what `sample` returns: the output format follows the path's extension,
the modality's codec writes the file(s) atomically, and the provenance goes beside them
(and inside Parquet, PNG, MIDI and WAV files too: `genlab.provenance_files`).

The samples and their provenance are one unit (`atomic_group`): if either cannot be written
(a full disk at the sidecar), neither appears and no temporary file stays behind."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import pandas as pd

from genlab._atomic import atomic_group
from genlab.data.readers import write_table
from genlab.provenance import provenance_of, write_provenance

__all__ = ["write_output", "write_samples"]

# modality -> "module:function(samples, path) -> (target, what)"; imported when used
_WRITERS = {
    "image": "genlab.data.images:write_image_samples",
    "sequence": "genlab.data.sequences.writers:write_sequence_samples",
    "audio": "genlab.data.audio_writers:write_audio_samples",
}


def _write_rows(samples: pd.DataFrame, path: Path) -> tuple[Path, str]:
    prov = provenance_of(samples)
    if prov and path.suffix.lower() in (".parquet", ".pq"):  # the file carries it too
        from genlab.provenance_files import write_parquet

        return write_parquet(samples, path, prov), f"{len(samples)} rows"
    return write_table(samples, path), f"{len(samples)} rows"


def write_samples(samples: Any, path: str | os.PathLike[str]) -> tuple[Path, str]:
    """Write samples of any modality to `path`; returns (path written, one-line summary)."""
    modality = (getattr(samples, "attrs", None) or {}).get("modality", "table")
    note = ""
    with atomic_group():
        if modality in _WRITERS:
            module, name = _WRITERS[modality].split(":")
            target, what = getattr(importlib.import_module(module), name)(samples, Path(path))
        else:
            target, what = _write_rows(samples, Path(path))
        prov = provenance_of(samples)
        if prov:
            note = f" (provenance: {write_provenance(target, prov).name})"
    return target, f"wrote {what} -> {target}{note}"


def write_output(samples: Any, path: str | os.PathLike[str]) -> Path:
    """Write samples (a table by default) and their provenance sidecar; returns the path."""
    return write_samples(samples, path)[0]
