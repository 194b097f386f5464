"""Differentially private fitting: the budget, the released codec, the families, the file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import genlab
from genlab.cli import app
from genlab.errors import ModelFileError, ParameterError, UnsupportedOperation
from genlab.privacy.budget import default_delta, epsilon_of, rho_of
from genlab.privacy.fit import dp_families

runner = CliRunner()
FAMILIES = ["bayesnet", "copula", "gaussian"]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """4,000 rows: b follows a 90 % of the time, y follows x; one unique extreme age, one
    unique category and one extreme continuous value."""
    rng = np.random.default_rng(0)
    n = 4000
    a = rng.choice(["x", "y"], n)
    x = rng.normal(size=n)
    df = pd.DataFrame({
        "age": rng.integers(20, 60, n),
        "x": np.round(x, 3),
        "y": np.round(x + rng.normal(0, 0.3, n), 3),
        "a": a,
        "b": np.where(rng.random(n) < 0.9, a, "z"),
    })
    df.loc[0, "age"] = 1234
    df.loc[1, "b"] = "UNIQUE"
    df.loc[2, "x"] = 987.654
    return df


@settings(max_examples=50, deadline=None)
@given(st.floats(0.01, 100), st.floats(1e-12, 1e-2))
def test_rho_and_epsilon_are_inverse(eps: float, delta: float) -> None:
    assert math.isclose(epsilon_of(rho_of(eps, delta), delta), eps, rel_tol=1e-9)


def test_default_delta_is_below_one_over_n() -> None:
    assert default_delta(1000) == pytest.approx(1e-4) and default_delta(1000) < 1 / 1000


@pytest.mark.parametrize("family", FAMILIES)
def test_private_codec_hides_unique_extremes_and_categories(table: pd.DataFrame,
                                                           family: str) -> None:
    plain = genlab.fit(table, family, seed=0)
    assert plain.schema_.numeric[0].max == 1234  # the plain codec copies them
    assert "UNIQUE" in plain.schema_.categorical[1].categories
    m = genlab.fit(table, family, seed=0, epsilon=1.0)
    age, x = m.schema_.numeric[0], m.schema_.numeric[1]
    assert age.max < 1234 and x.max < 987 and x.max not in table["x"].to_numpy()
    assert "UNIQUE" not in m.schema_.categorical[1].categories
    s = m.sample(3000, seed=1)
    assert s["age"].max() <= age.max and s["x"].max() <= x.max
    assert "UNIQUE" not in set(s["b"]) and set(s["b"]) <= {"x", "y", "z"}
    assert set(m.privacy_["estimated"]) == {"age", "x", "y", "a", "b"}


@pytest.mark.parametrize("family", FAMILIES)
def test_declared_metadata_is_used_and_named(table: pd.DataFrame, family: str) -> None:
    m = genlab.fit(table, family, seed=0, epsilon=2.0, bounds={"age": (18, 70)},
                   categories={"b": ["x", "y", "z", "w"]})
    assert (m.schema_.numeric[0].min, m.schema_.numeric[0].max) == (18, 70)
    assert m.schema_.categorical[1].categories == ["x", "y", "z", "w"]
    assert m.privacy_["declared"] == ["age", "b"]
    assert "metadata declared: age, b" in m.privacy_summary_
    assert m.privacy_["bounds"] == {"age": [18.0, 70.0]}


@pytest.mark.filterwarnings("ignore:.*never seen in training")  # 'z' may not be released
@pytest.mark.parametrize("family", FAMILIES)
def test_budget_recorded_in_file_and_provenance(table: pd.DataFrame, family: str,
                                                tmp_path: Path) -> None:
    m = genlab.fit(table, family, seed=0, epsilon=1.0, delta=1e-6)
    r = m.privacy_
    assert r["epsilon"] == 1.0 and r["delta"] == 1e-6
    assert r["epsilon_spent"] <= 1.0 + 1e-9
    assert sum(r["budget_split"].values()) == pytest.approx(1.0, abs=1e-3)
    assert set(r["budget_split"]) >= {"codec", "counts"}
    prov = m.sample(5, seed=0).attrs["provenance"]["privacy"]
    assert prov["epsilon"] == 1.0 and prov["delta"] == 1e-6
    # no hash of the table is released: it would let one test a guess of a row
    assert m.fingerprint_.startswith("dp-")
    assert m.fingerprint_ != genlab.fit(table, family, seed=0).fingerprint_
    loaded = genlab.load(m.save(tmp_path / "m.genlab"))
    assert loaded.privacy_ == r
    assert loaded.sample(5, seed=0).attrs["provenance"]["privacy"] == prov
    np.testing.assert_allclose(loaded.log_prob(table.iloc[3:50]), m.log_prob(table.iloc[3:50]))


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_same_private_model(table: pd.DataFrame, family: str) -> None:
    a = genlab.fit(table, family, seed=3, epsilon=1.0)
    b = genlab.fit(table, family, seed=3, epsilon=1.0)
    assert a.schema_.to_dict() == b.schema_.to_dict() and a.fingerprint_ == b.fingerprint_
    pd.testing.assert_frame_equal(a.sample(50, seed=0), b.sample(50, seed=0))


def test_private_bayesnet_keeps_strong_dependence(table: pd.DataFrame) -> None:
    m = genlab.fit(table, "bayesnet", seed=0, epsilon=10.0,
                   categories={"a": ["x", "y"], "b": ["x", "y", "z"]})
    s = m.sample(4000, seed=0)
    assert (s["a"] == s["b"]).mean() > 0.75  # 0.9 in the data, 1/3 if independent
    assert ("a", "b") in m.graph_ or ("b", "a") in m.graph_


@pytest.mark.parametrize("family", ["copula", "gaussian"])
def test_private_moments_keep_correlation(table: pd.DataFrame, family: str) -> None:
    m = genlab.fit(table, family, seed=0, epsilon=3.0, bounds={"x": (-4, 4), "y": (-4, 4)})
    s = m.sample(4000, seed=0)
    assert np.corrcoef(s["x"], s["y"])[0, 1] > 0.8  # 0.96 in the data


def test_refused_on_a_family_without_dp(table: pd.DataFrame) -> None:
    with pytest.raises(UnsupportedOperation,
                       match="families that can: autoregressive, bayesnet, copula, flow, "
                             "gan, gaussian, vae"):
        genlab.fit(table, "mixture", epsilon=1.0)
    assert dp_families() == ["autoregressive", "bayesnet", "copula", "flow", "gan", "gaussian",
                             "vae"]


@pytest.mark.parametrize(("options", "message"), [
    ({"epsilon": -1.0}, "epsilon must be a number in"),
    ({"epsilon": "one"}, "epsilon must be a number in"),
    ({"epsilon": 1.0, "delta": 2.0}, "delta must be a number in"),
    ({"epsilon": 1.0, "delta": 0.01}, "is not below 1/n"),
    ({"delta": 1e-6}, "give epsilon= too"),
    ({"epsilon": 1.0, "bounds": {"nope": (0, 1)}}, "bounds names columns not in the data"),
    ({"epsilon": 1.0, "bounds": {"age": (5, 1)}}, "low < high"),
    ({"epsilon": 1.0, "bounds": {"age": 5}}, "must be \\(low, high\\)"),
    ({"epsilon": 1.0, "bounds": {"a": (0, 1)}}, "not numeric"),
    ({"epsilon": 1.0, "categories": {"age": ["1"]}}, "not categorical"),
    ({"epsilon": 1.0, "categories": {"a": []}}, "non-empty list"),
    ({"epsilon": 1.0, "bounds": [1, 2]}, "bounds must map column names"),
    ({"epsilon": 1.0, "constraints": ["x <= y"]}, "constraints cannot be combined"),
])
def test_bad_private_fit_options(table: pd.DataFrame, options: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        genlab.fit(table, "bayesnet", seed=0, **options)


def test_too_few_rows_for_a_category_set_says_declare() -> None:
    df = pd.DataFrame({"c": [f"v{i}" for i in range(200)], "n": np.arange(200.0)})
    with pytest.raises(genlab.DataError, match="declare categories"):
        genlab.fit(df, "bayesnet", seed=0, epsilon=0.5, kinds={"c": "categorical"})


@pytest.mark.parametrize("record", [
    {"epsilon": "lots", "epsilon_spent": 1.0, "delta": 1e-6},
    {"epsilon": 1.0, "epsilon_spent": 1.0, "delta": 5.0},
    {"epsilon": 1.0, "epsilon_spent": float("inf"), "delta": 1e-6},
    {"epsilon": 1.0, "epsilon_spent": 1.0, "delta": 1e-6, "evil": "x"},
    ["not", "a", "dict"],
])
def test_hostile_privacy_record_is_one_line_error(table: pd.DataFrame, tmp_path: Path,
                                                  record: object) -> None:
    m = genlab.fit(table.head(3000), "copula", seed=0, epsilon=1.0,
                   categories={"b": ["x", "y", "z"]})
    m.privacy_ = record  # type: ignore[assignment]
    try:
        path = m.save(tmp_path / "bad.genlab")
    except (TypeError, ValueError):
        return  # not even writable as JSON: nothing to load
    with pytest.raises(ModelFileError, match="differential-privacy record") as err:
        genlab.load(path)
    assert "\n" not in str(err.value)


def test_cli_fit_with_epsilon(table: pd.DataFrame, tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    table.to_csv(data, index=False)
    out = tmp_path / "m.genlab"
    result = runner.invoke(app, ["fit", str(data), "--model", "bayesnet", "--epsilon", "1",
                                 "--bound", "age=18:70", "--categories", "b=x|y|z",
                                 "-o", str(out), "--seed", "0"])
    assert result.exit_code == 0, result.output
    assert "differential privacy: epsilon 1 spent of 1" in result.output
    assert "metadata declared: age, b" in result.output
    assert genlab.load(out).privacy_["declared"] == ["age", "b"]
    for args, message in [(["--model", "mixture", "--epsilon", "1"], "families that can"),
                          (["--epsilon", "1", "--bound", "age=18"], "takes low:high"),
                          (["--delta", "1e-6"], "give --epsilon too")]:
        result = runner.invoke(app, ["fit", str(data), "-o", str(tmp_path / "x.genlab"),
                                     *args])
        assert result.exit_code == 2 and message in result.output
        assert "Traceback" not in result.output


@pytest.mark.filterwarnings("ignore:.*looks like an identifier")
@pytest.mark.parametrize("family", FAMILIES)
def test_private_fit_keeps_kinds_dtypes_and_regenerates_ids(family: str) -> None:
    rng = np.random.default_rng(0)
    n = 5000
    df = pd.DataFrame({"x": np.round(rng.normal(size=n), 3), "k": rng.poisson(30, n),
                       "g": pd.Categorical(rng.choice(["a", "b", "c"], n)),
                       "flag": rng.random(n) < 0.3,
                       "when": pd.date_range("2020-01-01", periods=n, freq="h"),
                       "id": [f"u{i:05d}" for i in range(n)]})
    df.loc[rng.random(n) < 0.1, "x"] = np.nan
    m = genlab.fit(df, family, seed=0, epsilon=2.0,
                   bounds={"when": ("2019-12-01", "2021-01-01")})
    s = m.sample(500, seed=0)
    assert s.dtypes.to_dict() == df.dtypes.to_dict()
    assert 0.03 < s["x"].isna().mean() < 0.2  # the noisy missing rate, about 0.1
    assert not set(s["id"]) & set(df["id"])  # no id, prefix or numbering copied
    assert s["when"].min() >= pd.Timestamp("2019-12-01")
    assert m.privacy_["bounds"] == {"when": ["2019-12-01", "2021-01-01"]}
