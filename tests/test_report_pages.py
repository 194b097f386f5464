"""Tests of what the table and evaluation pages show a data scientist: the `Report` object,
outlined histograms with a zero share and log axis, top-k categories, alerts, per-pair
scores, quantiles, validity checks, sample rows, the normalised DCR densities."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import genlab
from genlab.errors import DataError, ParameterError
from genlab.report import pairs as pair_mod
from genlab.report.alerts import find_alerts
from genlab.report.diagnostics import quantiles_html, sample_rows_html, validity_checks
from genlab.report.document import Report
from genlab.report.numeric_plots import numeric_scale
from genlab.report.plots import OTHER_LABEL, TOP_K, category_shares
from genlab.report.table_stats import prepare


def _table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    gain = np.where(rng.random(n) < 0.9, 0, np.round(rng.lognormal(8, 1.5, n)))
    return pd.DataFrame({
        "x": x,
        "y": 2 * x + rng.normal(scale=0.3, size=n),
        "gain": gain.astype(np.int64),
        "group": np.where(x > 0, "high", "low"),
        "city": rng.choice([f"c{i:03d}" for i in range(80)], n),
    })


# --- the Report object ------------------------------------------------------------------------


def test_report_returns_an_object_shown_inline_and_saved(tmp_path: Path) -> None:
    real, synth = _table(), _table(seed=1)
    rep = genlab.report(real, synth, title="Inline <check>")
    assert isinstance(rep, Report) and rep.path is None and not list(tmp_path.iterdir())
    inline = rep._repr_html_()
    assert inline.startswith("<iframe srcdoc=") and "&lt;!DOCTYPE html&gt;" in inline
    assert "<script" not in inline.lower()
    with pytest.raises(TypeError, match="not been saved"):
        os.fspath(rep)
    out = rep.save(tmp_path / "sub" / "r.html")
    assert out == tmp_path / "sub" / "r.html" and out.read_text(encoding="utf-8") == rep.html
    assert os.fspath(rep) == str(out) and str(rep) == str(out)
    assert not list(out.parent.glob(".*.tmp")), "temporary file left behind"


def test_report_with_a_path_writes_at_once_like_before(tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    rep = genlab.report(_table(), _table(seed=1), target)
    assert target.exists() and Path(rep) == target  # callers that took a path still work
    assert "Alerts" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize("first", ["genlab.report.tables", "genlab.evaluate"])
def test_genlab_report_stays_callable_once_its_modules_load(first: str) -> None:
    # Importing genlab.report.* binds the package to the name `genlab.report`.
    code = (f"import {first}, genlab, pandas as pd; df = pd.DataFrame({{'x': [1.0, 2.0, 3.0]}});"
            " a = genlab.report(df, df); b = genlab.report(df, df);"
            " print(type(a).__name__, type(b).__name__)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert out.split() == ["Report", "Report"]


def test_report_save_refuses_a_non_path(tmp_path: Path) -> None:
    rep = genlab.report(_table(), _table(seed=1))
    with pytest.raises(ParameterError, match="report path must be a file path, got int"):
        rep.save(3)  # type: ignore[arg-type]


def test_refused_tables_write_nothing(tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    with pytest.raises(DataError, match="missing from synthetic"):
        genlab.report(_table(), _table().drop(columns=["x"]), target)
    assert not target.exists()


# --- column figures --------


def test_zero_heavy_long_tail_gets_a_zero_bar_and_log_axis() -> None:
    gain = _table(4000)["gain"].to_numpy(float)
    scale = numeric_scale(gain)
    assert scale.zeros_apart and scale.axis == "log"
    normal = np.random.default_rng(0).normal(size=1000)
    assert numeric_scale(normal) == type(scale)(False, "linear")
    # a long positive tail without zeros: log axis, no zero bar
    assert numeric_scale(np.random.default_rng(0).lognormal(0, 2.5, 1000)).axis == "log"


def test_high_cardinality_is_top_k_plus_other() -> None:
    rng = np.random.default_rng(0)
    weights = 1.0 / np.arange(1, 201)
    draws = rng.choice(200, 5000, p=weights / weights.sum())
    counts = {f"v{k}": int(n) for k, n in zip(*np.unique(draws, return_counts=True),
                                              strict=True)}
    labels, real, synth = category_shares(counts, counts, 50, 0)
    assert len(labels) <= TOP_K + 2 and labels[-1] == "(missing)"
    other = [lab for lab in labels if lab.startswith(OTHER_LABEL)]
    assert len(other) == 1 and int(re.search(r"\((\d+)\)", other[0]).group(1)) >= 200 - TOP_K
    assert real.sum() == pytest.approx(1.0) and synth.sum() == pytest.approx(1.0)
    # one category left over keeps its name instead of "other (1)"
    labels, _, _ = category_shares({"a": 50, "b": 49, "c": 1}, {"a": 50}, 0, 0, limit=2)
    assert labels == ["a", "b", "c"]


# --- alerts --------


def test_alerts_name_what_each_table_has() -> None:
    n = 200
    rng = np.random.default_rng(0)
    real = pd.DataFrame({
        "const": ["k"] * n,
        "key": [f"id{i}" for i in range(n)],
        "many": [f"c{i % 60}" for i in range(n)],
        "skew": rng.lognormal(0, 2, n),
        "zeros": np.where(np.arange(n) % 2 == 0, 0.0, rng.normal(size=n)),
        "a": np.where(np.arange(n) % 10 == 0, np.nan, 1.0),
        "b": np.where(np.arange(n) % 10 == 0, None, "x"),
    })
    synth = real.copy()
    synth["const"] = rng.choice(["k", "j"], n)  # lost: no longer constant
    synth["a"] = np.where(np.arange(n) % 7 == 0, np.nan, 1.0)  # pattern broken
    synth.iloc[1] = synth.iloc[0]  # a duplicate only in synthetic
    kinds = {"const": "constant", "key": "id", "many": "categorical", "skew": "continuous",
             "zeros": "continuous", "a": "continuous", "b": "categorical"}
    got = {(a.kind, a.columns): a.status for a in find_alerts(real, synth, kinds)}
    assert got[("constant", "const")] == "lost"
    assert got[("high cardinality", "many")] == "kept"
    assert got[("skewed", "skew")] == "kept" and got[("many zeros", "zeros")] == "kept"
    assert got[("missing pattern", "a & b")] == "lost"
    assert got[("duplicate rows", "all columns")] == "new"
    assert ("unique", "key") in got


def test_strongly_associated_pairs_come_from_the_matrices() -> None:
    real = _table()
    m_real = np.array([[1.0, 0.95], [0.95, 1.0]])
    m_synth = np.array([[1.0, 0.2], [0.2, 1.0]])
    found = [a for a in find_alerts(real[["x", "y"]], real[["x", "y"]], {"x": "continuous",
                                                                          "y": "continuous"},
                                    names=["x", "y"], m_real=m_real, m_synth=m_synth)
             if a.kind == "strongly associated"]
    assert [(a.columns, a.real, a.synthetic, a.status) for a in found] == [
        ("x & y", "+0.95", None, "lost")]


# --- pairs --------


def test_pairs_table_lists_the_broken_pair_first(tmp_path: Path) -> None:
    real = _table(600)
    synth = real.copy()
    synth["y"] = synth["y"].sample(frac=1.0, random_state=0).to_numpy()  # breaks x-y only
    page = genlab.report(real, synth).html
    first = re.search(r'<tr data-pair="([^"]+)">', page)
    assert first and set(first.group(1).split("|")) == {"x", "y"}
    scores = [float(v) for v in re.findall(r'class="num pair-score">([0-9.]+)<', page)]
    assert scores == sorted(scores) and scores[0] < 0.7
    assert "The worst pairs, real and synthetic" in page


def test_pair_groups_follow_labels_not_each_tables_codes() -> None:
    # The synthetic table meets its categories in another order: its codes differ.
    real = prepare(pd.Series(["a", "a", "b", "c"]), "categorical")
    synth = prepare(pd.Series(["c", "b", "a", "a", "zz", None]), "categorical")
    r, s, labels = pair_mod._groups(real, synth)
    named = [labels[k] for k in s]
    assert named == ["c", "b", "a", "a", "other", "(missing)"]
    assert [labels[k] for k in r] == ["a", "a", "b", "c"]


def test_pair_figures_draw_every_kind_of_pair() -> None:
    df = _table(300)
    cols = {c: prepare(df[c], k) for c, k in (("x", "continuous"), ("gain", "integer"),
                                              ("group", "categorical"), ("city", "categorical"))}
    for a, b in (("x", "gain"), ("group", "city"), ("x", "city")):
        uri = pair_mod.pair_figure((cols[a], cols[b]), (cols[a], cols[b]), (a, b))
        assert uri.startswith("data:image/png;base64,") and len(uri) > 1000


# --- diagnostics --------


class _Below:
    """A constraint as a family might hold it: a description and a row test."""

    def describe(self) -> str:
        return "x <= y + 10"

    def is_valid(self, df: pd.DataFrame) -> np.ndarray:
        return (df["x"] <= df["y"] + 10).to_numpy()


class _Model:
    constraints_ = [_Below(), "no test here"]


def test_validity_checks_find_what_a_consumer_would_reject() -> None:
    real = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [0.0, 1.0, 2.0, 3.0],
                         "n": [1, 2, 3, 4], "c": ["a", "b", "a", "b"],
                         "key": ["k1", "k2", "k3", "k4"]})
    synth = pd.DataFrame({"x": [0.5, 9.0, 20.0, np.nan], "y": [0.0, 1.0, 2.0, 3.0],
                          "n": [1.0, 2.5, 3.0, 4.0], "c": ["a", "zz", "a", "b"],
                          "key": ["k1", "q", "q", "r"]})
    kinds = {"x": "continuous", "y": "continuous", "n": "integer", "c": "categorical",
             "key": "id"}
    checks = {(c.check, c.column): c for c in validity_checks(real, synth, kinds, _Model())}
    assert checks[("within the real range", "x")].finding.startswith("2 of 3 values outside")
    assert checks[("within the real range", "y")].passed
    assert not checks[("whole numbers", "n")].passed
    assert "'zz'" in checks[("known categories", "c")].finding
    assert checks[("unique keys", "key")].finding == "1 repeated keys"
    assert checks[("keys not copied", "key")].finding == "1 keys copied from the real table"
    assert not checks[("no missing values", "x")].passed
    assert checks[("constraint", "x <= y + 10")].finding == "2 of 4 rows break it"  # 20, NaN
    assert checks[("constraint", "no test here")].passed is None


def test_quantiles_and_sample_rows() -> None:
    values = np.arange(101, dtype=float)
    page = quantiles_html([("v", values, values + 1000, False)])
    real_row = re.search(r'<tr class="real" data-column="v">(.*?)</tr>', page).group(1)
    cells = re.findall(r'<td class="num">([^<]+)</td>', real_row)
    assert cells == ["0", "1", "25", "50", "75", "99", "100"]
    assert "1,100" in page  # the synthetic maximum
    rows = sample_rows_html(_table(), _table(seed=1))
    assert rows.count('<th class="real">') == 5 and rows.count('<th class="synthetic">') == 5


# --- evaluation page --------


def test_evaluation_page_pairs_cards_and_dcr_densities(tmp_path: Path) -> None:
    from dataclasses import replace

    from genlab.report.evaluation import write_report

    rows = _table(600)
    train, test = rows.iloc[:400], rows.iloc[400:]
    synth = _table(400, seed=2)
    result = genlab.evaluate(train=train, test=test, synthetic=synth, target="group")
    page = result.to_html(tmp_path / "e.html").read_text(encoding="utf-8")
    assert "higher is safer" in page and "lower is better" in page
    assert "Distance-to-closest-record densities" in page
    scores = [float(v) for v in re.findall(r'class="num pair-score">([0-9.]+)<', page)]
    assert scores and scores == sorted(scores)
    # with the rows, the page adds alerts, the worst pairs drawn and the diagnostics
    from genlab.evaluate.suite import _report_data

    data = _report_data(result._details)
    bare = write_report(result.scores, replace(data, real_rows=None, synth_rows=None),
                        tmp_path / "b.html").read_text(encoding="utf-8")
    assert 'id="diagnostics"' not in bare and 'id="pairs"' in bare
    data = replace(data, real_rows=train, synth_rows=synth)
    full = write_report(result.scores, data, tmp_path / "f.html").read_text(encoding="utf-8")
    assert 'id="alerts"' in full and 'id="diagnostics"' in full
    assert full.count("<img") == bare.count("<img") + 3


def test_table_report_checks_the_models_constraints() -> None:
    pytest.importorskip("genlab.constraints")
    rng = np.random.default_rng(0)
    start = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 300, 300), unit="D")
    real = pd.DataFrame({"signup": start,
                         "last_login": start + pd.to_timedelta(rng.integers(0, 90, 300), "D"),
                         "age": rng.integers(18, 80, 300)})
    model = genlab.GaussianCopula(seed=0).fit(real, constraints=["last_login >= signup"])
    synth = model.sample(300, seed=1)
    synth.loc[:9, "last_login"] = synth.loc[:9, "signup"] - pd.Timedelta(days=3)
    page = genlab.report(real, synth, model=model).html
    found = re.findall(r"<td>constraint</td><td>([^<]*)</td><td>([^<]*)</td>", page)
    assert found == [("last_login &gt;= signup", "10 of 300 rows break it")]
