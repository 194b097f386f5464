"""Learned features: `Model.encode` for every latent family, GenerativeFeatures, `genlab embed`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from typer.testing import CliRunner

import genlab
from genlab.classify import GenerativeFeatures, latent_families
from genlab.errors import UnsupportedOperation
from genlab.images import ImageFlow, ImageSet, ImageVAE
from genlab.sequences import Transformer

pytestmark = pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")
TRAIN = {"epochs": 2, "max_minutes": None, "device": "cpu"}


def _table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": 2 * a + rng.normal(0, 0.3, n), "c": rng.gamma(2, 1, n),
                         "k": rng.choice(["x", "y", "z"], n)})


@pytest.fixture(scope="module")
def digits() -> ImageSet:
    d = load_digits()
    imgs = np.round(d.images[:200] / 16 * 255).astype(np.uint8)[..., None]
    return ImageSet(imgs, d.target[:200].astype(np.int64), [str(k) for k in range(10)])


def _row_independent(model, data, take) -> np.ndarray:
    """encode gives one row per item, deterministically and independently of the batch."""
    z = model.encode(data)
    assert np.all(np.isfinite(z))
    assert np.allclose(model.encode(data), z)
    assert np.allclose(model.encode(take(data)), z[:5], atol=1e-5)
    return z


@pytest.mark.parametrize(("cls", "width"), [(genlab.VAE, 6), (genlab.Flow, 3)])
def test_table_latent_families_encode(cls, width):
    df = _table()
    params = {"latent_dim": 6} if cls is genlab.VAE else {}
    m = cls(seed=0, **params, **TRAIN).fit(df)
    z = _row_independent(m, df, lambda d: d.iloc[:5])
    assert z.shape == (300, width)
    assert np.ptp(z, axis=0).min() > 0  # features vary across rows
    holes = df.iloc[:5].copy()
    holes["a"] = np.nan  # a missing value does not feed in, but the row still encodes
    assert np.all(np.isfinite(m.encode(holes)))


def test_table_flow_base_space_is_the_flow_of_the_normal_scores():
    """The flow's z is where its log-density is a standard normal: log q(z) + log|det|
    from encode's values reproduces log_prob up to the marginal layer (the same for
    every row with the same numeric values): rows equal in numbers, different in
    category, get different z when the flow conditions on codes."""
    df = _table()
    m = genlab.Flow(seed=0, **TRAIN).fit(df)
    row = df.iloc[[0, 0]].copy()
    row["k"] = ["x", "z"]
    z = m.encode(row)
    assert z.shape == (2, 3) and not np.allclose(z[0], z[1])


def test_image_vae_and_flow_encode(digits):
    vae = ImageVAE(latent_dim=4, hidden=16, **TRAIN, seed=0).fit(digits)
    z = _row_independent(vae, digits.images, lambda d: d[:5])
    assert z.shape == (200, 4)
    flow = ImageFlow(levels=1, steps=1, hidden=4, **TRAIN, seed=0).fit(digits.images)
    z = _row_independent(flow, digits.images, lambda d: d[:5])
    assert z.shape == (200, 64)  # one base value per pixel


def test_transformer_pools_hidden_states():
    lines = ["ROMEO: But soft, what light", "JULIET: O Romeo, Romeo", "ROMEO: wherefore"] * 20
    m = Transformer(layers=1, d_model=16, heads=2, context=24, epochs=2, batch_size=16,
                    epoch_size=64, warmup_steps=5, seed=0).fit(lines)
    z = _row_independent(m, lines, lambda d: d[:5])
    assert z.shape == (60, 16)
    assert not np.allclose(z[0], z[1])
    assert np.allclose(z[0], z[3])  # the same line, the same features


def test_families_without_latent_name_those_with_one():
    m = genlab.Gaussian(seed=0).fit(_table())
    with pytest.raises(UnsupportedOperation,
                       match="no latent space; encode works with .*table:flow.*table:vae"):
        m.encode(_table())
    assert {"table:vae", "table:flow", "image:vae", "image:flow",
            "sequence:autoregressive"} <= set(latent_families())


def test_generative_features_in_a_pipeline():
    df = _table()
    y = (df["b"] > 0).to_numpy()
    feats = GenerativeFeatures("vae", latent_dim=4, random_state=0, **TRAIN)
    pipe = make_pipeline(feats, LogisticRegression()).fit(df, y)
    assert pipe.score(df, y) > 0.6
    assert feats.get_params()["latent_dim"] == 4
    assert pipe[0].transform(df.iloc[:7]).shape == (7, 4)
    with pytest.raises(UnsupportedOperation, match="has none; use one of .*table:vae"):
        GenerativeFeatures("gaussian").fit(df)


def test_cli_embed_writes_features(tmp_path):
    from genlab.cli import app

    df = _table()
    df.to_csv(tmp_path / "t.csv", index=False)
    genlab.VAE(latent_dim=3, seed=0, **TRAIN).fit(df).save(tmp_path / "m.genlab")
    result = CliRunner().invoke(app, ["embed", str(tmp_path / "m.genlab"),
                                      str(tmp_path / "t.csv"), "-o", str(tmp_path / "f.parquet")])
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(tmp_path / "f.parquet")
    assert list(frame.columns) == ["z0", "z1", "z2"] and len(frame) == 300
    genlab.Gaussian(seed=0).fit(df).save(tmp_path / "g.genlab")
    result = CliRunner().invoke(app, ["embed", str(tmp_path / "g.genlab"),
                                      str(tmp_path / "t.csv"), "-o", str(tmp_path / "g.csv")])
    assert result.exit_code == 2 and "no latent space" in result.output
    assert not (tmp_path / "g.csv").exists()


@pytest.mark.parametrize("family", ["vae", "flow"])
def test_encode_reads_the_constrained_table_as_the_family_models_it(family):
    """With `b >= a` the family models the gap b - a: encode must feed the gap, not raw b,
    and the VAE's decode / interpolate must come back to rows that keep the rule."""
    rng = np.random.default_rng(0)
    a = rng.normal(50, 10, 300)
    df = pd.DataFrame({"a": a.round(2), "b": (a + rng.gamma(2, 3, 300)).round(2),
                       "c": rng.choice(["x", "y"], 300)})
    m = genlab.make_model(family, "table", seed=0, epochs=2).fit(df, constraints=["b >= a"])
    assert np.isfinite(m.encode(df)).all()
    assert not np.allclose(m.schema_.encode(df).x, m._encoded(df).x)  # raw b is not the gap
    if family == "vae":
        out = m.interpolate(df.iloc[[0]], df.iloc[[1]], steps=4)
        assert (out["b"] >= out["a"]).all()
        decoded = m.decode(m.encode(df.head(5)))
        assert (decoded["b"] >= decoded["a"]).all()
