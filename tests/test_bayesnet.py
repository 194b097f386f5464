"""Bayesian network family: structure, exact probabilities, exact conditioning, persistence."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import genlab
from genlab.models.table import bayesnet
from genlab.models.table.bayesnet import BayesianNetwork, quantile_edges

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def chain(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """A -> B -> C (each copies its parent 80% of the time), D independent."""
    rng = np.random.default_rng(seed)
    a = rng.choice(["a0", "a1", "a2"], n, p=[0.5, 0.3, 0.2])
    b = np.where(rng.random(n) < 0.8, np.char.replace(a, "a", "b"), rng.choice(["b0", "b1"], n))
    c = np.where(rng.random(n) < 0.8, np.char.replace(b, "b", "c"), rng.choice(["c0", "c2"], n))
    d = rng.choice(["d0", "d1"], n)
    return pd.DataFrame({"A": a, "B": b, "C": c, "D": d})


def exact_table(model: BayesianNetwork, df: pd.DataFrame) -> pd.DataFrame:
    """Every combination of the (all-categorical) columns' values with its probability."""
    levels = [list(df[c].dropna().unique()) + ([None] if df[c].isna().any() else [])
              for c in df.columns]
    grid = pd.DataFrame(list(itertools.product(*levels)), columns=df.columns)
    return grid.assign(p=np.exp(model.log_prob(grid)))


@pytest.mark.parametrize("structure", ["hillclimb", "chowliu"])
def test_recovers_chain_structure(structure):
    m = BayesianNetwork(structure=structure, seed=0).fit(chain())
    skeleton = {frozenset(e) for e in m.graph_}
    assert skeleton == {frozenset("AB"), frozenset("BC")}


def test_max_parents_zero_is_independent_and_chowliu_is_a_forest():
    df = chain()
    assert BayesianNetwork(max_parents=0).fit(df).graph_ == []
    tree = BayesianNetwork(structure="chowliu").fit(df)
    assert all(len(p) <= 1 for p in tree.parents_)


def test_log_prob_sums_to_one_over_all_combinations():
    df = chain(400)
    df.loc[df.index[::17], "D"] = None  # missing is one more value of D
    m = BayesianNetwork(seed=0).fit(df)
    table = exact_table(m, df)
    assert len(table) == 3 * 3 * 3 * 3 and (table["p"] > 0).all()
    assert table["p"].sum() == pytest.approx(1.0, abs=1e-12)


def test_conditional_sampling_is_exact():
    df = chain(2000)
    m = BayesianNetwork(seed=0).fit(df)
    table = exact_table(m, df)
    # evidence on a leaf: its ancestors come from their posterior
    for evidence in ({"C": "c2"}, {"C": "c0", "D": "d1"}):
        keep = np.logical_and.reduce([table[k] == v for k, v in evidence.items()])
        want = table[keep].groupby("A")["p"].sum() / table.loc[keep, "p"].sum()
        out = m.sample(20_000, conditions=evidence, seed=1)
        for k, v in evidence.items():
            assert (out[k] == v).all()
        got = out["A"].value_counts(normalize=True).reindex(want.index, fill_value=0.0)
        np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), atol=0.015)


def test_rare_evidence_returns_requested_rows():
    df = chain(2000)
    df.loc[0, ["A", "D"]] = ["a9", "d9"]  # seen once, together
    m = BayesianNetwork(seed=0).fit(df)
    out = m.sample(300, conditions={"A": "a9", "C": "c2", "D": "d9"}, seed=0)
    assert len(out) == 300 and (out["A"] == "a9").all() and (out["D"] == "d9").all()
    with pytest.raises(genlab.DataError, match="never seen"):
        m.sample(5, conditions={"A": "a7"})


def test_rejection_fallback_when_tables_are_too_large(monkeypatch):
    monkeypatch.setattr(bayesnet, "posterior_sample", lambda *a, **k: None)
    m = BayesianNetwork(seed=0).fit(chain(1000))
    out = m.sample(200, conditions={"C": "c2"}, seed=0)
    assert len(out) == 200 and (out["C"] == "c2").all()


def test_numeric_spike_range_and_missingness():
    rng = np.random.default_rng(0)
    n = 3000
    group = rng.choice(["a", "b"], n)
    gain = np.where(rng.random(n) < 0.9, 0, rng.integers(100, 5000, n))
    x = np.round(rng.normal(np.where(group == "a", 0.0, 3.0), 1.0), 2)
    x[(group == "a") & (rng.random(n) < 0.4)] = np.nan  # missing depends on group
    df = pd.DataFrame({"gain": gain, "x": x, "group": group})
    m = BayesianNetwork(seed=0).fit(df)
    out = m.sample(20_000, seed=0)
    assert abs((out["gain"] == 0).mean() - 0.9) < 0.01
    assert out["gain"].between(1, 99).mean() < 0.005  # the gap holds only smoothing mass
    a = m.sample(5000, conditions={"group": "a"}, seed=1)
    b = m.sample(5000, conditions={"group": "b"}, seed=1)
    assert abs(a["x"].isna().mean() - 0.4) < 0.04 and b["x"].isna().mean() < 0.02
    assert a["x"].mean() < 1.0 < 2.0 < b["x"].mean()
    beyond = pd.DataFrame({"gain": [0, 5200, 50], "x": [x[~np.isnan(x)].max() + 0.5, 1.0, None],
                           "group": ["b", "b", "a"]})
    assert np.isfinite(m.log_prob(beyond)).all()


def test_quantile_edges_isolate_spikes():
    v = np.r_[np.zeros(900), np.arange(1, 101)]
    edges = quantile_edges(v, 10)
    assert edges[0] == 0.5 and np.all(np.diff(edges) > 0)
    assert not np.isin(edges, v).any()


def test_save_load_and_graph_html(tmp_path):
    df = chain(500).assign(num=np.random.default_rng(0).normal(size=500).round(3))
    m = BayesianNetwork(seed=0).fit(df)
    loaded = genlab.load(m.save(tmp_path / "bn.genlab"))
    assert loaded.graph_ == m.graph_
    np.testing.assert_array_equal(loaded.log_prob(df), m.log_prob(df))
    pd.testing.assert_frame_equal(loaded.sample(100, conditions={"C": "c1"}, seed=2),
                                  m.sample(100, conditions={"C": "c1"}, seed=2))
    fragment = loaded.graph_html()
    assert fragment.startswith("<figure>") and "data:image/png;base64," in fragment
    assert "A → B" in fragment or "B → A" in fragment


def test_bad_parameters():
    with pytest.raises(genlab.ParameterError, match="structure must be one of"):
        BayesianNetwork(structure="pc").fit(chain(50))
    with pytest.raises(genlab.ParameterError, match="max_parents"):
        BayesianNetwork(max_parents=-1).fit(chain(50))


@pytest.mark.slow
def test_adult_full_table():
    path = DATA / "adult" / "adult.csv"
    if not path.exists():
        pytest.skip(f"real dataset {path} is not present (it lives in ../shared/data)")
    df = pd.read_csv(path)
    m = BayesianNetwork(seed=0).fit(df)  # its fit time is the benchmark's to measure
    out = m.sample(len(df), seed=0)
    assert list(out.columns) == list(df.columns) and (out.dtypes == df.dtypes).all()
    for col in df.columns[df.dtypes == "str"]:
        assert set(out[col].dropna()) <= set(df[col].dropna())
    assert abs((out["capital-gain"] == 0).mean() - (df["capital-gain"] == 0).mean()) < 0.01
    women = m.sample(1000, conditions={"sex": "Female"}, seed=0)
    real = (df.loc[df["sex"] == "Female", "income"] == ">50K").mean()
    assert (women["sex"] == "Female").all()
    assert abs((women["income"] == ">50K").mean() - real) < 0.04
    test = pd.read_csv(DATA / "adult" / "adult_test.csv")
    lp = m.log_prob(test)
    assert np.isfinite(lp).all()
    rng = np.random.default_rng(0)
    shuffled = test.apply(lambda s: s.sample(frac=1, random_state=rng).to_numpy())
    assert lp.mean() > m.log_prob(shuffled).mean() + 5
