"""The GAN family: fit, sample, conditions (rare values, several columns), persistence, errors.

The contract battery in test_models.py also runs on "gan"; these tests cover what is
particular to it, on tiny networks so they stay fast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import genlab
import genlab.models.table.gan as gan_module
from genlab.errors import DataError, ParameterError, UnsupportedOperation
from genlab.models.table.gan import GAN
from tests.conftest import real_data

# 15 epochs of 4 steps, the generator training after 10 critic-only steps
TINY = {"epochs": 15, "batch_size": 100, "embedding_dim": 16, "generator_dim": (32, 32),
        "discriminator_dim": (32, 32), "pac": 5, "warmup_steps": 10, "seed": 0}


def _table(n: int = 400) -> pd.DataFrame:
    """Numbers tied to a group, a boolean, a column with missing values, a rare value."""
    rng = np.random.default_rng(1)
    group = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    kind = np.where(np.arange(n) < 3, "rare", rng.choice(["p", "q"], size=n))
    x = rng.normal(np.where(group == "b", 3.0, 0.0), 1.0)
    df = pd.DataFrame({
        "x": np.round(x, 2),
        "age": rng.integers(18, 90, size=n),
        "group": group,
        "kind": kind,
        "flag": (rng.random(n) < 0.3) & (kind != "rare"),  # "rare" never has flag True
        "city": rng.choice(["north", "south"], size=n).astype(object),
    })
    df.loc[rng.random(n) < 0.1, "city"] = None
    return df


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return _table()


@pytest.fixture(scope="module")
def model(table: pd.DataFrame) -> GAN:
    return GAN(**TINY).fit(table)


def test_registered_and_log_prob_names_other_families(model, table):
    assert genlab.families()["gan"] is GAN
    with pytest.raises(UnsupportedOperation, match=r"GAN \(gan\) has no likelihood") as err:
        model.log_prob(table)
    able = [f for f, c in genlab.families().items() if c.supports_log_prob]
    assert able and all(f in str(err.value) for f in able) and "gan," not in str(err.value)


def test_sample_schema(model, table):
    out = model.sample(300, seed=0)
    assert len(out) == 300 and list(out.columns) == list(table.columns)
    assert {c: str(t) for c, t in out.dtypes.items()} == {
        c: str(t) for c, t in table.dtypes.items()}
    for col in ("group", "kind", "city"):
        assert set(out[col].dropna()) <= set(table[col].dropna())
    assert out["age"].between(table["age"].min(), table["age"].max()).all()
    assert 0 < out["city"].isna().mean() < 0.4
    assert np.isfinite(model.history_[-1]["train_loss"]) and len(model.history_) == 15


def test_seeds(model):
    pd.testing.assert_frame_equal(model.sample(100, seed=3), model.sample(100, seed=3))
    assert not model.sample(100, seed=3).equals(model.sample(100, seed=4))
    drawn = model.sample(10)
    assert isinstance(drawn.attrs["provenance"]["seed"], int)


def test_fit_is_deterministic_for_a_seed(table):
    a = GAN(**{**TINY, "epochs": 2}).fit(table).sample(50, seed=0)
    b = GAN(**{**TINY, "epochs": 2}).fit(table).sample(50, seed=0)
    pd.testing.assert_frame_equal(a, b)


def test_warm_start_is_the_conditional_marginals(table):
    m = GAN(**{**TINY, "epochs": 1, "warmup_steps": 1000}).fit(table)  # generator not trained
    b = m.sample(2000, conditions={"group": "b"}, seed=0)
    assert abs(b["x"].mean() - table.loc[table["group"] == "b", "x"].mean()) < 0.5
    rare = m.sample(2000, conditions={"kind": "rare"}, seed=0)
    assert rare["flag"].mean() < 0.02  # never True with "rare" in training


def test_critic_alone_during_warmup_then_generator_trains(table):
    def out_weight(**kw: object) -> torch.Tensor:
        return GAN(**{**TINY, **kw}).fit(table).net_.out.weight.detach()

    frozen = out_weight(epochs=1, warmup_steps=1000)
    assert torch.equal(out_weight(epochs=3, warmup_steps=1000), frozen)
    assert not torch.equal(out_weight(epochs=3, warmup_steps=2), frozen)


def test_single_condition(model, table):
    out = model.sample(200, conditions={"group": "b"}, seed=0)
    assert len(out) == 200 and (out["group"] == "b").all()
    # a condition on a column holding missing values, by its missing value
    missing = model.sample(50, conditions={"city": None}, seed=0)
    assert len(missing) == 50 and missing["city"].isna().all()


def test_rare_value_returns_all_rows(model, table):
    assert (table["kind"] == "rare").sum() == 3
    out = model.sample(500, conditions={"kind": "rare"}, seed=0)
    assert len(out) == 500 and (out["kind"] == "rare").all()


def test_several_conditions_and_unseen_combination(model):
    out = model.sample(120, conditions={"group": "c", "flag": True, "city": "north"}, seed=1)
    assert len(out) == 120
    assert (out["group"] == "c").all() and out["flag"].all() and (out["city"] == "north").all()
    # "rare" never occurs with flag True in training: the row count is still guaranteed
    never = model.sample(80, conditions={"kind": "rare", "flag": True}, seed=2)
    assert len(never) == 80 and (never["kind"] == "rare").all() and never["flag"].all()


def test_fallback_writes_conditions_in(model, monkeypatch):
    monkeypatch.setattr(gan_module, "_MAX_ROUNDS", 0)  # skip rejection: fallback only
    out = model.sample(40, conditions={"group": "a", "kind": "q"}, seed=0)
    assert len(out) == 40 and (out["group"] == "a").all() and (out["kind"] == "q").all()


def test_conditions_steer_the_numbers(model, table):
    b = model.sample(400, conditions={"group": "b"}, seed=0)["x"].mean()
    a = model.sample(400, conditions={"group": "a"}, seed=0)["x"].mean()
    assert b - a > 1.5  # real gap 3


def test_save_load_identical(model, tmp_path):
    loaded = genlab.load(model.save(tmp_path / "gan.genlab"))
    assert type(loaded) is GAN and repr(loaded) == repr(model)
    assert loaded.generator_dim == (32, 32)
    pd.testing.assert_frame_equal(loaded.sample(200, seed=5), model.sample(200, seed=5))
    cond = {"group": "c", "flag": True}
    pd.testing.assert_frame_equal(loaded.sample(60, conditions=cond, seed=5),
                                  model.sample(60, conditions=cond, seed=5))


def test_only_numeric_or_only_categorical_columns():
    rng = np.random.default_rng(0)
    num = pd.DataFrame({"u": rng.normal(size=150).round(3), "v": rng.gamma(2.0, size=150)})
    out = GAN(**TINY).fit(num).sample(30, seed=0)
    assert out.shape == (30, 2) and out.notna().all().all()
    cat = pd.DataFrame({"s": rng.choice(["x", "y", "z"], 150), "t": rng.random(150) < 0.5})
    m = GAN(**TINY).fit(cat)
    assert (m.sample(30, conditions={"s": "z"}, seed=0)["s"] == "z").all()


def test_list_dims_become_tuples():
    m = GAN(generator_dim=[64, 64])
    assert m.generator_dim == (64, 64) and "generator_dim=(64, 64)" in repr(m)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"val_fraction": 0.1}, "val_fraction must be 0"),
        ({"generator_dim": (0, 8)}, "generator_dim must be a tuple"),
        ({"discriminator_dim": "wide"}, "discriminator_dim must be a tuple"),
        ({"generator_dim": ()}, "generator_dim must be a tuple"),
        ({"pac": 0}, "pac must be in"),
        ({"gp_weight": -1.0}, "gp_weight must be in"),
        ({"epochs": 0}, "epochs must be in"),
    ],
)
def test_bad_params(params, match, table):
    with pytest.raises(ParameterError, match=match):
        GAN(**{**TINY, **params}).fit(table)


def test_bad_conditions(model):
    with pytest.raises(DataError, match="value 'zzz' was never seen in column 'group'"):
        model.sample(5, conditions={"group": "zzz"})
    with pytest.raises(DataError, match="cannot condition on column 'x'"):
        model.sample(5, conditions={"x": 1.0})
    with pytest.raises(ParameterError, match="conditions must be a dict"):
        model.sample(5, conditions=[("group", "a")])


@pytest.mark.slow
def test_adult_conditional_share():
    path = real_data("adult", "adult.csv")
    df = pd.read_csv(path)
    m = GAN(epochs=3, seed=0).fit(df)
    out = m.sample(2000, conditions={"sex": "Female"}, seed=0)
    assert len(out) == 2000 and (out["sex"] == "Female").all()
    assert list(out.columns) == list(df.columns) and (out.dtypes == df.dtypes).all()
    for col in df.select_dtypes(exclude="number").columns:
        assert set(out[col].dropna()) <= set(df[col].dropna())
    real = (df.loc[df["sex"] == "Female", "income"] == ">50K").mean()  # 0.109
    assert abs((out["income"] == ">50K").mean() - real) < 0.08  # 3 epochs only
