"""read_table / write_table: one-line DataErrors for bad input, round trips, atomic writes."""

from __future__ import annotations

import csv
import gzip
import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genlab.data.readers import read_table, write_table
from genlab.errors import DataError, GenlabError


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _read_quiet(path: Path, **kw: object) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # sniffed delimiters, number formats
        return read_table(path, **kw)  # type: ignore[arg-type]


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


# -- broken bytes -----------------------------------------------------------------------------
def _truncated_gzip() -> bytes:
    rng = np.random.default_rng(0)
    text = "a,b\n" + "".join(f"{x},{y}\n" for x, y in rng.integers(0, 10**9, (5000, 2)))
    data = gzip.compress(text.encode())
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("name", "data", "match"),
    [
        ("t.csv", b"\x00\x01\x02\xff\xfe" * 40, r"t\.csv' is not UTF-8 text \(byte 0 is NUL"),
        ("t.csv", b"a,b\n1,\x002\n", r"t\.csv' is not UTF-8 text \(byte 6 is NUL"),
        ("t.csv", "a,b\n1,2\n".encode("utf-16"), r"is not UTF-8 text \(byte \d+ is NUL: UTF-16"),
        ("t.csv", b"a,b\n1,\xff\n", r"t\.csv' is not UTF-8 text \(byte \d+: invalid start"),
        ("t.csv.gz", b"not gzip at all\n", r"cannot read .*t\.csv\.gz': Not a gzipped file"),
        ("t.csv.gz", _truncated_gzip(), r"cannot read .*t\.csv\.gz': Compressed file ended"),
        ("t.parquet", b"PAR1" + b"\x00" * 64 + b"PAR1", r"cannot read .*t\.parquet'"),
        ("t.csv", b'"""', r"cannot read .*t\.csv': Error tokenizing data. C error: EOF inside"),
        ("t.csv", b"a,b\n1,\"2\n3,4\n", r"cannot read .*t\.csv': .*EOF inside string"),
    ],
    ids=["binary-garbage", "nul-in-field", "utf16", "latin1-byte", "not-gzip",
         "truncated-gzip", "fake-parquet", "only-quotes", "unterminated-quote"],
)
def test_broken_bytes_are_one_line(tmp_path, name, data, match):
    with pytest.raises(DataError, match=match) as err:
        _read_quiet(_write(tmp_path, name, data))
    assert "\n" not in str(err.value)


# -- the property tests ---------------------------------------------------------------------------
_TEXT = st.text(alphabet="bcdfgh xyz,;|\t\"'", min_size=0, max_size=8).map(lambda s: "b" + s)


@st.composite
def _tables(draw: st.DrawFn) -> tuple[list[str], list[list[object]]]:
    kinds = draw(st.lists(st.sampled_from(["int", "float", "text"]), min_size=1, max_size=5))
    n = draw(st.integers(1, 8))
    cells = {"int": st.integers(-10**15, 10**15),
             "float": st.floats(allow_nan=False, allow_infinity=False, width=64),
             "text": _TEXT}
    columns = [draw(st.lists(st.one_of(st.none(), cells[k]), min_size=n, max_size=n))
               for k in kinds]
    return kinds, [list(row) for row in zip(*columns, strict=True)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=_tables(), delimiter=st.sampled_from([",", ";", "\t", "|"]),
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
def test_random_csv_reads_back_to_its_values(tmp_path_factory, table, delimiter, quoting):
    kinds, rows = table
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, quoting=quoting, lineterminator="\n")
    writer.writerow([f"c{j}" for j in range(len(kinds))])
    for row in rows:
        writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v
                         for v in row])
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    path.write_text(buf.getvalue())
    # one column has no delimiter to find: say it
    df = _read_quiet(path, delimiter=None if len(kinds) > 1 else delimiter)
    assert list(df.columns) == [f"c{j}" for j in range(len(kinds))]
    for j, kind in enumerate(kinds):
        want = [row[j] for row in rows]
        got = df.iloc[:, j].tolist()
        assert [v is None for v in want] == [pd.isna(v) for v in got], (kind, want, got)
        present = [(w, g) for w, g in zip(want, got, strict=True) if w is not None]
        if kind == "text":
            assert all(w == g for w, g in present), (want, got)
        else:
            assert all(float(w) == float(g) for w, g in present), (want, got)


_CSVISH = st.text(alphabet=',;\t|"\n\r0123456789.,abcnaifNA -eE+\x00', max_size=400)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=600), _CSVISH.map(str.encode)),
       name=st.sampled_from(["t.csv", "t.csv.gz", "t.parquet"]))
def test_random_bytes_give_a_data_error_or_a_table(tmp_path_factory, data, name):
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_bytes(gzip.compress(data) if name == "t.csv.gz" and data[:1] != b"\x1f" else data)
    try:
        df = _read_quiet(path)
    except GenlabError as err:
        assert "\n" not in str(err), err
        return
    assert isinstance(df, pd.DataFrame) and df.shape[0] >= 1 and df.shape[1] >= 1
