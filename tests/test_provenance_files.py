"""Provenance inside output files (Parquet metadata, PNG text chunks, MIDI text events), the
sidecar for the rest, and `genlab provenance FILE [--model]` reading and verifying it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from genlab.cli import app
from genlab.data.writers import write_samples
from genlab.errors import DataError
from genlab.provenance import attach, sidecar_path
from genlab.provenance_files import (
    model_id,
    png_info,
    privacy_of,
    read_embedded,
    read_provenance,
    write_parquet,
)

runner = CliRunner()


def run(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def model_file(tmp_path: Path, mixed_df: pd.DataFrame) -> Path:
    table = tmp_path / "train.csv"
    mixed_df.to_csv(table, index=False)
    out = tmp_path / "m.genlab"
    code, text = run("fit", table, "--model", "gaussian", "-o", out, "--seed", "0", "-q")
    assert code == 0, text
    return out


@pytest.fixture
def provenance(model_file: Path) -> dict:
    import genlab

    return genlab.load(model_file).provenance(seed=7, n=4)


def _images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (4, 8, 8, 1), dtype=np.uint8)


def _pieces() -> list:
    from genlab.data.sequences.codecs import Note, Piece

    return [Piece([Note(0, 60, 4), Note(4, 64, 4), Note(8, 67, 8)], 1, 16)]


# -- round trips --------------------------------------------------------------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                   max_size=4),
    max_leaves=12)
_provenance = st.dictionaries(st.text(max_size=12), _json, max_size=6)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prov=_provenance)
def test_provenance_round_trips_through_parquet(tmp_path, prov):
    path = tmp_path / "p.parquet"
    df = pd.DataFrame({"a": [1.5, 2.0], "b": ["x", "y"]})
    write_parquet(df, path, prov)
    assert read_embedded(path) == prov
    pd.testing.assert_frame_equal(pd.read_parquet(path), df)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prov=_provenance)
def test_provenance_round_trips_through_png(tmp_path, prov):
    from PIL import Image

    path = tmp_path / "p.png"
    Image.fromarray(_images()[0, ..., 0]).save(path, pnginfo=png_info(prov))
    assert read_embedded(path) == (prov or None)  # an empty provenance writes no chunk


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prov=_provenance)
def test_provenance_round_trips_through_midi(tmp_path, prov):
    from genlab.data.sequences.music import piece_to_score
    from genlab.provenance_files import write_midi

    path = tmp_path / "p.mid"
    write_midi(piece_to_score(_pieces()[0]), path, prov)
    assert read_embedded(path) == (prov or None)


@pytest.mark.filterwarnings("ignore:images of .* too small")
def test_sampled_outputs_carry_their_provenance_inside(tmp_path, provenance):
    df = attach(pd.DataFrame({"a": [1, 2]}), provenance)
    images = attach(_images(), provenance, modality="image")
    music = attach(_pieces(), provenance, modality="sequence", kind="music")
    for samples, name in ((df, "s.parquet"), (images, "g.png"), (music, "m.mid")):
        target, line = write_samples(samples, tmp_path / name)
        assert read_embedded(target) == json.loads(json.dumps(provenance)), name
        assert sidecar_path(target).exists(), "the sidecar stays for older readers"
    write_samples(images, tmp_path / "folder")
    assert read_embedded(tmp_path / "folder" / "sample_00000.png") == provenance
    text = attach(["abc", "def"], provenance, modality="sequence", kind="char")
    target, _ = write_samples(text, tmp_path / "t.txt")
    assert read_embedded(target) is None and read_provenance(target)[1].startswith("sidecar")


def test_png_pixels_unchanged_by_the_chunk(tmp_path, provenance):
    from genlab.data.images import read_png, write_png

    write_png(tmp_path / "a.png", _images()[0], provenance)
    assert np.array_equal(read_png(tmp_path / "a.png"), _images()[0])


def test_privacy_figures_are_read_where_present():
    assert privacy_of({"family": "x"}) == {}
    assert privacy_of({"epsilon": 1.0, "delta": 1e-6, "seed": 3}) == {"epsilon": 1.0,
                                                                       "delta": 1e-6}
    assert privacy_of({"privacy": {"epsilon": 3, "clip": 1.0}}) == {"epsilon": 3, "clip": 1.0}


# -- the command --------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:images of .* too small")
def test_provenance_command_on_parquet_png_midi_and_text(tmp_path, model_file, provenance):
    outputs = {"s.parquet": attach(pd.DataFrame({"a": [1, 2]}), provenance),
               "g.png": attach(_images(), provenance, modality="image"),
               "m.mid": attach(_pieces(), provenance, modality="sequence", kind="music"),
               "t.txt": attach(["abc"], provenance, modality="sequence", kind="char")}
    ident = model_id(provenance["family"], provenance["training_fingerprint"],
                     provenance["model_created_at"])
    where = {"s.parquet": "Parquet schema metadata", "g.png": "PNG text chunk",
             "m.mid": "MIDI text event", "t.txt": "sidecar t.txt.provenance.json"}
    for name, samples in outputs.items():
        write_samples(samples, tmp_path / name)
        if name != "t.txt":  # the file alone must be enough
            sidecar_path(tmp_path / name).unlink()
        code, text = run("provenance", tmp_path / name, "--model", model_file)
        assert code == 0, text
        assert where[name] in text and ident in text and "seed" in text and " 7" in text
        assert f"verified: {tmp_path / name} was generated by {model_file}" in text
        assert "no differential-privacy figures" in text


def test_provenance_shows_epsilon_delta_and_owner_when_recorded(tmp_path, provenance):
    prov = {**provenance, "epsilon": 1.0, "delta": 1e-6, "owner": "Ada", "licence": "CC-BY-4.0"}
    write_samples(attach(pd.DataFrame({"a": [1]}), prov), tmp_path / "s.parquet")
    code, text = run("provenance", tmp_path / "s.parquet")
    assert code == 0, text
    assert "ε = 1, δ = 1e-06" in text and "Ada" in text and "CC-BY-4.0" in text


def test_provenance_mismatch_is_one_line_and_exit_1(tmp_path, mixed_df, provenance):
    other = tmp_path / "other.genlab"
    mixed_df.iloc[:50].to_csv(tmp_path / "o.csv", index=False)
    code, text = run("fit", tmp_path / "o.csv", "--model", "gaussian", "-o", other, "-q")
    assert code == 0, text
    write_samples(attach(pd.DataFrame({"a": [1]}), provenance), tmp_path / "s.parquet")
    code, text = run("provenance", tmp_path / "s.parquet", "--model", other, "-q")
    assert code == 1
    assert text.count("\n") == 1 and text.startswith("mismatch: ")
    assert "training-data fingerprint" in text


@pytest.mark.parametrize("name, content, message", [
    ("plain.csv", b"a,b\n1,2\n", "no genlab provenance found for"),
    ("plain.png", None, "no genlab provenance found for"),
    ("broken.parquet", b"PAR1 this is not parquet", "cannot read"),
    ("broken.png", b"\x89PNG not really", "cannot read"),
    ("broken.mid", b"MThd garbage", "cannot read"),
    ("bad.csv.provenance.json", b"{not json", "not valid JSON"),
    ("list.csv.provenance.json", b"[1, 2]", "not a JSON object"),
])
def test_bad_inputs_are_one_line_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is None:
        from PIL import Image

        Image.fromarray(_images()[0, ..., 0]).save(path)
    else:
        path.write_bytes(content)
    code, text = run("provenance", path)
    assert code == 2, text
    assert text.startswith("error: ") and message in text and text.count("\n") == 1
    with pytest.raises(DataError, match=message.split()[0]):
        read_provenance(path)


def test_missing_file_and_bad_model_file(tmp_path, provenance):
    code, text = run("provenance", tmp_path / "nope.parquet")
    assert code == 2 and "no such file or folder" in text
    write_samples(attach(pd.DataFrame({"a": [1]}), provenance), tmp_path / "s.parquet")
    (tmp_path / "bad.genlab").write_bytes(b"not a zip")
    code, text = run("provenance", tmp_path / "s.parquet", "--model", tmp_path / "bad.genlab")
    assert code == 2 and "error:" in text and "Traceback" not in text


# -- the image watermark ------------------------------------------------------------------
wm = pytest.importorskip("genlab.watermark")
if not wm.available():  # pragma: no cover - the test extra installs it
    pytest.skip("invisible-watermark is not installed", allow_module_level=True)


def _grid() -> np.ndarray:
    """64 of scikit-learn's digits drawn 3 times larger in a grid, like a sampled grid."""
    from sklearn.datasets import load_digits

    from genlab.data.images import make_grid

    digits = np.round(load_digits().images[:64] / 16 * 255).astype(np.uint8)[..., None]
    return make_grid(digits, scale=3)


def _jpeg(image: np.ndarray, path: Path) -> Path:
    from PIL import Image

    Image.fromarray(image[..., 0]).save(path, quality=75)
    return path


@settings(max_examples=10, deadline=None)
@given(ident=st.binary(min_size=8, max_size=8).map(bytes.hex))
def test_watermark_carries_any_model_id(ident):
    image = _grid()
    marked = wm.embed(image, ident)
    assert marked.shape == image.shape and marked.dtype == np.uint8
    # saturated pixels clip a few copies of a bit; the majority over copies keeps it
    found, acc = wm.detect(marked, ident)
    assert found and acc >= 62 / 64


def test_watermark_survives_jpeg_and_is_not_found_unmarked(tmp_path):
    from genlab.data.images import read_png

    ident = "0123456789abcdef"
    image = _grid()
    marked = wm.embed(image, ident)
    diff = (marked.astype(float) - image) ** 2
    assert 10 * np.log10(255**2 / diff.mean()) > 35  # PSNR: invisible to the eye
    found, acc = wm.detect(read_png(_jpeg(marked, tmp_path / "m.jpg")), ident)
    assert found and acc >= wm.FOUND_AT
    assert not wm.detect(image, ident)[0]
    assert not wm.detect(marked, "fedcba9876543210")[0]


def test_watermark_refuses_small_images_and_bad_ids():
    from genlab.errors import ParameterError

    with pytest.raises(ParameterError, match="too small for a 64-bit watermark"):
        wm.embed(np.zeros((28, 28, 1), np.uint8), "0123456789abcdef")
    with pytest.raises(ParameterError, match="16 hex digits"):
        wm.embed(_grid(), "xyz")


def test_writer_marks_grids_records_it_and_skips_small_files(tmp_path, provenance):
    from sklearn.datasets import load_digits

    digits = np.round(load_digits().images[:64] / 16 * 255).astype(np.uint8)[..., None]
    images = attach(np.kron(digits, np.ones((1, 3, 3, 1), np.uint8)), provenance,
                    modality="image")
    write_samples(images, tmp_path / "g.png")
    inside = read_embedded(tmp_path / "g.png")
    assert inside["watermark"]["model_id"] == model_id(
        provenance["family"], provenance["training_fingerprint"], provenance["model_created_at"])
    with pytest.warns(UserWarning, match="too small for a watermark"):
        write_samples(images, tmp_path / "folder")
    assert "watermark" not in read_embedded(tmp_path / "folder" / "sample_00000.png")
    images.attrs["watermark"] = False  # what `genlab sample --no-watermark` sets
    write_samples(images, tmp_path / "plain.png")
    assert "watermark" not in read_embedded(tmp_path / "plain.png")


def test_cli_sample_watermark_survives_jpeg_and_no_watermark(tmp_path):
    from PIL import Image
    from sklearn.datasets import load_digits

    folder = tmp_path / "digits"
    d = load_digits()
    for i in range(120):
        (folder / str(d.target[i])).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(d.images[i] / 16 * 255).astype(np.uint8)).save(
            folder / str(d.target[i]) / f"{i:04d}.png")
    model = tmp_path / "img.genlab"
    code, text = run("fit", folder, "--model", "vae", "-o", model, "-p", "epochs=1",
                     "-p", "latent_dim=2", "-p", "channels=[4,4]", "-p", "hidden=8",
                     "-p", "iwae_samples=1", "--seed", "0", "-q")
    assert code == 0, text
    for name, extra in (("marked.png", []), ("plain.png", ["--no-watermark"])):
        code, text = run("sample", model, "-n", "256", "-o", tmp_path / name, "--seed", "1",
                         "-q", *extra)
        assert code == 0, text
    code, text = run("provenance", tmp_path / "marked.png")
    assert code == 0 and "watermark: found for model id" in text, text
    from genlab.data.images import read_png

    jpg = _jpeg(read_png(tmp_path / "marked.png"), tmp_path / "marked.jpg")
    code, text = run("provenance", jpg, "--model", model)
    assert code == 0 and f"verified (by its watermark): {jpg}" in text, text
    code, text = run("provenance", jpg)
    assert code == 2 and "pass --model m.genlab to look for its watermark" in text
    plain = _jpeg(read_png(tmp_path / "plain.png"), tmp_path / "plain.jpg")
    code, text = run("provenance", plain, "--model", model, "-q")
    assert code == 1 and "neither provenance nor this model's watermark" in text
