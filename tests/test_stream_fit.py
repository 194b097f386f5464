"""A streamed fit equals the in-memory fit on the same table: the codec exactly, the
Gaussian family's parameters and log_prob within 1e-9 relative; bad input in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import genlab
from genlab.errors import DataError, ParameterError
from genlab.stream.codec import stream_codec
from genlab.stream.fit import fit_streaming

RTOL = 1e-9


def _parts(df: pd.DataFrame, folder: Path, size: int) -> Path:
    folder.mkdir()
    for k, start in enumerate(range(0, len(df), size)):
        df.iloc[start:start + size].to_parquet(folder / f"part-{k:05d}.parquet", index=False)
    return folder


@pytest.fixture
def table(mixed_df: pd.DataFrame, tmp_path: Path) -> tuple[pd.DataFrame, Path]:
    rng = np.random.default_rng(1)
    df = mixed_df.assign(level=rng.integers(0, 4, len(mixed_df)),  # a number column as codes
                         price=rng.gamma(2.0, 10.0, len(mixed_df)).round(2),
                         same=7)
    folder = _parts(df, tmp_path / "d", 70)
    return pd.read_parquet(folder), folder  # what an in-memory fit of those files reads


@pytest.mark.parametrize("batch_rows", [13, 1000])
def test_codec_equals_in_memory(table, batch_rows: int) -> None:
    df, folder = table
    from genlab.data.tabular import TabularCodec

    assert stream_codec(folder, batch_rows).to_dict() == TabularCodec.fit(df).to_dict()


@pytest.mark.parametrize(("covariance", "batch_rows"), [("full", 29), ("diag", 300)])
def test_gaussian_streamed_equals_in_memory(table, tmp_path: Path, covariance: str,
                                            batch_rows: int) -> None:
    df, folder = table
    mem = genlab.fit(df, "gaussian", seed=0, covariance=covariance)
    got = genlab.fit(str(folder / "*.parquet"), "gaussian", seed=0, covariance=covariance,
                     streaming=True, batch_rows=batch_rows)
    assert got.fingerprint_ == mem.fingerprint_ and got.n_rows_ == mem.n_rows_ == len(df)
    np.testing.assert_allclose(got.missing_rate_, mem.missing_rate_, rtol=RTOL)
    np.testing.assert_allclose(got.latent_.loc, mem.latent_.loc, rtol=RTOL)
    np.testing.assert_allclose(got.latent_.scale, mem.latent_.scale, rtol=RTOL)
    np.testing.assert_allclose(got.mixture_.means, mem.mixture_.means, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(got.mixture_.covs, mem.mixture_.covs, rtol=RTOL, atol=1e-12)
    for p, q in zip(got.mixture_.cat_probs, mem.mixture_.cat_probs, strict=True):
        np.testing.assert_allclose(p, q, rtol=RTOL)
    np.testing.assert_allclose(got.log_prob(df), mem.log_prob(df), rtol=RTOL)
    got.save(tmp_path / "m.genlab")  # a streamed model is an ordinary model file
    pd.testing.assert_frame_equal(genlab.load(tmp_path / "m.genlab").sample(20, seed=3),
                                  mem.sample(20, seed=3))


def test_cli_stream(table, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from genlab.cli import app

    df, folder = table
    out = tmp_path / "m.genlab"
    result = CliRunner().invoke(app, ["fit", str(folder), "--model", "gaussian", "--stream",
                                      "--batch-rows", "50", "-o", str(out), "--seed", "0"])
    assert result.exit_code == 0, result.output
    mem = genlab.fit(df, "gaussian", seed=0)
    np.testing.assert_allclose(genlab.load(out).log_prob(df), mem.log_prob(df), rtol=RTOL)
    result = CliRunner().invoke(app, ["fit", str(folder), "--model", "bayesnet", "--stream",
                                      "--batch-rows", "50", "-o", str(tmp_path / "b.genlab"),
                                      "--seed", "0"])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(genlab.load(tmp_path / "b.genlab").log_prob(df),
                                  genlab.fit(df, "bayesnet", seed=0).log_prob(df))


def test_bad_input(table, tmp_path: Path) -> None:
    df, folder = table
    with pytest.raises(ParameterError, match="supports the families"):
        fit_streaming(folder, "nosuch")
    with pytest.raises(ParameterError, match="max_parents up to 2"):
        fit_streaming(folder, "bayesnet", max_parents=3)
    with pytest.raises(ParameterError, match="batch_rows must be a positive"):
        fit_streaming(folder, batch_rows=0)
    df.iloc[:3].assign(price="x").to_parquet(folder / "part-00099.parquet", index=False)
    with pytest.raises(DataError, match=r"part-00099\.parquet.*column 'price'"):
        fit_streaming(folder)
    ids = pd.DataFrame({"user": [f"u{i}" for i in range(40)], "v": np.arange(40.0)})
    with pytest.raises(DataError, match="column 'user' has 40 distinct values"):
        fit_streaming(_parts(ids, tmp_path / "ids", 15))
    with pytest.raises(ParameterError, match="streaming=True reads Parquet"):
        genlab.fit(df, "gaussian", streaming=True)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31), st.integers(2, 60), st.integers(1, 25), st.integers(1, 40))
def test_codec_equals_in_memory_on_any_table(tmp_path_factory, seed: int, n: int, part: int,
                                             batch_rows: int) -> None:
    from genlab.data.tabular import TabularCodec

    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"f": rng.normal(size=n).round(int(rng.integers(0, 4))),
                       "i": rng.integers(0, int(rng.integers(1, 40)), n),
                       "s": rng.choice(["a", "b", "c", "d"][:int(rng.integers(1, 5))], n),
                       "b": rng.random(n) < 0.5})
    for col in ("f", "s"):
        df.loc[rng.random(n) < 0.2, col] = None
    if df["f"].isna().all() or df["s"].isna().all():
        return
    folder = _parts(df, tmp_path_factory.mktemp("c") / "d", part)
    assert (stream_codec(folder, batch_rows).to_dict()
            == _unsigned(TabularCodec.fit(pd.read_parquet(folder)).to_dict()))


def _unsigned(codec: dict) -> dict:
    """A codec's dict with a -0.0 category as 0.0 (the streamed codec keeps +0.0: in memory
    the first of the two in the table represents both)."""
    for col in codec["columns"]:
        if col.get("categories"):
            col["categories"] = [c + 0.0 if isinstance(c, float) else c
                                 for c in col["categories"]]
    return codec
