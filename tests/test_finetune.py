"""Fine-tuning pre-trained encoders (genlab.FineTunedClassifier / genlab.finetune)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import genlab
from genlab.errors import DataError, ParameterError, UnsupportedOperation

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # budget warnings of tiny fits


def _images(n: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class 1 is bright on top, class 0 bright at the bottom, with noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    imgs = rng.integers(0, 40, (n, 8, 8)).astype(np.uint8)
    imgs[y == 1, :4] += 160
    imgs[y == 0, 4:] += 160
    return imgs, y


@pytest.fixture(scope="module")
def image_vae() -> genlab.ImageVAE:
    imgs, _ = _images(120, seed=1)
    return genlab.ImageVAE(latent_dim=4, channels=(4, 8), hidden=16, max_steps=20,
                           seed=0).fit(imgs)


@pytest.fixture(scope="module")
def texts() -> tuple[list[str], list[int]]:
    return (["the cat sat on the mat"] * 12 + ["a dog ran in the park"] * 12,
            [0] * 12 + [1] * 12)


@pytest.fixture(scope="module")
def char_model(texts: tuple[list[str], list[int]]) -> genlab.Transformer:
    return genlab.Transformer(layers=1, d_model=16, heads=2, context=32, max_steps=10,
                              seed=0).fit(texts[0])


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=200), "b": rng.choice(list("xyz"), 200)})
    return df.assign(y=np.where(df["a"] > 0, "pos", "neg"))


@pytest.fixture(scope="module")
def table_vae(table: pd.DataFrame) -> genlab.VAE:
    return genlab.VAE(epochs=3, hidden=(16, 16), latent_dim=4, seed=0).fit(
        table.drop(columns="y"))


def test_images_learn_and_are_reproducible(image_vae: genlab.ImageVAE) -> None:
    imgs, y = _images()
    test, y_test = _images(40, seed=5)
    a = genlab.FineTunedClassifier(image_vae, steps=40, random_state=0).fit(imgs, y)
    assert a.score(test, y_test) > 0.9
    b = genlab.FineTunedClassifier(image_vae, steps=40, random_state=0).fit(
        imgs, y, eval_set=(test, y_test), eval_every=10)
    # the accuracy curve is read along the way and does not change training
    np.testing.assert_array_equal(a.predict_proba(test), b.predict_proba(test))
    assert [s for s, _ in b.curve_] == [10, 20, 30, 40]
    assert b.steps_trained_ == 40
    assert a.predict_proba(test).shape == (40, 2)
    np.testing.assert_allclose(a.predict_proba(test).sum(1), 1.0)
    assert a.transform(test).shape == (40, 16)


def test_pretrained_weights_are_the_start_and_scratch_is_not(
        image_vae: genlab.ImageVAE) -> None:
    imgs, y = _images()
    frozen = genlab.FineTunedClassifier(image_vae, steps=5, freeze=True,
                                        random_state=0).fit(imgs, y)
    first = frozen.net_.trunk.body[0].weight.detach().numpy()
    # a linear probe leaves the copied encoder as pre-trained, and the model untouched
    np.testing.assert_array_equal(first, image_vae.net_.encoder[0].weight.detach().numpy())
    scratch = genlab.FineTunedClassifier(image_vae, init="scratch", steps=1,
                                         random_state=0).fit(imgs, y)
    fresh = scratch.net_.trunk.body[0].weight.detach().numpy()
    assert not np.allclose(fresh, first, atol=1e-3)


def test_text_transformer(char_model: genlab.Transformer,
                          texts: tuple[list[str], list[int]]) -> None:
    items, labels = texts
    clf = genlab.finetune(char_model, items, labels, steps=30, seed=0)
    assert clf.score(items, labels) == 1.0
    assert clf.predict(["the cat sat", "a dog ran"]).tolist() == [0, 1]


def test_table_vae_with_target_column(table_vae: genlab.VAE, table: pd.DataFrame) -> None:
    clf = genlab.finetune(table_vae, table, target="y", steps=150, lr=3e-3, seed=0)
    assert set(clf.classes_) == {"neg", "pos"}
    assert clf.score(table.drop(columns="y"), table["y"]) > 0.8


def test_from_a_model_file(tmp_path: Path, table_vae: genlab.VAE,
                           table: pd.DataFrame) -> None:
    path = table_vae.save(tmp_path / "m.genlab")
    a = genlab.FineTunedClassifier(str(path), steps=20, random_state=3).fit(
        table.drop(columns="y"), table["y"])
    b = genlab.FineTunedClassifier(table_vae, steps=20, random_state=3).fit(
        table.drop(columns="y"), table["y"])
    np.testing.assert_allclose(a.predict_proba(table.drop(columns="y")),
                               b.predict_proba(table.drop(columns="y")), atol=1e-6)


def test_cross_val_score_clones(table_vae: genlab.VAE, table: pd.DataFrame) -> None:
    from sklearn.model_selection import cross_val_score

    scores = cross_val_score(genlab.FineTunedClassifier(table_vae, steps=60, lr=3e-3,
                                                        random_state=0),
                             table.drop(columns="y"), table["y"], cv=2)
    assert scores.shape == (2,) and scores.min() > 0.6


# -- bad input ---------------------------------------------------------------------------
def test_model_without_encoder_names_those_with_one(table: pd.DataFrame) -> None:
    gauss = genlab.Gaussian(seed=0).fit(table.drop(columns="y"))
    with pytest.raises(UnsupportedOperation, match=r"has no encoder to fine-tune; pre-train "
                       r"one of: image vae \(ImageVAE\), sequence autoregressive"):
        genlab.finetune(gauss, table, target="y")


def test_labels_missing(table_vae: genlab.VAE, table: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="labels are missing: give y"):
        genlab.finetune(table_vae, table.drop(columns="y"))
    with pytest.raises(DataError, match="target 'label' is not a column"):
        genlab.finetune(table_vae, table, target="label")
    holes = table["y"].astype(object).copy()
    holes.iloc[3] = None
    with pytest.raises(DataError, match=r"1 label\(s\) are missing"):
        genlab.finetune(table_vae, table.drop(columns="y"), holes)


def test_class_with_one_example(table_vae: genlab.VAE, table: pd.DataFrame) -> None:
    y = table["y"].copy()
    y.iloc[0] = "lonely"
    with pytest.raises(DataError, match="class 'lonely' has only one example"):
        genlab.finetune(table_vae, table.drop(columns="y"), y)


def test_other_modality_or_schema(table_vae: genlab.VAE, image_vae: genlab.ImageVAE,
                                  char_model: genlab.Transformer, table: pd.DataFrame) -> None:
    imgs, y = _images()
    with pytest.raises(DataError, match="pre-trained model is a table model; give a DataFrame"):
        genlab.finetune(table_vae, imgs, y)
    with pytest.raises(DataError, match=r"does not match the pre-trained model: missing "
                       r"columns \['a', 'b'\], unexpected columns \['c'\]"):
        genlab.finetune(table_vae, pd.DataFrame({"c": np.arange(10.0)}), [0, 1] * 5)
    with pytest.raises(DataError, match="pre-trained model is an image model"):
        genlab.finetune(image_vae, table, target="y")
    with pytest.raises(DataError, match=r"images are 4x4x1 but the pre-trained model saw 8x8x1"):
        genlab.finetune(image_vae, imgs[:, :4, :4], y)
    with pytest.raises(DataError, match="pre-trained model is a character Transformer"):
        genlab.finetune(char_model, imgs, y)


def test_bad_settings(table_vae: genlab.VAE, table: pd.DataFrame) -> None:
    X, y = table.drop(columns="y"), table["y"]
    with pytest.raises(ParameterError, match="needs pretrained="):
        genlab.FineTunedClassifier().fit(X, y)
    with pytest.raises(ParameterError, match="init must be 'pretrained' or 'scratch'"):
        genlab.FineTunedClassifier(table_vae, init="random").fit(X, y)
    with pytest.raises(ParameterError, match="freeze=True with init='scratch'"):
        genlab.FineTunedClassifier(table_vae, init="scratch", freeze=True).fit(X, y)
    with pytest.raises(ParameterError, match="max_steps"):
        genlab.FineTunedClassifier(table_vae, steps=0).fit(X, y)
    with pytest.raises(ParameterError, match="eval_every must be a whole number of steps"):
        genlab.FineTunedClassifier(table_vae, steps=5).fit(X, y, eval_set=(X, y), eval_every=0)


# -- command line ------------------------------------------------------------------------
def _cli(*args: object) -> tuple[int, str]:
    from typer.testing import CliRunner

    from genlab.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_cli_classify_pretrained_with_learning_curve(tmp_path: Path, table_vae: genlab.VAE,
                                                     table: pd.DataFrame) -> None:
    model = table_vae.save(tmp_path / "pre.genlab")
    table.iloc[:150].to_csv(tmp_path / "train.csv", index=False)
    table.iloc[150:].to_csv(tmp_path / "test.csv", index=False)
    page = tmp_path / "r.html"
    code, text = _cli("classify", tmp_path / "train.csv", "--target", "y", "--predict",
                      tmp_path / "test.csv", "--pretrained", model, "-p", "steps=60",
                      "-p", "lr=0.003", "--report", page, "--learning-curve", "--quiet")
    assert code == 0, text
    html = page.read_text()
    assert "Learning curve" in html and "fine-tuned" in html
    code, text = _cli("classify", tmp_path / "train.csv", "--target", "y", "--predict",
                      tmp_path / "test.csv", "--pretrained", model, "-p", "steps=60",
                      "--learning-curve", "-o", tmp_path / "p.csv")
    assert code == 0, text
    assert "50 rows classified by a fine-tuned encoder (2 classes), accuracy" in text
    sizes = [int(line.split()[2].replace(",", "")) for line in text.splitlines()
             if line.startswith("learning curve:")]
    assert sizes[0] == 20 and sizes[-1] == 150 and sizes == sorted(sizes)


def test_cli_classify_learning_curve_generative(tmp_path: Path, table: pd.DataFrame) -> None:
    table.iloc[:150].to_csv(tmp_path / "train.csv", index=False)
    table.iloc[150:].drop(columns="y").to_csv(tmp_path / "bare.csv", index=False)
    code, text = _cli("classify", tmp_path / "train.csv", "--target", "y", "--predict",
                      tmp_path / "bare.csv", "-m", "gaussian", "--learning-curve",
                      "-o", tmp_path / "p.csv")
    assert code == 2 and "--learning-curve needs the true labels" in text
    assert "Traceback" not in text


def test_cli_classify_pretrained_bad_model(tmp_path: Path, table: pd.DataFrame) -> None:
    gauss = genlab.Gaussian(seed=0).fit(table.drop(columns="y")).save(tmp_path / "g.genlab")
    table.to_csv(tmp_path / "train.csv", index=False)
    code, text = _cli("classify", tmp_path / "train.csv", "--target", "y", "--predict",
                      tmp_path / "train.csv", "--pretrained", gauss, "-o", tmp_path / "p.csv")
    assert code == 2 and "has no encoder to fine-tune; pre-train one of" in text
    assert "Traceback" not in text and len(text.strip().splitlines()) == 1


def test_cli_classify_pretrained_text_column(tmp_path: Path, char_model: genlab.Transformer,
                                             texts: tuple[list[str], list[int]]) -> None:
    model = char_model.save(tmp_path / "chars.genlab")
    frame = pd.DataFrame({"line": texts[0], "who": ["cat" if v == 0 else "dog"
                                                    for v in texts[1]]})
    frame.to_csv(tmp_path / "lines.csv", index=False)
    code, text = _cli("classify", tmp_path / "lines.csv", "--target", "who", "--predict",
                      tmp_path / "lines.csv", "--pretrained", model, "-p", "steps=30",
                      "-o", tmp_path / "p.csv")
    assert code == 0, text
    assert "24 rows classified by a fine-tuned encoder (2 classes), accuracy 1.0000" in text
    frame.assign(extra=1).to_csv(tmp_path / "two.csv", index=False)
    code, text = _cli("classify", tmp_path / "two.csv", "--target", "who", "--predict",
                      tmp_path / "two.csv", "--pretrained", model, "-o", tmp_path / "q.csv")
    assert code == 2 and "a text model reads one text column besides the target" in text
