"""The four report pages (table, evaluation, anomaly, image) in headless Chromium: every
image loads (natural width > 0) and the console logs no error. The same pages, on more data,
are the screenshots of docs/screenshots/ (benchmarks/screenshots.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import genlab
from tests.test_report import assert_renders_in_chromium

pytestmark = [pytest.mark.browser,
              pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")]


def _adult() -> tuple[pd.DataFrame, pd.DataFrame]:
    from genlab.datasets import load_adult_sample

    rows = load_adult_sample().sample(n=1200, random_state=0).reset_index(drop=True)
    return rows.iloc[:900], rows.iloc[900:]


def test_table_report_page_renders(tmp_path: Path) -> None:
    train, _ = _adult()
    model = genlab.GaussianCopula(seed=0).fit(train)
    page = genlab.report(train, model.sample(600, seed=1), model=model).save(
        tmp_path / "table.html")
    # 15 columns + 3 association matrices + the 3 worst pairs
    assert assert_renders_in_chromium(page, user_data_dir=tmp_path / "chrome") == 15 + 3 + 3


def test_evaluation_report_page_renders(tmp_path: Path) -> None:
    train, test = _adult()
    synth = genlab.GaussianCopula(seed=0).fit(train).sample(len(train), seed=1)
    page = tmp_path / "evaluation.html"
    genlab.evaluate(train=train, test=test, synthetic=synth, target="income",
                    sensitive=["sex"], report=page)
    assert assert_renders_in_chromium(page, user_data_dir=tmp_path / "chrome") >= 15 + 3


def test_anomaly_report_page_renders(tmp_path: Path) -> None:
    from genlab.anomaly.run import detect_table

    rng = np.random.default_rng(0)
    normal = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    data = pd.concat([normal.iloc[:50], pd.DataFrame({"a": [8.0], "b": [-7.0], "c": [9.0]})])
    normal.to_csv(tmp_path / "normal.csv", index=False)
    data.to_csv(tmp_path / "data.csv", index=False)
    page = tmp_path / "anomaly.html"
    detect_table(tmp_path / "data.csv", tmp_path / "flagged.csv", model="gaussian",
                 fit_on=tmp_path / "normal.csv", report=page, seed=0)
    assert assert_renders_in_chromium(page, user_data_dir=tmp_path / "chrome") >= 1


def test_image_report_page_renders(tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    from genlab.data.images import ImageSet
    from genlab.models.image.vae import ImageVAE
    from genlab.report.images import image_report

    d = load_digits()
    imgs = np.round(d.images[:300] / 16 * 255).astype(np.uint8)[..., None]
    digits = ImageSet(imgs, d.target[:300].astype(np.int64), [str(k) for k in range(10)])
    model = ImageVAE(latent_dim=3, channels=(8, 8), hidden=16, iwae_samples=2, epochs=1,
                     device="cpu", seed=0).fit(digits, conditions=["label"])
    page = image_report(model, tmp_path / "image.html", data=digits)
    assert assert_renders_in_chromium(page, user_data_dir=tmp_path / "chrome") >= 3
