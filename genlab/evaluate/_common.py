"""Shared pieces of the evaluation suite: input checks, column kinds, encoders, sampling."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from genlab.data.readers import TableSource, read_table
from genlab.errors import DataError, ParameterError
from genlab.report.kinds import NUMERIC_KINDS, table_kinds

__all__ = [
    "CATEGORICAL",
    "MIN_ROWS",
    "MISSING",
    "NUMERICAL",
    "Tables",
    "column_kinds",
    "finite",
    "labels",
    "load_tables",
    "numeric",
    "subsample",
]

MIN_ROWS = 10
MISSING = "(missing)"
NUMERICAL, CATEGORICAL = "numerical", "categorical"
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


@dataclass
class Tables:
    """The three validated tables (same columns, train's order) and the run's settings."""

    train: pd.DataFrame
    test: pd.DataFrame
    synthetic: pd.DataFrame
    kinds: dict[str, str]  # column -> "numerical" | "categorical"
    target: str | None
    sensitive: list[str]


def _read(source: object, name: str) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame) and (source.shape[0] == 0 or source.shape[1] == 0):
        raise DataError(
            f"the {name} table is empty ({source.shape[0]} rows, {source.shape[1]} columns); "
            f"give a {name} table with rows"
        )
    if not isinstance(source, pd.DataFrame | str) and not hasattr(source, "__fspath__"):
        raise ParameterError(
            f"{name} must be a path or a pandas DataFrame, got {type(source).__name__}"
        )
    try:
        df = read_table(source)  # type: ignore[arg-type]
    except DataError as err:
        raise DataError(f"{name} table: {err}") from None
    if len(df) < MIN_ROWS:
        raise DataError(
            f"the {name} table has {len(df)} rows; the evaluation needs at least {MIN_ROWS}"
        )
    return df


def column_kinds(df: pd.DataFrame) -> dict[str, str]:
    """Columns the tabular codec reads as numbers or dates are "numerical", the rest
    (categorical, boolean, constant and id columns) "categorical".

    The kinds are `TabularCodec.fit`'s (`genlab.report.kinds.table_kinds`), so a table is
    evaluated as a model fitted on it sees it; SDMetrics' reports are given the same split.
    """
    return {c: NUMERICAL if k in NUMERIC_KINDS else CATEGORICAL
            for c, k in table_kinds(df).items()}


def _parse_text_dates(frames: dict[str, pd.DataFrame], kinds: dict[str, str]) -> None:
    # A text column the codec reads as dates is compared as dates, in every table.
    train = frames["train"]
    text_dates = [
        c for c in train.columns
        if kinds[c] == NUMERICAL and not pd.api.types.is_numeric_dtype(train[c].dtype)
        and not pd.api.types.is_datetime64_any_dtype(train[c].dtype)
    ]
    if not text_dates:
        return
    for name, df in frames.items():
        df = df.copy()  # the caller's DataFrame stays as it was
        for c in text_dates:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pandas' format-guessing warnings
                df[c] = pd.to_datetime(df[c], errors="coerce")
        frames[name] = df


def load_tables(
    train: TableSource,
    test: TableSource,
    synthetic: TableSource,
    target: str | None,
    sensitive: Sequence[str] | str | None,
) -> Tables:
    """Read the three tables and check they can be compared; one-line errors otherwise."""
    frames = {name: _read(src, name) for name, src in
              (("train", train), ("test", test), ("synthetic", synthetic))}
    if target is not None:
        if not isinstance(target, str) or not target:
            raise ParameterError(f"target must be a column name, got {target!r}")
        lacking = [name for name, df in frames.items() if target not in df.columns]
        if len(lacking) == len(frames):
            raise DataError(
                f"target column {target!r} is in none of the tables; "
                f"pick one of {list(frames['train'].columns)}"
            )
        if lacking:
            raise DataError(
                f"target column {target!r} is missing from the {' and '.join(lacking)} "
                f"table{'s' if len(lacking) > 1 else ''}; every table needs the target column"
            )
    reference = list(frames["train"].columns)
    for name in ("test", "synthetic"):
        cols = list(frames[name].columns)
        missing = [c for c in reference if c not in cols]
        extra = [c for c in cols if c not in reference]
        if missing or extra:
            parts = [f"missing {missing}"] if missing else []
            parts += [f"not in train {extra}"] if extra else []
            raise DataError(
                f"the {name} table's columns differ from train's ({'; '.join(parts)}); "
                "give all three tables the same columns"
            )
        frames[name] = frames[name][reference]
    if isinstance(sensitive, str):
        sensitive = [s.strip() for s in sensitive.split(",") if s.strip()]
    sensitive = list(sensitive or [])
    for column in sensitive:
        if column not in reference:
            raise DataError(
                f"sensitive column {column!r} does not exist; the columns are {reference}"
            )
        if column == target:
            raise ParameterError(
                f"sensitive column {column!r} is also the target; pick a different column"
            )
    if len(set(sensitive)) != len(sensitive):
        raise ParameterError(f"sensitive columns are repeated: {sensitive}")
    kinds = column_kinds(frames["train"])
    _parse_text_dates(frames, kinds)
    return Tables(frames["train"], frames["test"], frames["synthetic"], kinds, target, sensitive)


def numeric(s: pd.Series) -> np.ndarray:
    """Float64 values with NaN for missing; datetimes as days since 1970."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        ts = pd.to_datetime(s, utc=True)
        return ((ts - _EPOCH) / pd.Timedelta(days=1)).to_numpy("float64", na_value=np.nan)
    raw = s.astype(object) if isinstance(s.dtype, pd.CategoricalDtype) else s
    values = pd.to_numeric(raw, errors="coerce")
    out = pd.Series(values).to_numpy("float64", na_value=np.nan)
    return np.where(np.isfinite(out), out, np.nan)


def _label(value: object) -> str:
    # 3, 3.0 and "3" read from different files must land in one category.
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return str(value)


def labels(s: pd.Series) -> np.ndarray:
    """Object array of category labels (strings), None where missing."""
    out = np.empty(len(s), dtype=object)
    isna = s.isna().to_numpy()
    values = s.to_numpy(dtype=object)
    cache: dict[object, str] = {}
    for i, v in enumerate(values):
        if isna[i]:
            out[i] = None
        else:
            try:
                out[i] = cache[v] if v in cache else cache.setdefault(v, _label(v))
            except TypeError:  # unhashable cell: label it directly
                out[i] = _label(v)
    return out


def finite(x: float) -> float | None:
    """A JSON-safe float: None for NaN or infinity."""
    return None if x is None or not math.isfinite(float(x)) else float(x)


def subsample(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """At most `n` rows drawn without replacement, in their original order."""
    if len(df) <= n:
        return df
    idx = np.sort(np.random.default_rng(seed).choice(len(df), n, replace=False))
    return df.iloc[idx]
