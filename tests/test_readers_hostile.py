"""read_table against what people write: every bad input is one named case that checks its
one-line message (broken bytes and the property tests are in test_readers.py)."""

from __future__ import annotations

import gzip
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import genlab
from genlab.data.readers import read_table
from genlab.data.tabular import TabularCodec
from genlab.errors import DataError, ParameterError


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(err.value)
    assert "\n" not in msg and msg.strip() == msg and msg, msg
    return msg


def _read_quiet(path: Path, **kw: object) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return read_table(path, **kw)  # type: ignore[arg-type]


# -- delimiters -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("delimiter", "said"),
    [(";", "';'"), ("\t", "tab"), ("|", "'|'")],
    ids=["semicolon", "tab", "pipe"],
)
def test_sniffed_delimiter_is_read_and_stated(tmp_path, delimiter, said):
    path = _write(tmp_path, "t.csv", f"a{delimiter}b\n1{delimiter}x\n2{delimiter}y\n")
    with pytest.warns(UserWarning, match=rf"with {said} as the delimiter \(detected\)") as rec:
        df = read_table(path)
    assert [str(w.message).count("\n") for w in rec] == [0]
    assert df.to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}


def test_comma_is_not_stated(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read_table(_write(tmp_path, "t.csv", "a,b\n1,x\n2,y\n"))
    assert list(df.columns) == ["a", "b"]


def test_given_delimiter_is_used_silently(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read_table(_write(tmp_path, "t.csv", "a;b\n1;x\n2;y\n"), delimiter=";")
    assert df["b"].tolist() == ["x", "y"]


def test_semicolon_file_with_commas_in_text_is_not_read_as_commas(tmp_path):
    path = _write(tmp_path, "t.csv", "name;note\nann;red, blue\nbob;green\n")
    assert _read_quiet(path)["note"].tolist() == ["red, blue", "green"]


# -- number formats -------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:read .* as the delimiter")
@pytest.mark.parametrize(
    ("text", "values", "said"),
    [
        ('a,b\n"1,234",x\n"12",y\n', [1234, 12], "thousands separator"),
        ('a,b\n"1,234.5",x\n"5,678,901.25",y\n', [1234.5, 5678901.25], "thousands separator"),
        ('a,b\n"1,234",x\n"2,345",y\n', [1234, 2345], "thousands separator"),
        ("a;b\n3,14;x\n2,5;y\n", [3.14, 2.5], "decimal mark"),
        ("a;b\n1.234,5;x\n-2,5;y\n", [1234.5, -2.5], "decimal mark"),
        ("a;b\n1,234;x\n2,345;y\n", [1.234, 2.345], "decimal mark"),
    ],
    ids=["thousands-comma", "thousands-comma-with-decimals", "ambiguous-in-comma-file",
         "decimal-comma", "decimal-comma-dot-thousands", "ambiguous-in-semicolon-file"],
)
def test_numbers_written_with_commas_are_read_and_stated(tmp_path, text, values, said):
    with pytest.warns(UserWarning, match=rf"column 'a' of .*\(',' as the {said}\); pass "
                                         r"read_table\(\.\.\., (thousands|decimal)=','\)") as rec:
        df = read_table(_write(tmp_path, "t.csv", text))
    assert all("\n" not in str(w.message) for w in rec)
    np.testing.assert_allclose(df["a"].to_numpy(dtype=float), values)


def test_decimal_option_is_used_without_guessing(tmp_path):
    path = _write(tmp_path, "t.csv", "a;b\n3,14;x\n2,5;y\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read_table(path, delimiter=";", decimal=",")
    assert df["a"].tolist() == [3.14, 2.5]


def test_thousands_option_is_used(tmp_path):
    df = read_table(_write(tmp_path, "t.csv", 'a,b\n"1,234",x\n"2,000,000",y\n'), thousands=",")
    assert df["a"].tolist() == [1234, 2_000_000]


def test_thousands_none_keeps_the_text(tmp_path):
    df = read_table(_write(tmp_path, "t.csv", 'a,b\n"1,234",x\n"2,345",y\n'), thousands="")
    assert df["a"].tolist() == ["1,234", "2,345"]


def test_text_with_commas_stays_text(tmp_path):
    df = read_table(_write(tmp_path, "t.csv", 'a,b\n"1,2,x",x\n"3,4",y\n'))
    assert df["a"].tolist() == ["1,2,x", "3,4"]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"decimal": ";"}, r"decimal must be '\.' or ',', not ';'"),
        ({"thousands": "#"}, r"thousands must be one of .* not '#'"),
        ({"delimiter": ":"}, r"delimiter must be one of .* not ':'"),
        ({"inf": "zero"}, r"inf must be 'error' or 'missing', not 'zero'"),
        ({"max_bytes": 0}, r"max_bytes must be a positive whole number, not 0"),
        ({"max_columns": -1}, r"max_columns must be a positive whole number, not -1"),
        ({"max_columns": 2.5}, r"max_columns must be a positive whole number, not 2\.5"),
        ({"delimiter": ",", "decimal": ","}, r"delimiter, decimal and thousands must differ"),
        ({"decimal": ",", "thousands": ","}, r"delimiter, decimal and thousands must differ"),
    ],
    ids=["decimal-semicolon", "thousands-hash", "delimiter-colon", "inf-zero", "max-bytes-0",
         "max-columns-negative", "max-columns-float", "decimal-is-delimiter",
         "decimal-is-thousands"],
)
def test_bad_reader_options(tmp_path, kw, match):
    path = _write(tmp_path, "t.csv", "a,b\n1,2\n")
    with pytest.raises(ParameterError, match=match) as err:
        read_table(path, **kw)
    _one_line(err)


# -- missing markers and mixed columns --------------------------------------------------------
@pytest.mark.parametrize("marker", ["", "NA", "n/a", "N/A", "null", "NULL", "-", "NaN", "None"],
                         ids=["empty", "NA", "n/a", "N/A", "null", "NULL", "dash", "NaN", "None"])
def test_missing_markers_read_as_missing(tmp_path, marker):
    df = read_table(_write(tmp_path, "t.csv", f"a,b\n1.5,x\n{marker},y\n3,{marker}\n"))
    assert str(df["a"].dtype) == "float64"
    assert df["a"].isna().tolist() == [False, True, False]
    assert df["b"].isna().tolist() == [False, False, True]


@pytest.mark.parametrize("odd", ["abc", "unknown", "12a", "?"], ids=lambda v: f"text-{v}")
def test_mixed_numbers_and_text_is_refused_naming_column_and_value(tmp_path, odd):
    rows = "\n".join(f"{v},{v % 3}" for v in range(36)) + f"\n{odd},1\n{odd},2\n"
    df = read_table(_write(tmp_path, "t.csv", "amount,g\n" + rows + "\n"))
    with pytest.raises(DataError, match=rf"column 'amount' mixes numbers and text \(2 of 38 "
                                         rf"values are text, e.g. '{re.escape(odd)}'\).*kinds="
                                         r"\{'amount': 'categorical'\}") as err:
        genlab.GaussianCopula(seed=0).fit(df)
    _one_line(err)


def test_mixed_python_objects_in_a_dataframe_are_refused():
    df = pd.DataFrame({"a": [1, 2.5, 3, 4, "x"] * 8, "b": range(40)})
    with pytest.raises(DataError, match=r"column 'a' mixes numbers and text .*e\.g\. 'x'"):
        TabularCodec.fit(df)


def test_mixed_column_models_as_categories_when_asked():
    df = pd.DataFrame({"a": ["1", "2", "3", "n.a."] * 10, "b": np.arange(40.0)})
    codec = TabularCodec.fit(df, kinds={"a": "categorical"})
    assert codec.kinds["a"] == "categorical" and sorted(codec.columns[0].categories) == [
        "1", "2", "3", "n.a."]


def test_mostly_text_with_a_few_numbers_is_categorical():
    df = pd.DataFrame({"a": ["red", "blue", "green", "7"] * 10, "b": np.arange(40.0)})
    assert TabularCodec.fit(df).kinds["a"] == "categorical"


# -- infinities and huge values ---------------------------------------------------------------
@pytest.mark.parametrize(("value", "shown"), [("inf", "inf"), ("-inf", "-inf"),
                                              ("Infinity", "inf"), ("-Infinity", "-inf")],
                         ids=["inf", "minus-inf", "Infinity", "minus-Infinity"])
def test_inf_in_a_csv_is_refused_with_row_and_column(tmp_path, value, shown):
    path = _write(tmp_path, "t.csv", f"a,b\n1,2.5\n3,4\n5,{value}\n")
    with pytest.raises(DataError, match=rf"column 'b' of .* holds {shown} in row 3; remove it, "
                                        r"or pass read_table\(\.\.\., inf='missing'\)") as err:
        read_table(path)
    _one_line(err)


def test_inf_in_a_dataframe_is_refused():
    df = pd.DataFrame({"a": [1.0, np.inf, 3.0], "b": [1, 2, 3]})
    with pytest.raises(DataError, match=r"column 'a' of the DataFrame holds inf in row 2"):
        read_table(df)


def test_inf_read_as_missing_when_asked(tmp_path):
    df = read_table(_write(tmp_path, "t.csv", "a,b\n1,inf\n2,-inf\n3,4\n"), inf="missing")
    assert df["b"].isna().tolist() == [True, True, False] and str(df["b"].dtype) == "float64"
    frame = read_table(pd.DataFrame({"a": [np.inf, 1.0]}), inf="missing")
    assert frame["a"].isna().tolist() == [True, False]


def test_inf_does_not_reach_a_model_file(tmp_path):
    path = _write(tmp_path, "t.csv", "a,b\n" + "\n".join(f"{i},{i % 4}" for i in range(20))
                  + "\ninf,1\n")
    with pytest.raises(DataError, match=r"holds inf in row 21"):
        genlab.GaussianCopula(seed=0).fit(path)


@pytest.mark.parametrize("scale", [1.7e308, -1.7e308, 1e200], ids=["near-max", "near-min",
                                                                    "1e200"])
def test_values_near_the_float_maximum_are_refused_at_fit(scale):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"big": rng.uniform(0.1, 1.0, 40) * scale, "c": rng.choice(["a", "b"], 40)})
    with pytest.raises(DataError, match=r"column 'big' holds -?[0-9.]+e\+\d+, beyond the "
                                        r"±1e\+150 genlab can model; rescale it") as err:
        genlab.GaussianCopula(seed=0).fit(df)
    _one_line(err)


@pytest.mark.parametrize("family", ["copula", "gaussian", "mixture", "bayesnet"])
def test_large_values_within_the_bound_give_a_loadable_model(tmp_path, family):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"big": rng.normal(size=60) * 1e149, "c": rng.choice(["a", "b"], 60)})
    model = genlab.fit(df, family, seed=0)
    model.save(tmp_path / "m.genlab")
    out = genlab.load(tmp_path / "m.genlab").sample(20, seed=0)
    assert np.isfinite(out["big"].to_numpy()).all()


# -- ragged rows --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "line", "fields"),
    [
        ("a,b\n1,2,3\n4,5\n", 2, 3),
        ("a,b\n1,2\n4,5\n6,7,8\n", 4, 3),
        ("a,b\n1,2\n" + "3,4\n" * 50 + "5,6,7,8,9\n", 53, 5),
        ("a;b\n1;2\n3;4;5\n", 3, 3),
        ('a,b\n"x,y",2\n3,"4",5\n', 3, 3),
    ],
    ids=["first-row-longer", "later-row-longer", "far-row-much-longer", "semicolon-row-longer",
         "quoted-then-longer"],
)
def test_ragged_rows_are_refused_naming_the_line(tmp_path, text, line, fields):
    path = _write(tmp_path, "t.csv", text)
    with pytest.raises(DataError, match=rf"line {line} has {fields} fields but the header has "
                                        r"2; remove the extra delimiter") as err:
        _read_quiet(path)
    _one_line(err)


def test_shorter_rows_read_as_missing(tmp_path):
    df = read_table(_write(tmp_path, "t.csv", "a,b,c\n1,2,3\n4,5\n"))
    assert df["c"].isna().tolist() == [False, True]


# -- nested columns -----------------------------------------------------------------------------
def _parquet(tmp_path: Path, column: object) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1, 2], "n": column}), path)
    return path


@pytest.mark.parametrize(
    ("column", "shown"),
    [([{"x": 1}, {"x": 2}], "struct"), ([[1], [2, 3]], "list"),
     ("map", "map")],
    ids=["struct", "list", "map"],
)
def test_nested_parquet_columns_are_refused_by_name(tmp_path, column, shown):
    import pyarrow as pa

    if column == "map":
        column = pa.array([[("k", 1)], [("k", 2)]], type=pa.map_(pa.string(), pa.int64()))
    with pytest.raises(DataError, match=rf"column 'n' of .*t\.parquet' is nested \({shown}"
                                        r".*flatten it into plain columns") as err:
        read_table(_parquet(tmp_path, column))
    _one_line(err)


@pytest.mark.parametrize("value", [{"x": 1}, [1, 2], (1, 2), np.arange(2)],
                         ids=["dict", "list", "tuple", "ndarray"])
def test_nested_values_in_a_dataframe_are_refused(value):
    df = pd.DataFrame({"a": [1, 2], "n": pd.Series([value, value], dtype=object)})
    with pytest.raises(DataError, match=r"column 'n' of the DataFrame holds nested values"):
        read_table(df)


# -- what is not a regular file, and budgets ----------------------------------------------------
def test_fifo_is_refused(tmp_path):
    path = tmp_path / "pipe.csv"
    os.mkfifo(path)
    with pytest.raises(DataError, match=r"pipe\.csv' is not a regular file \(a device, pipe "
                                        r"or socket\)") as err:
        read_table(path)
    _one_line(err)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_devices_are_refused(device):
    with pytest.raises(DataError, match=rf"'{device}' is not a regular file"):
        read_table(device)


def test_symlink_to_a_device_is_refused(tmp_path):
    link = tmp_path / "zero.csv"
    link.symlink_to("/dev/zero")
    with pytest.raises(DataError, match=r"zero\.csv' is not a regular file"):
        read_table(link)


def test_nul_in_the_path_is_refused():
    with pytest.raises(DataError, match=r"cannot read .*; check the path"):
        read_table("a\x00b.csv")


def test_file_over_the_byte_budget_names_max_bytes(tmp_path):
    path = _write(tmp_path, "t.csv", "a,b\n" + "1,2\n" * 1000)
    with pytest.raises(DataError, match=r"t\.csv' is 3\.9 KiB, over the budget of 1000 bytes; "
                                        r"pass max_bytes=4004 to read_table \(CLI: "
                                        r"--max-bytes\)") as err:
        read_table(path, max_bytes=1000)
    _one_line(err)
    assert len(read_table(path, max_bytes=4004)) == 1000


def test_gzip_bomb_is_stopped_at_the_budget(tmp_path):
    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n" + b"1,2\n" * 1_000_000))
    assert path.stat().st_size < 100_000
    with pytest.raises(DataError, match=r"holds more than 1\.0 MiB once decompressed, over the "
                                        r"budget; pass a larger max_bytes="):
        read_table(path, max_bytes=1024**2)


def test_parquet_over_the_byte_budget(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"a": np.zeros(100_000)}).to_parquet(path)
    with pytest.raises(DataError, match=r"holds .* uncompressed, over the budget of 10\.0 KiB; "
                                        r"pass max_bytes=\d+"):
        read_table(path, max_bytes=10 * 1024)


@pytest.mark.parametrize("form", ["csv", "parquet", "dataframe"])
def test_too_many_columns_names_max_columns(tmp_path, form):
    df = pd.DataFrame(np.ones((2, 30)), columns=[f"c{i}" for i in range(30)])
    source: object = df
    if form == "csv":
        source = tmp_path / "t.csv"
        df.to_csv(source, index=False)
    elif form == "parquet":
        source = tmp_path / "t.parquet"
        df.to_parquet(source)
    with pytest.raises(DataError, match=r"has 30 columns, over the budget of 20; pass "
                                        r"max_columns=30 to read_table \(CLI: --max-columns\)"):
        read_table(source, max_columns=20)  # type: ignore[arg-type]
    assert read_table(source, max_columns=30).shape == (2, 30)  # type: ignore[arg-type]


def test_default_column_budget_is_2000(tmp_path):
    path = _write(tmp_path, "wide.csv", ",".join(f"c{i}" for i in range(2001)) + "\n"
                  + ",".join(["1"] * 2001) + "\n")
    with pytest.raises(DataError, match=r"has 2001 columns, over the budget of 2000"):
        read_table(path)


def test_bom_and_crlf_are_read(tmp_path):
    df = read_table(_write(tmp_path, "t.csv", "\ufeffa,b\r\n1,x\r\n2,y\r\n"))
    assert df.to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}
