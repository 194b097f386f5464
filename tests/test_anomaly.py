"""Anomaly detection: point, contextual and collective anomalies, the CLI and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import genlab
from genlab.anomaly import AnomalyDetector, SeriesAnomalyDetector, intervals_from_flags
from genlab.cli import app
from genlab.data.series import read_series
from genlab.errors import DataError, ParameterError, UnsupportedOperation
from genlab.models.registry import make_model
from genlab.models.series.autoregressive import SeriesModel
from tests.conftest import real_data

SMALL_AR = {"max_minutes": 0.05, "epochs": 30, "hidden": 32}


def _table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, n)
    b = 0.9 * a + rng.normal(0, 0.3, n)
    c = rng.normal(5, 2, n)
    return pd.DataFrame({"a": a, "b": b, "c": c})


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, int]:
    """Normal rows plus one row whose `b` breaks its tie to `a` (each value alone ordinary)."""
    df = _table(300, seed=1)
    df.loc[137, ["a", "b"]] = [1.5, -1.5]
    return df, 137


@pytest.mark.parametrize("family", ["gaussian", "mixture", "copula", "autoregressive"])
def test_planted_point_anomaly_is_ranked_first(planted: tuple[pd.DataFrame, int],
                                               family: str) -> None:
    df, row = planted
    params = ({"max_minutes": 0.2, "epochs": 60, "batch_size": 64} if family == "autoregressive"
              else {})
    det = AnomalyDetector(family, seed=0, model_params=params).fit(_table(400))
    scores = det.score(df)
    assert int(np.argmax(scores)) == row
    assert det.predict(df)[row] == 1


def test_explanation_names_the_planted_column() -> None:
    train = _table(400)
    test = _table(50, seed=3)
    test.loc[7, "c"] = 40.0  # far outside c's range; a and b untouched
    det = AnomalyDetector("gaussian", seed=0).fit(train)
    exp = det.explain(test)
    assert 7 in exp["row"].tolist()
    row = exp.set_index("row").loc[7]
    assert row["columns"].split(", ")[0] == "c"
    assert row["drop_c"] > 10 * max(row["drop_a"], row["drop_b"])


def test_numpy_input_and_thresholds() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3))
    det = AnomalyDetector("gaussian", false_alarm_rate=0.05, seed=0).fit(x)
    # about 5% of fresh normal rows pass a threshold set for a 5% false-alarm rate
    rate = det.predict(rng.normal(size=(4000, 3))).mean()
    assert 0.02 < rate < 0.09
    det_c = AnomalyDetector("gaussian", contamination=0.1, seed=0).fit(x)
    assert det_c.predict(x).mean() == pytest.approx(0.1, abs=0.01)
    assert det.score_is_exact


def test_vae_scores_are_labelled_a_bound() -> None:
    det = AnomalyDetector("vae", seed=0, model_params={"epochs": 3, "max_minutes": 0.05}
                          ).fit(_table(200))
    assert not det.score_is_exact
    assert np.isfinite(det.score(_table(20, seed=5))).all()


def test_gan_has_no_likelihood() -> None:
    with pytest.raises(UnsupportedOperation, match="no likelihood"):
        AnomalyDetector("gan").fit(_table(50))


def test_contextual_anomaly_from_real_taxi_demand() -> None:
    """NYC taxi demand: a midday count at 3 a.m. on a Wednesday is odd although the count
    itself is common (and 3 a.m. on a Saturday night can be that busy)."""
    raw = pd.read_csv(real_data("nab", "realKnownCause", "nyc_taxi.csv"), parse_dates=[0])
    ts = raw["timestamp"]
    df = pd.DataFrame({"day": ts.dt.day_name(), "hour": ts.dt.hour + ts.dt.minute / 60,
                       "passengers": raw["value"].astype(float)})
    midweek = df[df["day"].isin(["Tuesday", "Wednesday", "Thursday"])]
    noon = midweek.loc[midweek["hour"].between(11, 13), "passengers"].median()
    odd = pd.DataFrame({"day": ["Wednesday"], "hour": [3.0], "passengers": [noon]})
    test = pd.concat([df.sample(500, random_state=0), odd], ignore_index=True)
    params = {"max_minutes": 0.2}
    ctx = AnomalyDetector(context=["day", "hour"], seed=0, model_params=params).fit(df)
    plain = AnomalyDetector(seed=0, model_params=params).fit(df[["passengers"]])
    s_ctx = ctx.score(test)
    # the count alone is ordinary; given the day and hour it is the most surprising row
    assert plain.predict(test[["passengers"]])[-1] == 0
    assert ctx.predict(test)[-1] == 1
    assert (s_ctx[:-1] < s_ctx[-1]).mean() > 0.99
    # the explanation points at the value, never at the given context
    assert ctx.explain(test).set_index("row").loc[len(test) - 1, "columns"] == "passengers"


def test_saved_model_is_reused(tmp_path: pytest.TempPathFactory) -> None:
    train = _table(300)
    model = genlab.Gaussian(seed=0).fit(train)
    det = AnomalyDetector(model).fit(_table(100, seed=9))
    np.testing.assert_allclose(det.score(train), -model.log_prob(train))


# -- collective anomalies ---------------------------------------------------------------------
def _hourly(days: int = 40, seed: int = 0) -> pd.DataFrame:
    n = 24 * days
    rng = np.random.default_rng(seed)
    t = pd.date_range("2024-01-01", periods=n, freq="h")
    y = 10 + 3 * np.sin(2 * np.pi * np.arange(n) / 24) + rng.normal(0, 0.3, n)
    return pd.DataFrame({"timestamp": t.astype(str), "value": y})


@pytest.fixture(scope="module")
def series_detector() -> SeriesAnomalyDetector:
    return SeriesAnomalyDetector(contamination=0.02, seed=0,
                                 model_params={"lags": 12, **SMALL_AR}).fit(
        _hourly(), time="timestamp", value="value")


@pytest.mark.parametrize("kind", ["flat", "replayed"])
def test_planted_collective_anomaly_is_an_interval(series_detector: SeriesAnomalyDetector,
                                                   kind: str) -> None:
    df = _hourly(seed=1)
    lo, hi = 600, 636
    if kind == "flat":
        df.loc[lo:hi, "value"] = df.loc[lo, "value"]
    else:  # night-time values replayed at midday: every value is ordinary on its own
        df.loc[lo:hi, "value"] = df["value"].to_numpy()[lo - 12:hi - 11]
    values = df["value"].to_numpy()
    assert values.min() <= df.loc[lo:hi, "value"].min() and df.loc[lo:hi, "value"].max() <= (
        values.max())
    spans = series_detector.intervals(df)
    assert len(spans) >= 1
    top = spans.iloc[0]
    assert top["start_index"] <= hi and top["end_index"] >= lo  # the worst interval overlaps
    assert {"start", "end", "points", "peak_score"} <= set(spans.columns)
    assert isinstance(top["start"], pd.Timestamp)


def test_intervals_from_flags() -> None:
    flags = np.zeros(20, bool)
    flags[[2, 3, 4, 9, 15, 16]] = True
    assert intervals_from_flags(flags) == [(2, 4), (9, 9), (15, 16)]
    assert intervals_from_flags(flags, max_gap=5) == [(2, 16)]
    assert intervals_from_flags(np.zeros(5, bool)) == []


def test_series_model_roundtrip_and_continuation(tmp_path: pytest.TempPathFactory) -> None:
    m = SeriesModel(seed=0, lags=12, **SMALL_AR).fit(_hourly(20))
    path = m.save(tmp_path / "s.genlab")
    back = genlab.load(path)
    assert isinstance(back, SeriesModel)
    a, b = m.sample(30, seed=4, paths=2), back.sample(30, seed=4, paths=2)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 60 and list(a.columns) == ["path", "timestamp", "value"]
    assert a["timestamp"].iloc[0] == pd.Timestamp("2024-01-21 00:00:00")
    lp = m.point_log_prob(_hourly(20))
    assert np.isnan(lp[:m.window_]).all() and np.isfinite(lp[m.window_:]).all()
    per_step = m.log_prob(_hourly(20))
    assert per_step[m.window_:].sum() == pytest.approx(np.nansum(lp))
    np.testing.assert_allclose(back.log_prob(_hourly(20)), per_step, rtol=1e-6)


@pytest.fixture(scope="module")
def small_series_model() -> SeriesModel:
    return make_model("autoregressive", "series", seed=0, lags=12, **SMALL_AR).fit(
        _hourly(20), time="timestamp", value="value")


def test_series_log_prob_is_one_finite_value_per_row(small_series_model: SeriesModel) -> None:
    m, df = small_series_model, _hourly(20, seed=3)
    lp = m.log_prob(df)
    assert lp.shape == (len(df),) and lp.dtype == np.float64 and np.isfinite(lp).all()
    w = m.window_
    # points with history: the conditional; the first window: the time-only marginal
    np.testing.assert_allclose(lp[w:], m.point_log_prob(df)[w:])
    np.testing.assert_allclose(lp[:w], m.point_log_prob(df, past=False)[:w])
    assert np.isfinite(m.point_log_prob(df, past=False)).all()
    with pytest.raises(ParameterError, match="log_prob takes no conditions"):
        m.log_prob(df, conditions={"value": 1.0})


def test_series_sample_seeding_and_provenance(small_series_model: SeriesModel) -> None:
    m = small_series_model
    a, b = m.sample(24), m.sample(24)
    assert not np.allclose(a["value"], b["value"])  # no seed: a fresh one each call
    assert a.attrs["provenance"]["seed"] != b.attrs["provenance"]["seed"]
    c, d = m.sample(24, seed=7, paths=3), m.sample(24, seed=7, paths=3)
    pd.testing.assert_frame_equal(c, d)
    prov = c.attrs["provenance"]
    assert prov["seed"] == 7 and prov["modality"] == "series" and prov["family"] == (
        "autoregressive")
    assert c.attrs["modality"] == "series" and len(c) == 72
    # an unseeded draw is reproduced from the seed it recorded
    pd.testing.assert_frame_equal(m.sample(24, seed=a.attrs["provenance"]["seed"]), a)


def test_series_sample_history_option(small_series_model: SeriesModel) -> None:
    m = small_series_model
    hist = _hourly(20, seed=8)["value"].to_numpy()
    x = m.sample(10, seed=1, history=hist)
    pd.testing.assert_frame_equal(x, m.sample(10, seed=1, history=list(hist)))
    assert len(x.attrs["provenance"]["options"]["history"]) == m.window_
    conditions, options = m.parse_where({"paths": "2", "history": ",".join(map(str, hist))})
    assert conditions == {} and options["paths"] == 2
    pd.testing.assert_frame_equal(m.sample(10, seed=1, **options),
                                  m.sample(10, seed=1, paths=2, history=hist))
    with pytest.raises(DataError, match=r"history has 3 values; the model needs"):
        m.sample(5, history=hist[:3])
    with pytest.raises(ParameterError, match="history must be a 1-D array"):
        m.sample(5, history=np.ones((4, 30)))
    with pytest.raises(DataError, match="history holds NaN"):
        m.sample(5, history=np.r_[hist, np.nan])
    with pytest.raises(ParameterError, match="sample takes no conditions"):
        m.sample(5, conditions={"value": 1.0})
    with pytest.raises(ParameterError, match=r"paths must be in \[1, 100000\]"):
        m.sample(5, paths=0)
    with pytest.raises(ParameterError, match="fit takes no conditions"):
        SeriesModel(lags=12).fit(_hourly(5), conditions=["value"])


# -- bad input ------------------------------------------------------------------------------
def test_scoring_other_columns_is_refused() -> None:
    det = AnomalyDetector("gaussian", seed=0).fit(_table(100))
    with pytest.raises(DataError, match=r"columns differ from the fit \(unknown column\(s\) "
                                        r"\['d'\]; missing column\(s\) \['c'\]\)"):
        det.score(_table(10).rename(columns={"c": "d"}))


@pytest.mark.parametrize("q", [0.0, 0.5, 0.7, -0.1])
def test_contamination_outside_range_is_refused(q: float) -> None:
    with pytest.raises(ParameterError, match=r"contamination must be a share strictly "
                                             r"between 0 and 0.5"):
        AnomalyDetector("gaussian", contamination=q).fit(_table(50))
    with pytest.raises(ParameterError, match="contamination must be"):
        SeriesAnomalyDetector(contamination=q).fit(_hourly(5))


def test_non_numeric_value_column_is_refused() -> None:
    df = _hourly(5)
    df["value"] = df["value"].astype(str)
    df.loc[3, "value"] = "high"
    with pytest.raises(DataError, match=r"value column 'value' is not numeric \(1 values such "
                                        r"as 'high'"):
        read_series(df, time="timestamp", value="value")


def test_unparseable_time_column_is_refused() -> None:
    df = _hourly(5)
    df.loc[4, "timestamp"] = "yesterday-ish"
    with pytest.raises(DataError, match=r"time column 'timestamp' could not be parsed .*"
                                        r"'yesterday-ish'"):
        read_series(df, time="timestamp", value="value")


def test_series_shorter_than_a_window_is_refused(series_detector: SeriesAnomalyDetector) -> None:
    with pytest.raises(DataError, match=r"the series has 30 points but the model needs at "
                                        r"least \d+ \(its window is"):
        series_detector.intervals(_hourly(40).head(30))
    with pytest.raises(DataError, match="the training series has 20 points"):
        SeriesModel(lags=24).fit(_hourly(1).head(20))


# -- command line ---------------------------------------------------------------------------
def _run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_cli_detect_table_with_report(tmp_path: pytest.TempPathFactory,
                                      planted: tuple[pd.DataFrame, int]) -> None:
    df, row = planted
    normal = tmp_path / "normal.csv"
    data = tmp_path / "data.csv"
    _table(400).to_csv(normal, index=False)
    df.to_csv(data, index=False)
    out, rep = tmp_path / "flagged.csv", tmp_path / "r.html"
    code, text = _run("detect", data, "--model", "gaussian", "--fit-on", normal, "-o", out,
                      "--report", rep, "--seed", "0")
    assert code == 0, text
    res = pd.read_csv(out)
    assert res["anomaly_score"].idxmax() == row and res.loc[row, "anomaly_flag"] == 1
    assert res.loc[row, "anomaly_columns"].split(", ")[0] in ("a", "b")
    prov = json.loads((tmp_path / "flagged.csv.provenance.json").read_text())
    assert prov["command"] == "detect" and prov["score_is_exact"] is True
    page = rep.read_text()
    assert "Score distribution" in page and "data:image/png;base64," in page


def test_cli_detect_series(tmp_path: pytest.TempPathFactory) -> None:
    df = _hourly(30, seed=2)
    df.loc[500:530, "value"] = df.loc[500, "value"]
    data = tmp_path / "series.csv"
    df.to_csv(data, index=False)
    out, pts, rep = tmp_path / "spans.csv", tmp_path / "points.csv", tmp_path / "s.html"
    code, text = _run("detect", data, "--time", "timestamp", "--value", "value",
                      "--contamination", "0.03", "-o", out, "--points", pts, "--report", rep,
                      "-p", "lags=12", "-p", "max_minutes=0.05", "-p", "hidden=32",
                      "--seed", "0", "--quiet")
    assert code == 0, text
    spans = pd.read_csv(out)
    assert ((spans["start_index"] <= 530) & (spans["end_index"] >= 500)).any()
    assert {"point_score", "window_score", "anomaly_flag"} <= set(pd.read_csv(pts).columns)
    assert "Series and flagged intervals" in rep.read_text()


@pytest.mark.parametrize(("args", "message"), [
    (["--contamination", "0.7"], "contamination must be a share strictly between 0 and 0.5"),
    (["--time", "when"], "time column 'when' is not in the data"),
    (["--model", "gan"], "gan has no likelihood"),
    (["--context", "nope"], "context column(s) ['nope'] are not in the data"),
])
def test_cli_detect_bad_input_is_one_line(tmp_path: pytest.TempPathFactory, args: list[str],
                                          message: str) -> None:
    data = tmp_path / "d.csv"
    _table(60).to_csv(data, index=False)
    code, text = _run("detect", data, "-o", tmp_path / "o.csv", *args)
    assert code == 2
    assert message in text and "Traceback" not in text
    assert len(text.strip().splitlines()) == 1


def test_time_only_surprise_catches_a_level_shift(series_detector: SeriesAnomalyDetector
                                                  ) -> None:
    """A stretch shifted up by 3 units: the level is odd for those hours whatever the past."""
    df = _hourly(seed=4)
    df.loc[600:700, "value"] += 3.0
    m = series_detector.model_
    past = -m.point_log_prob(df)
    level = -m.point_log_prob(df, past=False)
    inside, before = slice(620, 700), slice(400, 580)
    assert np.nanmean(level[inside]) - np.nanmean(level[before]) > 2.0
    assert np.isfinite(past[inside]).all()
    spans = series_detector.intervals(df)
    assert ((spans["start_index"] <= 700) & (spans["end_index"] >= 600)).any()


def test_cli_fit_and_continue_a_series(tmp_path: pytest.TempPathFactory) -> None:
    data, model, out = tmp_path / "s.csv", tmp_path / "s.genlab", tmp_path / "future.csv"
    _hourly(20).to_csv(data, index=False)
    code, text = _run("fit", data, "--data-kind", "series", "-o", model, "-p", "lags=12",
                      "-p", "max_minutes=0.05", "--seed", "0")
    assert code == 0, text
    assert "SeriesModel" in text
    code, text = _run("sample", model, "-n", "48", "-o", out, "--seed", "1")
    assert code == 0, text
    future = pd.read_csv(out, parse_dates=["timestamp"])
    assert len(future) == 48 and future["timestamp"].iloc[0] == pd.Timestamp("2024-01-21")
    # the continuation keeps the daily rhythm: highs near 6 a.m., lows near 6 p.m.
    by_hour = future.groupby(future["timestamp"].dt.hour)["value"].mean()
    assert by_hour.loc[4:8].mean() > by_hour.loc[16:20].mean() + 2
    code, text = _run("models")
    assert "series" in text


@pytest.mark.browser
def test_anomaly_report_renders_in_chromium(tmp_path: pytest.TempPathFactory) -> None:
    from tests.test_report import assert_renders_in_chromium

    df = _hourly(20, seed=5)
    df.loc[300:330, "value"] = df.loc[300, "value"]
    data, rep = tmp_path / "s.csv", tmp_path / "r.html"
    df.to_csv(data, index=False)
    code, text = _run("detect", data, "--time", "timestamp", "--value", "value", "-o",
                      tmp_path / "o.csv", "--report", rep, "-p", "lags=12",
                      "-p", "max_minutes=0.05", "--seed", "0", "--contamination", "0.05")
    assert code == 0, text
    assert assert_renders_in_chromium(rep, user_data_dir=tmp_path / "chrome") >= 2


def _hourly_with_gap(days: int = 40, seed: int = 0) -> tuple[pd.DataFrame, slice]:
    """An hourly series whose timestamps jump two days (47 hours never observed)."""
    df = _hourly(days, seed=seed)
    gap = slice(500, 547)
    return df.drop(index=range(gap.start, gap.stop)).reset_index(drop=True), gap


def test_two_day_gap_is_one_warning_and_masked() -> None:
    df, gap = _hourly_with_gap()
    with pytest.warns(UserWarning) as record:
        s = read_series(df, time="timestamp", value="value")
    texts = [str(w.message) for w in record]
    assert texts == ["series 'value': 1 gap (longest 2 days 00:00:00 between observations, 47 "
                     "missing steps of 1h): 0 of at most 3 steps interpolated, 1 longer marked "
                     "missing (47 points; nothing is predicted across them)"]
    assert len(s) == 24 * 40 and s.step_seconds == 3600.0
    assert np.flatnonzero(s.missing).tolist() == list(range(gap.start, gap.stop))
    assert (np.diff(s.seconds) == 3600.0).all()  # on the regular grid again


def test_no_prediction_spans_a_gap() -> None:
    df, gap = _hourly_with_gap()
    with pytest.warns(UserWarning, match="1 gap"):
        det = SeriesAnomalyDetector(contamination=0.02, seed=0,
                                    model_params={"lags": 12, **SMALL_AR}).fit(
            df, time="timestamp", value="value")
        s = read_series(df, time="timestamp", value="value")
    points, windows = det.point_scores(s), det.window_scores(s)
    offsets = det.model_._lag_offsets()
    for t in range(len(s)):  # a score exists only where no lag reaches into the gap
        reaches = gap.start <= t < gap.stop or any(gap.start <= t - o < gap.stop
                                                   for o in offsets)
        assert np.isnan(points[t]) or not reaches, t
    assert np.isnan(points[gap.start:gap.stop + 1]).all()
    assert np.isnan(windows[gap]).all() and np.isfinite(points[gap.stop + 200:]).any()
    for _, row in det.intervals(s).iterrows():
        assert row["end_index"] < gap.start or row["start_index"] >= gap.stop


def test_short_gaps_are_interpolated_without_masking() -> None:
    df = _hourly(10).drop(index=[100, 101, 200]).reset_index(drop=True)
    with pytest.warns(UserWarning, match=r"2 gaps \(longest 3h between observations, 2 missing "
                                         r"steps of 1h\): 2 of at most 3 steps interpolated, 0 "):
        s = read_series(df, time="timestamp", value="value")
    assert len(s) == 240 and not s.missing.any() and np.isfinite(s.values).all()


def test_timestamps_too_irregular_for_a_grid_are_refused() -> None:
    df = _hourly(2)
    df.loc[len(df) - 1, "timestamp"] = "2030-01-01 00:00:00"
    with pytest.raises(DataError, match=r"time column 'timestamp' is too irregular for a "
                                        r"series: 48 points span \d+ steps of 1h"):
        read_series(df, time="timestamp", value="value")


def test_two_separated_planted_anomalies_are_two_intervals() -> None:
    """A strong and a weaker event four days apart, detected in the series they sit in:
    the strong one's smeared window scores must not use up the flagged share."""
    df = _hourly(40)
    df.loc[300:330, "value"] = df.loc[300, "value"]  # a flat line
    df.loc[700:730, "value"] = df["value"].to_numpy()[688:719]  # night replayed at midday
    det = SeriesAnomalyDetector(contamination=0.05, seed=0,
                                model_params={"lags": 12, **SMALL_AR}).fit(
        df, time="timestamp", value="value")
    spans = det.intervals(df)
    assert len(spans) == 2
    hits = {(lo, hi): ((spans["start_index"] <= hi) & (spans["end_index"] >= lo)).sum()
            for lo, hi in [(300, 330), (700, 730)]}
    assert hits == {(300, 330): 1, (700, 730): 1}


def test_find_events_keeps_a_weaker_event_beside_a_strong_smear() -> None:
    from genlab.anomaly.series import find_events

    w = np.zeros(200)
    w[40:60] = 10.0
    w[30:70] += 3.0  # the strong event's window smear
    w[150:155] = 5.0  # a weaker event elsewhere
    events, next_peak = find_events(w, halo=10, budget=25)
    # the smear (30-39, 60-69) is below half the peak and may not start an event
    assert [(a, b) for a, b, _ in events] == [(40, 59), (150, 154)] and next_peak == 0.0
    events, next_peak = find_events(w, halo=10, budget=15)
    assert [(a, b) for a, b, _ in events] == [(40, 59)] and next_peak == 5.0
    events, _ = find_events(w, halo=10, above=5.0)
    assert [(a, b) for a, b, _ in events] == [(40, 59)]
