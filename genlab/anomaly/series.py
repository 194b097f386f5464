"""Collective anomalies in a time series: stretches that are odd as a whole.

A `SeriesModel` (autoregressive, mixture-density head, time of day/week as context) gives
each point two surprises: `-log p(y_t | past, time)` (are the dynamics usual?) and
`-log p(y_t | time)` (is the level usual for this hour / weekday?); their sum is the point's
score. One odd point is a spike; a stretch whose points are each only a little surprising
(a flat line, a normal-looking day replayed at the wrong hour, a level the series drifted
to) shows up in the mean score over a window of `span` points, whose spread on normal data
is much narrower than a single point's.

Events are found most anomalous first: the highest window score not yet explained starts an
event, which spans the points around it whose score stays above half its height (dips of
at most `SHORT_GAP` points bridged, the rule that bridges short gaps in the timestamps); the
`span // 2` points on either side, whose windows overlap it, cannot start another one. So a
strong event's smeared window scores do not hide a weaker one elsewhere. Points of long
gaps in the timestamps (`Series.missing`), and points whose lags reach into one, get no
score: no prediction spans a gap.

On NAB (benchmarks/anomaly.py) the sum beat either term alone at every flagged share.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

import numpy as np
import pandas as pd

from genlab.data.series import SHORT_GAP, Series, read_series
from genlab.errors import NotFittedError, ParameterError
from genlab.models.registry import make_model
from genlab.models.series.autoregressive import SeriesModel
from genlab.params import Estimator

__all__ = ["SeriesAnomalyDetector", "find_events", "intervals_from_flags"]


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


def _extend(w: np.ndarray, blocked: np.ndarray, t: int, level: float, max_gap: int,
            step: int) -> int:
    """The last index from `t` in direction `step` whose score reaches `level`, crossing at
    most `max_gap` points below it in a row and no blocked point."""
    end, below, i = t, 0, t + step
    while 0 <= i < w.size and not blocked[i]:
        if w[i] >= level:
            end, below = i, 0
        else:
            below += 1
            if below > max_gap:
                break
        i += step
    return end


def find_events(w: np.ndarray, *, halo: int, above: float = -np.inf,
                budget: float = np.inf, max_gap: int = SHORT_GAP
                ) -> tuple[list[tuple[int, int, float]], float]:
    """Events of a score curve, most anomalous first, as (start, end, peak) with inclusive
    indices, and the peak of the first candidate not taken (-inf when none is left).

    The highest score not yet in an event, nor within `halo` points of one, starts an event;
    it spans the neighbours whose score stays above half way between the median score and
    the peak. Stops at the first peak not above `above`, or once the events hold `budget`
    points. NaN scores are never part of an event and stop one.

    >>> w = np.array([0, 0, 9, 9, 0, 0, 0, 0, 4, 0, 0], float)
    >>> find_events(w, halo=1, above=1.0)[0]
    [(2, 3, 9.0), (8, 8, 4.0)]
    """
    finite = np.isfinite(w)
    if not finite.any():
        return [], -np.inf
    base = float(np.median(w[finite]))
    blocked = ~finite  # points an event may not extend over
    barred = ~finite  # points that may not start an event
    order = np.argsort(-np.where(finite, w, -np.inf), kind="stable")
    events: list[tuple[int, int, float]] = []
    taken = 0
    for t in order:
        if barred[t]:
            if not finite[t]:
                break
            continue
        peak = float(w[t])
        if peak <= above or taken >= budget:
            return events, peak
        level = base + 0.5 * (peak - base)
        a = _extend(w, blocked, int(t), level, max_gap, -1)
        b = _extend(w, blocked, int(t), level, max_gap, 1)
        events.append((a, b, peak))
        taken += b - a + 1
        blocked[a:b + 1] = True
        barred[max(0, a - halo):b + halo + 1] = True
    return events, -np.inf


class SeriesAnomalyDetector(Estimator):
    """Flag anomalous intervals in a numeric time series.

    Args:
        span: points per scoring window (default: the shortest season, e.g. a day; or
            `lags`, at least 8, without seasons).
        contamination: expected share of anomalous points in the fit series; events are
            taken from it most anomalous first until they hold that share of its points,
            and the threshold is the peak of the next one (so a strong event's neighbours
            do not use up the share).
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
        self.threshold_ = self._threshold(cal)
        self.fit_seconds_ = perf_counter() - started
        return self

    def _threshold(self, cal: np.ndarray) -> float:
        """The window score above which an event is flagged, from the calibration scores."""
        finite = cal[np.isfinite(cal)]
        if not finite.size:
            return np.inf
        if self.contamination is None:  # held-out normal points: a false-alarm quantile
            return float(np.quantile(finite, 1 - self.false_alarm_rate))
        events, next_peak = find_events(cal, halo=self.span_ // 2,
                                        budget=self.contamination * finite.size)
        if np.isfinite(next_peak):
            return next_peak
        return float(np.nextafter(min(e[2] for e in events), -np.inf))

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
        out = np.array(-(self.model_.point_log_prob(s) + self.model_.point_log_prob(
            s, past=False)))
        # a prediction from a value that was never observed (a long gap) is no evidence
        out[~s.usable(self.model_._lag_offsets())] = np.nan
        return out

    def window_scores(self, series: Any) -> np.ndarray:
        """Mean surprise over the `span` points centred on each point (the score flagged)."""
        s = self._series(series)
        p = self.point_scores(s)
        span = self.span_ if hasattr(self, "span_") else 8
        w = pd.Series(p).rolling(span, center=True, min_periods=max(1, span // 2)).mean(
        ).to_numpy(copy=True)
        w[s.missing] = np.nan
        return w

    def score(self, series: Any) -> np.ndarray:
        """Window score per point; higher is more anomalous (same as `window_scores`)."""
        return self.window_scores(series)

    def predict(self, series: Any) -> np.ndarray:
        """1 for points inside a flagged window, else 0."""
        self._check_fitted()
        w = self.window_scores(series)
        return (np.nan_to_num(w, nan=-np.inf) > self.threshold_).astype(np.int64)

    def intervals(self, series: Any) -> pd.DataFrame:
        """Flagged events (see the module docstring), most anomalous first: `start`, `end`
        (times, or positions without a time column), `start_index`, `end_index`, `points`,
        `peak_score`, `mean_score`. Every event whose peak exceeds the threshold is listed,
        however close to a stronger one, unless it lies in that one's window."""
        self._check_fitted()
        s = self._series(series)
        w = self.window_scores(s)
        events, _ = find_events(w, halo=self.span_ // 2, above=self.threshold_)
        rows = []
        for a, b, _peak in events:
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

