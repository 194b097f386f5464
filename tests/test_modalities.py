"""The modality registry: detection of the kind of data, dispatch of model files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

import genlab
from genlab.data.detect import DATA_KINDS, detect_kind
from genlab.errors import ModelFileError, ParameterError
from genlab.models import registry
from genlab.models.series.autoregressive import SeriesModel


def test_tables_stay_tables(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}).to_csv(path, index=False)
    assert detect_kind(path) == ("table", {})
    assert registry.DEFAULT_FAMILY["table"] == "copula"
    assert detect_kind(path, "series") == ("series", {})
    assert registry.DEFAULT_FAMILY["series"] == "autoregressive"
    assert {"table", "series"} <= set(registry.MODALITIES)
    assert {"table", "image", "text", "molecules", "music", "sequence", "series"} <= set(
        DATA_KINDS)
    for modality in registry.MODALITIES:
        found = registry.families(modality)
        assert registry.DEFAULT_FAMILY[modality] in found
        assert all(cls.modality == modality for cls in found.values())


def test_unknown_kind_of_data_is_refused(tmp_path: pytest.TempPathFactory) -> None:
    with pytest.raises(ParameterError, match="unknown kind of data 'sound'; choose one of"):
        detect_kind(tmp_path / "x.csv", "sound")
    with pytest.raises(ParameterError, match="unknown model 'gan' for series data"):
        registry.make_model("gan", "series")
    with pytest.raises(ParameterError, match=r"SeriesModel has no parameter\(s\) \['depth'\]"):
        registry.make_model("autoregressive", "series", depth=3)


def test_model_file_names_its_modality(tmp_path: pytest.TempPathFactory) -> None:
    t = np.arange(300)
    y = np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 0.1, t.size)
    m = SeriesModel(lags=6, epochs=3, seed=0).fit(y)
    assert m.codec_["periods"] == [12]  # found from the autocorrelation without a time column
    path = m.save(tmp_path / "s.genlab")
    back = genlab.load(path)
    assert isinstance(back, SeriesModel) and back.get_params() == m.get_params()
    np.testing.assert_allclose(back.point_log_prob(y), m.point_log_prob(y))
    # a file naming a modality this genlab does not know is refused in one line
    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read("config.json"))
        weights = zf.read("weights.safetensors")
    config["modality"] = "hologram"
    from safetensors.numpy import load as load_tensors

    from genlab.store import write_model_file

    write_model_file(tmp_path / "h.genlab", {k: v for k, v in config.items()
                                             if k not in ("integrity", "format_version")},
                     load_tensors(weights))
    with pytest.raises(ModelFileError, match="holds a model of unknown kind 'hologram'; known:"):
        genlab.load(tmp_path / "h.genlab")


def test_api_fit_detects_images_and_molecules_like_the_cli(tmp_path):
    """`genlab.fit(path)` picks the modality `genlab fit` picks: .npz -> images, .smi -> a
    molecule sequence model; the kind of data is the API's, not the CLI's."""
    import genlab

    rng = np.random.default_rng(0)
    npz = tmp_path / "digits.npz"
    np.savez(npz, images=(rng.random((12, 8, 8)) * 255).astype(np.uint8),
             labels=np.arange(12) % 2)
    m = genlab.fit(npz, "gan", epochs=1, batch_size=4, latent_dim=4, width=4, device="cpu",
                   seed=0)
    assert m.modality == "image" and m.sample(2, seed=0).shape == (2, 8, 8, 1)
    smi = tmp_path / "mols.smi"
    smi.write_text("CCO\nc1ccccc1\nCC(=O)O\nCCN\nCCCC\nOCC(O)CO\n" * 3)
    mol = genlab.fit(smi, "lstm", epochs=1, hidden=8, layers=1, batch_size=8, device="cpu",
                     seed=0)
    assert mol.modality == "sequence" and mol.codec_.kind == "smiles"
    assert len(mol.sample(3, seed=0)) == 3
