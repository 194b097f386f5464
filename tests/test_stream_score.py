"""`score --stream` and `detect --stream`: the batches of a Parquet dataset scored into one
Parquet file equal to the in-memory command's output; atomic; bad input in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import genlab
from genlab.cli import app


def _parts(df: pd.DataFrame, folder: Path, size: int) -> Path:
    folder.mkdir()
    for k, start in enumerate(range(0, len(df), size)):
        df.iloc[start:start + size].to_parquet(folder / f"part-{k:05d}.parquet", index=False)
    return folder


@pytest.fixture
def setup(mixed_df: pd.DataFrame, tmp_path: Path) -> tuple[pd.DataFrame, Path, Path]:
    folder = _parts(mixed_df, tmp_path / "d", 70)
    model = tmp_path / "m.genlab"
    genlab.fit(mixed_df, "bayesnet", seed=0).save(model)
    return pd.read_parquet(folder), folder, model


def _run(*args: str) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("batch_rows", [1, 33, 1000])
def test_score_stream_equals_in_memory(setup, tmp_path: Path, batch_rows: int) -> None:
    df, folder, model = setup
    out = tmp_path / "s.parquet"
    result = _run("score", model, str(folder / "*.parquet"), "--stream", "--batch-rows",
                  batch_rows, "-o", out)
    assert result.exit_code == 0, result.output
    assert "300 rows scored in batches" in result.output
    got = pd.read_parquet(out)
    assert got["item"].tolist() == list(range(300))
    np.testing.assert_array_equal(got["log_prob"].to_numpy(), genlab.load(model).log_prob(df))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_score_stream_fault_leaves_no_output(setup, tmp_path: Path) -> None:
    df, folder, model = setup
    df.iloc[:4].assign(count=df["count"].iloc[:4].astype(str)).to_parquet(
        folder / "part-00099.parquet", index=False)
    out = tmp_path / "s.parquet"
    result = _run("score", model, folder, "--stream", "-o", out)
    assert result.exit_code == 2
    line = result.output.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert "part-00099.parquet" in line and "column 'count'" in line
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]
    result = _run("score", model, folder, "--stream", "-o", tmp_path / "s.csv")
    assert result.exit_code == 2 and "this command writes .parquet" in result.output


def test_detect_stream_equals_in_memory(setup, tmp_path: Path) -> None:
    df, folder, model = setup
    normal = tmp_path / "normal.csv"
    df.iloc[:200].to_csv(normal, index=False)
    whole = tmp_path / "whole.parquet"
    df.to_parquet(whole, index=False)
    mem, got = tmp_path / "mem.parquet", tmp_path / "got.parquet"
    assert _run("detect", whole, "-m", model, "--fit-on", normal, "--seed", "0",
                "-o", mem).exit_code == 0
    result = _run("detect", folder, "-m", model, "--fit-on", normal, "--seed", "0",
                  "--stream", "--batch-rows", "45", "-o", got)
    assert result.exit_code == 0, result.output
    assert "rows flagged (streamed)" in result.output
    a, b = pd.read_parquet(got), pd.read_parquet(mem)
    assert list(a.columns) == list(b.columns)
    np.testing.assert_allclose(a["anomaly_score"], b["anomaly_score"], rtol=1e-12)
    assert a["anomaly_flag"].tolist() == b["anomaly_flag"].tolist()
    assert a["anomaly_flag"].sum() > 0
    assert a["anomaly_columns"].tolist() == b["anomaly_columns"].fillna("").tolist()


def test_detect_stream_bad_input(setup, tmp_path: Path) -> None:
    _, folder, model = setup
    out = tmp_path / "o.parquet"
    cases = [((), "--stream needs --fit-on"),
             (("--fit-on", folder / "part-00000.parquet", "--report", tmp_path / "r.html"),
              "--report does not work with --stream")]
    for extra, message in cases:
        result = _run("detect", folder, "-m", model, "--stream", "-o", out, *extra)
        assert result.exit_code == 2 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
