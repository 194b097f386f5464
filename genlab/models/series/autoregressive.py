"""Numeric time series as sequences: an autoregressive model with a mixture-density head.

`SeriesModel` predicts each value from the ones before it: the last `lags` values, the
values one season earlier (a day, a week: found from the time column, or from the
autocorrelation when there is none) and the phase within each season (sine and cosine of
the time of day / week). A small MLP maps these to a mixture of `components` Gaussians, so
the model gives an exact conditional density `p(y_t | past, time)` (per unit of the value
column), generates continuations step by step, and scores each point for anomaly detection.

The series is assumed regularly sampled (rows sorted by time; the median step is used).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from time import perf_counter
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from genlab.data.readers import read_table
from genlab.errors import DataError, ParameterError
from genlab.models.base import ParamSpec, fingerprint
from genlab.models.neural import TRAIN_CONSTRAINTS, TorchModule, torch_generator
from genlab.models.registry import DataModel, register_detector
from genlab.provenance import write_output

__all__ = ["Series", "SeriesModel", "read_series"]

_DAY, _WEEK = 86_400.0, 7 * 86_400.0
_SEASON_OFFSETS = (-1, 0, 1)  # values around one season ago: tolerate a little phase drift


class Series:
    """A regularly sampled numeric series: `values` (float64), optional `times`, names."""

    def __init__(self, values: np.ndarray, times: pd.Series | None, value_name: str,
                 time_name: str | None) -> None:
        self.values = values
        self.times = times
        self.value_name = value_name
        self.time_name = time_name

    def __len__(self) -> int:
        return int(self.values.size)

    @property
    def step_seconds(self) -> float | None:
        """Median sampling interval in seconds, or None without a time column."""
        if self.times is None or len(self.times) < 2:
            return None
        return float(np.median(np.diff(self.times.to_numpy().astype("datetime64[ns]")
                                       .astype(np.int64))) / 1e9)

    def frame(self) -> pd.DataFrame:
        """As a table: the time column (if any) then the value column."""
        cols: dict[str, Any] = {}
        if self.times is not None and self.time_name is not None:
            cols[self.time_name] = self.times.to_numpy()
        cols[self.value_name] = self.values
        return pd.DataFrame(cols)


def read_series(
    data: Series | pd.DataFrame | pd.Series | np.ndarray | str | os.PathLike[str],
    *,
    time: str | None = None,
    value: str | None = None,
) -> Series:
    """Read a series from a table (path or DataFrame), a pandas Series or a 1-D array.

    `time` names a column of timestamps (rows are sorted by it); `value` the numeric column
    to model (default: the only numeric column that is not the time). Errors are one line.
    """
    if isinstance(data, Series):
        return data
    if isinstance(data, np.ndarray) or isinstance(data, pd.Series):
        arr = np.asarray(data)
        if arr.ndim != 1:
            raise DataError(f"a series array must be 1-D, got shape {arr.shape}; pass a table "
                            "with --time/--value for several columns")
        df = pd.DataFrame({value or (getattr(data, "name", None) or "value"): arr})
    else:
        df = read_table(data)
    if time is None and value is None or (time is None and len(df.columns) > 1):
        time = _time_column(df)
    if time is not None and time not in df.columns:
        raise DataError(f"time column {time!r} is not in the data; columns are {list(df.columns)}")
    if value is None:
        numeric = [c for c in df.columns if c != time and pd.api.types.is_numeric_dtype(df[c])]
        if len(numeric) != 1:
            raise DataError(
                f"cannot tell which column holds the values (numeric columns: {numeric}); "
                "name it with value= (CLI: --value)"
            )
        value = str(numeric[0])
    if value not in df.columns:
        raise DataError(f"value column {value!r} is not in the data; columns are "
                        f"{list(df.columns)}")
    raw = df[value]
    numbers = pd.to_numeric(raw, errors="coerce")
    bad = numbers.isna() & raw.notna()
    if bad.any():
        first = raw[bad].iloc[0]
        raise DataError(
            f"value column {value!r} is not numeric ({int(bad.sum())} values such as {first!r} "
            "are not numbers); choose a numeric column with --value"
        )
    times = None
    if time is not None:
        parsed = pd.to_datetime(df[time], errors="coerce", format="mixed")
        bad_t = parsed.isna() & df[time].notna()
        if bad_t.any() or parsed.isna().all():
            example = df[time][bad_t].iloc[0] if bad_t.any() else None
            raise DataError(
                f"time column {time!r} could not be parsed as dates/times (e.g. {example!r}); "
                "give ISO timestamps such as 2014-07-01 12:30:00"
            )
        order = np.argsort(parsed.to_numpy(), kind="stable")
        times = parsed.iloc[order].reset_index(drop=True)
        numbers = numbers.iloc[order].reset_index(drop=True)
    values = numbers.to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        # short gaps are bridged so the lag features stay defined; long ones would be invented
        values = pd.Series(values).interpolate(limit_direction="both").to_numpy()
        if np.isnan(values).any():
            raise DataError(f"value column {value!r} holds no numbers")
    return Series(values, times, str(value), time)


def _time_column(df: pd.DataFrame) -> str | None:
    """The one column that reads as timestamps (a datetime dtype or parseable text), if any."""
    found = []
    for c in df.columns:
        col = df[c]
        if pd.api.types.is_datetime64_any_dtype(col):
            found.append(str(c))
        elif not pd.api.types.is_numeric_dtype(col) and col.notna().any():
            head = pd.to_datetime(col.dropna().head(50), errors="coerce", format="mixed")
            if head.notna().all():
                found.append(str(c))
    return found[0] if len(found) == 1 else None


class _MDN(nn.Module):
    """MLP from lag/season/phase features to a Gaussian mixture over the next value."""

    def __init__(self, n_in: int, hidden: int, layers: int, components: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = n_in
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.GELU()]
            width = hidden
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(width, 3 * components)
        self.components = components

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.head(self.body(feats))
        k = self.components
        logits, mean, raw_scale = out[:, :k], out[:, k:2 * k], out[:, 2 * k:]
        log_scale = torch.clamp(raw_scale, -7.0, 5.0)
        return torch.log_softmax(logits, dim=1), mean, log_scale

    def log_prob(self, feats: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        log_w, mean, log_scale = self(feats)
        z = (y[:, None] - mean) * torch.exp(-log_scale)
        comp = -0.5 * z * z - log_scale - 0.5 * math.log(2 * math.pi)
        return torch.logsumexp(log_w + comp, dim=1)


def _acf_period(values: np.ndarray, max_period: int) -> int | None:
    """The lag of the highest autocorrelation peak (a season) in 3..max_period, if clear."""
    x = values - values.mean()
    if x.std() == 0 or max_period < 4:
        return None
    f = np.fft.rfft(x, n=2 * x.size)
    acf = np.fft.irfft(f * np.conj(f))[:max_period + 1]
    acf = acf / acf[0]
    peaks = [k for k in range(3, max_period) if acf[k] > acf[k - 1] and acf[k] >= acf[k + 1]]
    if not peaks:
        return None
    best = max(peaks, key=lambda k: acf[k])
    return int(best) if acf[best] > 0.2 else None


class SeriesModel(TorchModule, DataModel):
    """Autoregressive mixture-density model of a numeric time series (module docstring).

    Args:
        lags: most recent values the prediction sees.
        periods: seasons in steps (e.g. `[48, 336]` for day and week at 30 minutes);
            "auto" finds day/week from the time column, else the autocorrelation peak.
        components: Gaussians in the predictive mixture.
        hidden, layers: MLP width and depth.
        plus the shared training settings (`epochs`, `max_minutes`, ...) and `seed`.
    """

    modality: ClassVar[str] = "series"
    family: ClassVar[str] = "autoregressive"
    summary: ClassVar[str] = "Autoregressive mixture-density model of a numeric series."
    when_to_use: ClassVar[str] = "forecast or generate a series; score points and windows"
    conditioning: ClassVar[str] = "past values, time of day / week"
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        "seed": ("int?", 0, 2**63 - 1),
        "lags": ("int", 1, 4096),
        "components": ("int", 1, 64),
        "hidden": ("int", 4, 4096),
        "layers": ("int", 1, 8),
        **TRAIN_CONSTRAINTS,
    }

    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 200, "batch_size": 256, "patience": 10}

    def __init__(
        self,
        *,
        lags: int = 24,
        periods: str | list[int] | tuple[int, ...] = "auto",
        components: int = 5,
        hidden: int = 128,
        layers: int = 2,
        seed: int | None = None,
        **train: Any,
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
            found = _acf_period(s.values, min(n // 3, 2000))
            periods = [found] if found else []
        seconds = [span for span in (_DAY, _WEEK)
                   if step and 2 * step <= span and span <= step * n] if step else []
        return periods, seconds

    def _features(self, z: np.ndarray, times: pd.Series | None, idx: np.ndarray) -> np.ndarray:
        """Features to predict z[idx] (standardised): recent lags, seasonal lags, phases."""
        cols = [z[idx - k] for k in range(1, self.lags + 1)]
        for p in self.codec_["periods"]:
            cols += [z[idx - p + o] for o in _SEASON_OFFSETS]
        if self.codec_["time_periods"]:
            assert times is not None
            secs = times.to_numpy().astype("datetime64[ns]").astype(np.int64)[idx] / 1e9
            for span in self.codec_["time_periods"]:
                phase = 2 * np.pi * (secs % span) / span
                cols += [np.sin(phase), np.cos(phase)]
        elif self.codec_["periods"]:
            for p in self.codec_["periods"]:
                phase = 2 * np.pi * (idx % p) / p
                cols += [np.sin(phase), np.cos(phase)]
        cols.append(np.ones(idx.size))  # 1: the past is visible; 0: time features only
        return np.stack(cols, axis=1).astype(np.float32)

    def _n_lag_features(self) -> int:
        return self.lags + len(_SEASON_OFFSETS) * len(self.codec_["periods"])

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
    def fit(
        self,
        data: Any,
        conditions: list[str] | None = None,
        *,
        time: str | None = None,
        value: str | None = None,
    ) -> SeriesModel:
        """Fit to a series (see `read_series` for the inputs); returns self."""
        if conditions:
            raise ParameterError("a series model conditions on its past and the time of day; "
                                 "it takes no condition columns")
        rng = self._begin_fit()
        s = data if isinstance(data, Series) else read_series(data, time=time, value=value)
        start = perf_counter()
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
        feats = self._features(z, s.times, idx)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(2**62)))
            self.net_ = self._build(self.meta_)
        tensors = [torch.as_tensor(feats), torch.as_tensor(z[idx], dtype=torch.float32)]

        def loss_fn(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            f, y = batch
            # half the rows are predicted from the time features alone, so one network also
            # gives p(y_t | time): the yardstick for a level that is odd for its hour/day
            hide = torch.rand(f.shape[0], device=f.device) < 0.5 if self.net_.training else (
                torch.zeros(f.shape[0], dtype=torch.bool, device=f.device))
            return -self.net_.log_prob(self._hide_past(f, hide), y)  # type: ignore[operator]

        self._train(loss_fn, tensors, rng)
        self.tail_ = s.values[-self.window_:].copy()
        self._end_fit(start, len(s), fingerprint(s.frame()))
        return self

    def _build(self, meta: dict[str, Any]) -> nn.Module:
        return _MDN(int(meta["n_features"]), self.hidden, self.layers, self.components)

    # -- scoring --------------------------------------------------------------------------
    def point_log_prob(
        self, data: Any, *, time: str | None = None, value: str | None = None,
        past: bool = True,
    ) -> np.ndarray:
        """log p(y_t | past, time) per point, in the value column's units; NaN for the first
        `window_` points, which lack the history to be scored. With `past=False`,
        log p(y_t | time): how usual the value is for its time of day / week alone."""
        self._check_fitted()
        s = data if isinstance(data, Series) else read_series(
            data, time=time or self.codec_["time"], value=value or self.codec_["value"])
        self._check_length(s, "the series")
        if self.codec_["time_periods"] and s.times is None:
            raise DataError("the model uses the time of day/week; give the time column "
                            f"{self.codec_['time']!r} (CLI: --time)")
        z = self._standardise(s.values)
        idx = np.arange(self.window_, len(s))
        feats = torch.as_tensor(self._features(z, s.times, idx), device=self.device_)
        if not past:
            feats = self._hide_past(feats, torch.ones(idx.size, dtype=torch.bool,
                                                      device=self.device_))
        y = torch.as_tensor(z[idx], dtype=torch.float32, device=self.device_)
        out = np.full(len(s), np.nan)
        with torch.no_grad():
            lp = np.concatenate([
                self.net_.log_prob(feats[i:i + 65536], y[i:i + 65536]).double().cpu().numpy()
                for i in range(0, idx.size, 65536)])
        out[idx] = lp - math.log(self.codec_["scale"])
        return out

    def log_prob(self, data: Any, *, time: str | None = None, value: str | None = None) -> (
            np.ndarray):
        """Log-likelihood of the scorable part of the series (sum of `point_log_prob`),
        one number per call as a length-1 array."""
        lp = self.point_log_prob(data, time=time, value=value)
        return np.array([np.nansum(lp)])

    # -- generation -----------------------------------------------------------------------
    def sample(self, n: int, *, paths: int = 1, seed: int | None = None,
               history: np.ndarray | None = None) -> pd.DataFrame:
        """Continue the series for `n` steps (from the end of training, or after the values
        in `history`), `paths` independent futures; a table with `path`, the time column
        (when the model has one) and the values."""
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ParameterError(f"n must be a positive number of steps, got {n!r}")
        rng = np.random.default_rng(seed)
        gen = torch_generator(rng)
        hist = np.asarray(self.tail_ if history is None else history, dtype=np.float64)
        if hist.size < self.window_:
            raise DataError(f"history has {hist.size} values; the model needs {self.window_}")
        z = np.tile(self._standardise(hist[-self.window_:]), (paths, 1))
        step = self.codec_["step_seconds"]
        last = pd.Timestamp(self.codec_["last_time"]) if self.codec_["last_time"] else None
        times = (pd.Series(pd.date_range(last, periods=n + 1, freq=pd.Timedelta(seconds=step))[1:])
                 if last is not None and step else None)
        out = np.empty((paths, n))
        with torch.no_grad():
            for t in range(n):
                buf = z[:, -self.window_:]
                full_times = None
                if times is not None:
                    full_times = pd.Series(np.repeat(times.iloc[t], self.window_ + 1))
                idx = np.full(1, self.window_)
                feats = np.concatenate([
                    self._features(np.append(row, 0.0), full_times, idx) for row in buf])
                if times is None and self.codec_["periods"]:
                    # phase by position continues from the end of the training series
                    pos = self.n_rows_ + t
                    k = len(self.codec_["periods"])
                    for i, p in enumerate(self.codec_["periods"]):
                        phase = 2 * np.pi * (pos % p) / p
                        feats[:, -1 - 2 * k + 2 * i] = np.sin(phase)
                        feats[:, -2 * k + 2 * i] = np.cos(phase)
                log_w, mean, log_scale = self.net_(torch.as_tensor(feats, device=self.device_))
                comp = torch.multinomial(log_w.exp(), 1, generator=gen).squeeze(1)
                mu = mean.gather(1, comp[:, None]).squeeze(1)
                sd = log_scale.gather(1, comp[:, None]).squeeze(1).exp()
                noise = torch.randn(paths, generator=gen, device=self.device_)
                draw = (mu + sd * noise).double().cpu().numpy()
                z = np.concatenate([z, draw[:, None]], axis=1)
                out[:, t] = draw
        values = out * self.codec_["scale"] + self.codec_["center"]
        frame: dict[str, Any] = {"path": np.repeat(np.arange(paths), n)}
        if times is not None and self.codec_["time"]:
            frame[self.codec_["time"]] = np.tile(times.to_numpy(), paths)
        frame[self.codec_["value"]] = values.reshape(-1)
        df = pd.DataFrame(frame)
        df.attrs["provenance"] = self.provenance(seed=seed, n=int(n), paths=paths)
        return df

    def write_samples(self, output: str | os.PathLike[str], n: int, *, seed: int | None = None,
                      where: dict[str, str] | None = None, prompt: str | None = None) -> str:
        """`genlab sample`: continue the series for `n` steps into a table file."""
        if where or prompt:
            raise ParameterError("a series model takes no --where or --prompt; it continues "
                                 "the training series")
        path = write_output(self.sample(n, seed=seed), output)
        return f"wrote {n} steps -> {path} (provenance: {Path(path).name}.provenance.json)"

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



register_detector("series", lambda path: False, "autoregressive")  # only by --data-kind series
