"""The series codec: a numeric time series read from a table, a pandas Series or an array.

Reading only: what a series model samples is a DataFrame (`path`, time, value), which the
table writer writes.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from genlab.data.readers import read_table
from genlab.errors import DataError

__all__ = ["Series", "SeriesSource", "read_series", "time_column", "times_to_seconds"]


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
        return Series(self.values[start:stop], times, self.value_name, self.time_name)

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
    if np.isnan(values).any():
        # short gaps are bridged so the lag features stay defined; long ones would be invented
        values = pd.Series(values).interpolate(limit_direction="both").to_numpy()
        if np.isnan(values).any():
            raise DataError(f"value column {value!r} holds no numbers")
    return Series(values, times, str(value), time)


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
