"""Streaming a Parquet dataset: file, folder or glob in batches, schemas checked (one-line
error naming the file and column), exact column statistics equal to the in-memory ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genlab.errors import DataError, ParameterError
from genlab.stream.source import column_stats, iter_batches, parquet_files


def _write_parts(df: pd.DataFrame, folder: Path, sizes: list[int]) -> None:
    folder.mkdir(exist_ok=True)
    start = 0
    for k, size in enumerate(sizes):
        df.iloc[start:start + size].to_parquet(folder / f"part-{k:05d}.parquet", index=False)
        start += size


@pytest.fixture
def table(mixed_df: pd.DataFrame, tmp_path: Path) -> tuple[pd.DataFrame, Path]:
    _write_parts(mixed_df, tmp_path / "d", [120, 100, 80])
    return mixed_df, tmp_path / "d"


@pytest.mark.parametrize("batch_rows", [1, 7, 64, 1000])
def test_batches_bounded_and_complete(table, batch_rows: int) -> None:
    df, folder = table
    for source in (folder, str(folder / "*.parquet")):
        batches = list(iter_batches(source, batch_rows))
        assert max(len(b) for b in batches) <= batch_rows
        pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), df,
                                      check_dtype=False)


def test_one_file_and_hidden_files(table) -> None:
    df, folder = table
    (folder / "_x.parquet").write_bytes(b"not parquet")  # pyarrow's rule: left out
    assert [p.name for p in parquet_files(folder)][0] == "part-00000.parquet"
    assert len(parquet_files(folder)) == 3
    one = pd.concat(iter_batches(folder / "part-00001.parquet", 30), ignore_index=True)
    assert len(one) == 100


def test_stats_equal_in_memory(table) -> None:
    df, folder = table
    stats = column_stats(folder, batch_rows=17)
    for name in df.columns:
        s = stats[name]
        assert s.rows == len(df) and s.missing == int(df[name].isna().sum())
        assert s.counts == {k: int(v) for k, v in df[name].value_counts().items()}
    assert stats["x1"].minimum == df["x1"].min() and stats["x2"].maximum == df["x2"].max()
    assert stats["group"].minimum is None and stats["flag"].minimum is None


def test_schema_mismatch_names_file_and_column(table) -> None:
    df, folder = table
    bad = df.iloc[:5].assign(count=df["count"].iloc[:5].astype(str))
    bad.to_parquet(folder / "part-00009.parquet", index=False)
    with pytest.raises(DataError,
                       match=r"part-00009\.parquet.*column 'count' is (large_)?string, but int64"):
        next(iter_batches(folder))
    (folder / "part-00009.parquet").unlink()
    df.iloc[:5].drop(columns="city").to_parquet(folder / "part-00009.parquet", index=False)
    with pytest.raises(DataError, match=r"part-00009\.parquet' has no column 'city'"):
        column_stats(folder)
    (folder / "part-00009.parquet").unlink()
    df.iloc[:5].assign(extra=1).to_parquet(folder / "part-00009.parquet", index=False)
    with pytest.raises(DataError, match="has column 'extra'"):
        column_stats(folder)


def test_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder"):
        parquet_files(tmp_path / "missing")
    with pytest.raises(DataError, match="holds no Parquet file"):
        parquet_files(tmp_path)
    (tmp_path / "x.parquet").write_text("junk")
    with pytest.raises(DataError, match="cannot read .* as Parquet"):
        next(iter_batches(tmp_path))
    with pytest.raises(ParameterError, match="batch_rows must be a positive"):
        next(iter_batches(tmp_path, 0))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=5), st.integers(1, 50),
       st.integers(0, 2**31))
def test_stats_add_up_over_any_partition(tmp_path_factory, sizes, batch_rows, seed) -> None:
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    df = pd.DataFrame({"v": rng.integers(0, 5, n).astype(float),
                       "c": rng.choice(["p", "q", None], n)})
    df.loc[rng.random(n) < 0.2, "v"] = np.nan
    folder = tmp_path_factory.mktemp("p")
    _write_parts(df, folder / "d", sizes)
    stats = column_stats(folder / "d", batch_rows)
    for name in df.columns:
        assert stats[name].counts == {k: int(v) for k, v in df[name].value_counts().items()}
        assert stats[name].missing == int(df[name].isna().sum())
