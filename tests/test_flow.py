"""The flow family: exactness of log_prob (change of variables, normalisation, missing values,
category probabilities), conditioning, persistence, and the Adult table (slow)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

import genlab
from genlab.models.table.flow import Flow
from genlab.nets.spline_flow import FlowNet
from tests.conftest import real_data

# tiny trainings stop at their epoch budget on purpose
pytestmark = pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")

TINY = {"transforms": 2, "hidden_features": 16, "embed": 4, "epochs": 30, "batch_size": 100,
        "patience": 30, "max_minutes": None}


def tiny(**kw: object) -> Flow:
    return Flow(**{**TINY, "seed": 0, **kw})


def test_registered_and_exact():
    assert genlab.families()["flow"] is Flow
    assert Flow.log_prob_is_exact and Flow.supports_log_prob and Flow.conditioning


@pytest.mark.parametrize("coupling", [True, False])
def test_change_of_variables_and_inverse(coupling):
    torch.manual_seed(0)
    net = FlowNet([2, 3], 3, 1, transforms=3, hidden=16, layers=2, bins=6, embed=4,
                  passes=2 if coupling else None).double()
    c = torch.tensor([[0, 2], [1, 0], [1, 1], [0, 0]])
    z = torch.randn(4, 3, dtype=torch.float64) * 2
    complete = torch.zeros(4, 3, dtype=torch.bool)
    ctx = net.embed_context(c, complete)
    y, ladj = net.forward_transform(z, complete, ctx)
    for i in range(4):
        jac = torch.autograd.functional.jacobian(
            lambda v, i=i: net.forward_transform(v[None], complete[:1], ctx[i:i + 1])[0][0], z[i])
        assert torch.allclose(ladj[i], torch.linalg.slogdet(jac)[1], atol=1e-8)
        assert torch.tril(jac, -1).abs().sum() + torch.triu(jac, 1).abs().sum() > 0
    np.testing.assert_allclose(net.flow_sample(y, ctx).numpy(), z.numpy(), atol=1e-6)


def test_missing_coordinates_are_marginalised_exactly():
    torch.manual_seed(1)
    net = FlowNet([2], 3, 1, transforms=2, hidden=16, layers=2, bins=6, embed=4,
                  passes=None).double()
    g = torch.linspace(-9, 9, 481, dtype=torch.float64)
    a, b = torch.meshgrid(g, g, indexing="ij")
    z = torch.stack([a.ravel(), torch.full_like(a.ravel(), 3.7), b.ravel()], dim=1)
    miss = torch.zeros_like(z, dtype=torch.bool)
    miss[:, 1] = True
    c = torch.ones(z.shape[0], 1, dtype=torch.long)
    with torch.no_grad():
        dens = net.flow_log_prob(z, miss, net.embed_context(c, miss)).exp()
    step = float(g[1] - g[0])
    assert float(dens.sum()) * step**2 == pytest.approx(1.0, abs=5e-4)


def _cells(lo: float, hi: float, width: float) -> np.ndarray:
    return np.arange(lo, hi, width) + width / 2


def test_density_and_probabilities_integrate_to_one():
    # an integer column, a smooth continuous one and a categorical one tied to both
    rng = np.random.default_rng(0)
    n = 400
    c = rng.choice(["p", "q"], n, p=[0.7, 0.3])
    k = rng.binomial(4, np.where(c == "p", 0.3, 0.7))
    x = np.round(rng.normal(k * 0.5, 0.6), 3)
    df = pd.DataFrame({"k": k, "x": x, "c": c})
    m = tiny().fit(df, kinds={"k": "integer"})
    spans = [(mg.xs[0], mg.xs[-1]) for mg in m.marginals_]
    kk = _cells(*spans[0], 1 / 16)  # cell edges fall on the integer atoms' edges (v +- 1/2)
    xx = _cells(*spans[1], (spans[1][1] - spans[1][0]) / 1500)
    gk, gx = np.meshgrid(kk, xx, indexing="ij")
    total = 0.0
    for value in ("p", "q"):
        grid = pd.DataFrame({"k": gk.ravel(), "x": gx.ravel(), "c": value})
        dens = np.exp(m.log_prob(grid))
        total += dens.sum() * (kk[1] - kk[0]) * (xx[1] - xx[0])
    assert total == pytest.approx(1.0, abs=5e-3)


def test_category_probabilities_sum_to_one():
    rng = np.random.default_rng(1)
    a = rng.choice(["x", "y", "z"], 500)
    b = np.where(rng.random(500) < 0.8, a, "w")
    d = np.where(rng.random(500) < 0.1, None, rng.choice(["u", "v"], 500))
    df = pd.DataFrame({"a": a, "b": b, "d": d})
    m = tiny(epochs=80, lr=1e-2).fit(df, conditions=["d"])
    combos = list(itertools.product(["x", "y", "z"], ["x", "y", "z", "w"], ["u", "v", None]))
    probs = np.exp(m.log_prob(pd.DataFrame(combos, columns=["a", "b", "d"])))
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    # the learned joint is close to the data's: P(b = a) about 0.8
    assert probs[[i for i, t in enumerate(combos) if t[0] == t[1]]].sum() == pytest.approx(
        np.mean(a == b), abs=0.05)


def test_missing_numeric_values_marginalised():
    rng = np.random.default_rng(2)
    a = np.round(rng.normal(size=300), 1)
    b = np.round(a + rng.normal(0, 0.3, 300), 2)
    b[rng.random(300) < 0.2] = np.nan
    df = pd.DataFrame({"a": a, "b": b})
    m = tiny().fit(df)
    lo, hi = m.marginals_[0].xs[[0, -1]]
    grid = _cells(lo, hi, (hi - lo) / 20_000)
    dens = np.exp(m.log_prob(pd.DataFrame({"a": grid, "b": np.nan})))
    # p(a, b missing) integrates to P(b missing) (missing completely at random)
    assert dens.sum() * (grid[1] - grid[0]) == pytest.approx(np.isnan(b).mean(), rel=2e-3)


def test_conditions_on_undeclared_columns_and_rare_values():
    rng = np.random.default_rng(3)
    n = 600
    a = rng.choice(["r", "s"], n, p=[0.5, 0.5])
    b = np.where(a == "r", rng.choice(["u", "v"], n, p=[0.9, 0.1]), rng.choice(["u", "v"], n,
                                                                              p=[0.2, 0.8]))
    rare = np.array(["common"] * n, dtype=object)
    rare[7] = "rare"
    y = rng.normal(np.where(b == "v", 3.0, 0.0), 1.0).round(2)
    df = pd.DataFrame({"a": a, "b": b, "rare": rare, "y": y})
    m = tiny(epochs=60).fit(df)
    out = m.sample(2000, conditions={"b": "v"}, seed=0)  # b comes after a in the order
    assert (out["b"] == "v").all()
    # P(a = r | b = v) = 0.05 / (0.05 + 0.4), about 0.11, not the marginal 0.5
    assert (out["a"] == "r").mean() == pytest.approx(0.11, abs=0.06)
    assert out["y"].mean() > 2.0
    few = m.sample(30, conditions={"rare": "rare", "b": "u"}, seed=1)
    assert len(few) == 30 and (few["rare"] == "rare").all() and (few["b"] == "u").all()
    pd.testing.assert_frame_equal(few, m.sample(30, conditions={"rare": "rare", "b": "u"},
                                                seed=1))


def test_save_load_and_tampering(tmp_path):
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"a": rng.normal(size=200).round(3), "n": rng.poisson(5, 200) + 20,
                       "g": rng.choice(["x", "y"], 200)})
    df.loc[:9, "a"] = np.nan
    m = tiny().fit(df, conditions=["g"], kinds={"n": "integer"})
    loaded = genlab.load(m.save(tmp_path / "m.genlab"))
    pd.testing.assert_frame_equal(loaded.sample(100, seed=5), m.sample(100, seed=5))
    np.testing.assert_array_equal(loaded.log_prob(df), m.log_prob(df))
    assert loaded.conditions_ == ["g"] and loaded.meta_ == m.meta_


def test_invalid_parameters():
    with pytest.raises(genlab.ParameterError, match="bins"):
        Flow(bins=1).fit(pd.DataFrame({"a": [1.0, 2.0, 3.0]}))
    with pytest.raises(genlab.ParameterError, match="coupling"):
        Flow(coupling="yes").fit(pd.DataFrame({"a": [1.0, 2.0, 3.0]}))


@pytest.mark.slow
def test_adult():
    df = pd.read_csv(real_data("adult", "adult.csv"))
    test = pd.read_csv(real_data("adult", "adult_test.csv"))
    m = Flow(epochs=3, seed=0).fit(df)
    out = m.sample(len(df), seed=0)
    assert list(out.columns) == list(df.columns) and (out.dtypes == df.dtypes).all()
    for col in [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]:
        assert set(out[col].dropna()) <= set(df[col].dropna())
    women = m.sample(1000, conditions={"sex": "Female"}, seed=1)
    assert (women["sex"] == "Female").all()
    assert (women["income"] == ">50K").mean() == pytest.approx(0.109, abs=0.04)
    lp = m.log_prob(test)
    assert np.isfinite(lp).all()
    rng = np.random.default_rng(0)
    shuffled = test.apply(lambda s: s.sample(frac=1, random_state=rng).to_numpy())
    assert lp.mean() > m.log_prob(shuffled).mean() + 5
