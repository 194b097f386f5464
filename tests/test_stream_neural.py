"""Neural table families from a Parquet dataset in bounded memory (genlab.stream.neural):
a buffer that holds the table gives the in-memory fit itself; a smaller one trains on a
seeded sample of the rows with the codec of every row."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import genlab
from genlab.datasets import load_adult_sample
from genlab.errors import ParameterError
from genlab.stream.fit import fit_streaming

QUICK = {"epochs": 2, "batch_size": 100, "seed": 4}


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    df = load_adult_sample("train").head(500).drop(columns=["fnlwgt"])
    folder = tmp_path / "parts"
    folder.mkdir()
    df.iloc[:230].to_parquet(folder / "a.parquet", index=False)
    df.iloc[230:].to_parquet(folder / "b.parquet", index=False)
    whole = pd.concat([pd.read_parquet(folder / "a.parquet"),
                       pd.read_parquet(folder / "b.parquet")], ignore_index=True)
    return folder, whole


def _quiet(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def test_a_buffer_holding_the_table_gives_the_in_memory_fit(
        dataset: tuple[Path, pd.DataFrame]) -> None:
    folder, whole = dataset
    streamed = _quiet(fit_streaming, folder, "vae", batch_rows=64, buffer_rows=10_000, **QUICK)
    memory = _quiet(genlab.fit, whole, "vae", **QUICK)
    a, b = streamed.net_.state_dict(), memory.net_.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert streamed.fingerprint_ == memory.fingerprint_ and streamed.n_rows_ == 500
    test = load_adult_sample("test").head(40).drop(columns=["fnlwgt"])
    np.testing.assert_array_equal(_quiet(streamed.log_prob, test), _quiet(memory.log_prob, test))


@pytest.mark.parametrize("family", ["vae", "autoregressive", "flow", "gan"])
def test_a_small_buffer_fits_every_neural_family_from_two_files(
        dataset: tuple[Path, pd.DataFrame], family: str) -> None:
    folder, whole = dataset
    m = _quiet(fit_streaming, folder, family, batch_rows=64, buffer_rows=150, **QUICK)
    assert m.n_rows_ == 500 and m.streamed_rows_ == 150
    # the codec is every row's: each category of the table, though the buffer saw 150 rows
    spec = m.schema_.columns[m.schema_.names.index("native-country")]
    assert set(spec.categories) == set(whole["native-country"].dropna())
    rows = _quiet(m.sample, 30, seed=0)
    assert len(rows) == 30 and list(rows.columns) == list(whole.columns)
    if family != "gan":  # a GAN has no likelihood
        assert np.isfinite(_quiet(m.log_prob, whole.head(30))).all()


def test_the_sample_is_seeded(dataset: tuple[Path, pd.DataFrame]) -> None:
    from genlab.stream.neural import _sample

    folder, _ = dataset
    one = _sample(folder, 64, 100, seed=3)
    again = _sample(folder, 200, 100, seed=3)  # other batch sizes: the same rows
    assert one[0].equals(again[0]) and one[1:] == again[1:]
    assert not one[0].equals(_sample(folder, 64, 100, seed=4)[0])


@pytest.mark.parametrize("value", [1, 0, 2.5, True])
def test_bad_buffer_rows_is_one_line(dataset: tuple[Path, pd.DataFrame], value: object) -> None:
    folder, _ = dataset
    with pytest.raises(ParameterError, match="buffer_rows must be an integer of at least 2"):
        fit_streaming(folder, "vae", buffer_rows=value, **QUICK)
