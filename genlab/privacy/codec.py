"""The codec's metadata under differential privacy: ranges and category sets are released too.

A plain fit copies each numeric column's min / max and every category seen into the model
file; one row holding a unique extreme or a unique category would be in the release. Here
each comes from what the user declared (`bounds=`, `categories=`) or is estimated
privately:

- a numeric range: the 5 % and 95 % quantiles, each located by the exponential mechanism
  on a fixed, data-independent grid of round numbers and widened by one grid step beyond
  (a real extreme is never copied);
- a category set: the categories whose Gaussian-noised count clears a threshold set so that
  a category held by one row is released with probability below delta (stability-based
  histogram); the order of the released set is by value, not by frequency;
- the missing rate of every column: a noisy count.

Column kinds, dtypes, decimals and date formats are read from the data as its public schema.
Values outside a released range are clipped into it; a category not released is recoded to
the released category with the largest noisy count (both row-by-row, so DP is kept).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from genlab.data.columns import (
    CATEGORICAL_KINDS,
    NUMERIC_KINDS,
    ColumnSpec,
    json_value,
    value_key,
)
from genlab.data.tabular import Encoded, TabularCodec
from genlab.errors import DataError, ParameterError
from genlab.privacy.budget import Budget

__all__ = ["RANGE_GRID", "private_codec"]

_MANTISSAS = np.array([1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
# round numbers from 1e-2 to 9e9 with both signs, and 0: the candidates of a private range
RANGE_GRID = np.unique(np.r_[0.0, *(s * _MANTISSAS * 10.0**k for k in range(-2, 10)
                                     for s in (-1, 1))])
_QUANTILES = (0.05, 0.95)
_RANGE_WEIGHT = 6  # a range takes 6 shares of the codec's budget, other measures 1


def _check_declared(codec: TabularCodec, bounds: Any, categories: Any
                    ) -> tuple[dict[str, tuple[float, float]], dict[str, list[Any]]]:
    names = set(codec.names)
    out_b: dict[str, tuple[float, float]] = {}
    out_c: dict[str, list[Any]] = {}
    for what, given in (("bounds", bounds), ("categories", categories)):
        if given is None:
            continue
        if not isinstance(given, dict):
            raise ParameterError(f"{what} must map column names to values, e.g. "
                                 f"{{'age': (17, 90)}}; got {type(given).__name__}")
        unknown = sorted(set(given) - names)
        if unknown:
            raise ParameterError(f"{what} names columns not in the data: {unknown}")
    kinds = codec.kinds
    for name, pair in (bounds or {}).items():
        if kinds[name] not in NUMERIC_KINDS:
            raise ParameterError(f"bounds[{name!r}]: the column is {kinds[name]}, not numeric; "
                                 "give its categories= instead")
        try:
            lo, hi = (_as_number(v, kinds[name]) for v in pair)
        except (TypeError, ValueError):
            raise ParameterError(f"bounds[{name!r}] must be (low, high), got {pair!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ParameterError(f"bounds[{name!r}] must be finite with low < high, "
                                 f"got {pair!r}")
        out_b[name] = (lo, hi)
    for name, values in (categories or {}).items():
        if kinds[name] not in (*CATEGORICAL_KINDS, "constant"):
            raise ParameterError(f"categories[{name!r}]: the column is {kinds[name]}, not "
                                 "categorical; give its bounds= or kinds= instead")
        if not isinstance(values, (list, tuple)) or not values:
            raise ParameterError(f"categories[{name!r}] must be a non-empty list of values")
        seen = next(sp for sp in codec.columns if sp.name == name).categories or []
        numeric = bool(seen) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                     for v in seen)
        out_c[name] = list(dict.fromkeys(_as_category(v) if numeric else v for v in values))
    return out_b, out_c


def _as_category(v: Any) -> Any:
    """A declared category of a numeric-coded column (e.g. '9' from the command line)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return int(f) if f.is_integer() else f


def _as_number(v: Any, kind: str) -> float:
    if kind == "datetime" and not isinstance(v, (int, float)):
        return pd.Timestamp(v).value / 86_400e9
    return float(v)


def _interval_error(v: np.ndarray, grid: np.ndarray, q: float) -> np.ndarray:
    """For each interval [grid_i, grid_i+1) between neighbouring candidates, how many rows
    its rank range misses quantile q by (0 where q's row falls inside it); each changes by
    at most 1 when one row is replaced (Smith's private median, on a fixed grid)."""
    below = np.searchsorted(v, grid, side="left").astype(np.float64)
    target = q * v.size
    return np.maximum(np.maximum(below[:-1] - target, target - below[1:]), 0.0)


def _private_range(x: np.ndarray, budget: Budget, rho: float) -> tuple[float, float]:
    """(low, high): the left end of the grid interval holding the low quantile and the
    right end of the one holding the high quantile, each drawn by the exponential
    mechanism, so neither is ever a value of the data. A noisy count of negative values
    first decides whether negative candidates are needed at all (most columns have none,
    and half the grid is then out of the draw)."""
    v = np.sort(x[~np.isnan(x)])
    negative = budget.gaussian(np.array([np.sum(v < 0)]), 1.0, rho / 5, "codec")[0]
    grid = RANGE_GRID if negative >= _QUANTILES[0] * v.size else RANGE_GRID[RANGE_GRID >= 0]
    i = budget.exponential(-_interval_error(v, grid, _QUANTILES[0]), 1.0, rho * 2 / 5,
                           "codec")
    above = grid[i:]  # high > low
    k = budget.exponential(-_interval_error(v, above, _QUANTILES[1]), 1.0, rho * 2 / 5,
                           "codec")
    # one more grid step on each side (post-processing): the tails beyond the quantiles
    # mostly stay inside, at the cost of a few bins the noisy histogram finds empty
    return float(grid[max(i - 1, 0)]), float(above[min(k + 2, above.size - 1)])


def _noisy_missing(isna: np.ndarray, budget: Budget, rho: float) -> float:
    """Released missing rate: a noisy count, 0 below two noise scales."""
    count = float(budget.gaussian(np.array([isna.sum()]), 1.0, rho, "codec")[0])
    return 0.0 if count < 2 * budget.sigma(1.0, rho) else min(count / isna.size, 1.0)


def _private_categories(col: pd.Series, budget: Budget, rho: float, parts: int
                        ) -> tuple[list[Any], float, Any]:
    """(released categories, missing rate, the category rows of others are recoded to)."""
    raw = col.to_numpy(dtype=object)
    isna = col.isna().to_numpy()
    keys = [None if na else value_key(v) for v, na in zip(raw, isna, strict=True)]
    counts = Counter(keys)
    first = {value_key(v): v for v in col[~isna].unique()}
    # replacing one row moves one count down and one up: L2 sensitivity sqrt(2)
    noisy = budget.gaussian(np.array(list(counts.values()), np.float64), math.sqrt(2), rho,
                            "codec")
    cut = budget.threshold(budget.sigma(math.sqrt(2), rho), parts)
    released = {k: c for k, c in zip(counts, noisy, strict=True) if c >= cut}
    missing = released.pop(None, 0.0)
    if not released:
        raise DataError(f"column {col.name!r}: no category is common enough to release under "
                        "this epsilon; declare categories={...} for it or drop the column")
    values = sorted((json_value(first[k]) for k in released), key=_order_key)
    mode = json_value(first[max(released, key=released.__getitem__)])
    return values, min(float(missing) / len(col), 1.0), mode


def _order_key(v: Any) -> tuple[int, float, str]:
    if isinstance(v, (int, float)):  # bools too: False < True
        return (0, float(v), "")
    return (1, 0.0, str(v))


def private_codec(df: pd.DataFrame, kinds: dict[str, str] | None, bounds: Any,
                  categories: Any, budget: Budget, rho: float
                  ) -> tuple[TabularCodec, Encoded, list[str], list[str]]:
    """The codec released with a DP fit, the table encoded by it (clipped, recoded), and the
    names of the columns whose metadata were declared and estimated."""
    codec = TabularCodec.fit(df, kinds)
    if any(s.kind == "text" and (kinds or {}).get(s.name) == "text" for s in codec.columns):
        raise ParameterError("a differentially private fit cannot model declared text "
                             "columns; drop them or give them another kind")
    dec_b, dec_c = _check_declared(codec, bounds, categories)
    modelled = [s for s in codec.columns if s.kind not in ("id", "text")]
    measures = sum(1 + _RANGE_WEIGHT * (s.kind in NUMERIC_KINDS and s.name not in dec_b)
                   for s in modelled)
    rho_each = rho / max(measures, 1)
    parts = sum(s.kind not in NUMERIC_KINDS and s.name not in dec_c for s in modelled)
    columns, declared, estimated = [], [], []
    recode: dict[str, Any] = {}
    for s in codec.columns:
        if s.kind in ("id", "text"):
            # fresh random ids: no prefix, width or start copied from the data
            columns.append(replace(s, id_prefix=None, id_width=None, id_start=None,
                                   missing_rate=0.0))
            continue
        col = df[s.name]
        if s.kind in NUMERIC_KINDS:
            from genlab.data.columns import to_number

            x = to_number(col, s)
            missing = _noisy_missing(np.isnan(x), budget, rho_each)
            if s.name in dec_b:
                lo, hi = dec_b[s.name]
                declared.append(s.name)
            else:
                lo, hi = _private_range(x, budget, rho_each * _RANGE_WEIGHT)
                estimated.append(s.name)
            if s.kind == "integer":
                lo, hi = float(math.ceil(lo)), float(math.floor(hi))
                hi = max(hi, lo + 1)
            columns.append(replace(s, min=lo, max=hi, missing_rate=missing))
            continue
        if s.name in dec_c:
            cats = dec_c[s.name]
            missing = _noisy_missing(col.isna().to_numpy(), budget, rho_each)
            mode = cats[0]
            declared.append(s.name)
        else:
            cats, missing, mode = _private_categories(col, budget, rho_each, parts)
            estimated.append(s.name)
        recode[s.name] = mode
        dtype_cats = cats if s.dtype == "category" else s.dtype_categories
        columns.append(replace(s, categories=cats, missing_rate=missing,
                               dtype_categories=dtype_cats))
    private = TabularCodec(columns)
    return private, _encode(private, df, recode), declared, estimated


def _encode(codec: TabularCodec, df: pd.DataFrame, recode: dict[str, Any]) -> Encoded:
    """The table in the released codec: numbers clipped to the released range, missing
    values the codec does not model filled in, unreleased categories recoded."""
    enc = codec.encode(df)
    for j, s in enumerate(codec.numeric):
        x = np.clip(enc.x[:, j], s.min, s.max)
        if s.missing_rate <= 0:
            x = np.where(np.isnan(x), (float(s.min) + float(s.max)) / 2, x)  # type: ignore[arg-type]
        enc.x[:, j] = x
    for j, s in enumerate(codec.categorical):
        codes = enc.c[:, j]
        mode = codec.code_of(j, recode[s.name])
        enc.c[:, j] = np.where(codes < 0, mode, codes)
    return enc


def spec_summary(spec: ColumnSpec) -> str:
    """A column's released metadata in a few words (for messages)."""
    if spec.kind in NUMERIC_KINDS:
        return f"{spec.name}: [{spec.min:g}, {spec.max:g}]"
    return f"{spec.name}: {len(spec.categories or [])} categories"
