"""Writing an augmented set in the layout it came in, atomically, with its provenance.

- tables and text tables: a table file (.csv, .parquet, ... by extension) with the
  `synthetic` column, and `<out>.provenance.json`;
- images to a `.npz`: `images`, `labels` (the class names, as numbers when every name is
  one) and `synthetic` (bool) arrays;
- images to a folder: one sub-folder per class, real images `real_00000.png`, synthetic
  ones `synthetic_00000_<classic|generative>.png`. The folder is built under a temporary
  name beside the target and renamed at the end, so a failure leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from genlab._atomic import atomic_group, atomic_path
from genlab.errors import ParameterError

__all__ = ["check_augment_output", "write_augmented"]


def check_augment_output(kind: str, out: Path) -> None:
    """Refuse an output path that cannot hold `kind` data, before any work."""
    from genlab.data.readers import TABLE_SUFFIXES, table_suffix

    if kind == "image":
        if out.suffix and out.suffix.lower() != ".npz":
            raise ParameterError(f"augmented images go to a .npz file or a new folder, got "
                                 f"{str(out)!r}")
        if not out.suffix and out.exists():
            raise ParameterError(f"{str(out)!r} exists; give a new folder name for the images")
    elif table_suffix(out) not in TABLE_SUFFIXES:
        raise ParameterError(f"unsupported output extension {out.suffix or '(none)'!r} for "
                             f"{str(out)!r}; use one of {', '.join(TABLE_SUFFIXES)}")


def _label_values(classes: list[str], codes: np.ndarray) -> np.ndarray:
    names = np.asarray(classes)[codes]
    if all(re.fullmatch(r"-?\d+", c) for c in classes):
        return names.astype(np.int64)
    return names.astype(str)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


def _write_folder(res: Any, out: Path) -> None:
    from PIL import Image

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        ds = res.data
        counters: dict[tuple[str, str], int] = {}
        for img, code, origin in zip(ds.images, ds.labels, res.origin, strict=True):
            cls = _safe(ds.classes[int(code)])
            key = (cls, "real" if origin == "real" else "synthetic")
            i = counters.get(key, 0)
            counters[key] = i + 1
            name = f"real_{i:05d}.png" if origin == "real" else f"synthetic_{i:05d}_{origin}.png"
            (tmp / cls).mkdir(exist_ok=True)
            # a private temporary folder: plain writes, the rename below is the atomic step
            Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(tmp / cls / name)
        os.chmod(tmp, 0o777 & ~_umask())
        os.rename(tmp, out)  # fails rather than merge into a folder made meanwhile
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_augmented(res: Any, out: str | os.PathLike[str],
                    report: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """Write `res` (an `Augmented`) to `out` with its provenance sidecar, and the real vs
    augmented page to `report` when given: all of them or none. Returns (path, summary)."""
    from genlab.data.readers import write_table
    from genlab.provenance import write_provenance

    target = Path(out)
    check_augment_output(res.kind, target)
    folder = res.kind == "image" and target.suffix.lower() != ".npz"
    if folder:
        _write_folder(res, target)
    try:
        with atomic_group():  # the file, its sidecar and the page: all or none
            if res.kind != "image":
                write_table(res.data, target)
            elif not folder:
                ds = res.data
                with atomic_path(target) as tmp, open(tmp, "wb") as fh:
                    np.savez(fh, images=ds.images, synthetic=res.synthetic,
                             labels=_label_values(ds.classes, ds.labels))
            side = write_provenance(target, res.provenance)
            if report is not None:
                from genlab.augment.report import write_augment_report

                write_augment_report(res, report)
    except BaseException:
        if folder:
            shutil.rmtree(target, ignore_errors=True)
        raise
    n_syn = int(res.synthetic.sum())
    page = f", report: {Path(report).name}" if report is not None else ""
    return target, (f"wrote {len(res.origin) - n_syn} real + {n_syn} synthetic examples -> "
                    f"{target} (provenance: {side.name}{page})")
