"""`genlab augment` end to end: tables, text tables, image folders and .npz; bad input as one
line with exit code 2 and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from genlab.augment import augment, write_augmented
from genlab.cli import app
from genlab.data.images import ImageSet, read_images

runner = CliRunner()


def run(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def table(tmp_path: Path, mixed_df: pd.DataFrame) -> Path:
    path = tmp_path / "train.csv"
    mixed_df.dropna().to_csv(path, index=False)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "digits"
    for cls in ("0", "1"):
        (root / cls).mkdir(parents=True)
        for i in range(4):
            img = (rng.random((10, 10)) * 255).astype(np.uint8)
            Image.fromarray(img).save(root / cls / f"{i}.png")
    return root


def test_table_in_table_out_with_marks_provenance_and_report(table, tmp_path):
    out, page = tmp_path / "aug.csv", tmp_path / "aug.html"
    code, text = run("augment", table, "--target", "group", "-o", out, "--balance",
                     "--model", "gaussian", "--report", page, "--quiet")
    assert code == 0, text
    df, real = pd.read_csv(out), pd.read_csv(table)
    assert len(df) == 3 * real["group"].value_counts().max()
    assert df["synthetic"].sum() == len(df) - len(real)
    prov = json.loads(Path(str(out) + ".provenance.json").read_text())
    assert prov["augmentation"]["method"] == "generative" and prov["model"]["family"] == "gaussian"
    html = page.read_text()
    assert "Class a" in html and "generative" in html and "<table" in html


def test_text_table_classic(tmp_path):
    lines = ["the king rides out to war today", "my lord the queen is coming here",
             "good morrow to you my fair lady", "what news from the north my lord"]
    src = tmp_path / "lines.csv"
    pd.DataFrame({"text": lines * 3, "label": ["a", "b"] * 6}).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    code, text = run("augment", src, "-o", out, "--method", "classic", "--factor", "2",
                     "--report", tmp_path / "t.html")
    assert code == 0, text
    df = pd.read_csv(out)
    assert list(df.columns) == ["text", "label", "synthetic"] and len(df) == 36
    assert df["synthetic"].sum() == 24
    assert "<li>" in (tmp_path / "t.html").read_text()


def test_image_folder_in_folder_out(folder, tmp_path):
    out = tmp_path / "aug"
    code, text = run("augment", folder, "-o", out, "--method", "classic", "--factor", "1.5",
                     "--report", tmp_path / "i.html")
    assert code == 0, text
    ds = read_images(out)
    assert ds.classes == ["0", "1"] and len(ds) == 8 + 12
    names = sorted(p.name for p in (out / "0").iterdir())
    assert names[:4] == [f"real_0000{i}.png" for i in range(4)]
    assert names[4].startswith("synthetic_00000_classic")
    assert (tmp_path / "aug.provenance.json").exists()
    assert "data:image/png;base64," in (tmp_path / "i.html").read_text()


def test_npz_generative_with_a_model_file(folder, tmp_path):
    from genlab.images import ImageVAE

    model = tmp_path / "m.genlab"
    ImageVAE(latent_dim=2, channels=(4, 4), hidden=8, max_steps=2, batch_size=4,
             val_fraction=0.0, epochs=50, iwae_samples=2, seed=0).fit(
        folder, conditions=["label"]).save(model)
    ds = read_images(folder)
    src = tmp_path / "in.npz"
    np.savez(src, images=ds.images, labels=np.asarray(ds.classes)[ds.labels].astype(int))
    out = tmp_path / "out.npz"
    code, text = run("augment", src, "-o", out, "--model", model, "--factor", "1", "-q")
    assert code == 0, text
    with np.load(out) as z:
        assert z["images"].shape == (16, 10, 10, 1) and z["synthetic"].sum() == 8
        assert sorted(set(z["labels"][z["synthetic"]].tolist())) == [0, 1]


@pytest.mark.parametrize(("args", "message"), [
    (["--target", "nope"], "target column 'nope' is not in the table"),
    (["--target", "group", "--factor", "0"], "--factor must be > 0"),
    (["--target", "group", "--factor", "-2"], "--factor must be > 0"),
    (["--target", "group", "--method", "classic"], "tables have no classic transforms"),
    (["--target", "group", "--text-column", "x1"], "column 'x1' is not text"),
    (["--target", "group", "--factor", "1", "--balance"], "give --factor or --balance"),
    (["--target", "group", "--model", "nosuch"], "model must be a table family"),
])
def test_bad_table_input_one_line_nothing_written(table, tmp_path, args, message):
    out = tmp_path / "o.csv"
    code, text = run("augment", table, "-o", out, *args)
    assert code == 2 and message in text and "Traceback" not in text
    assert len(text.strip().splitlines()) == 1
    assert not out.exists() and not Path(str(out) + ".provenance.json").exists()


def test_a_class_with_one_example(tmp_path, mixed_df):
    df = mixed_df.dropna().copy()
    df.loc[df.index[0], "group"] = "solo"
    src = tmp_path / "t.csv"
    df.to_csv(src, index=False)
    code, text = run("augment", src, "--target", "group", "-o", tmp_path / "o.csv")
    assert code == 2 and "'solo' of group have fewer than 2 examples" in text


def test_images_of_mixed_sizes_and_without_labels(folder, tmp_path):
    Image.fromarray(np.zeros((12, 12), np.uint8)).save(folder / "1" / "big.png")
    code, text = run("augment", folder, "-o", tmp_path / "o")
    assert code == 2 and "images have different sizes" in text and "--size HxW" in text
    assert not (tmp_path / "o").exists()
    code, text = run("augment", folder, "-o", tmp_path / "o", "--size", "10x10", "--method",
                     "classic", "-q")
    assert code == 0, text
    assert read_images(tmp_path / "o").images.shape[1:3] == (10, 10)
    code, text = run("augment", folder, "-o", tmp_path / "o9", "--size", "ten")
    assert code == 2 and "--size must look like HxW" in text
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(flat / f"{i}.png")
    code, text = run("augment", flat, "-o", tmp_path / "o2")
    assert code == 2 and "images carry no labels" in text
    code, text = run("augment", flat, "-o", tmp_path / "o3.csv")
    assert code == 2 and "go to a .npz file or a new folder" in text


def test_a_failing_report_leaves_nothing(folder, tmp_path, monkeypatch):
    import genlab.augment.report as report

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "r.html"))

    monkeypatch.setattr(report, "write_augment_report", boom)
    for out in (tmp_path / "o", tmp_path / "o.npz"):
        code, text = run("augment", folder, "-o", out, "--method", "classic", "--report",
                         tmp_path / "r.html")
        assert code == 2 and "no space left" in text
        assert sorted(p.name for p in tmp_path.iterdir()) == ["digits"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(n=st.integers(2, 5), h=st.integers(1, 6), c=st.sampled_from([1, 3]),
       classes=st.lists(st.sampled_from(["0", "7", "cat", "a b"]), min_size=2, max_size=3,
                        unique=True), seed=st.integers(0, 2**16), layout=st.sampled_from(
                            ["npz", "folder"]))
def test_written_augmented_images_read_back_the_same(tmp_path_factory, n, h, c, classes, seed,
                                                     layout):
    rng = np.random.default_rng(seed)
    k = len(classes)
    images = rng.integers(0, 256, (n * k, h, h + 1, c), dtype=np.uint8)
    ds = ImageSet(images, np.repeat(np.arange(k), n), sorted(classes))
    res = augment(ds, method="classic", factor=1, seed=seed)
    base = tmp_path_factory.mktemp("rt")
    out = base / ("o.npz" if layout == "npz" else "o")
    write_augmented(res, out)
    back = read_images(out)
    real = res.data.images
    if layout == "npz":
        assert np.array_equal(back.images, real)
        with np.load(out) as z:
            assert np.array_equal(z["synthetic"], res.synthetic)
        assert [back.classes[i] for i in back.labels] == [
            str(int(v)) if v.isdigit() else v for v in np.asarray(ds.classes)[res.data.labels]]
    else:  # grouped by class folder: compare per class as multisets of images
        safe = {cls: cls.replace(" ", "_") for cls in ds.classes}
        for code, cls in enumerate(ds.classes):
            mine = real[res.data.labels == code]
            theirs = back.images[back.labels == back.classes.index(safe[cls])]
            key = lambda a: sorted(x.tobytes() for x in a)  # noqa: E731
            assert key(mine) == key(theirs)


def test_output_is_never_the_input_or_inside_it(table, folder):
    code, text = run("augment", table, "--target", "group", "-o", table)
    assert code == 2 and "also an input" in text
    code, text = run("augment", folder, "-o", folder / "aug")
    assert code == 2 and "inside the input folder" in text
    assert sorted(p.name for p in folder.iterdir()) == ["0", "1"]


def test_full_disk_at_the_sidecar_leaves_no_table(table, tmp_path, monkeypatch):
    import genlab.provenance as provenance

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "o.csv.provenance.json"))

    monkeypatch.setattr(provenance, "write_provenance", full)
    code, text = run("augment", table, "--target", "group", "-o", tmp_path / "o.csv",
                     "--model", "gaussian")
    assert code == 2 and "no space left" in text and not (tmp_path / "o.csv").exists()
