"""Class-conditional Gaussian: per-group shrinkage chosen by held-out likelihood."""

from __future__ import annotations

import hashlib
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

import genlab
from genlab.errors import ModelFileError, ParameterError


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    names = {0: "setosa", 1: "versicolor", 2: "virginica"}
    frame["species"] = frame.pop("target").map(names)
    return frame


def _spread_and_coverage(model, real: pd.DataFrame, species: str) -> tuple[np.ndarray, float]:
    cls = real[real["species"] == species].drop(columns="species")
    synth = model.sample(2000, seed=1, conditions={"species": species})[cls.columns]
    ratio = (synth.std() / cls.std()).to_numpy()
    lo, hi = cls.min(), cls.max()
    margin = 0.1 * (hi - lo)
    inside = ((synth >= lo - margin) & (synth <= hi + margin)).all(axis=1).mean()
    return ratio, float(inside)


@pytest.mark.parametrize("species", ["setosa", "versicolor", "virginica"])
def test_iris_class_samples_keep_the_class_spread(iris, species):
    model = genlab.Gaussian(seed=0).fit(iris, conditions=["species"])
    ratio, inside = _spread_and_coverage(model, iris, species)
    assert np.all(np.abs(ratio - 1) <= 0.30), ratio
    assert inside >= 0.94 if species == "versicolor" else inside >= 0.95


def test_setosa_no_longer_four_times_too_wide(iris):
    model = genlab.Gaussian(seed=0).fit(iris, conditions=["species"])
    ratio, inside = _spread_and_coverage(model, iris, "setosa")
    assert np.all(np.abs(ratio - 1) <= 0.30) and inside >= 0.95
    assert model.get_params()["shrinkage"] == "auto"
    assert len(model.group_shrinkage_) == 3


def test_auto_is_deterministic_for_a_seed(iris):
    a = genlab.Gaussian(seed=3).fit(iris, conditions=["species"])
    b = genlab.Gaussian(seed=3).fit(iris, conditions=["species"])
    assert a.group_shrinkage_ == b.group_shrinkage_
    np.testing.assert_array_equal(a.mixture_.covs, b.mixture_.covs)
    pd.testing.assert_frame_equal(a.sample(50, seed=2), b.sample(50, seed=2))


def test_explicit_number_still_overrides(iris):
    qda = genlab.Gaussian(seed=0, shrinkage=0.0).fit(iris, conditions=["species"])
    lda = genlab.Gaussian(seed=0, shrinkage=1e9).fit(iris, conditions=["species"])
    assert qda.group_shrinkage_ == [0.0, 0.0, 0.0]
    z = qda.latent_.forward(iris.drop(columns="species").to_numpy())[0]
    setosa = z[(iris["species"] == "setosa").to_numpy()]
    own = np.cov(setosa.T, bias=True)
    np.testing.assert_allclose(qda.mixture_.covs[0], own, atol=1e-5)
    # a huge pseudo-row count gives every class the same (pooled within-class) covariance
    np.testing.assert_allclose(lda.mixture_.covs[0], lda.mixture_.covs[2], atol=1e-6)


def test_single_row_group_takes_the_pooled_covariance():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=41), "y": rng.normal(size=41),
                       "g": ["a"] * 20 + ["b"] * 20 + ["c"]})
    model = genlab.Gaussian(seed=0).fit(df, conditions=["g"])
    assert model.group_shrinkage_[2] == float("inf")
    assert np.all(np.isfinite(model.log_prob(df)))
    assert np.all(np.linalg.eigvalsh(model.mixture_.covs[2]) > 0)


def test_category_unseen_in_a_group_keeps_a_probability():
    df = pd.DataFrame({"x": np.arange(40.0), "colour": ["red"] * 20 + ["red"] * 19 + ["blue"],
                       "g": ["a"] * 20 + ["b"] * 20})
    model = genlab.Gaussian(seed=0).fit(df, conditions=["g"])
    row = pd.DataFrame({"x": [5.0], "colour": ["blue"], "g": ["a"]})
    assert np.isfinite(model.log_prob(row)[0])


def test_auto_choice_round_trips_through_the_model_file(tmp_path, iris):
    model = genlab.Gaussian(seed=0).fit(iris, conditions=["species"])
    loaded = genlab.load(model.save(tmp_path / "iris.genlab"))
    assert loaded.get_params() == model.get_params()
    assert loaded.group_shrinkage_ == model.group_shrinkage_
    np.testing.assert_array_equal(loaded.log_prob(iris), model.log_prob(iris))


@pytest.mark.parametrize(
    ("value", "phrase"),
    [("banana", r"shrinkage must be 'auto' or a number in \[0.0, 1e9\].*'banana'"),
     ("", r"shrinkage must be 'auto' or a number"),
     (-1.0, r"shrinkage must be in \[0.0"),
     (float("nan"), r"shrinkage must be in \[0.0"),
     ([1.0], r"shrinkage must be a number")],
    ids=["unknown-word", "empty-string", "negative", "nan", "list"],
)
def test_bad_shrinkage_is_one_line_error(iris, value, phrase):
    with pytest.raises(ParameterError, match=phrase) as err:
        genlab.Gaussian(shrinkage=value).fit(iris, conditions=["species"])
    assert "\n" not in str(err.value)


def _resigned(path, edit) -> object:
    """Re-zip a model file with an edited config and recomputed checksums."""
    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read("config.json"))
        weights = zf.read("weights.safetensors")
    edit(config)
    body = {k: v for k, v in config.items() if k != "integrity"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    config["integrity"] = {"config_sha256": hashlib.sha256(canonical).hexdigest(),
                           "weights_sha256": hashlib.sha256(weights).hexdigest()}
    out = path.with_name("edited.genlab")
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("weights.safetensors", weights)
    return out


@pytest.mark.parametrize(
    "value", [["x", 1.0, 2.0], [-1.0, 1.0, 2.0], "many"],
    ids=["text-entry", "negative-entry", "not-a-list"])
def test_bad_group_shrinkage_in_model_file_is_refused(tmp_path, iris, value):
    path = genlab.Gaussian(seed=0).fit(iris, conditions=["species"]).save(tmp_path / "a.genlab")
    bad = _resigned(path, lambda c: c["fitted"].update(group_shrinkage=value))
    with pytest.raises(ModelFileError, match="group_shrinkage must be a list") as err:
        genlab.load(bad)
    assert "\n" not in str(err.value)
