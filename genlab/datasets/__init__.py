"""Small real datasets shipped with genlab (see ATTRIBUTION.md beside this file).

The embedded Adult sample is 4,000 rows of the UCI Adult census table (CC BY 4.0). It comes
whole (`load_adult_sample()`) or split into a 3,000-row training part and a 1,000-row
hold-out (`part="train"` / `"test"`), the `adult.csv` / `adult_test.csv` that the README's
examples use; `export_adult_sample(folder)` (`genlab demo --export DIR`) writes them as files.

>>> load_adult_sample("train").shape, load_adult_sample("test").shape
((3000, 15), (1000, 15))
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from genlab.errors import ParameterError

__all__ = ["ADULT_FILES", "adult_sample_path", "export_adult_sample", "load_adult_sample"]

TEST_ROWS = 1_000  # the hold-out: rows drawn with a fixed seed, original order kept
_SPLIT_SEED = 0
# exported file -> what it holds
ADULT_FILES = {
    "adult_sample.csv": "all 4,000 rows, as embedded",
    "adult.csv": "3,000 of them to fit on",
    "adult_test.csv": "the other 1,000 (a hold-out)",
    "adult_ATTRIBUTION.md": "source and licence (CC BY 4.0)",
}
_SPLIT_NOTE = """
## adult.csv and adult_test.csv

`genlab demo --export` also splits `adult_sample.csv` in two: `adult_test.csv` holds 1,000 of
its rows drawn with `numpy.random.default_rng(0).permutation(4000)[:1000]`, `adult.csv` the
other 3,000; both keep the sample's row order. Same source and licence as above.
"""


def adult_sample_path() -> Path:
    """Path of the embedded 4,000-row sample of the UCI Adult census table."""
    return Path(str(resources.files("genlab.datasets") / "adult_sample.csv"))


def _test_mask(n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(_SPLIT_SEED).permutation(n)[:TEST_ROWS]] = True
    return mask


def load_adult_sample(part: str = "all") -> pd.DataFrame:
    """The embedded Adult sample as a DataFrame (15 columns, missing cells as NaN).

    `part`: "all" (4,000 rows), "train" (3,000 rows, the README's `adult.csv`) or "test"
    (the other 1,000, `adult_test.csv`); the split is fixed, so it is the same everywhere."""
    if part not in ("all", "train", "test"):
        raise ParameterError(f"part must be 'all', 'train' or 'test', got {part!r}")
    df = pd.read_csv(adult_sample_path())
    if part == "all":
        return df
    mask = _test_mask(len(df))
    return df[mask if part == "test" else ~mask].reset_index(drop=True)


def _contents() -> dict[str, bytes]:
    """The bytes of every exported file."""
    folder = adult_sample_path().parent
    attribution = (folder / "ATTRIBUTION.md").read_text(encoding="utf-8")
    return {
        "adult_sample.csv": adult_sample_path().read_bytes(),
        "adult.csv": load_adult_sample("train").to_csv(index=False).encode(),
        "adult_test.csv": load_adult_sample("test").to_csv(index=False).encode(),
        "adult_ATTRIBUTION.md": (attribution.rstrip("\n") + "\n" + _SPLIT_NOTE).encode(),
    }


def _check_targets(folder: Path, contents: dict[str, bytes]) -> None:
    """Refuse, before writing anything, a folder that is a file or holds a different file
    under one of the exported names (never overwrite the user's own `adult.csv`)."""
    if folder.exists() and not folder.is_dir():
        raise ParameterError(f"cannot export to {str(folder)!r}: it is a file, not a folder; "
                             "give a folder (it is created when missing)")
    for name, data in contents.items():
        target = folder / name
        if target.is_dir() or (target.exists() and target.read_bytes() != data):
            raise ParameterError(
                f"{str(target)!r} exists and is not genlab's {name}; move it away or export "
                "to another folder")


def export_adult_sample(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the Adult sample files (`ADULT_FILES`) into `folder`, created when missing.

    All files are written together or none (atomically); a file already there with the same
    content is left as it is, one with other content is refused. Returns name -> path."""
    from genlab._atomic import atomic_group, atomic_path

    if not isinstance(folder, str | os.PathLike):
        raise ParameterError(f"folder must be a path, got {type(folder).__name__}")
    out = Path(folder)
    contents = _contents()
    _check_targets(out, contents)
    written: dict[str, Path] = {}
    with atomic_group():
        for name, data in contents.items():
            target = out / name
            if not target.exists():
                with atomic_path(target) as tmp:
                    tmp.write_bytes(data)
            written[name] = target
    return written
