"""Constraints on table models: kept exactly in every sample by every family, saved as data,
parsed from text, and one-line errors for bad constraints (genlab.constraints)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import genlab
from benchmarks.hostile_model_files import members, resigned, write_zip
from genlab.cli.app import app
from genlab.constraints import (
    FixedCombinations,
    Inequality,
    Predicate,
    Range,
    Sum,
    parse,
    to_constraints,
)
from genlab.errors import DataError, GenlabError, ModelFileError, ParameterError
from genlab.models import registry
from genlab.models.table._constrained import MAX_DRAWS
from genlab.models.table._constraint_checks import from_dict
from tests.test_contract import PARAMS

pytestmark = pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")

CITIES = {"Paris": "France", "Lyon": "France", "Berlin": "Germany", "Munich": "Germany",
          "Rome": "Italy"}
RULES = ["last_login >= signup_date", "0 <= age <= 120", "city <-> country", "a + b == total"]


def _table(n: int = 160, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signup = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    last = signup + pd.to_timedelta(rng.gamma(2.0, 20.0, n).round(), unit="D")
    city = rng.choice(list(CITIES), n)
    a, b = rng.normal(10, 2, n).round(2), rng.gamma(2, 3, n).round(2)
    return pd.DataFrame({
        "signup_date": signup.strftime("%Y-%m-%d"), "last_login": last.strftime("%Y-%m-%d"),
        "age": rng.integers(18, 90, n), "city": city, "country": [CITIES[c] for c in city],
        "a": a, "b": b, "total": (a + b).round(2)})


def _violations(s: pd.DataFrame, pairs: set[tuple[str, str]]) -> dict[str, int]:
    """Broken rows per rule, counted independently of genlab's own checks."""
    late = pd.to_datetime(s["last_login"]) < pd.to_datetime(s["signup_date"])
    return {"inequality": int(late.sum()),
            "range": int(((s["age"] < 0) | (s["age"] > 120)).sum()),
            "fixed": int(sum((c, k) not in pairs for c, k in zip(s["city"], s["country"],
                                                                 strict=True))),
            "sum": int((~np.isclose(s["a"] + s["b"], s["total"], rtol=1e-9, atol=1e-9)).sum())}


TABLE_FAMILIES = sorted(registry.families("table"))


@pytest.mark.parametrize("family", TABLE_FAMILIES)
def test_every_family_keeps_every_constraint(family: str, tmp_path: Path) -> None:
    df = _table()
    model = registry.make_model(family, "table", seed=0, **PARAMS.get(("table", family), {}))
    model.fit(df, constraints=RULES)
    s = model.sample(2_000, seed=1)
    assert list(s.columns) == list(df.columns)
    pairs = set(zip(df["city"], df["country"], strict=True))
    assert _violations(s, pairs) == {"inequality": 0, "range": 0, "fixed": 0, "sum": 0}
    info = s.attrs["provenance"]["constraints"]
    assert info["drawn"] >= 2_000 and set(info["reparametrised"]) == {
        "last_login >= signup_date", "city <-> country", "a + b == total"}
    again = genlab.load(model.save(tmp_path / "m.genlab"))
    assert again.constraints_ is not None and again.sample(300, seed=2).equals(
        model.sample(300, seed=2))
    if model.supports_log_prob:
        np.testing.assert_allclose(again.log_prob(df.head(20)), model.log_prob(df.head(20)))


def test_inequality_is_modelled_as_a_gap_and_log_prob_is_its_density() -> None:
    df = _table()
    gap = pd.to_datetime(df["last_login"]) - pd.to_datetime(df["signup_date"])
    by_hand = df.assign(last_login=pd.Timestamp("1970-01-01") + gap)
    plain = genlab.GaussianCopula(seed=0).fit(by_hand)
    constrained = genlab.GaussianCopula(seed=0).fit(df, constraints="last_login >= signup_date")
    # the shift has Jacobian 1: the score is the family's density of (signup, gap, ...)
    np.testing.assert_allclose(constrained.log_prob(df), plain.log_prob(by_hand), rtol=1e-10)
    ranged = genlab.GaussianCopula(seed=0).fit(df, constraints="0 <= age <= 120")
    np.testing.assert_allclose(ranged.log_prob(df), genlab.GaussianCopula(seed=0).fit(
        df).log_prob(df), rtol=1e-12)


def test_rows_breaking_a_constraint_score_finite_unless_strict() -> None:
    df = _table()
    model = genlab.GaussianCopula(seed=0).fit(df, constraints=RULES)
    bad = df.head(4).copy()
    bad.loc[0, "last_login"] = "2019-01-01"
    bad.loc[1, "total"] = 999.0
    with pytest.warns(UserWarning, match=r"2 rows break constraints .*strict=True gives -inf"):
        lp = model.log_prob(bad)
    assert np.isfinite(lp).all()
    with pytest.warns(UserWarning, match="-inf"):
        strict = model.log_prob(bad, strict=True)
    assert np.isneginf(strict[:2]).all() and np.isfinite(strict[2:]).all()


def test_strict_and_numeric_inequality_with_missing_values() -> None:
    rng = np.random.default_rng(3)
    low = rng.normal(0, 1, 200).round(3)
    df = pd.DataFrame({"low": low, "high": (low + rng.gamma(2, 1, 200) + 0.001).round(3),
                       "n": rng.integers(0, 50, 200)})
    df.loc[:9, "high"] = np.nan
    model = genlab.GaussianMixture(n_components=2, seed=0).fit(
        df, constraints=[Inequality("low", "high", strict=True), "n >= 0", "n < 50"])
    s = model.sample(3_000, seed=0)
    both = s["high"].notna()
    assert (s.loc[both, "high"] > s.loc[both, "low"]).all() and s["high"].isna().any()
    assert s["n"].between(0, 49).all()


def test_predicate_is_kept_by_rejection_counted_and_not_saved(tmp_path: Path) -> None:
    df = _table()
    df["a"] = (df["a"] * 50).round() / 50  # even hundredths only
    df["total"] = (df["a"] + df["b"]).round(2)

    def even(rows: pd.DataFrame) -> Any:
        return np.round(rows["a"] * 100) % 2 == 0
    model = genlab.GaussianCopula(seed=0).fit(df, constraints=[Predicate(even), *RULES])
    with pytest.warns(UserWarning, match="rejected .* sampled rows"):
        s = model.sample(1_000, seed=0)
    assert even(s).all() and len(s) == 1_000
    info = s.attrs["provenance"]["constraints"]
    assert info["rejected"] == info["broken"]["predicate 'even'"] > 0
    assert info["drawn"] - info["rejected"] >= 1_000
    with pytest.warns(UserWarning, match="is Python code, so it is not saved"):
        path = model.save(tmp_path / "m.genlab")
    loaded = genlab.load(path)
    assert [c.describe() for c in loaded.constraints_.items] == [
        c.describe() for c in to_constraints(RULES)]


def test_rejection_gives_up_after_a_bounded_number_of_draws() -> None:
    df = _table().assign(u=np.random.default_rng(1).random(160))  # full float precision
    seen = set(df["u"])
    model = genlab.GaussianCopula(seed=0).fit(df, constraints=Predicate(
        lambda rows: rows["u"].isin(seen), name="u as in training"))
    with pytest.raises(DataError, match=rf"only \d+ of 20 rows kept the constraints after "
                                        rf"drawing 1,000 \({MAX_DRAWS} per row"):
        model.sample(20, seed=0)


def test_conditions_on_combined_columns() -> None:
    df = _table()
    model = genlab.BayesianNetwork(seed=0).fit(df, constraints=RULES)
    assert (model.sample(50, conditions={"city": "Rome"}, seed=0)["country"] == "Italy").all()
    s = model.sample(200, conditions={"country": "France"}, seed=0)
    assert set(s["city"]) <= {"Paris", "Lyon"} and (s["country"] == "France").all()
    both = model.sample(20, conditions={"city": "Lyon", "country": "France"}, seed=0)
    assert (both["city"] == "Lyon").all()
    with pytest.raises(DataError, match=r"no training row has city='Rome', country='France' "
                                        r"together.*city <-> country"):
        model.sample(5, conditions={"city": "Rome", "country": "France"})
    declared = genlab.GaussianCopula(seed=0).fit(df, conditions=["country"],
                                                 constraints=["city <-> country"])
    assert "city+country" in declared.schema_.names
    assert declared.table_schema_.names == list(df.columns)


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize(("rule", "message"), [
    ("last_login >= signup", r"names column\(s\) not in the data: \['signup'\]; columns are"),
    ("city >= age", r"compares 'city' \(categorical\) with 'age' \(integer\); an inequality "
                    r"needs two number columns or two date columns"),
    ("last_login >= age", r"compares 'last_login' \(datetime\) with 'age' \(integer\)"),
    ("age <-> city", r"needs categorical columns, but 'age' \(integer\) is not; pass "
                     r"kinds=\{'age': 'categorical'\}"),
    ("a + city == total", r"adds up 'city' \(categorical\); a sum needs number columns"),
    ("age <= '2020-01-01'", r"'age' holds numbers, so its bound must be a number"),
    ("signup_date >= 3", r"'signup_date' holds dates, so its bound must be a date"),
])
def test_constraint_on_wrong_columns_is_one_line(rule: str, message: str) -> None:
    with pytest.raises(DataError, match=message) as err:
        genlab.GaussianCopula(seed=0).fit(_table(), constraints=[rule])
    assert "\n" not in str(err.value)


def test_training_data_contradicting_a_constraint_says_how_many_rows() -> None:
    df = _table(1_000)
    df.loc[:11, "last_login"] = "2019-06-01"
    with pytest.raises(DataError, match=r"^12 of 1,000 training rows have last_login < "
                                        r"signup_date \(the constraint last_login >= "
                                        r"signup_date\); fix the data or drop the constraint$"):
        genlab.GaussianCopula(seed=0).fit(df, constraints=["last_login >= signup_date"])
    with pytest.raises(DataError, match=r"have age outside \[30, 120\]"):
        genlab.GaussianCopula(seed=0).fit(df, constraints=["30 <= age <= 120"])
    with pytest.raises(DataError, match=r"have a \+ b != total"):
        genlab.GaussianCopula(seed=0).fit(df.assign(total=df["total"] + 0.5),
                                          constraints=["a + b == total"])


@pytest.mark.parametrize(("text", "message"), [
    ("", "the constraint text is empty"),
    ("a >= ", "cannot read constraint 'a >= '"),
    ("a == b", "cannot read constraint 'a == b'"),
    ("1 < 2", "it compares two numbers"),
    ("a < b > c", "a chain goes one way"),
    ("lambda row: row.a > 0", "it looks like code; a Python rule is "
                              "genlab.constraints.Predicate, from Python only"),
    ("fixed(a, 3)", "fixed\\(...\\) takes column names"),
    ("a ! b", "unexpected '! b'"),
])
def test_unreadable_constraint_text_is_one_line(text: str, message: str) -> None:
    with pytest.raises(ParameterError, match=message) as err:
        parse(text)
    assert "\n" not in str(err.value)


def test_bad_constraint_objects() -> None:
    with pytest.raises(ParameterError, match="compares column 'a' with itself"):
        Inequality("a", "a")
    with pytest.raises(ParameterError, match="needs a low or a high bound"):
        Range("a")
    with pytest.raises(ParameterError, match="at least two different columns"):
        FixedCombinations(["a"])
    with pytest.raises(ParameterError, match="constraints must be a list"):
        to_constraints(3)


def test_text_forms() -> None:
    assert parse("last_login >= signup_date") == [Inequality("signup_date", "last_login")]
    assert parse("a < b") == [Inequality("a", "b", strict=True)]
    assert parse("0 <= age <= 120") == [Range("age", 0.0, 120.0)]
    assert parse("0 < a <= b") == [Inequality("a", "b"), Range("a", low=0.0, strict_low=True)]
    assert parse("total == a + b") == [Sum(["a", "b"], "total")]
    assert parse("fixed(city, country)") == parse("city <-> country") == [
        FixedCombinations(["city", "country"])]
    assert parse("`capital-gain` + hours per week == `x+y`") == [
        Sum(["capital-gain", "hours per week"], "x+y")]
    assert parse("signup >= '2020-01-01'") == [Range("signup", low="2020-01-01")]


_names = st.text(st.characters(codec="utf-8", exclude_characters="`\x00"), min_size=1,
                 max_size=12).filter(lambda s: s.strip() != "")
_number = st.floats(allow_nan=False, allow_infinity=False, width=64).map(float)
_constraint = st.one_of(
    st.builds(Inequality, _names, _names, st.booleans()).filter(lambda c: True),
    st.builds(Range, _names, _number, st.one_of(st.none(), _number), st.booleans(),
              st.booleans()),
    st.builds(Range, _names, st.none(), st.dates().map(str)),
    st.lists(_names, min_size=2, max_size=4, unique=True).map(FixedCombinations),
    st.lists(_names, min_size=3, max_size=4, unique=True).map(lambda ns: Sum(ns[:-1], ns[-1])),
)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_text_and_file_forms_round_trip(data: st.DataObject) -> None:
    try:
        c = data.draw(_constraint)
    except ParameterError:  # e.g. an Inequality drawn with the same two names
        return
    assert from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert parse(c.describe()) == [c]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("ab c1.-+<>=!`'\"(),:") + ["<->", "fixed(", "1e+3"]),
                max_size=16).map("".join))
def test_any_text_parses_or_is_a_one_line_parameter_error(text: str) -> None:
    try:
        out = parse(text)
    except ParameterError as err:
        assert "\n" not in str(err)
    else:
        assert out and all(parse(c.describe()) == [c] for c in out)


_json = st.recursive(st.none() | st.booleans() | st.integers() | _number | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(st.one_of(_json, st.fixed_dictionaries({"type": st.sampled_from(
    ["inequality", "range", "sum", "fixed_combinations"])}, optional={
    "low": _json, "high": _json, "strict": _json, "column": _json, "columns": _json,
    "parts": _json, "total": _json, "strict_low": _json, "strict_high": _json})))
def test_any_malformed_constraint_entry_is_a_model_file_error(value: Any) -> None:
    try:
        from_dict(value)
    except ModelFileError as err:
        assert "\n" not in str(err)


def _edit_file(src: Path, out: Path, edit: Any) -> Path:
    m = members(src)
    config = json.loads(m["config.json"])
    edit(config["codec"]["constraints"])
    return write_zip(out, [("config.json", resigned(config, m["weights.safetensors"])),
                           ("weights.safetensors", m["weights.safetensors"])])


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: c["items"].__setitem__(0, {"type": "lambda"}), "is not a known constraint"),
    (lambda c: c["items"][0].__setitem__("low", 3), "low has the wrong type"),
    (lambda c: c["items"][0].__setitem__("low", "nope"), "names column\\(s\\) not in the data"),
    (lambda c: c["combinations"].__setitem__(2, [[0, 99]]), "seen combinations must be"),
    (lambda c: c["items"].pop(), "same \\(non-zero\\) length"),
    (lambda c: c.__setitem__("version", 7), "version 1"),
    (lambda c: c["items"].pop(3) and c["combinations"].pop(3), "do not match the modelled"),
])
def test_hostile_constraint_entries_are_refused(tmp_path: Path, edit: Any, message: str) -> None:
    path = genlab.GaussianCopula(seed=0).fit(_table(), constraints=RULES).save(
        tmp_path / "m.genlab")
    bad = _edit_file(path, tmp_path / "bad.genlab", edit)
    with pytest.raises(ModelFileError, match=message) as err:
        genlab.load(bad)
    assert "\n" not in str(err.value)


def test_cli_fit_takes_constraints(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    _table().to_csv(data, index=False)
    runner = CliRunner()
    model = tmp_path / "m.genlab"
    args = ["fit", str(data), "-o", str(model), "-m", "copula", "--seed", "0"]
    result = runner.invoke(app, [*args, *sum((["--constraint", r] for r in RULES), [])])
    assert result.exit_code == 0, result.output
    out = tmp_path / "s.csv"
    assert runner.invoke(app, ["sample", str(model), "-n", "500", "-o", str(out)]).exit_code == 0
    s = pd.read_csv(out)
    pairs = set(CITIES.items())
    assert _violations(s, pairs) == {"inequality": 0, "range": 0, "fixed": 0, "sum": 0}
    side = json.loads(Path(f"{out}.provenance.json").read_text())
    assert side["constraints"]["rejected"] == 0
    for rule, message in [("lambda r: r.a > 0", "it looks like code; a Python rule"),
                          ("signup_date >= last_login", "training rows have signup_date <")]:
        bad = runner.invoke(app, [*args, "--constraint", rule])
        assert bad.exit_code == 2 and message in bad.output and "Traceback" not in bad.output
    other = runner.invoke(app, ["fit", str(data), "-o", str(tmp_path / "x.genlab"),
                                "--data-kind", "text", "--constraint", "a >= b"])
    assert other.exit_code == 2 and "constraints" in other.output


def test_every_error_is_a_genlab_error() -> None:
    for bad in (["nope >= a"], [3], "a == b"):
        with warnings.catch_warnings(), pytest.raises(GenlabError):
            genlab.GaussianCopula(seed=0).fit(_table(), constraints=bad)
    assert math.isfinite(float(genlab.GaussianCopula(seed=0).fit(
        _table(), constraints=[]).log_prob(_table().head(1))[0]))
