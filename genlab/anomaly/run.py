"""What `genlab detect` does, as functions: fit or load, score, flag, explain, write."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from genlab._atomic import atomic_group
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

__all__ = ["OUTPUT_COLUMNS", "POINT_COLUMNS", "detect_series", "detect_table"]

PathLike = str | os.PathLike[str]
OUTPUT_COLUMNS = ("anomaly_score", "anomaly_flag", "anomaly_columns")
POINT_COLUMNS = ("point_score", "window_score", "anomaly_flag")


def _check_free(columns: Any, taken: tuple[str, ...], data: PathLike) -> None:
    """Refuse input columns the output would overwrite: the user's values are never lost."""
    clash = [c for c in taken if c in set(map(str, columns))]
    if clash:
        raise DataError(f"{str(data)!r} already has column(s) {clash}, which detect writes; "
                        "rename or drop them first (they would be overwritten)")


def _saved(model: str, max_memory: int | None = None) -> Any | None:
    """The loaded model when `model` names a .genlab file, else None (a family name)."""
    if model.endswith(".genlab") or Path(model).is_file():
        return load(model, max_memory=max_memory)
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
    seed: int | None = None, max_memory: int | None = None,
    limits: dict[str, int] | None = None,
) -> str:
    """Score the rows of a table, flag and explain them, write the result; one-line summary.
    `max_memory` bounds a saved model's unpacked weights, `limits` the table reader."""
    saved = _saved(model, max_memory)
    limits = limits or {}
    if saved is not None and saved.modality != "table":
        raise DataError(f"{model!r} is a {saved.modality} model; scoring a table needs a table "
                        "model (or give --time/--value for a series model)")
    df = read_table(data, **limits)
    _check_free(df.columns, OUTPUT_COLUMNS, data)
    normal = read_table(fit_on, **limits) if fit_on is not None else df
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
    with atomic_group():  # the table, its provenance and the report: all or none
        path = write_output(result, output)
        if report is not None:
            _table_report(report, data, detector, scores, explained, context, contamination,
                          false_alarm_rate)
    n_flag = int(result["anomaly_flag"].sum())
    return f"{n_flag} of {len(df)} rows flagged -> {path}" + (
        f" (report: {report})" if report else "")


def _table_report(report: PathLike, data: PathLike, detector: Any, scores: np.ndarray,
                  explained: Any, context: list[str] | None, contamination: float | None,
                  false_alarm_rate: float) -> None:
    """The HTML page of a table's detection: score histogram, threshold, flagged rows."""
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


def detect_series(
    data: PathLike, output: PathLike, *, model: str = "autoregressive",
    time: str | None = None, value: str | None = None, window: int | None = None,
    contamination: float | None = None, false_alarm_rate: float = 0.01,
    fit_on: PathLike | None = None, points: PathLike | None = None,
    params: dict[str, Any] | None = None, report: PathLike | None = None,
    seed: int | None = None, max_memory: int | None = None,
    limits: dict[str, int] | None = None,
) -> str:
    """Flag anomalous intervals of a series and write them; one-line summary (`max_memory`,
    `limits`: as for `detect_table`)."""
    saved = _saved(model, max_memory)
    limits = limits or {}
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
    detector.fit(read_table(normal, **limits), time=time, value=value, model=saved)
    codec = detector.model_.codec_
    series = read_series(read_table(data, **limits), time=codec["time"], value=codec["value"])
    if points is not None:
        _check_free([codec["time"], codec["value"]], POINT_COLUMNS, data)
    spans = detector.intervals(series)
    spans.attrs["provenance"] = _provenance(
        data=data, fit_on=fit_on, model=model, window=detector.span_,
        contamination=contamination, false_alarm_rate=None if contamination else false_alarm_rate,
        threshold=detector.threshold_, score="mean of -log p(y_t | past, time) over the window")
    w = detector.window_scores(series)
    with atomic_group():  # intervals, points, provenance and report: all or none
        path = write_output(spans, output)
        _series_extras(detector, series, w, spans, codec, data, points, report)
    return f"{len(spans)} anomalous intervals -> {path}" + (
        f" (report: {report})" if report else "")


def _series_extras(detector: Any, series: Any, w: np.ndarray, spans: Any, codec: Any,
                   data: PathLike, points: PathLike | None, report: PathLike | None) -> None:
    """The per-point table and the report of a series' detection, when asked for."""
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

