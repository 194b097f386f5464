"""Small real datasets shipped with genlab (see ATTRIBUTION.md beside this file)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

__all__ = ["adult_sample_path", "load_adult_sample"]


def adult_sample_path() -> Path:
    """Path of the embedded 4,000-row sample of the UCI Adult census table."""
    return Path(str(resources.files("genlab.datasets") / "adult_sample.csv"))


def load_adult_sample() -> pd.DataFrame:
    """The embedded Adult sample as a DataFrame (15 columns, missing cells as NaN)."""
    return pd.read_csv(adult_sample_path())
