"""Tests of the table report: scores, plots, self-containment, atomic writes, browser."""

from __future__ import annotations

import html
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genlab.errors import DataError, ParameterError
from genlab.report.tables import build_report

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
_IN_CI = os.environ.get("CI", "").lower() == "true"
_REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def _missing_browser(reason: str) -> None:
    # A runner without a browser silently skipping the browser tests would hide regressions.
    if _IN_CI:
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(f"browser test skipped: {reason}")


def assert_renders_in_chromium(
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    user_data_dir: str | os.PathLike[str] | None = None,
) -> int:
    """Open an HTML file in headless Chromium and check it renders cleanly.

    Checks that the page title matches (`title`, or the file's own ``<title>``), that every
    image loaded with a non-zero natural width, and that the console logged nothing SEVERE.
    Skips when Chromium or chromedriver is absent, but fails when ``CI=true``.

    Returns:
        The number of images on the page.
    """
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        _missing_browser(
            f"{CHROMIUM} or {CHROMEDRIVER} not installed (apt-get install chromium chromium-driver)"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        _missing_browser(f"selenium not importable: {exc}")
    path = Path(path).resolve()
    if title is None:
        found = re.search(r"<title>(.*?)</title>", path.read_text(encoding="utf-8"), re.S)
        assert found, f"{path} has no <title>"
        title = html.unescape(found.group(1))
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as scratch:
        profile = Path(user_data_dir) if user_data_dir is not None else Path(scratch) / "profile"
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        try:
            driver.set_page_load_timeout(60)
            driver.get(path.as_uri())
            assert driver.title == title
            images = driver.execute_script(
                "return Array.from(document.images).map(i => "
                "({src: i.src.slice(0, 40), complete: i.complete, width: i.naturalWidth}));"
            )
            broken = [i for i in images if not (i["complete"] and i["width"] > 0)]
            assert not broken, f"images failed to render: {broken}"
            remote = driver.execute_script(
                "return performance.getEntriesByType('resource').map(e => e.name)"
                ".filter(n => /^https?:/.test(n));"
            )
            assert not remote, f"page fetched remote resources: {remote}"
            severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
            assert not severe, f"browser console errors: {severe}"
        finally:
            driver.quit()
    return len(images)


def _table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = 2 * x + rng.normal(scale=0.3, size=n)
    group = np.where(x > 0.5, "high", np.where(x < -0.5, "low", "mid"))
    df = pd.DataFrame(
        {
            "x": x,
            "y": y,
            "group": pd.Series(group, dtype=object),
            "flag": x + rng.normal(scale=0.2, size=n) > 0,
            "when": pd.Timestamp("2021-01-01") + pd.to_timedelta(x * 30 + 100, unit="D"),
            "count": rng.integers(0, 5, size=n),
        }
    )
    df.loc[::10, "y"] = np.nan
    df.loc[::7, "group"] = None
    return df


def _scores(path: Path) -> tuple[float, float]:
    text = path.read_text(encoding="utf-8")
    shape = re.search(r'id="column-shape-score" data-value="([^"]*)"', text)
    pair = re.search(r'id="pair-trend-score" data-value="([^"]*)"', text)
    assert shape and pair
    return float(shape.group(1)), float(pair.group(1))


def _column_scores(path: Path) -> list[float]:
    text = path.read_text(encoding="utf-8")
    return [float(v) for v in re.findall(r'class="num similarity" data-score="([^"]+)"', text)]


def test_report_is_self_contained_with_one_image_per_plot(tmp_path: Path) -> None:
    real, synth = _table(seed=0), _table(seed=1)
    history = [
        {"epoch": e, "train_loss": 2.0 / (e + 1), "val_loss": 2.2 / (e + 1)} for e in range(1, 6)
    ]
    out = build_report(
        real,
        synth,
        tmp_path / "sub" / "report.html",
        history=history,
        model_info={"family": "gaussian_copula", "fit seconds": "1.5"},
        extra_sections=[("Learned <graph>", '<p id="extra">edges</p>')],
    )
    assert out == tmp_path / "sub" / "report.html"
    text = out.read_text(encoding="utf-8")
    # 6 column plots + 3 association heatmaps + 1 training curve + the 3 worst pairs.
    assert text.count("<img") == 6 + 3 + 1 + 3
    assert all('alt="' in tag for tag in re.findall(r"<img[^>]*>", text))
    assert len(re.findall(r'<img src="data:image/png;base64,', text)) == 13
    assert not _REMOTE.search(text)
    assert "<script" not in text.lower()
    assert "gaussian_copula" in text and "fit seconds" in text
    assert "Learned &lt;graph&gt;" in text and '<p id="extra">edges</p>' in text
    shape, pair = _scores(out)
    assert 0.0 <= shape <= 1.0 and 0.0 <= pair <= 1.0
    assert all(0.0 <= s <= 1.0 for s in _column_scores(out))
    assert not list(out.parent.glob(".*.tmp")), "temporary file left behind"


def test_identical_tables_score_one(tmp_path: Path) -> None:
    real = _table()
    out = build_report(real, real.copy(), tmp_path / "r.html")
    shape, pair = _scores(out)
    assert shape == pytest.approx(1.0, abs=1e-9)
    assert pair == pytest.approx(1.0, abs=1e-9)


def test_shuffled_columns_keep_shapes_but_lose_pair_trends(tmp_path: Path) -> None:
    real = _table(n=500)
    rng = np.random.default_rng(3)
    shuffled = pd.DataFrame({c: real[c].to_numpy()[rng.permutation(len(real))] for c in real})
    out = build_report(real, shuffled, tmp_path / "r.html")
    shape, pair = _scores(out)
    assert shape == pytest.approx(1.0, abs=1e-9)
    assert pair < 0.9


def test_shifted_column_lowers_its_similarity(tmp_path: Path) -> None:
    real = _table()
    synth = real.copy()
    synth["x"] = synth["x"] + 3.0
    out = build_report(real, synth, tmp_path / "r.html")
    scores = dict(zip(real.columns, _column_scores(out), strict=True))
    assert scores["x"] < 0.5
    assert scores["y"] == pytest.approx(1.0)


@pytest.mark.parametrize(("drop_from", "column"), [("synthetic", "group"), ("real", "when")])
def test_mismatched_columns_raise_and_write_nothing(
    tmp_path: Path, drop_from: str, column: str
) -> None:
    real, synth = _table(), _table(seed=1)
    if drop_from == "synthetic":
        synth = synth.drop(columns=[column])
    else:
        real = real.drop(columns=[column])
    target = tmp_path / "r.html"
    with pytest.raises(DataError, match=column):
        build_report(real, synth, target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_build_leaves_existing_report_untouched(tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(DataError):
        build_report(_table(), _table().drop(columns=["x"]), target)
    assert target.read_text(encoding="utf-8") == "old"


def test_empty_tables_raise(tmp_path: Path) -> None:
    real = _table()
    with pytest.raises(DataError, match="empty"):
        build_report(real, real.iloc[:0], tmp_path / "r.html")
    with pytest.raises(DataError, match="empty"):
        build_report(pd.DataFrame(), pd.DataFrame(), tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_unknown_kind_raises(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="nonsense"):
        build_report(_table(), _table(), tmp_path / "r.html", kinds={"x": "nonsense"})


def test_degenerate_columns_do_not_crash(tmp_path: Path) -> None:
    n = 50
    real = pd.DataFrame(
        {
            "one_value": np.ones(n),
            "all_missing_synth": np.arange(n, dtype=float),
            "cat_missing_synth": ["a", "b"] * (n // 2),
            "const": ["k"] * n,
            "ident": [f"id-{i}" for i in range(n)],
            "nullable": pd.array([1, None] * (n // 2), dtype="Int64"),
            "maybe": pd.array([True, None] * (n // 2), dtype="boolean"),
            "cat": pd.Categorical(["u", "v"] * (n // 2)),
            "tz": pd.date_range("2020-01-01", periods=n, freq="h", tz="Europe/Paris"),
        }
    )
    synth = real.copy()
    synth["all_missing_synth"] = np.nan
    synth["cat_missing_synth"] = None
    out = build_report(real, synth, tmp_path / "r.html", kinds={"const": "constant", "ident": "id"})
    text = out.read_text(encoding="utf-8")
    # Every column but the id column gets a plot, plus the three heatmaps and 3 worst pairs.
    assert text.count("<img") == 8 + 3 + 3
    assert 0.0 <= _scores(out)[0] <= 1.0
    scores = _column_scores(out)
    assert len(scores) == 8 and all(0.0 <= s <= 1.0 for s in scores)


def test_single_row_and_single_column(tmp_path: Path) -> None:
    real = pd.DataFrame({"x": [1.5]})
    out = build_report(real, real, tmp_path / "r.html")
    text = out.read_text(encoding="utf-8")
    assert text.count("<img") == 1
    assert 'id="pair-trend-score" data-value=""' in text


def test_em_history_and_user_strings_are_escaped(tmp_path: Path) -> None:
    history = [{"iteration": i, "log_likelihood": -10.0 + i} for i in range(4)]
    real = pd.DataFrame({"<b>col</b>": np.arange(30.0), "c": ["x", "y", "z"] * 10})
    out = build_report(
        real,
        real,
        tmp_path / "r.html",
        title="My <report> & co",
        history=history,
        model_info={"<k>": "<v>"},
    )
    text = out.read_text(encoding="utf-8")
    assert "<title>My &lt;report&gt; &amp; co</title>" in text
    assert "<b>col</b>" not in text and "&lt;b&gt;col&lt;/b&gt;" in text
    assert "<k>" not in text and "&lt;v&gt;" in text
    assert "metrics per iteration" in text
    assert text.count("<img") == 2 + 3 + 1 + 1  # one pair


def test_wide_table_caps_association_matrix(tmp_path: Path, monkeypatch) -> None:
    from genlab.report import plots

    # Histograms are not under test here; stubbing them keeps 45 columns fast.
    monkeypatch.setattr(plots, "numeric_histogram", lambda *a, **k: "data:image/png;base64,")
    sizes: list[int] = []
    heatmap = plots.association_heatmap

    def recording_heatmap(matrix, labels, **kwargs):
        sizes.append(len(labels))
        return heatmap(matrix, labels, **kwargs)

    monkeypatch.setattr(plots, "association_heatmap", recording_heatmap)
    rng = np.random.default_rng(0)
    real = pd.DataFrame({f"c{i:02d}": rng.normal(size=60) for i in range(45)})
    out = build_report(real, real, tmp_path / "r.html")
    text = out.read_text(encoding="utf-8")
    assert "first 40 columns" in text
    assert sizes == [40, 40, 40]
    assert text.count("<img") == 45 + 3 + 3


def test_kind_inference_is_the_codecs(tmp_path: Path) -> None:
    from genlab.data.tabular import TabularCodec
    from genlab.report.kinds import table_kinds

    s = pd.Series
    df = pd.DataFrame({
        "flag": s([True, False] * 15),
        "when": s(pd.date_range("2020-01-01", periods=30, freq="D")),
        "text_when": s([f"2021-01-{d:02d}" for d in range(1, 31)]),
        "x": s(np.linspace(0.0, 1.0, 30)),
        "whole": s(np.arange(30.0)),
        "few": s(np.arange(30) % 5),
        "c": s(["a", "b", "c"] * 10),
        "one": s(["k"] * 30),
        "ident": s([f"id-{i}" for i in range(30)]),
    })
    with pytest.warns(UserWarning, match="identifier"):
        fitted = TabularCodec.fit(df).kinds
    assert table_kinds(df) == fitted
    assert fitted == {"flag": "boolean", "when": "datetime", "text_when": "datetime",
                      "x": "continuous", "whole": "integer", "few": "categorical",
                      "c": "categorical", "one": "constant", "ident": "id"}
    assert table_kinds(df, {"few": "integer"})["few"] == "integer"
    # The codec refuses a column without values; the report reads it by its dtype.
    assert table_kinds(pd.DataFrame({"empty": [np.nan] * 4}))["empty"] == "continuous"
    # A table reported without kinds shows the kinds `fit` gives.
    out = build_report(df, df, tmp_path / "r.html")
    shown = re.findall(r'<tr data-column="([^"]+)"><td>[^<]*</td><td>([^<]*)</td>',
                       out.read_text(encoding="utf-8"))
    assert dict(shown) == fitted


@pytest.mark.browser
def test_report_renders_in_chromium(tmp_path: Path) -> None:
    history = [{"epoch": e, "train_loss": 1.0 / e} for e in range(1, 5)]
    title = "Browser <check> & co"
    out = build_report(
        _table(), _table(seed=2), tmp_path / "report.html", title=title, history=history
    )
    n_images = assert_renders_in_chromium(
        out, title=title, user_data_dir=tmp_path / "chromium-profile"
    )
    assert n_images == 6 + 3 + 1 + 3
