"""The partitions the Dask driver cuts from Parquet files (no cluster needed): for any files,
row-group sizes, piece and batch sizes, the pieces' batches are `iter_batches`' batches, in
order, with the same rows and dtypes (what makes a Dask fit equal the sequential one); and
a model survives the trip as its `.genlab` bytes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genlab.errors import DataError
from genlab.stream.dask_parts import model_blob, model_from_blob, parquet_pieces, read_piece
from genlab.stream.source import iter_batches


def _write(folder: Path, sizes: list[int], group: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for k, n in enumerate(sizes):
        df = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n),
                           "i": rng.integers(0, 9, n)})
        df.loc[rng.random(n) < 0.2, "x"] = np.nan
        df.to_parquet(folder / f"p{k:02d}.parquet", index=False, row_group_size=group)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(0, 90), min_size=1, max_size=4),
       group=st.integers(1, 40), piece_rows=st.integers(1, 120), batch=st.integers(1, 50),
       seed=st.integers(0, 2**16))
def test_pieces_read_as_iter_batches(sizes: list[int], group: int, piece_rows: int,
                                     batch: int, seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        df = _write(folder, sizes, group, seed)
        if not len(df):
            with pytest.raises(DataError, match="holds no rows"):
                parquet_pieces(folder, piece_rows)
            return
        pieces, names = parquet_pieces(folder, piece_rows)
        assert names == ["x", "c", "i"]
        assert [p.index for p in pieces] == list(range(len(pieces)))
        assert pieces[0].start == 0 and sum(p.rows for p in pieces) == len(df)
        for a, b in zip(pieces, pieces[1:], strict=False):
            assert b.start == a.start + a.rows
        ours = [b for p in pieces for b in read_piece(p, names, batch)]
        theirs = list(iter_batches(folder, batch))
        assert [len(b) for b in ours] == [len(b) for b in theirs]
        for a, b in zip(ours, theirs, strict=True):
            pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_model_travels_as_its_file(mixed_df: pd.DataFrame) -> None:
    import genlab

    m = genlab.fit(mixed_df, "bayesnet", seed=0)
    blob = model_blob(m)
    assert blob[:2] == b"PK" and m.file_path_ is None  # a zip; the model is not moved
    back = model_from_blob(blob)
    assert model_from_blob(blob) is back  # loaded once per worker process
    np.testing.assert_array_equal(back.log_prob(mixed_df), m.log_prob(mixed_df))
    pd.testing.assert_frame_equal(back.sample(50, seed=1), m.sample(50, seed=1))
