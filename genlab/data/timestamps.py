"""Datetimes written as text: the formats genlab recognises, parsing them, and writing
sampled instants back in the form the training column used.

ISO 8601 timestamps with an offset (``2024-03-01T10:00:00Z``, ``...+01:00``) are instants:
the codec models them in UTC and writes them back with the column's offset as a literal at
the end of the format (``%Y-%m-%dT%H:%M:%SZ``, ``%Y-%m-%dT%H:%M:%S+01:00``). A column that
mixes offsets (daylight saving time) is written with its most common offset: the same
instants, though not always the same wall-clock text.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

__all__ = ["DATE_FORMATS", "format_times", "offset_format", "parse_times"]

DATE_FORMATS = (
    "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y/%m/%d", "%d/%m/%Y",
)
_ISO_OFFSET = re.compile(
    r"\d{4}-\d{2}-\d{2}(?P<sep>[T ])\d{2}:\d{2}(?P<sec>:\d{2}(?P<frac>\.\d{1,9})?)?"
    r"(?P<off>Z|[+-]\d{2}:?\d{2})"
)
_OFFSET_AT_END = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def offset_format(values: pd.Series) -> str | None:
    """The format of a text column whose every value is an ISO timestamp with an offset."""
    text = values.astype(str).str.strip()
    if text.empty or not bool(text.str.fullmatch(_ISO_OFFSET.pattern).all()):
        return None
    found = text.str.extract(_ISO_OFFSET.pattern)
    sep = str(found["sep"].mode().iloc[0])
    fmt = f"%Y-%m-%d{sep}%H:%M"
    if found["sec"].notna().any():
        fmt += ":%S"
    if found["frac"].notna().any():
        fmt += ".%f"
    return fmt + str(found["off"].mode().iloc[0])


def _offset(fmt: str) -> dt.timezone | None:
    m = _OFFSET_AT_END.search(fmt)
    if m is None:
        return None
    text = m.group(1)
    if text == "Z":
        return dt.UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def parse_times(col: pd.Series, fmt: str) -> pd.Series:
    """Parse text by `fmt`; NaT where a value does not parse. Values with an offset come
    back as naive UTC times, so every instant sits on one time line."""
    if _offset(fmt) is None:
        return pd.to_datetime(col, format=fmt, errors="coerce")
    parsed = pd.to_datetime(col, format="ISO8601", utc=True, errors="coerce")
    return parsed.dt.tz_convert("UTC").dt.tz_localize(None)


def format_times(ts: pd.Series, fmt: str, resolution: str | None) -> pd.Series:
    """Write naive UTC times `ts` by `fmt` (in its offset, if it ends in one); None for NaT."""
    tz = _offset(fmt)
    if tz is not None:
        ts = ts.dt.tz_localize("UTC").dt.tz_convert(tz)
    txt = ts.dt.strftime(fmt).astype(object)
    if ".%f" in fmt and resolution in ("s", "ms", "D"):
        # %f always writes microseconds; milliseconds are the common written form
        txt = txt.str.replace(r"\.(\d{3})\d{3}", r".\1", n=1, regex=True)
    txt[ts.isna().to_numpy()] = None
    return txt
