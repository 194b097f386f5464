"""What the tabular codec knows of a column (`ColumnSpec`), the arrays families see
(`Encoded`), the kinds of column, and the conversion of a column to numbers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from genlab.data.timestamps import parse_times
from genlab.errors import DataError

__all__ = ["CATEGORICAL_KINDS", "KINDS", "NUMERIC_KINDS", "ColumnSpec", "Encoded", "Kind",
           "to_number"]

Kind = Literal["continuous", "integer", "categorical", "boolean", "datetime", "id", "constant",
               "text"]
KINDS: tuple[str, ...] = get_args(Kind)
NUMERIC_KINDS = ("continuous", "integer", "datetime")
CATEGORICAL_KINDS = ("categorical", "boolean")

MAX_CATEGORIES_FOR_NUMBERS = 20
MIN_ROWS_FOR_ID = 20
_NS_PER_DAY = 86_400 * 10**9
BOOL_KEYS = {("b", True), ("b", False)}


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


def json_value(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return str(v)


def value_key(v: Any) -> Any:
    """A lookup key that treats 13, 13.0 and np.int64(13) alike, and bools apart."""
    if isinstance(v, (bool, np.bool_)):
        return ("b", bool(v))
    if isinstance(v, (int, float, np.integer, np.floating)):
        return ("n", float(v))
    return ("s", str(v))


def to_number(col: pd.Series, s: ColumnSpec) -> np.ndarray:
    """The column as float64 (datetimes in days since 1970-01-01), NaN where missing;
    one-line DataError naming the first value that is not a number / date."""
    if s.kind == "datetime":
        if s.datetime_format is not None and not pd.api.types.is_datetime64_any_dtype(col):
            parsed = parse_times(col, s.datetime_format)
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
