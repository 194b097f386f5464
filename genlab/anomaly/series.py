"""Collective anomalies in a time series: stretches that are odd as a whole.

A `SeriesModel` (autoregressive, mixture-density head, time of day/week as context) gives
each point two surprises: `-log p(y_t | past, time)` (are the dynamics usual?) and
`-log p(y_t | time)` (is the level usual for this hour / weekday?); their sum is the point's
score. One odd point is a spike; a stretch whose points are each only a little surprising
(a flat line, a normal-looking day replayed at the wrong hour, a level the series drifted
to) shows up in the mean score over a window of `span` points, whose spread on normal data
is much narrower than a single point's. Flagged points are merged into intervals.

On NAB (benchmarks/anomaly.py) the sum beat either term alone at every flagged share.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

import numpy as np
import pandas as pd

from genlab.data.series import Series, read_series
from genlab.errors import NotFittedError, ParameterError
from genlab.models.registry import make_model
from genlab.models.series.autoregressive import SeriesModel
from genlab.params import Estimator

__all__ = ["SeriesAnomalyDetector", "intervals_from_flags"]


def intervals_from_flags(flags: np.ndarray, *, max_gap: int = 0) -> list[tuple[int, int]]:
    """Runs of True as inclusive (start, end) index pairs; runs closer than `max_gap`
    points are merged into one.

    >>> intervals_from_flags(np.array([0, 1, 1, 0, 0, 1, 0, 1], bool), max_gap=1)
    [(1, 2), (5, 7)]
    """
    idx = np.flatnonzero(flags)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > max_gap + 1)
    starts = np.r_[idx[0], idx[breaks + 1]]
    ends = np.r_[idx[breaks], idx[-1]]
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


class SeriesAnomalyDetector(Estimator):
    """Flag anomalous intervals in a numeric time series.

    Args:
        span: points per scoring window (default: the shortest season, e.g. a day; or
            `lags`, at least 8, without seasons).
        contamination: expected share of anomalous points in the fit series; the threshold
            is that upper quantile of its window scores.
        false_alarm_rate: share of normal points allowed to be flagged; the threshold is
            that upper quantile of window scores on the last `calibration_fraction` of the
            fit series, held out from training. Used when `contamination` is not given.
        model_params: `SeriesModel` hyperparameters (e.g. `{"lags": 48, "max_minutes": 1}`).
        seed: random seed.
    """

    _parameter_constraints = {
        "seed": ("int?", 0, 2**63 - 1),
        "span": ("int?", 1, 1_000_000),
        "calibration_fraction": ("float", 0.05, 0.5),
    }

    def __init__(
        self,
        *,
        span: int | None = None,
        contamination: float | None = None,
        false_alarm_rate: float = 0.01,
        calibration_fraction: float = 0.2,
        model_params: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        self._init_params(locals())

    def fit(self, series: Any, *, time: str | None = None, value: str | None = None,
            model: SeriesModel | None = None) -> SeriesAnomalyDetector:
        """Fit the series model (or reuse a fitted `model`) and set the threshold."""
        from genlab.anomaly.detector import _check_rate

        self._validate_params()
        _check_rate("contamination", self.contamination)
        if self.contamination is None:
            _check_rate("false_alarm_rate", self.false_alarm_rate)
        started = perf_counter()
        s = read_series(series, time=time, value=value)
        hold_out = self.contamination is None and model is None
        if hold_out:
            n_cal = int(round(self.calibration_fraction * len(s)))
            fit_s = s.slice(0, len(s) - n_cal)
        else:
            fit_s = s
        if model is None:
            model = make_model("autoregressive", "series",
                               **{"seed": self.seed, **(self.model_params or {})}).fit(fit_s)
        elif not isinstance(model, SeriesModel):
            raise ParameterError(
                f"model must be a fitted SeriesModel, got {type(model).__name__}; fit one with "
                "genlab.SeriesModel().fit(series) or genlab.load a series model file")
        self.model_: SeriesModel = model  # type: ignore[assignment]
        periods = model.codec_["periods"]
        # a stretch is judged against one whole season (a day), so the daily rhythm itself
        # averages out; without seasons, against the history the model sees
        self.span_ = int(self.span or (min(periods) if periods else max(8, model.lags)))
        if hold_out:
            # the held-out part is scored with the history before it, as it would be live
            start = max(0, len(fit_s) - model.window_)
            cal = self.window_scores(s.slice(start, len(s)))[len(fit_s) - start:]
        else:
            cal = self.window_scores(s)
        cal = cal[np.isfinite(cal)]
        share = self.contamination if self.contamination is not None else self.false_alarm_rate
        self.threshold_ = float(np.quantile(cal, 1 - share)) if cal.size else np.inf
        self.fit_seconds_ = perf_counter() - started
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise NotFittedError("this SeriesAnomalyDetector is not fitted yet; call fit(series)")

    def _series(self, series: Any) -> Series:
        if isinstance(series, Series):
            return series
        if isinstance(series, (np.ndarray, pd.Series)):
            return read_series(series)
        codec = self.model_.codec_
        return read_series(series, time=codec["time"], value=codec["value"])

    def point_scores(self, series: Any) -> np.ndarray:
        """Surprise of each point, `-log p(y_t | past, time) - log p(y_t | time)` in nats
        (NaN for the first window): odd dynamics raise the first term, a level unusual for
        the time of day / week the second (a level shift the past has already adapted to)."""
        if not hasattr(self, "model_"):
            raise NotFittedError("this SeriesAnomalyDetector is not fitted yet; call fit(series)")
        s = self._series(series)
        return -(self.model_.point_log_prob(s) + self.model_.point_log_prob(s, past=False))

    def window_scores(self, series: Any) -> np.ndarray:
        """Mean surprise over the `span` points centred on each point (the score flagged)."""
        s = self.point_scores(series)
        span = self.span_ if hasattr(self, "span_") else 8
        return pd.Series(s).rolling(span, center=True, min_periods=max(1, span // 2)).mean(
        ).to_numpy()

    def score(self, series: Any) -> np.ndarray:
        """Window score per point; higher is more anomalous (same as `window_scores`)."""
        return self.window_scores(series)

    def predict(self, series: Any) -> np.ndarray:
        """1 for points inside a flagged window, else 0."""
        self._check_fitted()
        w = self.window_scores(series)
        return (np.nan_to_num(w, nan=-np.inf) > self.threshold_).astype(np.int64)

    def intervals(self, series: Any) -> pd.DataFrame:
        """Flagged intervals: `start`, `end` (times, or positions without a time column),
        `start_index`, `end_index`, `points`, `peak_score`, `mean_score`, most anomalous
        first."""
        self._check_fitted()
        s = self._series(series)
        w = self.window_scores(s)
        flags = np.nan_to_num(w, nan=-np.inf) > self.threshold_
        rows = []
        for a, b in intervals_from_flags(flags, max_gap=self.span_):
            part = w[a:b + 1]
            rows.append({
                "start": s.times.iloc[a] if s.times is not None else a,
                "end": s.times.iloc[b] if s.times is not None else b,
                "start_index": a, "end_index": b, "points": b - a + 1,
                "peak_score": float(np.nanmax(part)), "mean_score": float(np.nanmean(part)),
            })
        cols = ["start", "end", "start_index", "end_index", "points", "peak_score", "mean_score"]
        out = pd.DataFrame(rows, columns=cols)
        return out.sort_values("peak_score", ascending=False, ignore_index=True)

