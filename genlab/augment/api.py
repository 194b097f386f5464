"""`augment(data, target, ...)`: classic, generative or both, for tables, images and text.

The result keeps every real example first, then the synthetic ones, with a mask saying which
are synthetic and, for each synthetic example, how it was made ("classic" or "generative").
`method="both"` splits each class's extra examples in two: half (rounded up) from classic
transforms, the rest from the generative model. Tables have no classic transforms.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genlab.augment.generative import check_classes, extra_counts
from genlab.errors import DataError, ParameterError

__all__ = ["METHODS", "SYNTHETIC", "Augmented", "augment", "detect_text_column"]

METHODS = ("classic", "generative", "both")
SYNTHETIC = "synthetic"  # the output column (tables, text) that marks synthetic rows


@dataclass
class Augmented:
    """Real examples then synthetic ones. `kind` is "table", "image" or "text"; `data` a
    DataFrame (with the `synthetic` column) or an ImageSet; `origin` per example: "real",
    "classic" or "generative"."""

    kind: str
    data: Any
    origin: np.ndarray
    target: str
    text_column: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def synthetic(self) -> np.ndarray:
        """True for each synthetic example."""
        return self.origin != "real"


def _split(extra: dict[Any, int], method: str) -> tuple[dict[Any, int], dict[Any, int]]:
    """(classic, generative) counts per class."""
    if method == "classic":
        return extra, {k: 0 for k in extra}
    if method == "generative":
        return {k: 0 for k in extra}, extra
    classic = {k: (n + 1) // 2 for k, n in extra.items()}
    return classic, {k: n - classic[k] for k, n in extra.items()}


def _sources(members: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` indices cycling through shuffled `members`: every real example is used before any
    is used twice."""
    reps = -(-n // max(len(members), 1))
    return np.concatenate([rng.permutation(members) for _ in range(reps)])[:n]


def detect_text_column(df: pd.DataFrame, target: str) -> str | None:
    """The text column of a text table: the one other column, holding strings of several
    words on average; None when the table is not a text table."""
    others = [c for c in df.columns if c != target and c != SYNTHETIC]
    if len(others) != 1:
        return None
    col = df[others[0]]
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return None
    words = col.dropna().astype(str).str.split().str.len()
    return others[0] if len(words) and words.mean() >= 3 else None


def _check_text(df: pd.DataFrame, column: str) -> list[str]:
    if column not in df.columns:
        raise DataError(f"text column {column!r} is not in the table; its columns: "
                        f"{', '.join(map(str, df.columns))}")
    col = df[column]
    text = col.dropna().astype(str)
    has_letters = text.str.contains(r"[^\W\d_]", regex=True)
    if (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col) or col.isna().any()
            or not len(text) or has_letters.mean() < 0.5):
        raise DataError(f"column {column!r} is not text (it holds numbers, empty cells or values "
                        "without letters); give the column of texts with --text-column")
    return list(text)


def _prov(kind: str, method: str, factor: Any, balance: bool, seed: int, model: Any,
          filter_share: float, counts: dict[Any, int], extra: dict[Any, int]) -> dict[str, Any]:
    from genlab._version import __version__
    from genlab.provenance import now

    out: dict[str, Any] = {
        "generator": f"genlab {__version__}", "modality": kind, "augmentation": {
            "method": method, "factor": factor, "balance": balance, "seed": seed,
            "filter_share": filter_share,
            "real_per_class": {str(k): int(v) for k, v in counts.items()},
            "synthetic_per_class": {str(k): int(v) for k, v in extra.items()}},
        "generated_at": now()}
    if model is not None:
        out["model"] = model.provenance()
        out["model"].pop("generated_at", None)
    return out


def _augment_table(df: pd.DataFrame, target: str, method: str, extra: dict[Any, int],
                   model: Any, seed: int, filter_share: float) -> tuple[Augmented, Any]:
    from genlab.augment.generative import table_samples

    if method != "generative":
        raise ParameterError("tables have no classic transforms; use --method generative "
                             "(imbalanced-learn's SMOTE-NC is the classic baseline)")
    rows, m = table_samples(df, target, extra, model, seed=seed, filter_share=filter_share)
    out = pd.concat([df, rows], ignore_index=True)
    origin = np.array(["real"] * len(df) + ["generative"] * len(rows))
    out[SYNTHETIC] = origin != "real"
    return Augmented("table", out, origin, target), m


def _augment_text(df: pd.DataFrame, target: str, column: str, method: str,
                  extra: dict[Any, int], model: Any, seed: int,
                  filter_share: float) -> tuple[Augmented, Any]:
    from genlab.augment.generative import text_samples
    from genlab.augment.text import EDA

    texts = _check_text(df, column)
    labels = df[target].tolist()
    rng = np.random.default_rng(seed)
    classic, gen = _split(extra, method)
    new_text: list[str] = []
    new_label: list[Any] = []
    origin: list[str] = []
    if sum(classic.values()):
        eda = EDA().fit(texts, seed=seed)
        lab = np.asarray(labels, dtype=object)
        for cls, n in classic.items():
            for i in _sources(np.flatnonzero(lab == cls), n, rng):
                new_text.append(eda.augment(texts[i], rng))
                new_label.append(cls)
                origin.append("classic")
    m = None
    if sum(gen.values()):
        pairs, m = text_samples(texts, labels, gen, model, seed=int(rng.integers(2**31 - 1)),
                                filter_share=filter_share)
        new_text += [t for t, _ in pairs]
        new_label += [c for _, c in pairs]
        origin += ["generative"] * len(pairs)
    extra_rows = pd.DataFrame({column: new_text, target: new_label})
    out = pd.concat([df[[c for c in df.columns]], extra_rows], ignore_index=True)
    all_origin = np.array(["real"] * len(df) + origin)
    out[SYNTHETIC] = all_origin != "real"
    return Augmented("text", out, all_origin, target, column), m


def _augment_images(ds: Any, method: str, extra: dict[int, int], model: Any, seed: int,
                    filter_share: float, transforms: Any) -> tuple[Augmented, Any]:
    from genlab.augment.generative import image_samples
    from genlab.augment.images import default_image_transforms
    from genlab.data.images import ImageSet

    rng = np.random.default_rng(seed)
    classic, gen = _split(extra, method)
    images, labels, origin = [ds.images], [ds.labels], ["real"] * len(ds.images)
    if sum(classic.values()):
        chain = transforms if transforms is not None else default_image_transforms()
        idx = np.concatenate([_sources(np.flatnonzero(ds.labels == k), n, rng)
                              for k, n in classic.items() if n > 0])
        images.append(chain.transform(ds.images[idx], rng))
        labels.append(ds.labels[idx])
        origin += ["classic"] * len(idx)
    m = None
    if sum(gen.values()):
        x, y, m = image_samples(ds, gen, model, seed=int(rng.integers(2**31 - 1)),
                                filter_share=filter_share)
        images.append(x)
        labels.append(y)
        origin += ["generative"] * len(x)
    out = ImageSet(np.concatenate(images), np.concatenate(labels), list(ds.classes))
    return Augmented("image", out, np.array(origin), "label"), m


def _read_images(data: Any, size: tuple[int, int] | None) -> Any:
    from genlab.data.images import read_images

    try:
        return read_images(data, size=size)
    except DataError as error:  # the reader names fit's flag; augment has its own
        text = str(error).replace("(command line: --param size=[H,W])",
                                  "(genlab augment: --size HxW)")
        raise DataError(text) from None


def _read(data: Any, target: str, text_column: str | None,
          size: tuple[int, int] | None = None) -> tuple[str, Any, str | None]:
    """(kind, data, text column) of the input."""
    from genlab.data.images import ImageSet, is_image_input
    from genlab.data.readers import read_table

    if isinstance(data, (ImageSet, np.ndarray)) or (
            isinstance(data, (str, os.PathLike)) and is_image_input(Path(data))):
        ds = _read_images(data, size)
        if ds.labels is None or ds.classes is None:
            raise DataError("the images carry no labels (the target); put each class in its own "
                            "sub-folder, or save a .npz with images= and labels= arrays")
        if target != "label":
            raise ParameterError(f"the target of images is their class, 'label'; got "
                                 f"--target {target!r}")
        return "image", ds, None
    df = data if isinstance(data, pd.DataFrame) else read_table(data)
    if target not in df.columns:
        raise DataError(f"target column {target!r} is not in the table; its columns: "
                        f"{', '.join(map(str, df.columns))}; name it with --target")
    if SYNTHETIC in df.columns:
        raise DataError(f"the table already has a {SYNTHETIC!r} column; rename or drop it, "
                        "since the output marks synthetic rows in that column")
    if df[target].isna().any():
        raise DataError(f"target column {target!r} has empty cells; fill or drop those rows")
    column = text_column or detect_text_column(df, target)
    return ("text" if column else "table"), df.reset_index(drop=True), column


def augment(data: Any, target: str = "label", *, method: str = "generative",
            factor: float | None = None, balance: bool = False, model: Any = None,
            seed: int = 0, filter_share: float = 0.0, text_column: str | None = None,
            transforms: Any = None, size: tuple[int, int] | None = None) -> Augmented:
    """Add synthetic examples per class to `data` (a table, a text table, images).

    `factor`: synthetic examples per real one (default 1); `balance`: bring every class up
    to the largest instead. `model`: a family name, a `.genlab` file or a genlab model
    (generative); `transforms`: an image transform chain (classic; default
    `default_image_transforms()`); `filter_share`: share of generated samples drawn and
    dropped as least likely; `size`: (height, width) to resize images of mixed sizes to."""
    if method not in METHODS:
        raise ParameterError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not isinstance(filter_share, (int, float)) or not 0 <= filter_share < 1:
        raise ParameterError(f"filter_share must be a number in [0, 1), got {filter_share!r}")
    kind, ds, column = _read(data, target, text_column, size)
    labels = list(ds.labels) if kind == "image" else ds[target].tolist()
    counts = check_classes(labels, target)
    extra = extra_counts(counts, factor, balance)
    if kind == "image":
        res, m = _augment_images(ds, method, extra, model, seed, filter_share, transforms)
    elif kind == "text":
        res, m = _augment_text(ds, target, column or "", method, extra, model, seed,
                               filter_share)
    else:
        res, m = _augment_table(ds, target, method, extra, model, seed, filter_share)
    names = (lambda k: ds.classes[k]) if kind == "image" else (lambda k: k)
    res.provenance = _prov(kind, method, factor, balance, seed, m, filter_share,
                           {names(k): v for k, v in counts.items()},
                           {names(k): v for k, v in extra.items()})
    return res
