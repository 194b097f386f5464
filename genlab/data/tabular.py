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

import re
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from genlab.errors import DataError, ParameterError

__all__ = ["KINDS", "ColumnSpec", "Encoded", "Kind", "TabularCodec"]

Kind = Literal["continuous", "integer", "categorical", "boolean", "datetime", "id", "constant"]
KINDS: tuple[str, ...] = get_args(Kind)
NUMERIC_KINDS = ("continuous", "integer", "datetime")
CATEGORICAL_KINDS = ("categorical", "boolean")

MAX_CATEGORIES_FOR_NUMBERS = 20
MIN_ROWS_FOR_ID = 20
_NS_PER_DAY = 86_400 * 10**9
_BOOL_KEYS = {("b", True), ("b", False)}
_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d", "%d/%m/%Y")


@dataclass
class ColumnSpec:
    """What the codec learned about one column; JSON-serialisable via `to_dict`."""

    name: str
    kind: Kind
    dtype: str
    missing_rate: float = 0.0
    min: float | None = None
    max: float | None = None
    decimals: int | None = None
    categories: list[Any] | None = None
    datetime_resolution: str | None = None
    datetime_format: str | None = None
    id_prefix: str | None = None
    id_width: int | None = None
    id_start: int | None = None
    dtype_categories: list[Any] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as a plain dict of JSON types."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnSpec:
        """Rebuild a spec from `to_dict` output, rejecting unknown keys and kinds."""
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise DataError(f"column spec has unknown keys {sorted(unknown)}")
        if d.get("kind") not in KINDS:
            raise DataError(f"column spec has unknown kind {d.get('kind')!r}")
        return cls(**d)

    @property
    def n_codes(self) -> int:
        """Number of codes a categorical column uses (its categories, plus one if missing)."""
        assert self.categories is not None
        return len(self.categories) + (1 if self.missing_rate > 0 else 0)


@dataclass
class Encoded:
    """A table as the families see it."""

    x: np.ndarray  # (n, d_num) float64, NaN = missing
    c: np.ndarray  # (n, d_cat) int64, last code = missing, -1 = unseen value

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.x.shape[0])


def _json_value(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return str(v)


def _key(v: Any) -> Any:
    """A lookup key that treats 13, 13.0 and np.int64(13) alike, and bools apart."""
    if isinstance(v, (bool, np.bool_)):
        return ("b", bool(v))
    if isinstance(v, (int, float, np.integer, np.floating)):
        return ("n", float(v))
    return ("s", str(v))


def _decimals(values: np.ndarray) -> int | None:
    """Fewest decimals (0-6) the values have, allowing only float noise (a few ulps).

    decode rounds to this many decimals, so a looser tolerance would lose real digits
    (a relative 1e-6 turned 673265.519 into 673265.5).
    """
    for d in range(7):
        scaled = values * 10.0**d
        noise = 8 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(scaled))
        if np.all(np.abs(scaled - np.round(scaled)) <= noise):
            return d
    return None


def _parse_dates(s: pd.Series) -> tuple[pd.Series, str] | None:
    """Parse a string column as datetimes if every value matches one known format."""
    sample = s.dropna().astype(str)
    if sample.empty or not sample.str.match(r"^\d{1,4}[-/]\d{1,2}[-/]\d{1,4}").all():
        return None
    for fmt in _DATE_FORMATS:
        parsed = pd.to_datetime(s, format=fmt, errors="coerce")
        if parsed.notna().sum() == s.notna().sum():
            return parsed, fmt
    return None


def _id_pattern(values: pd.Series) -> tuple[str, int, int] | None:
    m = values.astype(str).str.extract(r"^(.*?)(\d+)$")
    if m[1].isna().any() or m[0].nunique() != 1:
        return None
    digits = m[1].astype(str)
    return str(m[0].iloc[0]), int(digits.str.len().max()), int(digits.astype(np.int64).max()) + 1


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
            {_key(v): i for i, v in enumerate(s.categories or [])} for s in self.categorical
        ]

    # -- schema ---------------------------------------------------------------------------
    @classmethod
    def fit(cls, df: pd.DataFrame, kinds: dict[str, str] | None = None) -> TabularCodec:
        """Infer a spec for every column of `df`; `kinds` overrides the inferred kind by name."""
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
        return cls([_infer_column(df[name], kinds.get(name)) for name in df.columns])

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
        code = self._lookup[j].get(_key(value))
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
            x[:, j] = _to_number(df[s.name], s)
        c = np.empty((n, len(self.categorical)), dtype=np.int64)
        for j, s in enumerate(self.categorical):
            col = df[s.name]
            isna = col.isna().to_numpy()
            lookup = self._lookup[j]
            codes = np.fromiter(
                (lookup.get(_key(v), -1) for v in col.to_numpy(dtype=object)), np.int64, n
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


def _to_number(col: pd.Series, s: ColumnSpec) -> np.ndarray:
    if s.kind == "datetime":
        if s.datetime_format is not None and not pd.api.types.is_datetime64_any_dtype(col):
            parsed = pd.to_datetime(col, format=s.datetime_format, errors="coerce")
        else:
            parsed = pd.to_datetime(col, errors="coerce")
        bad = parsed.isna() & col.notna()
        if bad.any():
            raise DataError(
                f"column {s.name!r} has a value that is not a date: {col[bad].iloc[0]!r}; "
                f"fix it or give kinds={{{s.name!r}: 'categorical'}}"
            )
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        ns = parsed.astype("datetime64[ns]").to_numpy().astype("int64").astype(np.float64)
        out = ns / _NS_PER_DAY
        out[parsed.isna().to_numpy()] = np.nan
        return out
    if pd.api.types.is_bool_dtype(col):
        col = col.astype(float)
    num = pd.to_numeric(col, errors="coerce")
    bad = num.isna() & col.notna()
    if bad.any():
        raise DataError(
            f"column {s.name!r} has a value that is not a number: {col[bad].iloc[0]!r}; "
            f"fix it or give kinds={{{s.name!r}: 'categorical'}}"
        )
    return num.to_numpy(dtype=np.float64, na_value=np.nan)


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
            txt = ts.dt.strftime(s.datetime_format).astype(object)
            txt[isna] = None
            return _restore_dtype(txt, s)
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


def _infer_column(col: pd.Series, kind: str | None) -> ColumnSpec:
    name = str(col.name)
    dtype = str(col.dtype)
    present = col.dropna()
    if present.empty:
        raise DataError(
            f"column {name!r} has no values (all missing); drop it or fill it before fitting"
        )
    spec = ColumnSpec(
        name=name, kind="constant", dtype=dtype, missing_rate=float(col.isna().mean())
    )
    if isinstance(col.dtype, pd.CategoricalDtype):
        spec.dtype_categories = [_json_value(v) for v in col.dtype.categories]
    is_number = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    is_datetime = pd.api.types.is_datetime64_any_dtype(col)
    parsed_dates = None
    is_text = pd.api.types.is_string_dtype(col)
    if not (is_number or is_datetime) and is_text and kind in (None, "datetime"):
        parsed_dates = _parse_dates(col)
    uniques = present.unique()
    n_unique = len(uniques)

    if kind is None:
        if n_unique == 1:
            kind = "constant"
        elif pd.api.types.is_bool_dtype(col) or set(map(_key, uniques)) <= _BOOL_KEYS:
            kind = "boolean"
        elif is_datetime or parsed_dates is not None:
            kind = "datetime"
        elif is_number:
            values = present.to_numpy(dtype=np.float64)
            whole = bool(np.all(values == np.round(values)))
            if n_unique <= MAX_CATEGORIES_FOR_NUMBERS and n_unique <= len(present) / 2:
                kind = "categorical"
            else:
                kind = "integer" if whole else "continuous"
        elif n_unique == len(present) and len(present) >= MIN_ROWS_FOR_ID:
            kind = "id"
        else:
            kind = "categorical"
    spec.kind = kind  # type: ignore[assignment]
    if kind in ("continuous", "integer") and not is_number:
        raise DataError(f"column {name!r} holds text, so it cannot be {kind}; use 'categorical'")

    if kind in ("categorical", "boolean", "constant"):
        cats = sorted(uniques, key=lambda v: (-int((present == v).sum()), str(v)))
        spec.categories = [_json_value(v) for v in cats]
    elif kind in ("continuous", "integer"):
        values = _to_number(col, spec)
        values = values[~np.isnan(values)]
        spec.min, spec.max = float(values.min()), float(values.max())
        if kind == "continuous":
            spec.decimals = _decimals(values)
    elif kind == "datetime":
        if parsed_dates is not None:
            spec.datetime_format = parsed_dates[1]
        elif not is_datetime:
            raise DataError(f"column {name!r} cannot be read as dates; choose another kind for it")
        values = _to_number(col, spec)
        values = values[~np.isnan(values)]
        spec.min, spec.max = float(values.min()), float(values.max())
        # days as float64 carry ~1e-7 s of noise, so test whole seconds with a tolerance (an
        # exact test missed them and decode then truncated 00:00:25 to 00:00:24.999999)
        secs = values * 86_400
        if np.all(np.abs(values - np.round(values)) <= 1e-9):
            spec.datetime_resolution = "D"
        elif np.all(np.abs(secs - np.round(secs)) <= 1e-5):
            spec.datetime_resolution = "s"
        elif np.all(np.abs(secs * 1000 - np.round(secs * 1000)) <= 1e-2):
            spec.datetime_resolution = "ms"
    elif kind == "id":
        pattern = _id_pattern(present) if not is_number else None
        if pattern is not None:
            spec.id_prefix, spec.id_width, spec.id_start = pattern
        else:
            spec.id_width = int(present.astype(str).str.len().median())
        warnings.warn(
            f"column {name!r} looks like an identifier ({n_unique} unique values); it is not "
            f"modelled and sampled rows get fresh ids; pass kinds={{{name!r}: 'categorical'}} "
            "to model it",
            UserWarning,
            stacklevel=4,
        )
    if re.fullmatch(r"\s*", name):
        raise DataError("a column has an empty name; give every column a name")
    return spec
