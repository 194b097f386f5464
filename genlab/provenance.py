"""Provenance travels with every output: a JSON sidecar beside each written table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from genlab._atomic import atomic_path
from genlab.data.readers import write_table

__all__ = ["sidecar_path", "write_output"]


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """Where the provenance of `path` is written: `<path>.provenance.json`."""
    p = Path(path)
    return p.with_name(p.name + ".provenance.json")


def write_output(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a table atomically, plus its provenance sidecar when `df.attrs` carries one."""
    target = write_table(df, path)
    prov = df.attrs.get("provenance")
    if prov:
        with atomic_path(sidecar_path(target)) as tmp:
            tmp.write_text(json.dumps(prov, indent=1, default=str), encoding="utf-8")
    return target
