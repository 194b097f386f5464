"""Tabular codec: infer each column's kind, encode a table to arrays, decode arrays back.

The codec is reversible by construction: what it decodes has the training table's column
names and order, dtypes, category sets and value ranges. Families only ever see two arrays:

- ``x``: float64 (n, d_num) for continuous, integer and datetime columns (datetimes in days
  since 1970-01-01), NaN where a value is missing;
- ``c``: int64 (n, d_cat) category codes for categorical and boolean columns; a column with
  missing values gets one extra code (the last) meaning "missing", and a value never seen in
  training is encoded as -1 (probability zero under every model).

Identifier-like and constant columns are not modelled: the codec regenerates them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from genlab.data.columns import (
    _NS_PER_DAY,
    CATEGORICAL_KINDS,
    KINDS,
    NUMERIC_KINDS,
    ColumnSpec,
    Encoded,
    Kind,
    to_number,
    value_key,
)
from genlab.data.kinds import infer_column
from genlab.data.timestamps import format_times
from genlab.errors import DataError, ParameterError

__all__ = ["CATEGORICAL_KINDS", "KINDS", "NUMERIC_KINDS", "ColumnSpec", "Encoded", "Kind",
           "TabularCodec"]


class TabularCodec:
    """Learns a table's schema and converts between DataFrames and model arrays.

    Example:
        >>> df = pd.DataFrame({"a": [1.5, 2.25, 3.0, 4.5], "b": ["x", "y", "x", None]})
        >>> codec = TabularCodec.fit(df)
        >>> [(s.name, s.kind) for s in codec.columns]
        [('a', 'continuous'), ('b', 'categorical')]
        >>> enc = codec.encode(df)
        >>> enc.c[:, 0].tolist()
        [0, 1, 0, 2]
    """

    def __init__(self, columns: list[ColumnSpec]) -> None:
        self.columns = columns
        self.numeric = [s for s in columns if s.kind in NUMERIC_KINDS]
        self.categorical = [s for s in columns if s.kind in CATEGORICAL_KINDS]
        self._lookup = [
            {value_key(v): i for i, v in enumerate(s.categories or [])} for s in self.categorical
        ]

    # -- schema ---------------------------------------------------------------------------
    @classmethod
    def fit(cls, df: pd.DataFrame, kinds: dict[str, str] | None = None) -> TabularCodec:
        """Infer a spec for every column of `df`; `kinds` overrides the inferred kind by name."""
        if kinds is not None and not isinstance(kinds, dict):
            raise ParameterError(f"kinds must map column names to kinds, e.g. "
                                 f"{{'zip': 'categorical'}}; got {type(kinds).__name__}")
        kinds = dict(kinds or {})
        unknown = sorted(set(kinds) - set(df.columns))
        if unknown:
            raise DataError(
                f"kinds names columns not in the data: {unknown}; columns are {list(df.columns)}"
            )
        for name, kind in kinds.items():
            if kind not in KINDS:
                raise ParameterError(
                    f"unknown kind {kind!r} for column {name!r}; use one of {', '.join(KINDS)}"
                )
        if len(df) < 2:
            raise DataError(f"the table has {len(df)} row; give at least 2 rows to fit a model")
        return cls([infer_column(df[name], kinds.get(name)) for name in df.columns])

    def to_dict(self) -> dict[str, Any]:
        """The schema as JSON types."""
        return {"columns": [s.to_dict() for s in self.columns]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TabularCodec:
        """Rebuild from `to_dict` output."""
        try:
            return cls([ColumnSpec.from_dict(c) for c in d["columns"]])
        except (KeyError, TypeError) as err:
            raise DataError(f"codec spec is malformed: {err}") from err

    @property
    def names(self) -> list[str]:
        """Column names in the training table's order."""
        return [s.name for s in self.columns]

    @property
    def kinds(self) -> dict[str, str]:
        """Column name to kind."""
        return {s.name: s.kind for s in self.columns}

    def n_codes(self) -> list[int]:
        """Number of codes of each categorical column, in `c` order."""
        return [s.n_codes for s in self.categorical]

    def categorical_index(self, name: str) -> int:
        """Position of a categorical column in `c`; a clear error for other columns."""
        for j, s in enumerate(self.categorical):
            if s.name == name:
                return j
        if name in self.names:
            kind = self.kinds[name]
            raise DataError(
                f"cannot condition on column {name!r}: it is {kind}, and only categorical or "
                "boolean columns can be conditions"
            )
        raise DataError(f"unknown column {name!r} in conditions; columns are {self.names}")

    def code_of(self, j: int, value: Any) -> int:
        """The code of `value` in categorical column `j`; a clear error for unseen values."""
        spec = self.categorical[j]
        if value is None or (isinstance(value, float) and np.isnan(value)):
            if spec.missing_rate > 0:
                return len(spec.categories or [])
            raise DataError(f"column {spec.name!r} had no missing values in training")
        code = self._lookup[j].get(value_key(value))
        if code is None:
            shown = ", ".join(repr(v) for v in (spec.categories or [])[:10])
            more = "" if len(spec.categories or []) <= 10 else ", ..."
            raise DataError(
                f"value {value!r} was never seen in column {spec.name!r}; "
                f"seen values: {shown}{more}"
            )
        return code

    # -- encode / decode ------------------------------------------------------------------
    def encode(self, df: pd.DataFrame) -> Encoded:
        """Convert a table with the training columns (any order) to model arrays."""
        missing = [n for n in self.names if n not in df.columns]
        extra = [n for n in df.columns if n not in self.names]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing columns {missing}")
            if extra:
                parts.append(f"unexpected columns {extra}")
            raise DataError(
                f"the table does not match the model: {'; '.join(parts)}; "
                "give the same columns the model was fitted on"
            )
        n = len(df)
        x = np.empty((n, len(self.numeric)), dtype=np.float64)
        for j, s in enumerate(self.numeric):
            x[:, j] = to_number(df[s.name], s)
        c = np.empty((n, len(self.categorical)), dtype=np.int64)
        for j, s in enumerate(self.categorical):
            col = df[s.name]
            isna = col.isna().to_numpy()
            lookup = self._lookup[j]
            codes = np.fromiter(
                (lookup.get(value_key(v), -1) for v in col.to_numpy(dtype=object)), np.int64, n
            )
            missing_code = len(s.categories or []) if s.missing_rate > 0 else -1
            codes[isna] = missing_code
            c[:, j] = codes
        return Encoded(x=x, c=c)

    def decode(
        self, enc: Encoded, rng: np.random.Generator, *, row_offset: int = 0
    ) -> pd.DataFrame:
        """Convert model arrays back to a table like the training one."""
        n = enc.n
        out: dict[str, pd.Series] = {}
        for j, s in enumerate(self.numeric):
            out[s.name] = _from_number(enc.x[:, j], s)
        for j, s in enumerate(self.categorical):
            cats = np.asarray(list(s.categories or []) + [None], dtype=object)
            codes = enc.c[:, j]
            # a code out of range becomes missing only where the column had missing values;
            # otherwise the most frequent category (code 0), so no None ever turns an int or
            # bool column into a nullable dtype the training table did not have
            fallback = len(cats) - 1 if s.missing_rate > 0 else 0
            values = cats[np.where((codes >= 0) & (codes < s.n_codes), codes, fallback)]
            out[s.name] = _restore_dtype(pd.Series(values, dtype=object), s)
        for s in self.columns:
            if s.kind == "constant":
                values = np.full(n, (s.categories or [None])[0], dtype=object)
                values[rng.random(n) < s.missing_rate] = None
                out[s.name] = _restore_dtype(pd.Series(values, dtype=object), s)
            elif s.kind == "id":
                out[s.name] = _restore_dtype(_fresh_ids(s, n, rng, row_offset), s)
            elif s.kind == "text":  # left out of the model: never a copied training text
                out[s.name] = pd.Series([None] * n, dtype=object)
        return pd.DataFrame({name: out[name].reset_index(drop=True) for name in self.names})


# -- helpers ------------------------------------------------------------------------------
def _restore_dtype(values: pd.Series, s: ColumnSpec) -> pd.Series:
    if s.dtype == "category":
        return pd.Series(pd.Categorical(values, categories=s.dtype_categories))
    if s.kind == "boolean" and s.dtype == "bool" and values.isna().any():
        return values.astype("boolean")
    if s.dtype.startswith(("int", "uint")) and values.isna().any():
        return values.astype("Int64" if s.dtype.startswith("int") else "UInt64")
    try:
        return values.astype(s.dtype)
    except (TypeError, ValueError):
        return values


def _from_number(v: np.ndarray, s: ColumnSpec) -> pd.Series:
    isna = np.isnan(v)
    v = np.clip(np.where(isna, 0.0, v), s.min, s.max)
    if s.kind == "datetime":
        # days in float64 hold about 0.2 us, so finer than a microsecond is only noise
        unit_ns = {"D": _NS_PER_DAY, "s": 10**9, "ms": 10**6}.get(s.datetime_resolution or "", 1000)
        # scale in int64: a float64 of ~1.6e18 ns is only exact to 256 ns
        ns = np.round(v * _NS_PER_DAY / unit_ns).astype(np.int64) * unit_ns
        ts = pd.Series(pd.to_datetime(ns, unit="ns"))
        ts[isna] = pd.NaT
        if s.datetime_format is not None:
            return _restore_dtype(format_times(ts, s.datetime_format, s.datetime_resolution), s)
        if "," in s.dtype:  # timezone-aware: values were stored in UTC
            ts = ts.dt.tz_localize("UTC")
        return _restore_dtype(ts, s)
    if s.kind == "integer":
        v = np.round(v)
    elif s.decimals is not None:
        v = np.round(v, s.decimals)
    series = pd.Series(v.astype(np.float64))
    series[isna] = np.nan
    if s.kind == "integer" and not isna.any():
        series = series.astype(np.int64)
    return _restore_dtype(series, s)


def _fresh_ids(s: ColumnSpec, n: int, rng: np.random.Generator, offset: int = 0) -> pd.Series:
    """Fresh ids; `offset` continues the numbering when a sample is decoded in chunks."""
    if s.id_prefix is not None and s.id_width is not None and s.id_start is not None:
        numbers = np.arange(s.id_start + offset, s.id_start + offset + n)
        return pd.Series([f"{s.id_prefix}{k:0{s.id_width}d}" for k in numbers], dtype=object)
    # at least 12 hex digits, so ids drawn in different chunks practically never meet
    width = max(12, s.id_width or 12)
    alphabet = np.array(list("0123456789abcdef"))
    ids = pd.Series(["".join(row) for row in alphabet[rng.integers(0, 16, size=(n, width))]])
    # 8 hex digits collide by chance from ~10^5 rows (birthday bound); redraw repeats
    while (dup := ids.duplicated().to_numpy()).any():
        redraw = alphabet[rng.integers(0, 16, size=(int(dup.sum()), width))]
        ids[dup] = ["".join(row) for row in redraw]
    return ids.astype(object)


