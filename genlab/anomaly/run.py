"""What `genlab detect` does, as functions: fit or load, score, flag, explain, write."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from genlab._version import __version__
from genlab.anomaly.detector import AnomalyDetector
from genlab.anomaly.series import SeriesAnomalyDetector
from genlab.data.readers import read_table
from genlab.data.series import read_series
from genlab.data.writers import write_output
from genlab.errors import DataError
from genlab.models.registry import load
from genlab.models.series.autoregressive import SeriesModel
from genlab.provenance import now

__all__ = ["detect_series", "detect_table"]

PathLike = str | os.PathLike[str]


def _saved(model: str) -> Any | None:
    """The loaded model when `model` names a .genlab file, else None (a family name)."""
    if model.endswith(".genlab") or Path(model).is_file():
        return load(model)
    return None


def _provenance(**fields: Any) -> dict[str, Any]:
    return {"generator": f"genlab {__version__}", "command": "detect",
            "generated_at": now(),
            **{k: (str(v) if isinstance(v, Path) else v) for k, v in fields.items()
               if v is not None}}


def detect_table(
    data: PathLike, output: PathLike, *, model: str = "autoregressive",
    context: list[str] | None = None, contamination: float | None = None,
    false_alarm_rate: float = 0.01, fit_on: PathLike | None = None,
    params: dict[str, Any] | None = None, report: PathLike | None = None,
    seed: int | None = None,
) -> str:
    """Score the rows of a table, flag and explain them, write the result; one-line summary."""
    saved = _saved(model)
    if saved is not None and saved.modality != "table":
        raise DataError(f"{model!r} is a {saved.modality} model; scoring a table needs a table "
                        "model (or give --time/--value for a series model)")
    df = read_table(data)
    normal = read_table(fit_on) if fit_on is not None else df
    if fit_on is None and contamination is None and saved is None:
        # fitted on the very rows it scores, the model has seen them: the only fair threshold
        # is a share of those rows' own scores, not a held-out false-alarm rate
        contamination = false_alarm_rate
    detector = AnomalyDetector(
        saved if saved is not None else model, context=context or None,
        contamination=contamination, false_alarm_rate=false_alarm_rate,
        model_params=params, seed=seed).fit(normal)
    df = detector._frame(df)
    scores = detector.score(df)
    explained = detector._explain_rows(df, scores, top=3, only_flagged=True)
    result = df.copy()
    result["anomaly_score"] = scores
    result["anomaly_flag"] = (scores > detector.threshold_).astype(np.int64)
    result["anomaly_columns"] = ""
    result.loc[explained["row"].to_numpy(), "anomaly_columns"] = explained["columns"].to_numpy()
    result.attrs["provenance"] = _provenance(
        data=data, fit_on=fit_on, model=model, context=context or None,
        contamination=contamination, false_alarm_rate=None if contamination else false_alarm_rate,
        threshold=detector.threshold_, score="-log p(x" + (" | context)" if context else ")"),
        score_is_exact=detector.score_is_exact)
    path = write_output(result, output)
    if report is not None:
        from genlab.report.anomaly import write_anomaly_report

        shown = explained.drop(columns=[c for c in explained.columns if c.startswith("drop_")])
        shown = shown.sort_values("score", ascending=False)
        write_anomaly_report(report, scores=scores, threshold=detector.threshold_, info={
            "data": str(data), "model": f"{type(detector.model_).__name__}"
            f" ({'exact likelihood' if detector.score_is_exact else 'bound'})",
            "context": ", ".join(context or []) or "none",
            "threshold rule": (f"contamination {contamination}" if contamination else
                               f"false-alarm rate {false_alarm_rate} on held-out normal rows")},
            flagged=shown)
    n_flag = int(result["anomaly_flag"].sum())
    return f"{n_flag} of {len(df)} rows flagged -> {path}" + (
        f" (report: {report})" if report else "")


def detect_series(
    data: PathLike, output: PathLike, *, model: str = "autoregressive",
    time: str | None = None, value: str | None = None, window: int | None = None,
    contamination: float | None = None, false_alarm_rate: float = 0.01,
    fit_on: PathLike | None = None, points: PathLike | None = None,
    params: dict[str, Any] | None = None, report: PathLike | None = None,
    seed: int | None = None,
) -> str:
    """Flag anomalous intervals of a series and write them; one-line summary."""
    saved = _saved(model)
    if saved is not None and not isinstance(saved, SeriesModel):
        raise DataError(f"{model!r} is not a series model; fit one with `genlab detect --time` "
                        "or `genlab fit --data-kind series`")
    if saved is None and model != "autoregressive":
        raise DataError(f"series are modelled by the 'autoregressive' family, not {model!r}")
    if fit_on is None and contamination is None and saved is None:
        contamination = false_alarm_rate  # as for tables: scored rows were fitted on
    detector = SeriesAnomalyDetector(span=window, contamination=contamination,
                                     false_alarm_rate=false_alarm_rate, model_params=params,
                                     seed=seed)
    normal = fit_on if fit_on is not None else data
    detector.fit(read_table(normal), time=time, value=value, model=saved)
    codec = detector.model_.codec_
    series = read_series(read_table(data), time=codec["time"], value=codec["value"])
    spans = detector.intervals(series)
    spans.attrs["provenance"] = _provenance(
        data=data, fit_on=fit_on, model=model, window=detector.span_,
        contamination=contamination, false_alarm_rate=None if contamination else false_alarm_rate,
        threshold=detector.threshold_, score="mean of -log p(y_t | past, time) over the window")
    path = write_output(spans, output)
    w = detector.window_scores(series)
    if points is not None:
        table = series.frame()
        table["point_score"] = detector.point_scores(series)
        table["window_score"] = w
        table["anomaly_flag"] = (np.nan_to_num(w, nan=-np.inf) > detector.threshold_).astype(
            np.int64)
        table.attrs["provenance"] = spans.attrs["provenance"]
        write_output(table, points)
    if report is not None:
        from genlab.report.anomaly import write_anomaly_report

        x = series.times if series.times is not None else np.arange(len(series))
        write_anomaly_report(report, scores=w, threshold=detector.threshold_, info={
            "data": str(data), "value column": codec["value"],
            "time column": str(codec["time"]), "window (points)": str(detector.span_),
            "seasons (steps)": ", ".join(map(str, codec["periods"])) or "none"},
            flagged=spans, series=(x, series.values))
    return f"{len(spans)} anomalous intervals -> {path}" + (
        f" (report: {report})" if report else "")

