"""Tests of genlab.evaluate: hand-computed metrics, sanity cases, bad input, report, CLI, Adult."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from genlab.errors import DataError, ParameterError
from genlab.evaluate import EvaluationResult, evaluate, rebalanced_sample
from genlab.evaluate import fidelity as F
from tests.test_report import _REMOTE, assert_renders_in_chromium

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _population(n: int, seed: int) -> pd.DataFrame:
    """Correlated numerics, categories tied to them, a binary target and two sensitive columns."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=n, p=[0.4, 0.6])
    age = np.round(rng.normal(40, 10, n)).astype(np.int64)
    hours = np.round(0.8 * (age - 40) + rng.normal(40, 5, n), 1)
    group = np.where(hours > 45, "high", np.where(hours < 35, "low", "mid"))
    score = 0.08 * (age - 40) + 0.1 * (hours - 40) + (sex == "M") * 0.8 + rng.normal(0, 1, n)
    df = pd.DataFrame({
        "age": age,
        "hours": hours,
        "group": pd.Series(group, dtype=object),
        "sex": sex,
        "region": rng.choice(["n", "s", "e", "w"], size=n),
        "income": np.where(score > 0.5, ">50K", "<=50K"),
    })
    df.loc[rng.random(n) < 0.05, "region"] = None
    return df


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return _population(400, 0)


@pytest.fixture(scope="module")
def test() -> pd.DataFrame:
    return _population(300, 1)


@pytest.fixture(scope="module")
def copy_result(train, test) -> EvaluationResult:
    return evaluate(train=train, test=test, synthetic=train.copy(), target="income",
                    sensitive=["sex"])


def _shuffled(df: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: df[c].to_numpy()[rng.permutation(len(df))] for c in df})


def _noise(df: pd.DataFrame, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = {}
    for c in df:
        if pd.api.types.is_numeric_dtype(df[c]):
            out[c] = rng.normal(0.0, 1.0, len(df))
        else:
            cats = df[c].dropna().unique()
            out[c] = rng.choice(cats, size=len(df))
    return pd.DataFrame(out)


# --- metrics against hand-computed values ---------------------------------------------------


def test_ks_and_tv_complement_by_hand() -> None:
    real = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    synth = np.array([1.0, 2.0, 3.0, 5.0])
    # ECDFs differ most at 4: 1.0 against 0.75; the missing value is left out.
    assert F.ks_complement(real, synth) == pytest.approx(0.75)
    r = np.array(["a", "a", "b", "c", None], dtype=object)
    s = np.array(["a", "b", "b", "b"], dtype=object)
    # shares a .5/.25, b .25/.75, c .25/0 -> TVD 0.5
    assert F.tv_complement(r, s) == pytest.approx(0.5)
    assert F.tv_complement(r, r) == 1.0


def test_pair_metrics_by_hand() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    score, r_real, r_synth = F.correlation_similarity((x, 2 * x), (x, -x))
    assert (score, r_real, r_synth) == pytest.approx((0.0, 1.0, -1.0))
    score, _, _ = F.correlation_similarity((x, 2 * x), (x, 3 * x + 1))
    assert score == pytest.approx(1.0)
    a, b = np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1])
    sa, sb = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    # joint shares (0,0) .5/.25, (1,1) .5/.25, (0,1) 0/.25, (1,0) 0/.25 -> TVD 0.5
    score, v_real, v_synth = F.contingency_similarity((a, b), (sa, sb))
    assert score == pytest.approx(0.5)
    assert v_real == pytest.approx(1.0) and v_synth == pytest.approx(0.0)


def test_range_coverage_and_mixed_pair_binning_by_hand() -> None:
    assert F._range_coverage(np.array([0.0, 10.0]), np.array([2.0, 12.0])) == pytest.approx(0.8)
    # Ten equal-width bins over the table's own range; the maximum and NaN share the last code.
    codes = F._digitize(np.array([0.0, 0.5, 1.0, 9.99, 10.0, np.nan]))
    assert codes.tolist() == [1, 1, 2, 10, 11, 11]


# --- sanity cases ---------------------------------------------------------------------------


def test_copy_of_train_is_faithful_and_high_risk(copy_result) -> None:
    s = copy_result.scores
    fid = s["fidelity"]
    assert fid["column_shapes"] == pytest.approx(1.0)
    assert fid["column_pair_trends"] == pytest.approx(1.0)
    assert fid["quality"] == pytest.approx(1.0) and fid["coverage"] == pytest.approx(1.0)
    assert fid["detection"]["auc"] < 0.65
    assert s["privacy"]["verdict"] == "high risk"
    assert s["privacy"]["exact_copy_share"] == 1.0 and s["privacy"]["dcr_ratio"] == 0.0
    assert s["privacy"]["membership_auc"] > 0.9
    assert s["summary"]["privacy_risk"]["verdict"] == "high risk"
    assert abs(s["utility"]["gap"]) < 1e-9
    assert s["utility"]["importance_rank_agreement"] == pytest.approx(1.0)
    assert s["bias"]["flags"] == [] and s["bias"]["columns"]["sex"]["amplified"] is False


def test_shuffled_columns_keep_shapes_but_lose_pair_trends(train, test, copy_result) -> None:
    s = evaluate(train=train, test=test, synthetic=_shuffled(train), target="income").scores
    fid = s["fidelity"]
    assert fid["column_shapes"] == pytest.approx(1.0)
    assert fid["column_pair_trends"] < copy_result.scores["fidelity"]["column_pair_trends"] - 0.05
    assert fid["column_pair_trends_sdmetrics"] < 0.8  # the strong pairs fall apart
    assert fid["detection"]["auc"] > 0.7
    assert s["utility"]["gap"] > 0.1


def test_random_noise_scores_poorly_everywhere(train, test) -> None:
    s = evaluate(train=train, test=test, synthetic=_noise(train), target="income",
                 sensitive=["sex"]).scores
    fid = s["fidelity"]
    assert fid["column_shapes"] < 0.7 and fid["quality"] < 0.75
    assert fid["columns"]["age"]["shape"] < 0.05 and fid["columns"]["hours"]["coverage"] < 0.2
    assert fid["detection"]["auc"] > 0.95
    assert s["summary"]["quality"]["verdict"] == "poor"
    gb = s["utility"]["models"]["gradient_boosting"]
    assert abs(gb["synthetic"]["roc_auc"] - 0.5) < 0.1 and s["utility"]["verdict"] == "poor"
    assert s["bias"]["flags"]  # group target rates are lost
    assert s["privacy"]["verdict"] == "low risk"  # noise copies nobody


# --- targets, JSON, no target ---------------------------------------------------------------


def test_scores_are_plain_json_with_every_score(copy_result, tmp_path) -> None:
    text = copy_result.to_json(tmp_path / "s.json")
    back = json.loads(text)
    assert back == json.loads((tmp_path / "s.json").read_text()) == copy_result.scores
    assert list(back) == ["summary", "fidelity", "utility", "privacy", "bias", "meta"]
    assert set(back["summary"]) == {"quality", "utility_gap", "privacy_risk", "bias"}
    for key in ("column_shapes", "column_pair_trends", "column_pair_trends_sdmetrics",
                "coverage", "missing_similarity", "detection", "columns", "pairs"):
        assert key in back["fidelity"]
    assert back["fidelity"]["n_pairs"] == 15 and len(back["fidelity"]["columns"]) == 6
    for model in ("logistic_regression", "gradient_boosting"):
        assert set(back["utility"]["models"][model]["real"]) == {"accuracy", "f1", "roc_auc"}
    for key in ("dcr_ratio", "nndr_synthetic_median", "exact_copy_share", "membership_auc"):
        assert key in back["privacy"]
    assert "fix" in back["bias"] and "rebalanced_sample" in back["bias"]["fix"]


def test_regression_and_multiclass_targets(train, test) -> None:
    synth = _population(400, 7)
    reg = evaluate(train=train, test=test, synthetic=synth, target="hours").scores["utility"]
    assert reg["task"] == "regression" and reg["primary_metric"] == "r2"
    assert set(reg["models"]["gradient_boosting"]["real"]) == {"r2", "mae"}
    multi = evaluate(train=train, test=test, synthetic=synth, target="group",
                     sensitive="sex,region").scores
    u = multi["utility"]
    assert u["task"] == "classification" and "positive_class" not in u
    assert u["models"]["logistic_regression"]["synthetic"]["roc_auc"] > 0.8
    assert set(multi["bias"]["columns"]) == {"sex", "region"}


def test_no_target_skips_utility_and_synthetic_with_one_class(train, test) -> None:
    s = evaluate(train=train, test=test, synthetic=train).scores
    assert s["utility"] is None and s["summary"]["utility_gap"]["verdict"] == "not measured"
    assert s["bias"]["verdict"] == "not measured"
    one_class = train.assign(income="<=50K")
    u = evaluate(train=train, test=test, synthetic=one_class, target="income").scores["utility"]
    assert u["models"]["gradient_boosting"]["synthetic"]["roc_auc"] == pytest.approx(0.5)


def test_degenerate_columns_do_not_crash(tmp_path) -> None:
    def table(n: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        return pd.DataFrame({
            "const": ["k"] * n,
            "one": np.ones(n),
            "when": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 99, n), "D"),
            "flag": rng.random(n) < 0.3,
            "ident": [f"id-{seed}-{i}" for i in range(n)],
            "x": rng.normal(size=n),
            "nullable": pd.array(rng.integers(0, 3, n), dtype="Int64"),
            "cat": pd.Categorical(rng.choice(["u", "v"], n)),
        })

    synth = table(150, 2)
    synth["x"] = np.nan  # a column the generator never fills
    synth["cat"] = pd.Categorical([None] * 150, categories=["u", "v"])
    result = evaluate(train=table(200, 0), test=table(100, 1), synthetic=synth, target="flag",
                      sensitive=["cat", "x"], report=tmp_path / "r.html")
    text = result.to_json()
    assert "NaN" not in text and json.loads(text)["fidelity"]["columns"]["x"]["shape"] is None
    assert result.scores["fidelity"]["columns"]["x"]["missing_synthetic"] == 1.0
    assert any("'u' is absent" in f for f in result.scores["bias"]["flags"])
    assert (tmp_path / "r.html").exists()


# --- bad input ------------------------------------------------------------------------------


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def test_bad_input_gives_one_line_errors(train, test, tmp_path) -> None:
    with pytest.raises(DataError, match="columns differ.*missing \\['region'\\]") as err:
        evaluate(train=train, test=test, synthetic=train.drop(columns=["region"]))
    _one_line(err)
    with pytest.raises(DataError, match="'income' is missing from the test table") as err:
        evaluate(train=train, test=test.drop(columns=["income"]), synthetic=train,
                 target="income")
    _one_line(err)
    with pytest.raises(DataError, match="in none of the tables") as err:
        evaluate(train=train, test=test, synthetic=train, target="salary")
    with pytest.raises(DataError, match="synthetic table is empty") as err:
        evaluate(train=train, test=test, synthetic=train.iloc[:0])
    _one_line(err)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="^test table: file .* is empty") as err:
        evaluate(train=train, test=empty, synthetic=train)
    _one_line(err)
    with pytest.raises(DataError, match="sensitive column 'gender' does not exist") as err:
        evaluate(train=train, test=test, synthetic=train, sensitive=["sex", "gender"])
    _one_line(err)
    with pytest.raises(ParameterError, match="also the target"):
        evaluate(train=train, test=test, synthetic=train, target="sex", sensitive=["sex"])
    with pytest.raises(DataError, match="at least 10"):
        evaluate(train=train, test=test.iloc[:3], synthetic=train)


# --- report ---------------------------------------------------------------------------------


def test_report_is_self_contained_with_all_sections(copy_result, tmp_path) -> None:
    out = copy_result.to_html(tmp_path / "sub" / "eval.html", title="Eval <check> & co")
    text = out.read_text(encoding="utf-8")
    for ident in ("summary", "fidelity", "utility", "privacy", "bias"):
        assert f'<section id="{ident}">' in text
    assert text.index('id="summary"') < text.index('id="fidelity"')
    for card in ("card-quality", "card-utility", "card-privacy", "card-bias"):
        assert f'id="{card}"' in text
    assert "high risk" in text and "Eval &lt;check&gt; &amp; co" in text
    # 6 columns + 3 matrices + projection + importances + DCR + 2 bias bars + 3 worst pairs
    assert len(re.findall(r'<img src="data:image/png;base64,', text)) == 6 + 3 + 1 + 1 + 1 + 2 + 3
    assert 'id="validity"' in text or "validity" in text.lower()  # the diagnostics section
    assert not _REMOTE.search(text) and "<script" not in text.lower()
    assert not list(out.parent.glob(".*.tmp"))


def test_evaluate_writes_report_when_asked(train, test, tmp_path) -> None:
    out = tmp_path / "r.html"
    result = evaluate(train=train, test=test, synthetic=_shuffled(train), report=out)
    assert out.exists() and "report" in result.scores["meta"]["seconds"]


@pytest.mark.browser
def test_report_renders_in_chromium(copy_result, tmp_path) -> None:
    out = copy_result.to_html(tmp_path / "eval.html")
    assert assert_renders_in_chromium(out, user_data_dir=tmp_path / "profile") == 17


# --- the fix: conditional sampling ----------------------------------------------------------


def test_rebalanced_sample_restores_group_and_target_shares(train) -> None:
    import genlab

    model = genlab.GaussianCopula(seed=0).fit(train)
    equal = rebalanced_sample(model, 201, "sex", seed=0)
    assert len(equal) == 201 and sorted(equal["sex"].value_counts()) == [100, 101]
    cells = rebalanced_sample(model, 400, ["sex", "income"], reference=train, seed=1)
    want = train.groupby(["sex", "income"]).size()
    got = cells.groupby(["sex", "income"]).size()
    assert (got - want).abs().max() <= 1
    with pytest.raises(ParameterError, match="not a category"):
        rebalanced_sample(model, 10, "sex", {"X": 1.0})


def test_the_fix_the_report_prints_runs_as_printed(train, test, tmp_path) -> None:
    import html as html_lib

    import genlab

    model = genlab.GaussianCopula(seed=0).fit(train)
    result = evaluate(train=train, test=test, synthetic=model.sample(400, seed=1),
                      target="income", sensitive=["sex"], report=tmp_path / "r.html")
    fix = result.scores["bias"]["fix"]
    page = html_lib.unescape((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert fix in page
    call = re.search(r"genlab\.evaluate\.rebalanced_sample\(.*?\)(?= draws)", fix)
    assert call, fix
    # The printed names: the fitted model, the number of rows, the real training table.
    rows = eval(call.group(0), {"genlab": genlab, "model": model, "n": 200, "train": train})
    assert len(rows) == 200 and list(rows.columns) == list(train.columns)
    want = train.groupby(["sex", "income"]).size() / len(train) * 200
    assert (rows.groupby(["sex", "income"]).size() - want).abs().max() <= 1


def test_report_module_does_not_import_the_suite() -> None:
    import subprocess
    import sys

    code = ("import sys, genlab.report.evaluation; "
            "assert not any(m.startswith('genlab.evaluate') for m in sys.modules), 'cycle'")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- command line ---------------------------------------------------------------------------


@pytest.fixture
def cli_app() -> typer.Typer:
    from genlab.cli.evaluate import register

    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app."""

    register(app)
    return app


def test_cli_writes_report_and_json(cli_app, train, test, tmp_path) -> None:
    paths = {}
    for name, df in (("train", train), ("test", test), ("synthetic", _shuffled(train))):
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    args = ["evaluate", "--train", paths["train"], "--test", paths["test"], "--synthetic",
            paths["synthetic"], "--target", "income", "--sensitive", "sex,region"]
    runner = CliRunner()
    res = runner.invoke(cli_app, [str(a) for a in [*args, "-o", tmp_path / "r.html"]])
    assert res.exit_code == 0, res.output
    assert "privacy_risk" in res.output and (tmp_path / "r.html").exists()
    res = runner.invoke(cli_app, [str(a) for a in [*args, "--json"]])
    assert res.exit_code == 0, res.output
    scores = json.loads(res.stdout)
    assert scores["meta"]["sensitive"] == ["sex", "region"]
    res = runner.invoke(cli_app, [str(a) for a in [*args[:-1], "sex,nope"]])
    assert res.exit_code == 2
    assert "error:" in res.output and "'nope' does not exist" in res.output
    assert len(res.output.strip().splitlines()) == 1


# --- real data ------------------------------------------------------------------------------


@pytest.mark.slow
def test_adult_copula_evaluation_is_complete(tmp_path) -> None:
    adult = DATA / "adult"
    if not (adult / "adult.csv").exists():
        pytest.skip(f"real dataset {adult} is not present (it lives in ../shared/data)")
    import genlab

    train = pd.read_csv(adult / "adult.csv", skipinitialspace=True)
    synth = genlab.GaussianCopula(seed=0).fit(train).sample(len(train), seed=0)
    synth.to_csv(tmp_path / "synth.csv", index=False)
    # no wall-clock assertion: how long this takes depends on the machine and its load
    # (timings belong in benchmarks); each stage's time is only recorded
    result = evaluate(train=adult / "adult.csv", test=adult / "adult_test.csv",
                      synthetic=tmp_path / "synth.csv", target="income",
                      sensitive=["sex", "race"], report=tmp_path / "adult.html")
    seconds = result.scores["meta"]["seconds"]
    assert set(seconds) == {"fidelity", "utility", "privacy", "bias", "report"}
    assert all(isinstance(v, float) for v in seconds.values())
    s = result.scores
    assert s["fidelity"]["column_shapes"] > 0.95 and 0.5 < s["fidelity"]["detection"]["auc"] < 1
    assert s["utility"]["positive_class"] == ">50K"
    assert 0.5 < s["utility"]["models"]["gradient_boosting"]["synthetic"]["roc_auc"] <= 1
    assert s["privacy"]["verdict"] in ("low risk", "moderate risk")
    assert set(s["bias"]["columns"]) == {"sex", "race"}
    json.dumps(s, allow_nan=False)
    assert_renders_in_chromium(tmp_path / "adult.html", user_data_dir=tmp_path / "profile")
