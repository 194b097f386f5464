"""Screenshots of genlab's four report pages in headless Chromium, on real data.

Builds the table report (Gaussian copula on the embedded UCI Adult sample), the evaluation
report (copula fitted on 3,000 Adult rows, scored against the other 1,000), the anomaly report
(a Gaussian mixture on ODDS cardio: fitted on 60 % of the normal rows, scoring the rest and
every anomaly) and the image report (a small conditional VAE on 4,000 MNIST digits, 12
epochs), opens each in headless Chromium via selenium, checks every image loaded and the
console logged no error, and saves a full-page PNG of each under docs/screenshots/.

    .venv/bin/python benchmarks/screenshots.py                 # all four, ~2 CPU minutes
    .venv/bin/python benchmarks/screenshots.py --only table --keep-html /tmp/pages

Needs Debian's `chromium` and `chromium-driver` and the `test` extra (selenium); the ODDS and
MNIST reports need ../shared/data (they are skipped with a message without it).
"""

from __future__ import annotations

import argparse
import base64
import io
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

import genlab

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "docs" / "screenshots"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WIDTH = 1280
MAX_HEIGHT = 16_000  # Chromium refuses larger captures; longer pages are cut


def table_report(folder: Path) -> Path:
    """The table report of a Gaussian copula on the embedded Adult sample."""
    from genlab.datasets import adult_sample_path, load_adult_sample

    real = load_adult_sample()
    model = genlab.GaussianCopula(seed=0).fit(adult_sample_path())
    synth = model.sample(len(real), seed=1)
    report = genlab.report(real, synth, model=model,
                           title="Gaussian copula on the UCI Adult sample")
    return report.save(folder / "table.html")


def evaluation_report(folder: Path) -> Path:
    """The evaluation report: copula on 3,000 Adult rows, 1,000 held out."""
    from genlab.datasets import load_adult_sample

    rows = load_adult_sample().sample(frac=1.0, random_state=0).reset_index(drop=True)
    train, test = rows.iloc[:3000], rows.iloc[3000:]
    synth = genlab.GaussianCopula(seed=0).fit(train).sample(len(train), seed=1)
    path = folder / "evaluation.html"
    genlab.evaluate(train=train, test=test, synthetic=synth, target="income",
                    sensitive=["sex", "race"], report=path)
    return path


def anomaly_report(folder: Path) -> Path | None:
    """The anomaly report of a Gaussian mixture on ODDS cardio."""
    from genlab.anomaly.run import detect_table

    source = DATA / "odds" / "cardio.npz"
    if not source.exists():
        print(f"anomaly report skipped: {source} not found")
        return None
    d = np.load(source)
    x, y = d["X"], d["y"].astype(int)
    cols = [f"x{i:02d}" for i in range(x.shape[1])]
    rng = np.random.default_rng(0)
    normal = np.flatnonzero(y == 0)
    fit_idx = rng.choice(normal, int(0.6 * len(normal)), replace=False)
    score_idx = np.setdiff1d(np.arange(len(y)), fit_idx)
    pd.DataFrame(x[fit_idx], columns=cols).to_csv(folder / "cardio-normal.csv", index=False)
    pd.DataFrame(x[score_idx], columns=cols).to_csv(folder / "cardio-score.csv", index=False)
    path = folder / "anomaly.html"
    detect_table(folder / "cardio-score.csv", folder / "cardio-flagged.csv", model="mixture",
                 fit_on=folder / "cardio-normal.csv", report=path, seed=0)
    return path


def image_report(folder: Path) -> Path | None:
    """The image report of a small class-conditional VAE on 4,000 MNIST digits."""
    from genlab.data.images import ImageSet, read_images
    from genlab.models.image.vae import ImageVAE
    from genlab.report.images import image_report as write_image_report

    source = DATA / "mnist" / "t10k-images-idx3-ubyte.gz"
    if not source.exists():
        print(f"image report skipped: {source} not found")
        return None
    ds = read_images(source)
    train = ImageSet(ds.images[:4000], ds.labels[:4000], ds.classes)
    test = ImageSet(ds.images[8000:8500], ds.labels[8000:8500], ds.classes)
    model = ImageVAE(latent_dim=8, beta=3.0, channels=(16, 32), hidden=128, iwae_samples=4,
                     batch_size=64, epochs=12, seed=0, device="cpu").fit(train,
                                                                         conditions=["label"])
    return write_image_report(model, folder / "image.html", data=test)


REPORTS: dict[str, Callable[[Path], Path | None]] = {
    "table": table_report, "evaluation": evaluation_report, "anomaly": anomaly_report,
    "image": image_report,
}


def open_browser(profile: Path):  # noqa: ANN201 - selenium's driver type
    """Headless Chromium with the console log kept (the test suite's settings)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--hide-scrollbars",
                "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                f"--window-size={WIDTH},900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def check_page(driver) -> tuple[int, list, list]:  # noqa: ANN001
    """Images on the open page, those that did not load, and SEVERE console entries."""
    images = driver.execute_script(
        "return Array.from(document.images).map(i => ({src: i.src.slice(0, 40), "
        "complete: i.complete, width: i.naturalWidth}));")
    broken = [i for i in images if not (i["complete"] and i["width"] > 0)]
    severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    return len(images), broken, severe


def screenshot(driver, page: Path, png: Path) -> tuple[int, list, list]:  # noqa: ANN001
    """Open `page`, check it, and save a full-page PNG (width `WIDTH`) to `png`."""
    driver.get(page.resolve().as_uri())
    found = check_page(driver)
    height = min(int(driver.execute_script(
        "return document.documentElement.scrollHeight")), MAX_HEIGHT)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1}})
    png.parent.mkdir(parents=True, exist_ok=True)
    # 256 colours lose nothing visible on these flat pages and shrink the files ~4x.
    image = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(png, optimize=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(REPORTS), action="append")
    parser.add_argument("--keep-html", type=Path, help="keep the HTML pages in this folder")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep_html or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        driver = open_browser(Path(scratch) / "profile")
        failures = []
        try:
            for name in args.only or REPORTS:
                page = REPORTS[name](folder)
                if page is None:
                    continue
                n, broken, severe = screenshot(driver, page, args.out / f"{name}.png")
                print(f"{name}: {n} images, {len(broken)} broken, {len(severe)} console errors"
                      f" -> {args.out / f'{name}.png'}")
                if broken or severe:
                    failures.append((name, broken, severe))
        finally:
            driver.quit()
    if failures:
        raise SystemExit(f"pages that did not render cleanly: {failures}")


if __name__ == "__main__":
    main()
