"""The series codec: a numeric time series read from a table, a pandas Series or an array.

Reading only: what a series model samples is a DataFrame (`path`, time, value), which the
table writer writes.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import pandas as pd

from genlab.data.readers import read_table
from genlab.errors import DataError

__all__ = ["SHORT_GAP", "Series", "SeriesSource", "read_series", "time_column",
           "times_to_seconds"]

SHORT_GAP = 3  # missing steps bridged by interpolation; a longer gap is marked missing
_MAX_GRID = 20  # a grid may hold at most this many slots per observed point


class Series:
    """A regularly sampled numeric series: `values` (float64), optional `times`, names.

    `missing` marks the points of long gaps (more than `SHORT_GAP` steps without an
    observation): their values are a straight line between the gap's ends so that every
    value is a number, but nothing should be learnt from them or predicted from them.
    """

    def __init__(self, values: np.ndarray, times: pd.Series | None, value_name: str,
                 time_name: str | None, missing: np.ndarray | None = None) -> None:
        self.values = values
        self.times = times
        self.value_name = value_name
        self.time_name = time_name
        self.missing = np.zeros(values.size, bool) if missing is None else missing

    def usable(self, offsets: np.ndarray) -> np.ndarray:
        """True where a point and the values `offsets` steps before it are all observed
        (not in a long gap): the points a model may be fitted to or scored on."""
        bad = self.missing.copy()
        for o in np.asarray(offsets, dtype=np.int64):
            if 0 < o < bad.size:
                bad[o:] |= self.missing[:-o]
        return ~bad

    def __len__(self) -> int:
        return int(self.values.size)

    @property
    def seconds(self) -> np.ndarray | None:
        """The times as seconds since the epoch (float64), or None without a time column."""
        if self.times is None:
            return None
        return times_to_seconds(self.times)

    @property
    def step_seconds(self) -> float | None:
        """Median sampling interval in seconds, or None without a time column."""
        if self.times is None or len(self.times) < 2:
            return None
        # differences of integer nanoseconds: exact, unlike differences of float seconds
        ns = self.times.to_numpy().astype("datetime64[ns]").astype(np.int64)
        return float(np.median(np.diff(ns))) / 1e9

    def slice(self, start: int, stop: int) -> Series:
        """The points `start` to `stop` (exclusive) as a series of their own."""
        times = None if self.times is None else self.times.iloc[start:stop].reset_index(
            drop=True)
        return Series(self.values[start:stop], times, self.value_name, self.time_name,
                      self.missing[start:stop])

    def frame(self) -> pd.DataFrame:
        """As a table: the time column (if any) then the value column."""
        cols: dict[str, Any] = {}
        if self.times is not None and self.time_name is not None:
            cols[self.time_name] = self.times.to_numpy()
        cols[self.value_name] = self.values
        return pd.DataFrame(cols)


SeriesSource = Series | pd.DataFrame | pd.Series | np.ndarray | str | os.PathLike[str]


def times_to_seconds(times: pd.Series) -> np.ndarray:
    """Timestamps as float seconds since the epoch."""
    return times.to_numpy().astype("datetime64[ns]").astype(np.int64) / 1e9


def read_series(data: SeriesSource, *, time: str | None = None,
                value: str | None = None) -> Series:
    """Read a series from a table (path or DataFrame), a pandas Series or a 1-D array.

    `time` names a column of timestamps (rows are sorted by it); `value` the numeric column
    to model (default: the only numeric column that is not the time). Errors are one line.
    """
    if isinstance(data, Series):
        return data
    if isinstance(data, (np.ndarray, pd.Series)):
        arr = np.asarray(data)
        if arr.ndim != 1:
            raise DataError(f"a series array must be 1-D, got shape {arr.shape}; pass a table "
                            "with --time/--value for several columns")
        df = pd.DataFrame({value or (getattr(data, "name", None) or "value"): arr})
    else:
        df = read_table(data)
    if time is None and value is None or (time is None and len(df.columns) > 1):
        time = time_column(df)
    if time is not None and time not in df.columns:
        raise DataError(f"time column {time!r} is not in the data; columns are {list(df.columns)}")
    value = _value_column(df, time, value)
    numbers = _numbers(df[value], value)
    times = None
    if time is not None:
        parsed = _parse_times(df[time], time)
        order = np.argsort(parsed.to_numpy(), kind="stable")
        times = parsed.iloc[order].reset_index(drop=True)
        numbers = numbers.iloc[order].reset_index(drop=True)
    values = numbers.to_numpy(dtype=np.float64)
    if np.isnan(values).all():
        raise DataError(f"value column {value!r} holds no numbers")
    if times is not None:
        times, values, late = _on_grid(times, values, time)
    else:
        late = 0
    step = None if times is None else _step_ns(times)
    values, missing, note = _fill_gaps(values, step)
    if note or late:
        every = "" if step is None else f" of {_human(step)}"
        moved = f"; {late} timestamps off the grid{every} moved to the nearest step" if late else ""
        warnings.warn(f"series {value!r}: {note or 'no gaps'}{moved}", UserWarning, stacklevel=2)
    return Series(values, times, str(value), time, missing)


def _step_ns(times: pd.Series) -> int:
    ns = times.to_numpy().astype("datetime64[ns]").astype(np.int64)
    return int(np.median(np.diff(ns))) if ns.size > 1 else 0


def _human(ns: float) -> str:
    """A duration as text: '5min', '2 days 03:00:00'."""
    td = pd.Timedelta(int(ns), unit="ns")
    if td < pd.Timedelta(days=1) and td.seconds % 60 == 0 and td.microseconds == 0:
        minutes = td.seconds // 60
        return f"{minutes // 60}h" if minutes % 60 == 0 and minutes else f"{minutes}min"
    return str(td)


def _on_grid(times: pd.Series, values: np.ndarray,
             name: str) -> tuple[pd.Series, np.ndarray, int]:
    """Put an irregular series on the regular grid of its median step: each observation
    goes to its nearest grid time (several in one slot are averaged) and slots without one
    are NaN. Returns the grid times, values and how many timestamps were not on the grid."""
    ns = times.to_numpy().astype("datetime64[ns]").astype(np.int64)
    if ns.size < 3:
        return times, values, 0
    diffs = np.diff(ns)
    step = int(np.median(diffs))
    if step <= 0 or np.all(diffs == step):  # regular already (or duplicate times: as given)
        return times, values, 0
    offset = ns - ns[0]
    slot = (offset // step + (offset % step * 2 >= step)).astype(np.int64)  # exact rounding
    size = int(slot[-1]) + 1
    if size > _MAX_GRID * ns.size:
        raise DataError(
            f"time column {name!r} is too irregular for a series: {ns.size} points span "
            f"{size} steps of {_human(step)} (the median step); give a regularly sampled "
            "series, or resample it first (e.g. pandas resample)")
    observed = ~np.isnan(values)
    sums = np.bincount(slot, weights=np.where(observed, values, 0.0), minlength=size)
    counts = np.bincount(slot, weights=observed.astype(float), minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    stamps = pd.to_datetime(ns[0] + step * np.arange(size, dtype=np.int64))
    tz = getattr(times.dt, "tz", None)
    if tz is not None:
        stamps = stamps.tz_localize("UTC").tz_convert(tz)
    late = int(np.count_nonzero(offset != slot * step))
    return pd.Series(stamps), grid, late


def _fill_gaps(values: np.ndarray, step: int | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Interpolate every NaN run (so lag features stay numbers) and mark the runs longer
    than `SHORT_GAP` as missing; the note says what was done (empty: nothing to do)."""
    isna = np.isnan(values)
    missing = np.zeros(values.size, bool)
    if not isna.any():
        return values, missing, ""
    edges = np.diff(np.r_[0, isna.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = ends - starts
    for a, b in zip(starts[lengths > SHORT_GAP], ends[lengths > SHORT_GAP], strict=True):
        missing[a:b] = True
    filled = pd.Series(values).interpolate(limit_direction="both").to_numpy()
    n_long = int(np.count_nonzero(lengths > SHORT_GAP))
    n_short = lengths.size - n_long
    longest = int(lengths.max())
    span = f"{longest} missing steps" if not step else (
        f"{_human(step * (longest + 1))} between observations, {longest} missing steps of "
        f"{_human(step)}")
    gaps = "1 gap" if lengths.size == 1 else f"{lengths.size} gaps"
    note = (f"{gaps} (longest {span}): {n_short} of at most {SHORT_GAP} steps "
            f"interpolated, {n_long} longer marked missing ({int(missing.sum())} points; "
            "nothing is predicted across them)")
    return filled, missing, note


def _value_column(df: pd.DataFrame, time: str | None, value: str | None) -> str:
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
    return value


def _numbers(raw: pd.Series, value: str) -> pd.Series:
    numbers = pd.to_numeric(raw, errors="coerce")
    bad = numbers.isna() & raw.notna()
    if bad.any():
        first = raw[bad].iloc[0]
        raise DataError(
            f"value column {value!r} is not numeric ({int(bad.sum())} values such as {first!r} "
            "are not numbers); choose a numeric column with --value"
        )
    return numbers


def _parse_times(col: pd.Series, time: str) -> pd.Series:
    parsed = pd.to_datetime(col, errors="coerce", format="mixed")
    bad = parsed.isna() & col.notna()
    if bad.any() or parsed.isna().all():
        example = col[bad].iloc[0] if bad.any() else None
        raise DataError(
            f"time column {time!r} could not be parsed as dates/times (e.g. {example!r}); "
            "give ISO timestamps such as 2014-07-01 12:30:00"
        )
    return parsed


def time_column(df: pd.DataFrame) -> str | None:
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
