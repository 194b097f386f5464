"""An HTML page (on genlab's one page shell) showing real vs augmented examples per class:
image grids side by side, a few rows of each table, a few lines of each text."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from genlab.report.shell import esc, info_table, section, write_page

__all__ = ["augment_section", "write_augment_report"]

_ORIGINS = ("real", "classic", "generative")
_CSS = (".aug{display:flex;flex-wrap:wrap;gap:1rem}.aug figure{max-width:100%}"
        ".aug img{image-rendering:pixelated}.aug li{margin:.15rem 0}"
        ".aug ul{max-width:40rem;padding-left:1.2rem}")


def _png_uri(images: np.ndarray) -> str:
    from PIL import Image

    from genlab.data.images import make_grid

    grid = make_grid(images, ncol=min(8, len(images)), scale=3 if images.shape[1] <= 64 else 1)
    img = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _pick(idx: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(idx, min(k, len(idx)), replace=False)) if len(idx) else idx


def _class_images(res: Any, code: int, per: int, rng: np.random.Generator) -> str:
    ds = res.data
    parts = []
    for origin in _ORIGINS:
        idx = _pick(np.flatnonzero((ds.labels == code) & (res.origin == origin)), per, rng)
        if len(idx):
            parts.append(f'<figure><img alt="{esc(origin)}" src="{_png_uri(ds.images[idx])}">'
                         f"<figcaption>{esc(origin)} ({len(idx)} shown)</figcaption></figure>")
    return '<div class="aug">' + "".join(parts) + "</div>"


def _class_rows(res: Any, cls: Any, per: int, rng: np.random.Generator) -> str:
    df = res.data
    parts = []
    for origin in _ORIGINS:
        idx = _pick(np.flatnonzero((df[res.target] == cls).to_numpy() & (res.origin == origin)),
                    per, rng)
        if not len(idx):
            continue
        if res.kind == "text":
            items = "".join(f"<li>{esc(t)}</li>" for t in df[res.text_column].iloc[idx])
            parts.append(f"<figure><figcaption>{esc(origin)}</figcaption><ul>{items}</ul>"
                         "</figure>")
        else:
            shown = df.iloc[idx].drop(columns=["synthetic"], errors="ignore")
            head = "".join(f"<th>{esc(c)}</th>" for c in shown.columns)
            body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>"
                           for row in shown.itertuples(index=False))
            parts.append(f"<figure><figcaption>{esc(origin)}</figcaption><div class="
                         f'"table-wrap"><table><tr>{head}</tr>{body}</table></div></figure>')
    return '<div class="aug">' + "".join(parts) + "</div>"


def augment_section(res: Any, per_class: int = 8, seed: int = 0) -> str:
    """HTML fragments: a summary, then real vs augmented examples of each class."""
    rng = np.random.default_rng(seed)
    info = res.provenance.get("augmentation", {})
    model = res.provenance.get("model", {})
    summary = {"data": res.kind, "method": info.get("method"), "seed": info.get("seed"),
               "model": model.get("family", "none"),
               "real / synthetic": f"{int((~res.synthetic).sum())} / {int(res.synthetic.sum())}"}
    out = [section("Augmentation", info_table(summary))]
    if res.kind == "image":
        classes = list(enumerate(res.data.classes))
        for code, name in classes:
            out.append(section(f"Class {name}", _class_images(res, code, per_class, rng)))
    else:
        for cls in sorted(set(res.data[res.target]), key=str):
            out.append(section(f"Class {cls}", _class_rows(res, cls, min(per_class, 5), rng)))
    return "".join(out)


def write_augment_report(res: Any, path: str | os.PathLike[str], per_class: int = 8) -> Path:
    """Write the real vs augmented page for `res` (an `Augmented`) to `path` (.html)."""
    return write_page(path, "genlab augmentation", [augment_section(res, per_class)], css=_CSS)
