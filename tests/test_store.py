"""The .genlab model file: exact round trips, provenance, and refusal of unsafe or broken files."""

from __future__ import annotations

import json
import os
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors

import genlab
from genlab.errors import ModelFileError
from genlab.store import _canonical, _digest

PACKAGE = Path(genlab.__file__).resolve().parent


@pytest.fixture
def df() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 60
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "x": np.round(x, 3),
            "y": np.round(2 * x + rng.normal(size=n), 3),
            "g": rng.choice(["a", "b", "c"], n),
        }
    )


@pytest.fixture
def saved(tmp_path: Path, df: pd.DataFrame) -> Path:
    model = genlab.Gaussian(seed=0, shrinkage=10.0).fit(df)
    return model.save(tmp_path / "m.genlab", owner="me", licence="CC-BY-4.0")


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _rewrite(
    path: Path,
    edit_config: object = None,
    tensors: dict[str, np.ndarray] | None = None,
    resign: bool = True,
) -> Path:
    """Re-zip `path` with an edited config and/or weights; `resign` recomputes the checksums
    the way an attacker who read genlab's source would."""
    members = _members(path)
    config = json.loads(members["config.json"])
    weights = members["weights.safetensors"] if tensors is None else save_tensors(tensors)
    if callable(edit_config):
        edit_config(config)
    if resign:
        config["integrity"] = {
            "config_sha256": _digest(_canonical(config)),
            "weights_sha256": _digest(weights),
        }
    out = path.with_name("edited.genlab")
    members = {"config.json": json.dumps(config).encode(), "weights.safetensors": weights}
    return _write_zip(out, members)


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned > /tmp/genlab-pwned",))


EVIL_PICKLE = pickle.dumps(_Evil())  # built, never loaded


# -- round trip ---------------------------------------------------------------------------
def test_save_load_round_trip_is_exact(tmp_path, df):
    model = genlab.Gaussian(seed=0, shrinkage=10.0).fit(df)
    loaded = genlab.load(model.save(tmp_path / "m.genlab"))
    assert type(loaded) is genlab.Gaussian and loaded.get_params() == model.get_params()
    pd.testing.assert_frame_equal(loaded.sample(50, seed=3), model.sample(50, seed=3))
    np.testing.assert_array_equal(loaded.log_prob(df), model.log_prob(df))
    assert loaded.schema_.to_dict() == model.schema_.to_dict()


def test_save_with_conditions_round_trips(tmp_path, df):
    model = genlab.Gaussian(seed=0, shrinkage=2.0).fit(df, conditions=["g"])
    loaded = genlab.load(model.save(tmp_path / "c.genlab"))
    assert loaded.conditions_ == ["g"]
    pd.testing.assert_frame_equal(
        loaded.sample(20, seed=1, conditions={"g": "b"}),
        model.sample(20, seed=1, conditions={"g": "b"}),
    )


def test_file_holds_only_json_and_safetensors(saved):
    with zipfile.ZipFile(saved) as zf:
        assert sorted(zf.namelist()) == ["config.json", "weights.safetensors"]
        config = json.loads(zf.read("config.json"))
        tensors = load_tensors(zf.read("weights.safetensors"))
    assert config["format_version"] == 1
    assert config["genlab_version"] == genlab.__version__
    assert config["family"] == "gaussian"
    assert config["params"] == {"covariance": "full", "shrinkage": 10.0, "seed": 0}
    assert [c["name"] for c in config["codec"]["columns"]] == ["x", "y", "g"]
    assert re.fullmatch(r"[0-9a-f]{64}", config["training"]["fingerprint"])
    assert config["training"]["rows"] == 60
    prov = config["provenance"]
    assert prov["owner"] == "me" and prov["licence"] == "CC-BY-4.0" and prov["created_at"]
    assert set(config["integrity"]) == {"config_sha256", "weights_sha256"}
    assert tensors["means"].shape == (1, 2) and tensors["cat_probs.0"].shape == (1, 3)


def test_loaded_model_keeps_provenance(saved):
    model = genlab.load(saved)
    assert model.owner_ == "me" and model.licence_ == "CC-BY-4.0" and model.n_rows_ == 60


def test_save_leaves_no_temporary_files(saved):
    assert [p.name for p in saved.parent.iterdir()] == ["m.genlab"]


# -- unsafe and broken files --------------------------------------------------------------
def test_extra_pickle_member_is_refused(saved):
    members = _members(saved)
    members["data.pkl"] = EVIL_PICKLE
    bad = _write_zip(saved.with_name("pkl.genlab"), members)
    with pytest.raises(ModelFileError, match=r"must hold exactly .* \['data\.pkl'\]; refusing"):
        genlab.load(bad)
    assert not Path("/tmp/genlab-pwned").exists()


def test_pickle_in_place_of_weights_is_refused(saved):
    members = _members(saved)
    members["weights.safetensors"] = EVIL_PICKLE
    bad = _write_zip(saved.with_name("w.genlab"), members)
    with pytest.raises(ModelFileError, match="weights that were changed after saving"):
        genlab.load(bad)


def test_pickle_weights_with_recomputed_checksum_are_unreadable(saved):
    members = _members(saved)
    config = json.loads(members["config.json"])
    config["integrity"]["weights_sha256"] = _digest(EVIL_PICKLE)
    members.update({"config.json": json.dumps(config).encode(), "weights.safetensors": EVIL_PICKLE})
    bad = _write_zip(saved.with_name("w2.genlab"), members)
    with pytest.raises(ModelFileError, match="has unreadable weights"):
        genlab.load(bad)


@pytest.mark.parametrize(
    "edit",
    [
        lambda c: c["params"].update(shrinkage=0.5),
        lambda c: c.update(family="mixture"),
        lambda c: c["provenance"].update(owner="someone else"),
    ],
    ids=["hyperparameter", "family", "owner"],
)
def test_config_changed_after_saving_is_refused(saved, edit):
    bad = _rewrite(saved, edit, resign=False)
    with pytest.raises(ModelFileError, match="config that was changed after saving"):
        genlab.load(bad)


def test_weights_changed_after_saving_are_refused(saved):
    with zipfile.ZipFile(saved) as zf:
        tensors = load_tensors(zf.read("weights.safetensors"))
    tensors["means"] = tensors["means"] + 1.0
    bad = _rewrite(saved, tensors=tensors, resign=False)
    with pytest.raises(ModelFileError, match="weights that were changed after saving"):
        genlab.load(bad)


def test_wrong_tensor_shape_is_refused_even_with_valid_checksums(saved):
    with zipfile.ZipFile(saved) as zf:
        tensors = load_tensors(zf.read("weights.safetensors"))
    tensors["means"] = np.zeros((1, 5))
    bad = _rewrite(saved, tensors=tensors)
    with pytest.raises(ModelFileError, match=r"'means' has shape \(1, 5\), expected \(1, 2\)"):
        genlab.load(bad)


def test_missing_tensor_is_refused_even_with_valid_checksums(saved):
    with zipfile.ZipFile(saved) as zf:
        tensors = load_tensors(zf.read("weights.safetensors"))
    del tensors["covs"]
    bad = _rewrite(saved, tensors=tensors)
    with pytest.raises(ModelFileError, match=r"holds tensors .* but a Gaussian needs"):
        genlab.load(bad)


def test_non_finite_tensor_is_refused(saved):
    with zipfile.ZipFile(saved) as zf:
        tensors = load_tensors(zf.read("weights.safetensors"))
    tensors["latent.loc"] = np.array([np.nan, 0.0])
    bad = _rewrite(saved, tensors=tensors)
    with pytest.raises(ModelFileError, match="tensor 'latent.loc' holds NaN or infinite values"):
        genlab.load(bad)


def test_newer_format_version_asks_to_upgrade(saved):
    bad = _rewrite(saved, lambda c: c.update(format_version=99))
    with pytest.raises(ModelFileError, match="format version 99, .* upgrade genlab to load it"):
        genlab.load(bad)


def test_text_file_is_not_a_model_file(tmp_path):
    path = tmp_path / "notes.genlab"
    path.write_text("these are my notes, not a model\n" * 3)
    with pytest.raises(ModelFileError, match=r"notes\.genlab' is not a genlab model file"):
        genlab.load(path)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelFileError, match=r"model file not found: .*gone\.genlab'"):
        genlab.load(tmp_path / "gone.genlab")


@pytest.mark.parametrize(
    ("edit", "phrase"),
    [
        (lambda c: c["params"].update(covariance="banana"), "covariance must be one of"),
        (lambda c: c["params"].update(shrinkage=-1.0), r"shrinkage must be in \[0.0"),
        (lambda c: c["params"].update(colour="red"), "invalid config.*colour"),
        (lambda c: c.update(family="alien"), "unknown family 'alien'"),
        (lambda c: c["codec"]["columns"][0].update(kind="fancy"), "unknown kind 'fancy'"),
        (lambda c: c.pop("codec"), r"without required keys \['codec'\]"),
    ],
    ids=["choice", "range", "unknown-param", "family", "codec-kind", "no-codec"],
)
def test_invalid_config_with_valid_checksums_is_refused(saved, edit, phrase):
    bad = _rewrite(saved, edit)
    with pytest.raises(ModelFileError, match=phrase):
        genlab.load(bad)


def test_nan_in_config_is_a_model_file_error(saved):
    # JSON parsers accept NaN, but genlab never writes it (allow_nan=False)
    members = _members(saved)
    text = members["config.json"].decode().replace('"shrinkage": 10.0', '"shrinkage": NaN')
    assert "NaN" in text
    members["config.json"] = text.encode()
    bad = _write_zip(saved.with_name("nan.genlab"), members)
    with pytest.raises(ModelFileError, match="unreadable config.json: it holds NaN") as err:
        genlab.load(bad)
    assert "\n" not in str(err.value)


def test_checksum_refusal_says_what_the_check_proves(saved):
    bad = _rewrite(saved, lambda c: c["params"].update(shrinkage=0.5), resign=False)
    with pytest.raises(ModelFileError) as err:
        genlab.load(bad)
    text = str(err.value)
    assert "changed after saving (checksum mismatch)" in text
    assert "not a deliberate forgery (anyone can recompute them)" in text
    assert "tamper" not in text and "\n" not in text


def test_config_that_is_not_json_is_refused(saved):
    members = _members(saved)
    members["config.json"] = b"\x80not json"
    bad = _write_zip(saved.with_name("j.genlab"), members)
    with pytest.raises(ModelFileError, match="unreadable config.json"):
        genlab.load(bad)


def test_missing_weights_member_is_refused(saved):
    members = _members(saved)
    del members["weights.safetensors"]
    bad = _write_zip(saved.with_name("nw.genlab"), members)
    with pytest.raises(ModelFileError, match=r"unexpected or missing \['weights\.safetensors'\]"):
        genlab.load(bad)


def test_package_never_unpickles():
    sources = {p: p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")}
    assert len(sources) > 10
    for path, text in sources.items():
        imports = re.search(r"^\s*(import|from)\s+(c?[pP]ickle|joblib|dill)\b", text, re.M)
        assert not imports, path
        assert not re.search(r"\b(joblib|dill|cloudpickle)\b", text), path
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, f"{path}: {call}"


# -- property -----------------------------------------------------------------------------
@settings(max_examples=15, deadline=None)
@given(
    st.integers(3, 25).flatmap(
        lambda n: st.lists(
            st.lists(st.integers(-5000, 5000), min_size=n, max_size=n), min_size=1, max_size=3
        )
    )
)
def test_log_prob_survives_save_and_load(tmp_path_factory, columns):
    df = pd.DataFrame({f"c{k}": np.asarray(v) / 100 for k, v in enumerate(columns)})
    df = df.loc[:, df.nunique() > 1]
    if df.shape[1] == 0:
        df = pd.DataFrame({"c0": np.arange(len(columns[0])) / 4})
    model = genlab.Gaussian(seed=0, shrinkage=10.0).fit(df)
    path = model.save(tmp_path_factory.mktemp("prop") / "m.genlab")
    np.testing.assert_array_equal(genlab.load(path).log_prob(df), model.log_prob(df))
