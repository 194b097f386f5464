"""Numeric time series: an autoregressive model with a mixture-density head.

`SeriesModel` predicts each value from the ones before it: the last `lags` values, the
values one season earlier (a day, a week: found from the time column, or from the
autocorrelation when there is none) and the phase within each season (sine and cosine of
the time of day / week). A small MLP maps these to a mixture of `components` Gaussians, so
the model gives an exact conditional density `p(y_t | past, time)` (per unit of the value
column), generates continuations step by step, and scores each point for anomaly detection.
Half the training rows hide the past, so the same network also gives `p(y_t | time)`.

The series is assumed regularly sampled (rows sorted by time; the median step is used).
It is read by `genlab.data.series.read_series`; samples are a table (`path`, the time
column, the value column) written by the table writer.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from genlab.data.series import Series, SeriesSource, read_series, times_to_seconds
from genlab.errors import DataError, ParameterError
from genlab.models.base import Conditions, Model
from genlab.models.neural import TorchModule
from genlab.models.series._net import MDN, acf_period
from genlab.models.table.base import fingerprint
from genlab.params import ParamSpec
from genlab.seeding import torch_generator

__all__ = ["SeriesModel"]

_DAY, _WEEK = 86_400.0, 7 * 86_400.0
_SEASON_OFFSETS = (-1, 0, 1)  # values around one season ago: tolerate a little phase drift
_CHUNK = 65_536  # points scored per forward pass


def _no_conditions(conditions: Any, what: str) -> None:
    if conditions:
        names = sorted(conditions) if isinstance(conditions, dict) else list(conditions)
        raise ParameterError(f"a series model conditions on its past and the time of day; "
                             f"{what} takes no conditions (got {names})")


class SeriesModel(TorchModule, Model):
    """Autoregressive mixture-density model of a numeric time series (module docstring).

    Args:
        lags: most recent values the prediction sees.
        periods: seasons in steps (e.g. `[48, 336]` for day and week at 30 minutes);
            "auto" finds day/week from the time column, else the autocorrelation peak.
        components: Gaussians in the predictive mixture.
        hidden, layers: MLP width and depth.
        plus the shared training settings (`epochs`, `max_minutes`, ...) and `seed`.

    `fit(data, time=None, value=None)` reads the series with `read_series`;
    `sample(n, seed=None, paths=1, history=None)` continues it for `n` steps, `paths`
    independent futures, from the end of training or after the values in `history`;
    `log_prob(data, time=None, value=None)` gives one value per time step.
    """

    modality: ClassVar[str] = "series"
    family: ClassVar[str] = "autoregressive"
    summary: ClassVar[str] = "Autoregressive mixture-density model of a numeric series."
    when_to_use: ClassVar[str] = "forecast or generate a series; score points and windows"
    conditioning: ClassVar[str] = "past values, time of day / week"
    # history is an array ("any": the generic checker passes it); `_check_options` checks it
    # and keeps only the values used, so the provenance records exactly those
    sample_options: ClassVar[dict[str, ParamSpec]] = {
        "paths": ("int", 1, 100_000),
        "history": ("any",),
    }
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        "seed": ("int?", 0, 2**63 - 1),
        "lags": ("int", 1, 4096),
        "components": ("int", 1, 64),
        "hidden": ("int", 4, 4096),
        "layers": ("int", 1, 8),
    }
    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 200, "batch_size": 256, "patience": 10}
    codec_: dict[str, Any]
    tail_: np.ndarray

    def __init__(
        self,
        *,
        lags: int = 24,
        periods: str | list[int] | tuple[int, ...] = "auto",
        components: int = 5,
        hidden: int = 128,
        layers: int = 2,
        seed: int | None = None,
        **shared: Any,
    ) -> None:
        self._init_params(locals())

    def _validate_params(self) -> None:
        super()._validate_params()
        p = self.periods
        if not (p == "auto" or (isinstance(p, (list, tuple))
                                and all(isinstance(v, int) and v >= 2 for v in p))):
            raise ParameterError(f"periods must be 'auto' or a list of integers ≥ 2, got {p!r}")

    # -- features -----------------------------------------------------------------------------
    @property
    def window_(self) -> int:
        """Values of history one prediction needs (the longest lag)."""
        periods = self.codec_["periods"]
        longest = max([p + max(_SEASON_OFFSETS) for p in periods] + [0])
        return int(max(self.lags, longest))

    def _periods(self, s: Series) -> tuple[list[int], list[float]]:
        """Seasons in steps, and the time-feature periods in seconds."""
        step = s.step_seconds
        n = len(s)
        if self.periods != "auto":
            periods = [int(p) for p in self.periods]
        elif step and step > 0:
            periods = [int(round(span / step)) for span in (_DAY, _WEEK)
                       if 2 < span / step and 3 * span / step < n]
        else:
            found = acf_period(s.values, min(n // 3, 2000))
            periods = [found] if found else []
        seconds = [span for span in (_DAY, _WEEK)
                   if step and 2 * step <= span and span <= step * n] if step else []
        return periods, seconds

    def _lag_offsets(self) -> np.ndarray:
        """How many steps back each past feature looks: recent lags, then around each season."""
        seasonal = [p - o for p in self.codec_["periods"] for o in _SEASON_OFFSETS]
        return np.array(list(range(1, self.lags + 1)) + seasonal, dtype=np.int64)

    def _n_lag_features(self) -> int:
        return self.lags + len(_SEASON_OFFSETS) * len(self.codec_["periods"])

    def _phases(self, seconds: np.ndarray | None, positions: np.ndarray) -> np.ndarray:
        """Sine and cosine of the phase in each season: from the time of day / week when the
        model has time features, else from the position in the series."""
        cols = []
        if self.codec_["time_periods"]:
            assert seconds is not None
            for span in self.codec_["time_periods"]:
                phase = 2 * np.pi * (seconds % span) / span
                cols += [np.sin(phase), np.cos(phase)]
        else:
            for p in self.codec_["periods"]:
                phase = 2 * np.pi * (positions % p) / p
                cols += [np.sin(phase), np.cos(phase)]
        return np.stack(cols, axis=1) if cols else np.zeros((positions.size, 0))

    def _features(self, z: np.ndarray, seconds: np.ndarray | None, idx: np.ndarray, *,
                  past: bool = True) -> np.ndarray:
        """Features to predict z[idx] (standardised): past values (blank with `past=False`,
        which needs no history), phases, and a last column saying whether the past is seen."""
        n_lag = self._n_lag_features()
        lagged = z[idx[:, None] - self._lag_offsets()[None, :]] if past else np.zeros(
            (idx.size, n_lag))
        phases = self._phases(None if seconds is None else seconds[idx], idx)
        seen = np.full((idx.size, 1), 1.0 if past else 0.0)
        return np.concatenate([lagged, phases, seen], axis=1).astype(np.float32)

    def _hide_past(self, feats: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Features with the past (lags, seasonal lags) blanked for `rows` (a bool mask):
        what the model sees when it predicts from the time of day / week alone."""
        n_lag = self._n_lag_features()
        keep = (~rows).to(feats.dtype)[:, None]
        out = feats.clone()
        out[:, :n_lag] = feats[:, :n_lag] * keep
        out[:, -1] = keep[:, 0]
        return out

    def _n_features(self, meta: dict[str, Any]) -> int:
        periods = meta["periods"]
        n_phase = len(meta["time_periods"]) if meta["time_periods"] else len(periods)
        return self.lags + len(_SEASON_OFFSETS) * len(periods) + 2 * n_phase + 1

    def _standardise(self, values: np.ndarray) -> np.ndarray:
        return (values - self.codec_["center"]) / self.codec_["scale"]

    def _check_length(self, s: Series, what: str) -> None:
        need = self.window_ + 2
        if len(s) < need:
            raise DataError(
                f"{what} has {len(s)} points but the model needs at least {need} (its window "
                f"is {self.window_} steps: lags={self.lags}, seasons {self.codec_['periods']}); "
                "give a longer series or lower lags / periods"
            )

    # -- fit --------------------------------------------------------------------------------
    def _fit(self, data: Any, conditions: list[str], rng: np.random.Generator,
             time: str | None = None, value: str | None = None) -> tuple[int, str]:
        """Fit to a series (see `read_series` for the inputs)."""
        _no_conditions(conditions, "fit")
        s = read_series(data, time=time, value=value)
        center = float(np.median(s.values))
        q75, q25 = np.percentile(s.values, [75, 25])
        scale = float(q75 - q25) / 1.349 or float(s.values.std()) or 1.0
        periods, time_periods = self._periods(s)
        self.codec_ = {
            "value": s.value_name, "time": s.time_name, "center": center, "scale": scale,
            "periods": periods, "time_periods": time_periods, "step_seconds": s.step_seconds,
            "last_time": None if s.times is None else str(s.times.iloc[-1]),
        }
        self._check_length(s, "the training series")
        self.meta_ = {"n_features": self._n_features(self.codec_)}
        z = self._standardise(s.values)
        idx = np.arange(self.window_, len(s))
        idx = idx[s.usable(self._lag_offsets())[idx]]  # nothing learned across a long gap
        if idx.size < 2:
            raise DataError("the series has too few observed points outside its long gaps "
                            "to fit; give a longer or more regular series")
        feats = self._features(z, s.seconds, idx)
        self.net_ = self._new_net(rng)
        tensors = [torch.as_tensor(feats), torch.as_tensor(z[idx], dtype=torch.float32)]
        self._train(self._loss, tensors, rng)
        self.tail_ = s.values[-self.window_:].copy()
        return len(s), fingerprint(s.frame())

    def _loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        f, y = batch
        # half the rows are predicted from the time features alone, so one network also
        # gives p(y_t | time): the yardstick for a level that is odd for its hour/day
        hide = torch.rand(f.shape[0], device=f.device) < 0.5 if self.net_.training else (
            torch.zeros(f.shape[0], dtype=torch.bool, device=f.device))
        return -self.net_.log_prob(self._hide_past(f, hide), y)  # type: ignore[operator]

    def _build(self, meta: dict[str, Any]) -> nn.Module:
        return MDN(int(meta["n_features"]), self.hidden, self.layers, self.components)

    # -- scoring --------------------------------------------------------------------------
    def _read(self, data: SeriesSource, time: str | None, value: str | None) -> Series:
        """The series to score, in the model's columns, checked long enough and timed."""
        s = read_series(data, time=time or self.codec_["time"],
                        value=value or self.codec_["value"])
        self._check_length(s, "the series")
        if self.codec_["time_periods"] and s.times is None:
            raise DataError("the model uses the time of day/week; give the time column "
                            f"{self.codec_['time']!r} (CLI: --time)")
        return s

    def _scores(self, s: Series, idx: np.ndarray, past: bool) -> np.ndarray:
        """log p(y_t | past, time) (or with `past=False` log p(y_t | time)) at `idx`, in the
        value column's units."""
        z = self._standardise(s.values)
        feats = torch.as_tensor(self._features(z, s.seconds, idx, past=past),
                                device=self.device_)
        y = torch.as_tensor(z[idx], dtype=torch.float32, device=self.device_)
        with self._inference():
            parts = [self.net_.log_prob(feats[i:i + _CHUNK], y[i:i + _CHUNK])  # type: ignore[operator]
                     .double().cpu().numpy() for i in range(0, idx.size, _CHUNK)]
        lp = np.concatenate(parts) if parts else np.zeros(0)
        return lp - math.log(self.codec_["scale"])

    def point_log_prob(self, data: SeriesSource, *, time: str | None = None,
                       value: str | None = None, past: bool = True) -> np.ndarray:
        """log p(y_t | past, time) per point, in the value column's units; NaN for the first
        `window_` points, which lack the history to be scored. With `past=False`,
        log p(y_t | time) for every point: how usual the value is for its time of day /
        week alone."""
        self._check_fitted()
        s = self._read(data, time, value)
        out = np.full(len(s), np.nan)
        idx = np.arange(self.window_ if past else 0, len(s))
        out[idx] = self._scores(s, idx, past)
        return out

    def _log_prob(self, data: Any, conditions: Conditions | None, time: str | None = None,
                  value: str | None = None) -> np.ndarray:
        """One value per time step: log p(y_t | past, time), and for the first `window_`
        points, which have no history, log p(y_t | time) from the same network."""
        _no_conditions(conditions, "log_prob")
        s = self._read(data, time, value)
        w = self.window_
        out = np.empty(len(s))
        out[w:] = self._scores(s, np.arange(w, len(s)), True)
        out[:w] = self._scores(s, np.arange(w), False)
        return out

    # -- generation -----------------------------------------------------------------------
    def _check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        history = options.pop("history", None)
        checked = super()._check_options(options)
        if history is not None:
            checked["history"] = self._history(history)
        return checked

    def _history(self, history: Any) -> list[float]:
        """The last `window_` values of `history` (an array, a list, or numbers separated by
        commas as `--where history=` gives them)."""
        try:
            if isinstance(history, str):
                arr = np.array([float(v) for v in history.split(",") if v.strip()])
            else:
                arr = np.asarray(history, dtype=np.float64)
        except (TypeError, ValueError):
            raise ParameterError(
                f"history must be a 1-D array of numbers (or numbers separated by commas), "
                f"got {str(history)[:60]!r}") from None
        if arr.ndim != 1:
            raise ParameterError(f"history must be a 1-D array of numbers, got shape "
                                 f"{arr.shape}")
        if not np.isfinite(arr).all():
            raise DataError("history holds NaN or infinite values; give the series' last "
                            "values as finite numbers")
        if arr.size < self.window_:
            raise DataError(f"history has {arr.size} values; the model needs {self.window_} "
                            "(its window); give at least that many of the series' last values")
        return [float(v) for v in arr[-self.window_:]]

    def _sample(self, n: int, conditions: Conditions, rng: np.random.Generator, *,
                paths: int = 1, history: list[float] | None = None) -> pd.DataFrame:
        """Continue the series for `n` steps, `paths` independent futures: a table with
        `path`, the time column (when the model has one) and the values."""
        _no_conditions(conditions, "sample")
        hist = np.asarray(self.tail_ if history is None else history, dtype=np.float64)
        z = np.tile(self._standardise(hist[-self.window_:]), (paths, 1))
        times = self._future_times(n)
        seconds = None if times is None else times_to_seconds(times)
        phases = self._phases(seconds, self.n_rows_ + np.arange(n))
        draws = self._roll_out(z, phases, torch_generator(rng, self.device_), n)
        values = draws * self.codec_["scale"] + self.codec_["center"]
        frame: dict[str, Any] = {"path": np.repeat(np.arange(paths), n)}
        if times is not None and self.codec_["time"]:
            frame[self.codec_["time"]] = np.tile(times.to_numpy(), paths)
        frame[self.codec_["value"]] = values.reshape(-1)
        return pd.DataFrame(frame)

    def _future_times(self, n: int) -> pd.Series | None:
        """The `n` timestamps after the end of the training series (None without times)."""
        step, last = self.codec_["step_seconds"], self.codec_["last_time"]
        if not (last and step):
            return None
        return pd.Series(pd.date_range(pd.Timestamp(last), periods=n + 1,
                                       freq=pd.Timedelta(seconds=step))[1:])

    def _roll_out(self, z: np.ndarray, phases: np.ndarray, gen: torch.Generator,
                  n: int) -> np.ndarray:
        """Draw `n` standardised steps after each row of `z` (paths x window)."""
        paths, w = z.shape
        look = w - self._lag_offsets()
        seen = np.ones((paths, 1))
        out = np.empty((paths, n))
        for t in range(n):
            now = np.broadcast_to(phases[t], (paths, phases.shape[1]))
            feats = np.concatenate([z[:, look], now, seen], axis=1).astype(np.float32)
            log_w, mean, log_scale = self.net_(torch.as_tensor(feats, device=self.device_))
            comp = torch.multinomial(log_w.exp(), 1, generator=gen)
            mu = mean.gather(1, comp).squeeze(1)
            sd = log_scale.gather(1, comp).squeeze(1).exp()
            noise = torch.randn(paths, generator=gen, device=self.device_)
            draw = (mu + sd * noise).double().cpu().numpy()
            z = np.concatenate([z[:, 1:], draw[:, None]], axis=1)
            out[:, t] = draw
        return out

    # -- persistence ----------------------------------------------------------------------
    def _codec_dict(self) -> dict[str, Any]:
        return dict(self.codec_)

    def _codec_from_dict(self, data: dict[str, Any]) -> None:
        self.codec_ = dict(data)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, tensors = super()._state()
        return meta, {**tensors, "tail": np.asarray(self.tail_, np.float64)}

    def _expected_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        return {**super()._expected_shapes(meta), "tail": (self.window_,)}

    def _restore(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        tensors = dict(tensors)
        self.tail_ = np.array(tensors.pop("tail"))
        super()._restore(meta, tensors)
