"""VAE family beyond the shared battery: IWAE, latent space, conditioning, persistence, Adult."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import genlab
from genlab.errors import DataError, ModelFileError, ParameterError
from genlab.models.table.vae import VAE
from tests.conftest import real_data

# tiny settings: a few hundred rows, small nets, a few dozen epochs
TINY = {"epochs": 30, "batch_size": 100, "patience": 30, "latent_dim": 8, "hidden": (32, 32),
        "iwae_samples": 16, "max_modes": 4, "seed": 0}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    group = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    x = rng.normal(pd.Series(group).map({"a": 0.0, "b": 3.0, "c": -3.0}).to_numpy(), 0.7)
    kind = np.where(rng.random(n) < 0.03, "rare", rng.choice(["p", "q"], size=n))
    df = pd.DataFrame({"x": np.round(x, 3), "y": np.round(0.5 * x + rng.normal(0, 0.3, n), 3),
                       "group": group, "kind": kind})
    df.loc[rng.random(n) < 0.05, "y"] = np.nan
    return df


@pytest.fixture(scope="module")
def model(table: pd.DataFrame) -> VAE:
    return VAE(**TINY).fit(table)


@pytest.fixture(scope="module")
def cvae(table: pd.DataFrame) -> VAE:
    return VAE(**TINY).fit(table, conditions=["group"])


def test_registered_and_flags():
    assert genlab.families()["vae"] is VAE
    assert VAE.log_prob_is_exact is False and VAE.has_latent is True


def test_iwae_tightens_with_k(model, table):
    # the IWAE bound grows with k in expectation: k=64 above the single-sample ELBO on average
    elbo = model.set_params(iwae_samples=1).log_prob(table)
    iwae = model.set_params(iwae_samples=64).log_prob(table)
    model.set_params(iwae_samples=TINY["iwae_samples"])
    assert np.isfinite(iwae).all() and iwae.mean() > elbo.mean()


def test_log_prob_deterministic_and_missing_marginalised(model, table):
    np.testing.assert_array_equal(model.log_prob(table), model.log_prob(table))
    row = table.dropna().head(1)
    full, gap = model.log_prob(row), model.log_prob(row.assign(y=np.nan))
    # dropping a density term and adding log P(missing) leaves a different, finite value
    assert np.isfinite(gap).all() and gap[0] != full[0]


def test_encode_decode_interpolate_shapes(model, table):
    z = model.encode(table.head(7))
    assert z.shape == (7, TINY["latent_dim"]) and np.isfinite(z).all()
    back = model.decode(z)
    assert list(back.columns) == list(table.columns) and len(back) == 7
    pd.testing.assert_frame_equal(back, model.decode(z))  # the most likely row: no noise
    path = model.interpolate(table.iloc[0], table.iloc[1], steps=5)
    assert len(path) == 5 and list(path.columns) == list(table.columns)
    with pytest.raises(ParameterError, match="z must have shape"):
        model.decode(np.zeros((2, 3)))
    with pytest.raises(ParameterError, match="steps"):
        model.interpolate(table.iloc[0], table.iloc[1], steps=1)


def test_cvae_declared_condition(cvae, table):
    out = cvae.sample(300, conditions={"group": "b"}, seed=0)
    assert (out["group"] == "b").all()
    # tiny nets and 30 epochs: only the direction of the shift is checked (group b: x ~ 3)
    assert out["x"].mean() > table["x"].mean() + 0.5
    # decode with a declared value; an undeclared one is refused
    assert (cvae.decode(np.zeros((3, TINY["latent_dim"])), conditions={"group": "c"})["group"]
            == "c").all()
    with pytest.raises(ParameterError, match="declared at fit"):
        cvae.decode(np.zeros((1, TINY["latent_dim"])), conditions={"kind": "p"})


def test_undeclared_condition_and_rare_value(model, cvae, table):
    out = model.sample(200, conditions={"group": "c"}, seed=1)
    assert (out["group"] == "c").all()
    assert out["x"].mean() < table["x"].mean()  # shifted towards p(x | group = c), x ~ -3
    for m in (model, cvae):  # a value in 3% of rows, with a declared condition too
        rare = m.sample(150, conditions={"kind": "rare", "group": "a"}, seed=2)
        assert len(rare) == 150 and (rare["kind"] == "rare").all() and (rare["group"] == "a").all()
    with pytest.raises(DataError, match="never seen"):
        model.sample(5, conditions={"kind": "zzz"})


def test_save_load_identical(cvae, table, tmp_path):
    loaded = genlab.load(cvae.save(tmp_path / "v.genlab"))
    assert repr(loaded) == repr(cvae)
    pd.testing.assert_frame_equal(loaded.sample(60, seed=5, conditions={"kind": "q"}),
                                  cvae.sample(60, seed=5, conditions={"kind": "q"}))
    np.testing.assert_array_equal(loaded.log_prob(table), cvae.log_prob(table))
    np.testing.assert_array_equal(loaded.encode(table.head(4)), cvae.encode(table.head(4)))


def test_tampered_file_refused(model, tmp_path):
    import json
    import zipfile

    path = model.save(tmp_path / "v.genlab")
    with zipfile.ZipFile(path) as zf:
        config, weights = json.loads(zf.read("config.json")), zf.read("weights.safetensors")
    config["params"]["latent_dim"] = 9  # shapes no longer match the weights
    bad = tmp_path / "bad.genlab"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("weights.safetensors", weights)
    with pytest.raises(ModelFileError):
        genlab.load(bad)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"hidden": (0,)}, "hidden must be a tuple"),
        ({"hidden": 64}, "hidden must be a tuple"),
        ({"beta": -1.0}, "beta"),
        ({"decoder_variance": "tiny"}, "decoder_variance must be one of"),
        ({"iwae_samples": 0}, "iwae_samples"),
        ({"latent_dim": 0}, "latent_dim"),
    ],
)
def test_bad_params(params, match, table):
    with pytest.raises(ParameterError, match=match):
        VAE(**{**TINY, **params}).fit(table)


def test_fixed_variance_and_list_hidden(table):
    m = VAE(**{**TINY, "epochs": 3, "decoder_variance": "fixed", "hidden": [16]}).fit(table)
    assert m.hidden == (16,)
    assert float(m.net_.sigma()[0]) == pytest.approx(0.1)
    assert np.isfinite(m.log_prob(table)).all()


@pytest.mark.slow
def test_adult_fit_sample_condition():
    path = real_data("adult", "adult.csv")
    df = pd.read_csv(path)
    m = VAE(epochs=5, seed=0).fit(df)
    out = m.sample(len(df), seed=0)
    assert list(out.columns) == list(df.columns) and len(out) == len(df)
    assert dict(out.dtypes.astype(str)) == dict(df.dtypes.astype(str))
    women = m.sample(1000, conditions={"sex": "Female"}, seed=1)
    assert (women["sex"] == "Female").all()
    real_share = (df.loc[df["sex"] == "Female", "income"] == ">50K").mean()
    assert abs((women["income"] == ">50K").mean() - real_share) < 0.1  # 5 epochs: loose
    lp = m.log_prob(pd.read_csv(real_data("adult", "adult_test.csv")).head(500))
    assert np.isfinite(lp).all()
