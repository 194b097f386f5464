"""The tabular codec: kind inference, lossless round trips, decode's guarantees, encode errors."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genlab.data.readers import read_table
from genlab.data.tabular import Encoded, TabularCodec
from genlab.errors import DataError, ParameterError
from tests.conftest import real_data

N = 40


def _fit(df: pd.DataFrame, **kw: object) -> TabularCodec:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # id columns warn; tested on their own
        return TabularCodec.fit(df, **kw)  # type: ignore[arg-type]


def _round_trip(df: pd.DataFrame, **kw: object) -> tuple[TabularCodec, pd.DataFrame]:
    codec = _fit(df, **kw)
    return codec, codec.decode(codec.encode(df), np.random.default_rng(0))


def _assert_same_column(out: pd.Series, col: pd.Series) -> None:
    assert str(out.dtype) == str(col.dtype), col.name
    np.testing.assert_array_equal(out.isna().to_numpy(), col.isna().to_numpy())
    pd.testing.assert_series_equal(out, col, check_exact=True, check_index=False)


@pytest.fixture
def table() -> pd.DataFrame:
    """One column of each kind, 40 rows, fixed seed."""
    rng = np.random.default_rng(0)
    days = pd.date_range("2020-01-01", periods=N, freq="D")
    return pd.DataFrame(
        {
            "f": np.round(rng.normal(10, 3, N), 3),
            "i": rng.integers(0, 1000, N),
            "low": rng.integers(0, 3, N),
            "s": rng.choice(["a", "b", "c"], N),
            "b": rng.random(N) < 0.5,
            "dt": days,
            "iso": days.strftime("%Y-%m-%d"),
            "id": [f"u{k:03d}" for k in range(N)],
            "const": np.full(N, 7),
        }
    )


# -- kind inference -----------------------------------------------------------------------
def test_kinds_are_inferred_for_each_column_type(table):
    with pytest.warns(UserWarning, match="'id' looks like an identifier"):
        codec = TabularCodec.fit(table)
    assert codec.kinds == {
        "f": "continuous",
        "i": "integer",
        "low": "categorical",
        "s": "categorical",
        "b": "boolean",
        "dt": "datetime",
        "iso": "datetime",
        "id": "id",
        "const": "constant",
    }
    spec = {s.name: s for s in codec.columns}
    assert spec["f"].decimals == 3
    assert spec["iso"].datetime_format == "%Y-%m-%d" and spec["dt"].datetime_resolution == "D"
    assert spec["low"].categories is not None and sorted(spec["low"].categories) == [0, 1, 2]
    assert spec["const"].categories == [7]


def test_low_cardinality_numbers_are_categorical_and_keep_their_dtype():
    df = pd.DataFrame({"n": np.tile([0, 5, 10], 10).astype(np.int32), "h": np.tile([0.5, 1.5], 15)})
    codec, out = _round_trip(df)
    assert codec.kinds == {"n": "categorical", "h": "categorical"}
    for name in df:
        _assert_same_column(out[name], df[name])


def test_unique_strings_below_id_threshold_are_categorical():
    df = pd.DataFrame({"name": [f"person {k}" for k in range(10)]})
    assert TabularCodec.fit(df).kinds == {"name": "categorical"}


def test_unique_strings_warn_and_become_ids():
    df = pd.DataFrame({"name": [f"p{k}x" for k in range(25)], "v": np.arange(25) / 4})
    with pytest.warns(UserWarning, match=r"'name' looks like an identifier \(25 unique"):
        codec = TabularCodec.fit(df)
    assert codec.kinds["name"] == "id"


def test_kinds_override_the_inference(table):
    codec = _fit(table, kinds={"id": "categorical", "low": "integer", "f": "continuous"})
    assert codec.kinds["id"] == "categorical" and codec.kinds["low"] == "integer"
    assert codec.columns[codec.names.index("id")].categories is not None


def test_unknown_kind_is_a_parameter_error(table):
    with pytest.raises(ParameterError, match="unknown kind 'float' for column 'f'; use one of"):
        TabularCodec.fit(table, kinds={"f": "float"})


def test_kinds_naming_an_unknown_column_is_a_data_error(table):
    with pytest.raises(DataError, match=r"kinds names columns not in the data: \['nope'\]"):
        TabularCodec.fit(table, kinds={"nope": "integer"})


def test_text_cannot_be_forced_numeric(table):
    with pytest.raises(DataError, match="column 's' holds text, so it cannot be integer"):
        TabularCodec.fit(table, kinds={"s": "integer"})


def test_all_missing_column_is_a_data_error():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "gone": [np.nan, np.nan, np.nan]})
    with pytest.raises(DataError, match="column 'gone' has no values"):
        TabularCodec.fit(df)


def test_one_row_table_is_a_data_error():
    with pytest.raises(DataError, match="the table has 1 row; give at least 2 rows"):
        TabularCodec.fit(pd.DataFrame({"a": [1.0], "b": ["x"]}))


def test_blank_column_name_is_a_data_error():
    with pytest.raises(DataError, match="empty name"):
        TabularCodec.fit(pd.DataFrame({" ": [1.0, 2.0, 3.5]}))


# -- round trips --------------------------------------------------------------------------
def test_round_trip_of_every_kind(table):
    codec, out = _round_trip(table)
    assert list(out.columns) == list(table.columns)
    for name in ["f", "i", "low", "s", "b", "dt", "iso"]:
        _assert_same_column(out[name], table[name])
    # ids are regenerated: fresh (never a training id) and unique; constants stay constant
    assert out["id"].is_unique and not set(out["id"]) & set(table["id"])
    assert str(out["id"].dtype) == str(table["id"].dtype)
    assert (out["const"] == 7).all() and str(out["const"].dtype) == "int64"


def test_round_trip_with_missing_values_and_nullable_dtypes():
    rng = np.random.default_rng(1)
    gap = rng.random(N) < 0.25
    gap[0] = False
    df = pd.DataFrame(
        {
            "f": np.where(gap, np.nan, np.round(rng.normal(size=N), 2)),
            "i_float": np.where(gap, np.nan, rng.integers(0, 500, N)),
            "i_nullable": pd.array(np.where(gap, None, rng.integers(0, 500, N)), dtype="Int64"),
            "s": pd.Series(rng.choice(["x", "y"], N)).where(~gap),
            "s_obj": pd.Series(np.where(gap, None, rng.choice(["x", "y"], N)), dtype=object),
            "b": pd.array(np.where(gap, None, rng.random(N) < 0.5), dtype="boolean"),
            "cat": pd.Categorical(np.where(gap, None, rng.choice(["p", "q"], N))),
            "dt": pd.Series(pd.date_range("2021-03-01", periods=N, freq="D")).where(~gap),
        }
    )
    codec, out = _round_trip(df)
    assert codec.kinds["i_float"] == "integer" and codec.kinds["b"] == "boolean"
    for name in df:
        _assert_same_column(out[name], df[name])


def test_round_trip_keeps_large_values_with_decimals():
    # a relative tolerance once rounded 673265.519 to 673265.5: decimals must be exact
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"v": np.round(rng.uniform(1e5, 1e6, 30), 3)})
    codec, out = _round_trip(df)
    assert codec.columns[0].decimals == 3
    _assert_same_column(out["v"], df["v"])


def test_float_noise_still_counts_as_few_decimals():
    # sums like 0.1 + 0.2 = 0.30000000000000004 still have one decimal
    df = pd.DataFrame({"v": [0.1 + 0.2, 1.1 * 3] + [k / 10 for k in range(5, 40)]})
    codec = TabularCodec.fit(df)
    assert codec.kinds["v"] == "continuous" and codec.columns[0].decimals == 1


@pytest.mark.parametrize(
    ("freq", "resolution"), [("D", "D"), ("37s", "s"), ("1234ms", "ms"), ("1234567us", None)]
)
def test_round_trip_of_timestamps(freq, resolution):
    # timestamps to the second once came back as 00:00:24.999999 instead of 00:00:25
    ts = pd.Series(pd.date_range("1969-12-31", periods=N, freq=freq))
    ts[3] = pd.NaT
    df = pd.DataFrame({"t": ts, "tz": pd.date_range("2020-06-01", periods=N, freq="h", tz="UTC")})
    codec, out = _round_trip(df)
    assert codec.columns[0].datetime_resolution == resolution
    for name in df:
        _assert_same_column(out[name], df[name])


def test_constant_with_missing_regenerates_missing_at_its_rate():
    df = pd.DataFrame({"k": ["on"] * 30 + [None] * 10, "v": np.arange(40) / 3})
    codec = TabularCodec.fit(df)
    assert codec.kinds["k"] == "constant" and codec.columns[0].missing_rate == 0.25
    enc = Encoded(x=np.full((4000, 1), 1.0), c=np.zeros((4000, 0), np.int64))
    out = codec.decode(enc, np.random.default_rng(0))
    assert set(out["k"].dropna()) == {"on"}
    assert abs(out["k"].isna().mean() - 0.25) < 0.03


def test_random_ids_are_unique_even_in_large_samples():
    # ids without a prefix+number pattern are random hex; a big sample must not repeat one
    df = pd.DataFrame({"who": [f"user {chr(65 + k)}x" for k in range(30)], "v": np.arange(30) / 7})
    codec = _fit(df)
    assert codec.kinds["who"] == "id" and codec.columns[0].id_prefix is None
    n = 300_000
    enc = Encoded(x=np.zeros((n, 1)), c=np.zeros((n, 0), np.int64))
    ids = codec.decode(enc, np.random.default_rng(0))["who"]
    assert ids.is_unique and ids.str.fullmatch(r"[0-9a-f]{8,}").all()


@st.composite
def mixed_tables(draw: st.DrawFn) -> pd.DataFrame:
    """Small mixed tables: decimals, ints, string categories, bools, optional missing values."""
    n = draw(st.integers(2, 30))
    cols: dict[str, object] = {}
    for k in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["float", "int", "str", "bool"]))
        with_missing = draw(st.booleans())
        gap = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))) & with_missing
        gap[0] = False  # an all-missing column is an error, tested on its own
        if kind == "float":
            v = np.array(draw(st.lists(st.integers(-10**6, 10**6), min_size=n, max_size=n)))
            col: object = np.where(gap, np.nan, v / 100)
        elif kind == "int":
            v = np.array(draw(st.lists(st.integers(-1000, 1000), min_size=n, max_size=n)))
            col = pd.array(np.where(gap, None, v), dtype="Int64") if gap.any() else v
        elif kind == "str":
            v = draw(st.lists(st.sampled_from(["red", "green", "blue"]), min_size=n, max_size=n))
            col = pd.Series(v).where(~gap)
        else:
            v = draw(st.lists(st.booleans(), min_size=n, max_size=n))
            col = pd.array(np.where(gap, None, v), dtype="boolean") if gap.any() else np.array(v)
        cols[f"{kind}_{k}"] = col
    return pd.DataFrame(cols)


@settings(max_examples=30, deadline=None)
@given(mixed_tables())
def test_round_trip_property(df):
    codec, out = _round_trip(df)
    assert list(out.columns) == list(df.columns)
    for s in codec.columns:
        if s.kind == "constant":  # regenerated: the constant, missing at the training rate
            assert set(out[s.name].dropna()) <= set(df[s.name].dropna())
            assert out[s.name].notna().all() or s.missing_rate > 0
            assert str(out[s.name].dtype) == str(df[s.name].dtype)
        else:
            assert s.kind != "id"
            _assert_same_column(out[s.name], df[s.name])


@settings(max_examples=30, deadline=None)
@given(mixed_tables())
def test_codec_spec_survives_json(df):
    codec = _fit(df)
    again = TabularCodec.from_dict(json.loads(json.dumps(codec.to_dict())))
    assert again.to_dict() == codec.to_dict()
    a, b = codec.encode(df), again.encode(df)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.c, b.c)


def test_from_dict_rejects_unknown_keys_and_kinds(table):
    d = _fit(table).to_dict()
    d["columns"][0]["colour"] = "red"
    with pytest.raises(DataError, match=r"unknown keys \['colour'\]"):
        TabularCodec.from_dict(d)
    d["columns"][0].pop("colour")
    d["columns"][0]["kind"] = "fancy"
    with pytest.raises(DataError, match="unknown kind 'fancy'"):
        TabularCodec.from_dict(d)
    with pytest.raises(DataError, match="codec spec is malformed"):
        TabularCodec.from_dict({})


# -- decode -------------------------------------------------------------------------------
def test_decode_clips_rounds_and_keeps_datetimes():
    df = pd.DataFrame(
        {
            "f": 1.25 + np.arange(N) * 0.25,
            "i": np.arange(100, 100 + 3 * N, 3),
            "d": pd.date_range("2022-01-01", periods=N, freq="D"),
        }
    )
    codec = TabularCodec.fit(df)
    assert codec.kinds == {"f": "continuous", "i": "integer", "d": "datetime"}
    day0 = codec.numeric[2].min
    assert day0 is not None
    x = np.array([[-50.0, 0.0, day0 - 400], [1e6, 150.6, day0 + 3.4], [5.123456, 1e9, day0 + 1e5]])
    out = codec.decode(Encoded(x=x, c=np.zeros((3, 0), np.int64)), np.random.default_rng(0))
    assert out["f"].tolist() == [1.25, 11.0, 5.12]  # clipped, then rounded to 2 decimals
    assert out["i"].tolist() == [100, 151, df["i"].max()] and str(out["i"].dtype) == "int64"
    assert str(out["d"].dtype) == str(df["d"].dtype)
    assert out["d"].tolist() == [df["d"].min(), pd.Timestamp("2022-01-04"), df["d"].max()]


def test_decode_maps_nan_to_missing_in_numeric_columns():
    df = pd.DataFrame({"i": np.arange(N) * 7})
    codec = TabularCodec.fit(df)
    x = np.array([[7.0], [np.nan]])
    out = codec.decode(Encoded(x=x, c=np.zeros((2, 0), np.int64)), np.random.default_rng(0))
    assert str(out["i"].dtype) == "Int64" and out["i"].isna().tolist() == [False, True]


def test_decode_never_emits_unseen_categories():
    df = pd.DataFrame(
        {
            "with_gap": ["a", "b", None, "a"] * 5,
            "full": np.array([3, 4, 3, 4] * 5, dtype=np.int64),
            "flag": [True, True, False, True] * 5,
        }
    )
    codec = TabularCodec.fit(df)
    assert codec.n_codes() == [3, 2, 2]  # the column with missing values has a missing code
    c = np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2], [-1, -1, -1], [7, 9, 5]], dtype=np.int64)
    out = codec.decode(Encoded(x=np.zeros((5, 0)), c=c), np.random.default_rng(0))
    # out-of-range codes: missing where the column had missing values, else its most
    # frequent category, so dtypes and category sets stay those of the training table
    assert out["with_gap"].tolist()[:2] == ["a", "b"]
    assert out["with_gap"].isna().tolist() == [False, False, True, True, True]
    assert out["full"].tolist() == [3, 4, 3, 3, 3] and str(out["full"].dtype) == "int64"
    assert out["flag"].tolist() == [True, False, True, True, True]
    assert str(out["flag"].dtype) == "bool"


# -- encode -------------------------------------------------------------------------------
def test_encode_layout_and_unseen_category(table):
    codec = _fit(table)
    enc = codec.encode(table)
    assert enc.x.dtype == np.float64 and enc.c.dtype == np.int64
    assert enc.x.shape == (N, 4) and enc.c.shape == (N, 3)  # f, i, dt, iso | low, s, b
    new = table.head(3).copy()
    new.loc[0, "s"] = "never seen"
    new.loc[1, "low"] = 99
    enc = codec.encode(new)
    j_s, j_low = codec.categorical_index("s"), codec.categorical_index("low")
    assert enc.c[0, j_s] == -1 and enc.c[1, j_low] == -1 and enc.c[2, j_s] >= 0


def test_encode_accepts_any_column_order(table):
    codec = _fit(table)
    a, b = codec.encode(table), codec.encode(table[table.columns[::-1]])
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.c, b.c)


def test_encode_names_missing_and_extra_columns(table):
    codec = _fit(table)
    bad = table.drop(columns=["f"]).assign(zz=1)
    with pytest.raises(DataError, match=r"missing columns \['f'\]; unexpected columns \['zz'\]"):
        codec.encode(bad)


def test_encode_rejects_text_in_a_numeric_column(table):
    codec = _fit(table)
    bad = table.astype({"f": object})
    bad.loc[5, "f"] = "12,5"
    with pytest.raises(DataError, match=r"column 'f' has a value that is not a number: '12,5'"):
        codec.encode(bad)


def test_encode_rejects_a_bad_date(table):
    codec = _fit(table)
    bad = table.copy()
    bad.loc[2, "iso"] = "2020-13-45"
    with pytest.raises(DataError, match=r"'iso' has a value that is not a date: '2020-13-45'"):
        codec.encode(bad)


def test_code_of_explains_unseen_values(table):
    codec = _fit(table)
    j = codec.categorical_index("s")
    row = int(np.flatnonzero(table["s"] == "a")[0])
    assert codec.code_of(j, "a") == codec.encode(table).c[row, j]
    with pytest.raises(DataError, match="value 'zzz' was never seen in column 's'"):
        codec.code_of(j, "zzz")
    with pytest.raises(DataError, match="cannot condition on column 'f': it is continuous"):
        codec.categorical_index("f")


# -- real data ----------------------------------------------------------------------------
def test_adult_kinds_and_missing_rates():
    df = read_table(real_data("adult", "adult.csv"))
    codec = TabularCodec.fit(df)
    kinds = codec.kinds
    for name in ["age", "fnlwgt", "capital-gain", "capital-loss", "hours-per-week"]:
        assert kinds[name] == "integer", name
    assert kinds["education-num"] == "categorical"
    edu = codec.columns[codec.names.index("education-num")]
    assert edu.categories is not None and sorted(edu.categories) == list(range(1, 17))
    for name in ["workclass", "education", "marital-status", "occupation", "relationship",
                 "race", "sex", "native-country", "income"]:
        assert kinds[name] == "categorical", name
    spec = {s.name: s for s in codec.columns}
    for name, count in [("workclass", 1836), ("occupation", 1843), ("native-country", 583)]:
        assert spec[name].missing_rate == pytest.approx(count / len(df))
        assert spec[name].missing_rate == df[name].isna().mean()
    assert spec["age"].missing_rate == 0.0
    assert sorted(spec["income"].categories or []) == ["<=50K", ">50K"]


# -- ISO timestamps with an offset ----------------------------------------------------------
_UTC = pd.date_range("2024-03-30", periods=N, freq="97min", tz="UTC")


@pytest.mark.parametrize(
    ("values", "fmt"),
    [
        (_UTC.strftime("%Y-%m-%dT%H:%M:%SZ"), "%Y-%m-%dT%H:%M:%SZ"),
        ((_UTC + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+01:00"),
         "%Y-%m-%dT%H:%M:%S+01:00"),
        ((_UTC - pd.Timedelta(minutes=330)).strftime("%Y-%m-%d %H:%M:%S-0530"),
         "%Y-%m-%d %H:%M:%S-0530"),
        (_UTC.strftime("%Y-%m-%dT%H:%M:%S.250Z"), "%Y-%m-%dT%H:%M:%S.%fZ"),
        (_UTC.strftime("%Y-%m-%dT%H:%MZ"), "%Y-%m-%dT%H:%MZ"),
    ],
    ids=["zulu", "plus-01:00", "minus-0530-space", "milliseconds-zulu", "minutes-zulu"],
)
def test_offset_timestamps_are_datetimes_written_back_in_the_same_form(values, fmt):
    df = pd.DataFrame({"t": list(values), "x": np.arange(N, dtype=float) / 4})
    codec, out = _round_trip(df)
    spec = codec.columns[0]
    assert spec.kind == "datetime" and spec.datetime_format == fmt
    assert out["t"].tolist() == df["t"].tolist()


def test_mixed_offsets_keep_the_instants_in_the_common_offset():
    paris = _UTC.tz_convert("Europe/Paris")  # crosses the switch to summer time
    text = [t.isoformat() for t in paris]
    assert {s[-6:] for s in text} == {"+01:00", "+02:00"}
    df = pd.DataFrame({"t": text, "x": np.arange(N, dtype=float)})
    _, out = _round_trip(df)
    back = pd.to_datetime(out["t"], format="ISO8601", utc=True)
    assert (back == pd.Series(_UTC)).all()
    common = pd.Series([s[-6:] for s in text]).mode().iloc[0]
    assert out["t"].str.endswith(common).all()


def test_timezone_aware_dtype_round_trips():
    df = pd.DataFrame({"t": _UTC.tz_convert("Europe/Paris"), "x": np.arange(N, dtype=float)})
    codec, out = _round_trip(df)
    assert codec.kinds["t"] == "datetime"
    _assert_same_column(out["t"], df["t"])


def test_offset_timestamps_survive_a_model_and_a_csv(tmp_path):
    import genlab
    from genlab.data.readers import write_table

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"z": _UTC.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "p": (_UTC + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+01:00"),
                       "x": rng.normal(size=N)})
    path = write_table(df, tmp_path / "t.csv")
    model = genlab.GaussianCopula(seed=0).fit(path)
    assert model.schema_.kinds == {"z": "datetime", "p": "datetime", "x": "continuous"}
    samples = model.sample(50, seed=0)
    assert samples["z"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    assert samples["p"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+01:00").all()
    z = pd.to_datetime(samples["z"], utc=True)
    assert z.min() >= _UTC.min() and z.max() <= _UTC.max()
    model.save(tmp_path / "m.genlab")
    again = genlab.load(tmp_path / "m.genlab").sample(50, seed=0)
    pd.testing.assert_frame_equal(again, samples)
    write_table(samples, tmp_path / "s.csv")
    assert read_table(tmp_path / "s.csv")["z"].tolist() == samples["z"].tolist()
