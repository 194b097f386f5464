"""Provenance travels with every output: a JSON sidecar beside each written table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from genlab._atomic import atomic_path
from genlab.data.readers import write_table

__all__ = ["sidecar_path", "write_output", "write_provenance"]


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


def write_output(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a table atomically, plus its provenance sidecar when `df.attrs` carries one."""
    target = write_table(df, path)
    prov = df.attrs.get("provenance")
    if prov:
        write_provenance(target, prov)
    return target
