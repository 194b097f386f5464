"""read_table / write_table: one-line DataErrors for bad input, round trips, atomic writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genlab.data.readers import read_table, write_table
from genlab.errors import DataError


@pytest.fixture
def small() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "x": np.round(rng.normal(size=6), 3),
            "n": rng.integers(0, 100, 6),
            "s": ["a", "b", None, "a", "c", "b"],
            "flag": [True, False, True, True, False, False],
        }
    )


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=r"file not found: .*nope\.csv'; check the path"):
        read_table(path)


@pytest.mark.parametrize("name", ["table.xlsx", "table"])
def test_unsupported_extension(tmp_path, name):
    path = tmp_path / name
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"unsupported file extension .* use one of \.csv"):
        read_table(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.csv' is empty; give a table with a header"):
        read_table(path)


def test_blank_lines_only(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n\n")
    with pytest.raises(DataError, match=r"blank\.csv' has no columns"):
        read_table(path)


def test_header_only(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("a,b,c\n")
    with pytest.raises(DataError, match=r"header\.csv' has a header but no rows"):
        read_table(path)


def test_undecodable_bytes(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"name\nJos\xe9\n")
    with pytest.raises(DataError, match=r"latin\.csv' is not UTF-8 text .*re-save it as UTF-8"):
        read_table(path)


def test_folder_instead_of_file(tmp_path):
    folder = tmp_path / "data.csv"
    folder.mkdir()
    with pytest.raises(DataError, match=r"data\.csv' is a folder; give a \.csv file"):
        read_table(folder)


def test_duplicate_column_names_in_a_csv(tmp_path):
    # pandas would silently rename the second "age" to "age.1"
    path = tmp_path / "dupes.csv"
    path.write_text("age,city,age\n1,x,2\n3,y,4\n")
    with pytest.raises(DataError, match=r"duplicate column names \['age'\]; rename them"):
        read_table(path)


def test_a_column_really_named_like_a_renamed_duplicate_is_fine(tmp_path):
    path = tmp_path / "dots.csv"
    path.write_text("a,a.1\n1,2\n3,4\n")
    assert list(read_table(path).columns) == ["a", "a.1"]


def test_duplicate_column_names_in_a_dataframe():
    df = pd.DataFrame([[1, 2], [3, 4]], columns=["v", "v"])
    with pytest.raises(DataError, match=r"the DataFrame has duplicate column names \['v'\]"):
        read_table(df)


def test_empty_dataframes():
    with pytest.raises(DataError, match="has a header but no rows"):
        read_table(pd.DataFrame({"a": []}))
    with pytest.raises(DataError, match="has no columns"):
        read_table(pd.DataFrame())


def test_dataframe_is_copied_and_names_become_strings():
    df = pd.DataFrame({0: [1.0, 2.0], "b": [3, 4]})
    out = read_table(df)
    assert list(out.columns) == ["0", "b"] and list(df.columns) == [0, "b"]
    out.iloc[0, 1] = 99
    assert df.iloc[0, 1] == 3


def test_unparseable_csv_is_a_data_error(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text('a,b\n1,2\n3,"4\n')
    with pytest.raises(DataError, match=r"cannot read .*ragged\.csv'"):
        read_table(path)


def test_not_a_parquet_file(tmp_path):
    path = tmp_path / "fake.parquet"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"cannot read .*fake\.parquet'"):
        read_table(path)


@pytest.mark.parametrize("name", ["t.csv", "t.parquet", "t.pq"])
def test_round_trip(tmp_path, small, name):
    path = write_table(small, tmp_path / "sub" / name)
    assert path == tmp_path / "sub" / name and path.exists()
    out = read_table(path)
    assert list(out.columns) == list(small.columns)
    pd.testing.assert_frame_equal(out, small, check_dtype=False)
    assert [str(t) for t in out.dtypes[["x", "n", "flag"]]] == ["float64", "int64", "bool"]
    assert out["s"].isna().tolist() == small["s"].isna().tolist()


def test_csv_reader_strips_spaces_after_commas(tmp_path):
    path = tmp_path / "spaced.csv"
    path.write_text("a, b\n1, x\n2, y\n")
    out = read_table(path)
    assert list(out.columns) == ["a", "b"] and out["b"].tolist() == ["x", "y"]


def test_write_table_rejects_unknown_extension(tmp_path, small):
    with pytest.raises(DataError, match=r"unsupported file extension '\.json'"):
        write_table(small, tmp_path / "out.json")
    assert list(tmp_path.iterdir()) == []


def test_write_table_is_atomic(tmp_path, small, monkeypatch):
    def half_then_fail(self: pd.DataFrame, path: object, **kw: object) -> None:
        with open(str(path), "w") as fh:
            fh.write("x,n\n1.0,")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_fail)
    target = tmp_path / "out.csv"
    with pytest.raises(OSError, match="disk full"):
        write_table(small, target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_failed_write_keeps_the_old_file(tmp_path, small, monkeypatch):
    target = write_table(small, tmp_path / "out.csv")
    before = target.read_bytes()

    def fail(self: pd.DataFrame, path: object, **kw: object) -> None:
        raise RuntimeError("interrupted")

    monkeypatch.setattr(pd.DataFrame, "to_csv", fail)
    with pytest.raises(RuntimeError, match="interrupted"):
        write_table(small.head(2), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_gzipped_csv_round_trip_and_one_suffix_list(tmp_path):
    """`.csv.gz` is a table for every reader and writer (one TABLE_SUFFIXES list)."""
    import gzip

    from genlab.data.readers import TABLE_SUFFIXES, read_table, write_table
    from genlab.data.sequences import readers as seq_readers

    df = pd.DataFrame({"a": [1.5, 2.0, 3.25], "b": ["x", "y", "x"]})
    path = write_table(df, tmp_path / "t.csv.gz")
    with gzip.open(path, "rt") as f:  # really gzip, not parquet under a csv name
        assert f.readline().strip() == "a,b"
    pd.testing.assert_frame_equal(read_table(path), df)
    assert seq_readers.TABLE_SUFFIXES is TABLE_SUFFIXES
