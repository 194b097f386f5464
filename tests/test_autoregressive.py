"""The autoregressive family: the autoregressive property of both networks, exactness of
log_prob (probabilities sum to one, densities integrate to one with missingness), exact
conditioning on columns late in the order, rare values, persistence, and Adult (slow)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

import genlab
import genlab.models.table.autoregressive as ar
from genlab.models.table._ar_heads import build_net
from genlab.models.table.autoregressive import Autoregressive
from tests.conftest import real_data

# tiny trainings stop at their epoch budget on purpose
pytestmark = pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")

TINY = {"hidden": 32, "layers": 2, "components": 3, "epochs": 30, "batch_size": 100,
        "patience": 30, "max_minutes": None}


def tiny(**kw: object) -> Autoregressive:
    return Autoregressive(**{**TINY, "seed": 0, **kw})


def _categorical_table(n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    a = rng.choice(["p", "q", "r"], n, p=[0.5, 0.3, 0.2])
    b = np.where(rng.random(n) < np.select([a == "p", a == "q"], [0.8, 0.3], 0.1), "u", "v")
    c = rng.choice(["s", "t"], n)
    return pd.DataFrame({"a": a, "b": b, "c": c})


def test_registered_and_exact():
    assert genlab.families()["autoregressive"] is Autoregressive
    assert Autoregressive.log_prob_is_exact and Autoregressive.models_missing
    assert Autoregressive.conditioning


@pytest.mark.parametrize("network", ["made", "transformer"])
def test_outputs_see_only_earlier_columns(network):
    torch.manual_seed(0)
    columns = [3, 0, 2, 0, 4]  # categorical, numeric, categorical, numeric, categorical
    net = build_net(network, columns, 2, 16, 2).double()
    codes = torch.tensor([[1, 0, 2], [2, 1, 3]])
    z = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    miss = torch.zeros(2, 2, dtype=torch.bool)
    out = net(codes, z, miss)
    for q in range(len(columns)):
        block = out[:, net.starts[q]:net.starts[q + 1]]
        grad = torch.autograd.grad(block.sum(), z, retain_graph=True)[0]
        # numeric inputs sit at positions 1 and 3: exactly the later positions depend on them
        for j, position in enumerate((1, 3)):
            assert bool((grad[:, j] != 0).any()) == (q > position)
    # changing a categorical input changes nothing at or before its position
    other = codes.clone()
    other[:, 1] = 0  # the categorical column at position 2
    out2 = net(other, z, miss)
    torch.testing.assert_close(out[:, :net.starts[3]], out2[:, :net.starts[3]])


def test_masked_mlp_incremental_sampling_matches_forward():
    torch.manual_seed(1)
    columns = [3, 0, 2, 0, 4]
    net = build_net("made", columns, 2, 24, 3)
    codes = torch.tensor([[1, 0, 2], [2, 1, 3], [0, 1, 1]])
    z = torch.randn(3, 2)
    miss = torch.tensor([[False, True], [False, False], [True, False]])
    z = torch.where(miss, 0.0, z)  # the model feeds a missing value's score as 0
    full = net(codes, z, miss)
    state = net.init_state(3)
    cat, num = iter(range(3)), iter(range(2))
    for q, m in enumerate(columns):
        block = net.params_at(state, q)
        torch.testing.assert_close(block, full[:, net.starts[q]:net.starts[q + 1]])
        if m:
            net.set_column(state, q, codes[:, next(cat)])
        else:
            j = next(num)
            net.set_column(state, q, z[:, j], miss[:, j].float())


@pytest.mark.parametrize("network", ["made", "transformer"])
def test_probabilities_of_all_combinations_sum_to_one(network):
    df = _categorical_table()
    m = tiny(network=network).fit(df)
    combos = pd.DataFrame(list(itertools.product(*(sorted(df[c].unique()) for c in df))),
                          columns=list(df.columns))
    assert np.exp(m.log_prob(combos)).sum() == pytest.approx(1.0, abs=1e-5)


def test_density_with_missing_values_integrates_to_one():
    rng = np.random.default_rng(2)
    n = 400
    g = rng.choice(["lo", "hi"], n)
    x = np.round(rng.normal(np.where(g == "hi", 2.0, -1.0), 0.7), 2)
    x[rng.random(n) < 0.2] = np.nan
    df = pd.DataFrame({"g": g, "x": x})
    m = tiny().fit(df)
    grid = np.linspace(np.nanmin(x) - 6, np.nanmax(x) + 6, 100_001)
    for value in ("lo", "hi"):
        dens = np.exp(m.log_prob(pd.DataFrame({"g": value, "x": grid})))
        p_missing = np.exp(m.log_prob(pd.DataFrame({"g": [value], "x": [np.nan]})))[0]
        p_value = np.exp(m.log_prob(pd.DataFrame({"g": [value, "lo" if value == "hi" else "hi"],
                                                  "x": [np.nan, np.nan]}))).sum()
        # integral over x of p(g, x) plus p(g, missing) is P(g)
        p_g = np.trapezoid(dens, grid) + p_missing
        assert 0.3 < p_g < 0.7 and p_value > 0
    both = sum(np.trapezoid(np.exp(m.log_prob(pd.DataFrame({"g": v, "x": grid}))), grid)
               for v in ("lo", "hi"))
    missing = np.exp(m.log_prob(pd.DataFrame({"g": ["lo", "hi"], "x": [np.nan] * 2}))).sum()
    assert both + missing == pytest.approx(1.0, abs=2e-3)


def test_missingness_rate_reproduced():
    rng = np.random.default_rng(3)
    n = 1000
    x = rng.normal(size=n).round(3)
    y = (x + rng.normal(0, 0.3, n)).round(3)
    y[rng.random(n) < 0.25] = np.nan
    m = tiny().fit(pd.DataFrame({"x": x, "y": y}))
    out = m.sample(4000, seed=0)
    assert abs(out["y"].isna().mean() - 0.25) < 0.04 and out["x"].notna().all()


@pytest.mark.parametrize("network", ["made", "transformer"])
def test_conditioning_on_a_late_column_is_exact(network):
    df = _categorical_table()
    m = tiny(network=network).fit(df)
    assert m.meta_["columns"][1] == ["c", 1]  # b is second: conditioning on it rejects
    out = m.sample(3000, conditions={"b": "v"}, seed=0)
    assert (out["b"] == "v").all()
    # the model's own p(a | b = v) from its exact log_prob, summed over c
    grid = pd.DataFrame(list(itertools.product(["p", "q", "r"], ["v"], ["s", "t"])),
                        columns=["a", "b", "c"])
    joint = np.exp(m.log_prob(grid)).reshape(3, 2).sum(axis=1)
    expected = joint / joint.sum()
    got = out["a"].value_counts(normalize=True).reindex(["p", "q", "r"]).to_numpy()
    np.testing.assert_allclose(got, expected, atol=0.03)
    # and it is close to the data's conditional frequencies
    real = df.loc[df["b"] == "v", "a"].value_counts(normalize=True).reindex(["p", "q", "r"])
    np.testing.assert_allclose(got, real.to_numpy(), atol=0.1)


def test_rare_value_returns_requested_rows(monkeypatch):
    rng = np.random.default_rng(4)
    n = 2000
    k = rng.choice(["common", "other", "rare"], n, p=[0.7, 0.295, 0.005])
    df = pd.DataFrame({"a": rng.choice(["x", "y"], n), "k": k, "v": rng.normal(size=n)})
    m = tiny().fit(df)
    out = m.sample(50, conditions={"k": "rare"}, seed=0)
    assert len(out) == 50 and (out["k"] == "rare").all()
    # a budget too small for rejection: importance resampling still returns every row
    monkeypatch.setattr(ar, "_REJECTION_BUDGET", 1)
    monkeypatch.setattr(ar, "_CHUNK", 64)
    out = m.sample(500, conditions={"k": "rare", "a": "y"}, seed=0)
    assert len(out) == 500 and (out["k"] == "rare").all() and (out["a"] == "y").all()
    with pytest.raises(genlab.DataError, match="never seen"):
        m.sample(5, conditions={"k": "unseen"})


@pytest.mark.parametrize("network", ["made", "transformer"])
def test_save_load_identical(network, mixed_df, tmp_path):
    m = tiny(network=network).fit(mixed_df, conditions=["city"])
    loaded = genlab.load(m.save(tmp_path / "m.genlab"))
    assert loaded.meta_ == m.meta_ and repr(loaded) == repr(m)
    pd.testing.assert_frame_equal(loaded.sample(300, conditions={"flag": True}, seed=5),
                                  m.sample(300, conditions={"flag": True}, seed=5))
    np.testing.assert_array_equal(loaded.log_prob(mixed_df), m.log_prob(mixed_df))


def test_data_order_option(mixed_df):
    m = tiny(order="data").fit(mixed_df)
    assert [k for k, _ in m.meta_["columns"]] == ["n", "n", "n", "c", "c", "c"]
    assert np.isfinite(m.log_prob(mixed_df)).all()


@pytest.mark.slow
def test_adult():
    train = pd.read_csv(real_data("adult", "adult.csv"))
    test = pd.read_csv(real_data("adult", "adult_test.csv"))
    m = Autoregressive(epochs=4, seed=0).fit(train)
    out = m.sample(len(train), seed=0)
    assert list(out.columns) == list(train.columns)
    assert {c: str(t) for c, t in out.dtypes.items()} == {
        c: str(t) for c, t in train.dtypes.items()}
    for c in train.columns:
        if train[c].dtype == object or str(train[c].dtype) == "str":
            assert set(out[c]) <= set(train[c])
    women = m.sample(1000, conditions={"sex": "Female"}, seed=0)
    assert (women["sex"] == "Female").all()
    assert abs((women["income"] == ">50K").mean() - 0.109) < 0.05
    lp = m.log_prob(test)
    assert np.isfinite(lp).all()
    rng = np.random.default_rng(0)
    shuffled = test.apply(lambda s: s.sample(frac=1, random_state=rng).to_numpy())
    assert lp.mean() > m.log_prob(shuffled).mean()
