"""Shared fixtures: small mixed tables, the real-data folder, quiet progress."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# Tests run on 2 pytest workers over 2 cores: one torch thread each avoids oversubscription,
# which makes small matrix products many times slower.
torch.set_num_threads(1)


def real_data(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test with a reason when it is absent."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real dataset {path} is not present (it lives in ../shared/data)")
    return path


@pytest.fixture
def mixed_df() -> pd.DataFrame:
    """300 rows: correlated numerics, an integer, categories tied to the numerics, missing."""
    rng = np.random.default_rng(0)
    n = 300
    group = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    shift = pd.Series(group).map({"a": 0.0, "b": 2.0, "c": -2.0}).to_numpy()
    x1 = rng.normal(shift, 1.0)
    x2 = 0.8 * x1 + rng.normal(0, 0.5, n)
    df = pd.DataFrame(
        {
            "x1": np.round(x1, 3),
            "x2": np.round(x2, 3),
            "count": rng.poisson(30 + 5 * shift).astype(np.int64),
            "group": group,
            "flag": rng.random(n) < 0.3,
            "city": rng.choice(["north", "south"], size=n),
        }
    )
    df.loc[rng.random(n) < 0.1, "city"] = None
    df.loc[rng.random(n) < 0.05, "x2"] = np.nan
    return df
