"""Kind inference for table columns: the one rule `fit`, `report`, `evaluate` and
`detect` share (what `TabularCodec.fit` uses)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from genlab.data.columns import (
    BOOL_KEYS,
    MAX_CATEGORIES_FOR_NUMBERS,
    MIN_ROWS_FOR_ID,
    ColumnSpec,
    json_value,
    to_number,
    value_key,
)
from genlab.data.timestamps import DATE_FORMATS, offset_format, parse_times
from genlab.errors import DataError

__all__ = ["MAX_ABS_VALUE", "infer_column", "infer_kinds"]

# beyond this, squares and sums of a column overflow float64 inside the families and the
# model file holds infinities that `load` refuses (measured: 1e200 broke `gaussian`)
TEXT_MIN_DISTINCT_SHARE = 0.5  # distinct values per row above which long strings are text
TEXT_MIN_MEDIAN_LENGTH = 15  # characters
MAX_ABS_VALUE = 1e150


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
    with_offset = offset_format(sample)
    for fmt in [with_offset] if with_offset else DATE_FORMATS:
        parsed = parse_times(s, fmt)
        if parsed.notna().sum() == s.notna().sum():
            return parsed, fmt
    return None


def _check_mixed(name: str, present: pd.Series) -> None:
    """Refuse a text column that is mostly numbers: as categories every number would be
    its own value, memorised exactly."""
    if present.map(lambda v: isinstance(v, (bool, np.bool_))).any():
        return
    numbers = pd.to_numeric(present.astype(str).str.strip(), errors="coerce").notna()
    if numbers.all() or numbers.mean() < 0.5:
        return
    example = present[~numbers].iloc[0]
    raise DataError(
        f"column {name!r} mixes numbers and text ({int((~numbers).sum())} of {len(present)} "
        f"values are text, e.g. {example!r}); clean or blank those values, or pass "
        f"kinds={{{name!r}: 'categorical'}} to model every value as a category"
    )


def _check_range(name: str, values: np.ndarray) -> None:
    big = float(np.max(np.abs(values)))
    if big > MAX_ABS_VALUE:
        raise DataError(
            f"column {name!r} holds {big:.3g}, beyond the ±{MAX_ABS_VALUE:g} genlab can model; "
            "rescale it (e.g. log or divide) or drop it"
        )


def _id_pattern(values: pd.Series) -> tuple[str, int, int] | None:
    m = values.astype(str).str.extract(r"^(.*?)(\d+)$")
    if m[1].isna().any() or m[0].nunique() != 1:
        return None
    digits = m[1].astype(str)
    return str(m[0].iloc[0]), int(digits.str.len().max()), int(digits.astype(np.int64).max()) + 1


def _choose_kind(col: pd.Series, present: pd.Series, uniques: np.ndarray, is_number: bool,
                 is_date: bool) -> str:
    """The inferred kind of a column with at least one value (module docstring)."""
    n_unique = len(uniques)
    if n_unique == 1:
        return "constant"
    if pd.api.types.is_bool_dtype(col) or set(map(value_key, uniques)) <= BOOL_KEYS:
        return "boolean"
    if is_date:
        return "datetime"
    if is_number:
        values = present.to_numpy(dtype=np.float64)
        whole = bool(np.all(values == np.round(values)))
        if n_unique <= MAX_CATEGORIES_FOR_NUMBERS and n_unique <= len(present) / 2:
            return "categorical"
        return "integer" if whole else "continuous"
    if _looks_like_text(present, n_unique):
        return "text"
    if n_unique == len(present) and len(present) >= MIN_ROWS_FOR_ID:
        return "id"
    return "categorical"


def _looks_like_text(present: pd.Series, n_unique: int) -> bool:
    """Free text (comments, descriptions): mostly distinct, long values with spaces. As a
    category per value it would be copied verbatim into samples and drown the dependence
    of every other column."""
    if len(present) < MIN_ROWS_FOR_ID or n_unique < TEXT_MIN_DISTINCT_SHARE * len(present):
        return False
    values = present.astype(str)
    return bool(values.str.len().median() >= TEXT_MIN_MEDIAN_LENGTH
                and values.str.contains(r"\s", regex=True).mean() >= 0.5)


def _datetime_resolution(values: np.ndarray) -> str | None:
    """"D", "s" or "ms": the coarsest unit every value (in days) is a whole number of."""
    # days as float64 carry ~1e-7 s of noise, so test whole seconds with a tolerance (an
    # exact test missed them and decode then truncated 00:00:25 to 00:00:24.999999)
    secs = values * 86_400
    if np.all(np.abs(values - np.round(values)) <= 1e-9):
        return "D"
    if np.all(np.abs(secs - np.round(secs)) <= 1e-5):
        return "s"
    if np.all(np.abs(secs * 1000 - np.round(secs * 1000)) <= 1e-2):
        return "ms"
    return None


def infer_kinds(df: pd.DataFrame, kinds: dict[str, str] | None = None) -> dict[str, str]:
    """The kind of every column of `df` by the codec's rule (`kinds` overrides some)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the identifier notice is fit's to give
        return {str(c): infer_column(df[c], (kinds or {}).get(str(c))).kind for c in df.columns}


def _tie_name(value: object) -> str:
    """A category's name for ordering ties, -0.0 named as 0.0: which of the two zeros comes
    first in a table (the one that stands for both) must not change the order."""
    return str(value + 0.0 if isinstance(value, float) else value)


def infer_column(col: pd.Series, kind: str | None) -> ColumnSpec:
    """What the codec learns of one column; `kind` overrides the inferred kind."""
    name = str(col.name)
    dtype = str(col.dtype)
    present = col.dropna()
    if present.empty:
        raise DataError(
            f"column {name!r} has no values (all missing); drop it or fill it before fitting"
        )
    spec = ColumnSpec(name=name, kind="constant", dtype=dtype,
                      missing_rate=float(col.isna().mean()))
    if isinstance(col.dtype, pd.CategoricalDtype):
        spec.dtype_categories = [json_value(v) for v in col.dtype.categories]
    is_number = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    is_datetime = pd.api.types.is_datetime64_any_dtype(col)
    parsed_dates = None
    is_text = pd.api.types.is_string_dtype(col)
    if not (is_number or is_datetime) and is_text and kind in (None, "datetime"):
        parsed_dates = _parse_dates(col)
    if kind is None and parsed_dates is None and not (is_number or is_datetime) and (
            is_text or col.dtype == object):
        _check_mixed(name, present)
    uniques = present.unique()
    n_unique = len(uniques)
    declared = kind is not None
    if kind is None:
        kind = _choose_kind(col, present, uniques, is_number,
                            is_datetime or parsed_dates is not None)
    spec.kind = kind  # type: ignore[assignment]
    if kind in ("continuous", "integer") and not is_number:
        raise DataError(f"column {name!r} holds text, so it cannot be {kind}; use 'categorical'")

    if kind in ("categorical", "boolean", "constant"):
        cats = sorted(uniques, key=lambda v: (-int((present == v).sum()), _tie_name(v)))
        spec.categories = [json_value(v) for v in cats]
    elif kind in ("continuous", "integer"):
        values = to_number(col, spec)
        values = values[~np.isnan(values)]
        _check_range(name, values)
        spec.min, spec.max = float(values.min()), float(values.max())
        if kind == "continuous":
            spec.decimals = _decimals(values)
    elif kind == "datetime":
        if parsed_dates is not None:
            spec.datetime_format = parsed_dates[1]
        elif not is_datetime:
            raise DataError(f"column {name!r} cannot be read as dates; choose another kind for it")
        values = to_number(col, spec)
        values = values[~np.isnan(values)]
        spec.min, spec.max = float(values.min()), float(values.max())
        spec.datetime_resolution = _datetime_resolution(values)
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
    elif kind == "text" and not declared:  # declared text is modelled (models/table/_text)
        length = int(present.astype(str).str.len().median())
        warnings.warn(
            f"column {name!r} looks like free text ({n_unique} distinct values, median "
            f"{length} characters); it is left out of the model and sampled rows have it "
            f"missing, so no training text is ever copied; pass kinds={{{name!r}: 'text'}} to "
            "model it with a character model conditioned on the row (never copying a "
            f"training text), or kinds={{{name!r}: 'categorical'}} to model its values as "
            "categories",
            UserWarning,
            stacklevel=4,
        )
    if re.fullmatch(r"\s*", name):
        raise DataError("a column has an empty name; give every column a name")
    return spec
