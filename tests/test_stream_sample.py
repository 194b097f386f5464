"""Chunked sampling into a partitioned Parquet dataset: the same rows for a seed whatever the
part size, bounded memory by construction, atomic folder, provenance, bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import genlab
from genlab.cli import app
from genlab.errors import ParameterError
from genlab.provenance_files import read_provenance
from genlab.stream import sample_to_parquet
from genlab.stream.sample import _blocks

runner = CliRunner()


@pytest.fixture(scope="module")
def model() -> genlab.models.base.Model:
    import numpy as np

    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"x": rng.normal(size=n).round(3), "k": rng.poisson(5, n),
                       "g": rng.choice(["a", "b", "c"], n)})
    df.loc[rng.random(n) < 0.1, "x"] = np.nan
    return genlab.fit(df, "bayesnet", seed=0)


def _read(folder: Path) -> pd.DataFrame:
    return ds.dataset(folder, format="parquet").to_table().to_pandas()


@pytest.mark.parametrize("per_part", [37, 100, 1000])
def test_same_rows_whatever_the_part_size(model, tmp_path: Path, per_part: int) -> None:
    ref = sample_to_parquet(model, 250, tmp_path / "ref", seed=5, rows_per_part=250,
                            block_rows=64)
    got = sample_to_parquet(model, 250, tmp_path / "got", seed=5, rows_per_part=per_part,
                            block_rows=64)
    parts = sorted(p.name for p in got.iterdir())
    assert parts == [f"part-{k:05d}.parquet" for k in range(-(-250 // per_part))]
    pd.testing.assert_frame_equal(_read(got), _read(ref))
    other = sample_to_parquet(model, 250, tmp_path / "other", seed=6, block_rows=64)
    assert not _read(other).equals(_read(ref))


def test_block_k_is_drawn_from_seed_and_k(model, tmp_path: Path) -> None:
    import numpy as np

    folder = sample_to_parquet(model, 100, tmp_path / "d", seed=3, block_rows=40)
    rows = _read(folder)
    alone = model._sample(40, {}, np.random.default_rng([3, 1]), row_offset=40)
    pd.testing.assert_frame_equal(rows.iloc[40:80].reset_index(drop=True),
                                  alone.reset_index(drop=True), check_dtype=False)


def test_memory_is_bounded_by_the_block(model, tmp_path: Path, monkeypatch) -> None:
    asked: list[int] = []
    real = type(model)._sample

    def spy(self, n, conditions, rng, row_offset=0, **options):
        asked.append(n)
        return real(self, n, conditions, rng, row_offset, **options)

    monkeypatch.setattr(type(model), "_sample", spy)
    folder = sample_to_parquet(model, 1000, tmp_path / "d", seed=1, rows_per_part=300,
                               block_rows=128)
    assert max(asked) <= 128 and sum(asked) == 1000  # each block drawn once, one at a time
    import pyarrow.parquet as pq

    for part in folder.iterdir():
        meta = pq.ParquetFile(part).metadata
        assert meta.num_rows <= 300
        assert all(meta.row_group(i).num_rows <= 128 for i in range(meta.num_row_groups))


def test_provenance_in_every_part_and_beside_the_folder(model, tmp_path: Path) -> None:
    folder = sample_to_parquet(model, 50, tmp_path / "d", seed=2, rows_per_part=20)
    side, where = read_provenance(folder)
    assert where.startswith("sidecar") and side["seed"] == 2 and side["n"] == 50
    assert side["dataset"]["parts"] == 3
    for part in folder.iterdir():
        inside, where = read_provenance(part)
        assert where == "Parquet schema metadata" and inside == side


def test_bad_input(model, tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "x.txt").write_text("keep")
    with pytest.raises(ParameterError, match="is not empty"):
        sample_to_parquet(model, 10, full, seed=0)
    assert (full / "x.txt").read_text() == "keep"
    for n in (0, -3):
        with pytest.raises(ParameterError, match="positive integer"):
            sample_to_parquet(model, n, tmp_path / "o", seed=0)
    with pytest.raises(ParameterError, match="rows_per_part must be a positive"):
        sample_to_parquet(model, 10, tmp_path / "o", seed=0, rows_per_part=0)
    assert not (tmp_path / "o").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(_read(sample_to_parquet(model, 10, empty, seed=0))) == 10


def test_failure_leaves_no_folder(model, tmp_path: Path, monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(model), "_sample", boom)
    with pytest.raises(RuntimeError):
        sample_to_parquet(model, 10, tmp_path / "d", seed=0)
    assert list(tmp_path.iterdir()) == []


def test_cli(model, tmp_path: Path) -> None:
    model_file = tmp_path / "m.genlab"
    model.save(model_file)
    out = tmp_path / "out"
    result = runner.invoke(app, ["sample", str(model_file), "-n", "500", "-o", str(out),
                                 "--seed", "4", "--rows-per-part", "200"])
    assert result.exit_code == 0, result.output
    assert "3 Parquet parts" in result.output
    same = sample_to_parquet(model, 500, tmp_path / "py", seed=4)
    pd.testing.assert_frame_equal(_read(out), _read(same))
    result = runner.invoke(app, ["sample", str(model_file), "-n", "5", "-o", str(out)])
    assert result.exit_code == 2
    assert "is not empty" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(app, ["sample", str(model_file), "-n", "0", "-o",
                                 str(tmp_path / "new")])
    assert result.exit_code == 2 and "positive integer" in result.output


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 50), st.integers(0, 500), st.integers(1, 200))
def test_block_slices_cover_the_rows_once(block: int, start: int, length: int) -> None:
    slices = _blocks(start, start + length, block)
    rows = [k * block + i for k, lo, hi in slices for i in range(lo, hi)]
    assert rows == list(range(start, start + length))
    assert all(0 <= lo < hi <= block for _, lo, hi in slices)
