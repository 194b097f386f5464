"""Molecules (SMILES): detection, conditioned generation, the VAE's latent space, metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import genlab
from genlab.cli import app
from genlab.data.detect import detect_kind
from genlab.data.sequences.molecules import internal_diversity, molecule_metrics, properties
from genlab.data.sequences.readers import read_smiles_table
from genlab.errors import DataError, ParameterError
from genlab.report.sequences import sequence_report
from genlab.sequences import LSTM, SequenceVAE, Transformer

from .conftest import real_data
from .test_report import assert_renders_in_chromium

pytestmark = pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")
runner = CliRunner()

SMILES = [
    "CC(=O)Oc1ccccc1C(=O)O", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "CC(=O)Nc1ccc(O)cc1", "OC(=O)c1ccccc1O", "c1ccc2ccccc2c1", "CCN(CC)CC", "CCOC(=O)C",
    "Clc1ccc(Cl)cc1", "Brc1ccccc1", "CC(C)(C)c1ccc(O)cc1", "O=C(O)CCc1ccccc1",
    "COc1ccc(CCN)cc1", "NC(=O)c1ccncc1", "CC1=CC(=O)CCC1", "C1CCNCC1", "c1ccncc1",
    "CCCCCCCC(=O)O", "CC(O)C(=O)O", "OCC(O)CO", "c1ccc(cc1)C(=O)c1ccccc1", "CCc1ccccc1",
    "Cc1ccc(N)cc1", "O=[N+]([O-])c1ccccc1", "CC(=O)c1ccc(F)cc1", "FC(F)(F)c1ccccc1",
    "COC(=O)c1ccccc1", "C[C@@H](N)C(=O)O", "N[C@@H](Cc1ccccc1)C(=O)O", "CS(=O)(=O)N",
    "c1ccc2[nH]ccc2c1", "O=C1NC(=O)c2ccccc21", "CCOc1ccccc1", "CN(C)C=O", "C1=CC=CC=C1O",
    "CC#N", "ClCCl", "CCCBr", "OC1CCCCC1", "c1cc(ccc1N)S(=O)(=O)N",
]


def small(cls: type = Transformer, **kw: object) -> object:
    params = dict(context=48, epochs=6, batch_size=16, lr=5e-3, warmup_steps=5, seed=0)
    params |= ({"layers": 1, "d_model": 16, "heads": 2} if cls is Transformer
               else {"hidden": 24, "layers": 1})
    params.update(kw)
    return cls(**params)


@pytest.fixture
def smiles_csv(tmp_path: Path) -> Path:
    path = tmp_path / "mols.csv"
    pd.DataFrame({"id": range(len(SMILES)), "SMILES": SMILES}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def qed_model() -> Transformer:
    return small(codec="smiles").fit(SMILES, conditions=["qed"])  # type: ignore[attr-defined]


def test_detection_keeps_tables_without_smiles(smiles_csv: Path, tmp_path: Path) -> None:
    assert detect_kind(smiles_csv) == ("sequence", {})
    plain = tmp_path / "plain.csv"
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_csv(plain, index=False)
    assert detect_kind(plain)[0] == "table"
    smi = tmp_path / "mols.smi"
    smi.write_text("CCO ethanol\nc1ccccc1\n", encoding="utf-8")
    assert detect_kind(smi)[0] == "sequence"
    assert list(read_smiles_table(smi)["smiles"]) == ["CCO", "c1ccccc1"]


def test_smiles_file_without_smiles_column_is_a_clear_error(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    pd.DataFrame({"name": ["ethanol"], "mass": [46.1]}).to_csv(plain, index=False)
    with pytest.raises(DataError, match=r"has no SMILES column \(columns: name, mass\); name"):
        read_smiles_table(plain)
    result = runner.invoke(app, ["fit", str(plain), "--data-kind", "sequence", "-o",
                                 str(tmp_path / "m.genlab")])
    assert result.exit_code == 2
    assert result.output.startswith("error:") and "no SMILES column" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_fit_and_sample_molecules(smiles_csv: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.genlab"
    result = runner.invoke(app, [
        "fit", str(smiles_csv), "--model", "autoregressive", "-o", str(model), "--seed", "0",
        "-p", "layers=1", "-p", "d_model=16", "-p", "heads=2", "-p", "epochs=2",
        "-p", "context=48", "-p", "batch_size=16", "--condition", "logp"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["sample", str(model), "-n", "25", "-o", str(out), "--seed", "1",
                                 "--where", "logp=1..2.5"])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out)
    assert list(df.columns) == ["smiles", "target_logp"] and len(df) == 25
    assert df["target_logp"].between(1, 2.5).all()
    prov = json.loads((tmp_path / "out.csv.provenance.json").read_text())
    assert prov["conditions"] == {"logp": [1.0, 2.5]}
    result = runner.invoke(app, ["score", str(model), str(smiles_csv)])
    assert result.exit_code == 0 and f"{len(SMILES)} rows scored" in result.output


def test_conditions_drawn_in_range_and_survive_save_load(qed_model: Transformer,
                                                         tmp_path: Path) -> None:
    qed = properties(SMILES, ["qed"])[:, 0]
    lo, hi = np.quantile(qed, [0.25, 0.75])
    items = qed_model.sample(30, seed=2, conditions={"qed": (lo, hi)})
    cond = np.array(items.attrs["targets"])
    assert cond.shape == (30, 1) and ((cond[:, 0] >= lo) & (cond[:, 0] <= hi)).all()
    assert items.attrs["condition_names"] == ["qed"]
    assert items.attrs["provenance"]["conditions"] == {"qed": (lo, hi)}
    loaded = genlab.load(qed_model.save(tmp_path / "q.genlab"))
    assert loaded.sample(30, seed=2, conditions={"qed": (lo, hi)}) == items
    np.testing.assert_allclose(loaded.log_prob(SMILES[:5]), qed_model.log_prob(SMILES[:5]))
    lp = qed_model.log_prob(SMILES[:3])
    assert all(lp[i] == pytest.approx(qed_model.token_log_prob(SMILES[i]).sum(), rel=1e-5)
               for i in range(3))


def test_molecule_writer_and_conditions_from_text(qed_model: Transformer,
                                                  tmp_path: Path) -> None:
    from genlab.data.writers import write_samples

    conditions, options = qed_model.parse_where({"qed": "0.3..0.7", "temperature": "0.9"})
    assert conditions == {"qed": (0.3, 0.7)} and options == {"temperature": 0.9}
    assert qed_model.parse_where({"qed": "0.5"})[0] == {"qed": 0.5}
    samples = qed_model.sample(6, conditions=conditions, seed=4, **options)
    target, message = write_samples(samples, tmp_path / "m.csv")
    df = pd.read_csv(target)
    assert "6 SMILES" in message and list(df.columns) == ["smiles", "target_qed"]
    assert list(df["smiles"].fillna("")) == list(samples)
    assert df["target_qed"].between(0.3, 0.7).all()
    smi, _ = write_samples(samples, tmp_path / "m.smi")
    assert smi.read_text(encoding="utf-8").splitlines() == list(samples)
    with pytest.raises(ParameterError, match="needs a number or a range"):
        qed_model.parse_where({"qed": "high"})
    with pytest.raises(ParameterError, match="unsupported output 'm.png' for molecules"):
        write_samples(samples, tmp_path / "m.png")


def test_condition_errors_are_clear(qed_model: Transformer) -> None:
    with pytest.raises(ParameterError, match=r"no training molecule has qed in \[5.0, 6.0\]"):
        qed_model.sample(2, conditions={"qed": (5.0, 6.0)})
    with pytest.raises(ParameterError, match=r"unknown condition\(s\) \['mw'\]"):
        qed_model.sample(2, conditions={"mw": 300})
    with pytest.raises(ParameterError, match="neither columns of the SMILES table nor RDKit"):
        small(codec="smiles").fit(SMILES, conditions=["potency"])  # type: ignore[attr-defined]
    plain = small(codec="smiles", epochs=1).fit(SMILES)  # type: ignore[attr-defined]
    with pytest.raises(ParameterError, match="fitted without conditions"):
        plain.sample(2, conditions={"qed": 0.5})


def test_condition_from_a_table_column() -> None:
    df = pd.DataFrame({"smiles": SMILES, "pIC50": np.linspace(4, 9, len(SMILES))})
    m = small(epochs=1).fit(df, conditions=["pIC50"])  # type: ignore[attr-defined]
    cond = np.array(m.sample(5, seed=0, conditions={"pic50": 7.5}).attrs["targets"])
    assert cond.shape == (5, 1) and (cond[:, 0] == 7.5).all()


def test_lstm_on_molecules_and_prompt() -> None:
    m = small(LSTM, codec="smiles").fit(SMILES)  # type: ignore[attr-defined]
    out = m.sample(8, prompt="Cl", seed=0)
    assert all(s.startswith("Cl") for s in out)
    assert np.isfinite(m.log_prob(SMILES)).all()


def test_vae_latent_space(tmp_path: Path) -> None:
    vae = small(SequenceVAE, codec="smiles", latent=4, epochs=4,
                kl_warmup_steps=10).fit(SMILES)  # type: ignore[attr-defined]
    z = vae.encode(SMILES[:3])
    assert z.shape == (3, 4) and np.isfinite(z).all()
    path = vae.interpolate(SMILES[0], SMILES[1], steps=5)
    assert len(path) == 5 and all(isinstance(s, str) for s in path)
    near = vae.sample_near(SMILES[0], n=6, scale=0.3, seed=0)
    assert len(near) == 6 and near == vae.sample_near(SMILES[0], n=6, scale=0.3, seed=0)
    elbo = vae.log_prob(SMILES[:4])
    assert np.isfinite(elbo).all() and (elbo < 0).all()
    assert vae.log_prob(["CC[Xe]"])[0] == -math.inf  # a token never seen: probability 0
    assert vae.sample(3, seed=1) == genlab.load(vae.save(tmp_path / "v.genlab")).sample(
        3, seed=1)


def test_metrics_on_known_molecules() -> None:
    got = molecule_metrics(["CCO", "C1CC", "OCC", "c1ccccc1"], training=["CCO"],
                           reference=["CCO", "CCCO"])
    assert got["validity"] == 0.75  # the unclosed ring does not parse
    assert got["uniqueness"] == pytest.approx(2 / 3)  # CCO and OCC are one molecule
    assert got["novelty"] == 0.5
    assert 0 < got["int_div"] < 1 and got["mw_w1"] > 0
    assert internal_diversity(["CCO", "CCO"]) == pytest.approx(0.0)


def test_molecule_report_renders(qed_model: Transformer, smiles_csv: Path,
                                 tmp_path: Path) -> None:
    path = sequence_report(qed_model, tmp_path / "mol.html", data=smiles_csv)
    page = path.read_text(encoding="utf-8")
    assert "validity" in page and "Property distributions" in page
    assert assert_renders_in_chromium(path) >= 4  # grid, 3 property plots (+ training curve)


def test_esol_slice_fits() -> None:
    path = real_data("molecules", "esol.csv")
    m = small(epochs=2, max_items=200).fit(path)  # type: ignore[attr-defined]
    assert m.n_rows_ == 200
    assert len(m.sample(10, seed=0)) == 10


def test_epoch_size_draws_items_and_keeps_a_fixed_validation_set() -> None:
    m = small(codec="smiles", epoch_size=24, val_fraction=0.25, epochs=3).fit(SMILES)  # type: ignore[attr-defined]
    assert len(m.history_) == 3 and all("val_loss" in h for h in m.history_)
    vae = small(SequenceVAE, codec="smiles", epoch_size=24, val_fraction=0.25, epochs=2,
                latent=4).fit(SMILES)  # type: ignore[attr-defined]
    assert len(vae.history_) == 2


# -- SELFIES tokens ------------------------------------------------------------------------------
def test_selfies_codec_round_trips_molecules():
    from genlab.data.sequences.codecs import SelfiesCodec, codec_from_dict
    from genlab.data.sequences.molecules import canonical

    codec = SelfiesCodec.fit(SMILES)
    for s in SMILES:
        assert canonical([codec.decode(codec.encode(s))]) == canonical([s])
    again = codec_from_dict(json.loads(json.dumps(codec.to_dict())))
    assert isinstance(again, SelfiesCodec) and again.tokens == codec.tokens


def test_selfies_model_samples_only_valid_molecules(tmp_path):
    from genlab.data.sequences.molecules import canonical

    m = small(codec="smiles", molecule_tokens="selfies", context=64).fit(SMILES)
    samples = m.sample(60, seed=0)
    assert all(c is not None for c in canonical(samples))  # valid by construction
    assert np.isfinite(m.log_prob(SMILES[:5])).all()
    path = tmp_path / "m.genlab"
    m.save(path)
    assert genlab.load(path).sample(10, seed=3) == m.sample(10, seed=3)


def test_selfies_refuses_what_it_cannot_encode():
    with pytest.raises(DataError, match="cannot be written as SELFIES"):
        small(codec="smiles", molecule_tokens="selfies").fit(["C1CC", "CCO"] * 5)


@pytest.fixture(scope="module")
def plain_model() -> Transformer:
    return small(codec="smiles", epochs=2).fit(SMILES)  # type: ignore[attr-defined]


def _decode_widths(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Record (max_new, tokens decoded) of every batch the sampler decodes."""
    import genlab.models.sequence.base as seq_base

    seen: list[tuple[int, int]] = []
    real = seq_base.generate

    def counting(stepper, prefix, max_new, **kw):  # type: ignore[no-untyped-def]
        out = real(stepper, prefix, max_new, **kw)
        seen.append((max_new, out.shape[1] - prefix.shape[1]))
        return out

    monkeypatch.setattr(seq_base, "generate", counting)
    return seen


def test_length_bounds_the_tokens_of_a_molecule(plain_model: Transformer,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _decode_widths(monkeypatch)
    items = plain_model.sample(5, length=10, seed=0, grammar=False)
    assert len(items) == 5
    assert all(len(plain_model.codec_.split(s)) <= 10 for s in items)
    assert seen == [(10, seen[0][1])] and seen[0][1] <= 10  # 10 decoding steps at most


def test_where_length_reaches_molecules(plain_model: Transformer) -> None:
    conditions, options = plain_model.parse_where({"length": "6"})
    assert conditions == {} and options == {"length": 6}
    items = plain_model.sample(4, seed=1, grammar=False, **options)
    assert all(len(plain_model.codec_.split(s)) <= 6 for s in items)


def test_default_cap_comes_from_the_training_molecules(plain_model: Transformer,
                                                       monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    seen = _decode_widths(monkeypatch)
    longest = max(len(plain_model.codec_.split(s)) for s in SMILES)
    items = plain_model.sample(20, seed=2, grammar=False)
    cap = math.ceil(1.5 * longest)
    assert seen[0][0] == min(cap, 48)  # not the context's 48 unless it is smaller
    assert all(len(plain_model.codec_.split(s)) <= cap for s in items)


def test_a_batch_stops_when_every_sample_has_ended(plain_model: Transformer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _decode_widths(monkeypatch)
    items = plain_model.sample(8, length=40, seed=3, grammar=False)
    steps = seen[0][1]
    # the last step drew the slowest sample's end token: no step after every sample ended
    assert steps == max(len(plain_model.codec_.split(s)) for s in items) + 1 or steps == 40
