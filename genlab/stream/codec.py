"""The table codec from one streaming pass: the same `TabularCodec` that `TabularCodec.fit`
infers from the whole table in memory, by the same rule (`genlab.data.kinds`), from
statistics that add up over batches:

- numbers: row and missing counts, min/max, whether all are whole, the fewest decimals
  (the most any batch needs), and the distinct values only up to one more than the rule
  needs to call a number column categorical (`MAX_CATEGORIES_FOR_NUMBERS`), so memory stays
  bounded for continuous columns;
- text and booleans: exact counts of every distinct value (the categories and their order).

Columns the rule would make identifiers, free text or dates, and pandas categorical or
datetime columns, are refused with a one-line error (their inference needs every value);
drop or convert them for a streamed fit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from genlab.data.columns import (
    BOOL_KEYS,
    MAX_CATEGORIES_FOR_NUMBERS,
    MIN_ROWS_FOR_ID,
    ColumnSpec,
    json_value,
    value_key,
)
from genlab.data.kinds import _check_range, _decimals
from genlab.data.tabular import TabularCodec
from genlab.errors import DataError

__all__ = ["StreamedColumn", "stream_codec"]

_DATE_LIKE = r"^\d{1,4}[-/]\d{1,2}[-/]\d{1,4}"


def _refuse(name: str, why: str) -> DataError:
    return DataError(f"column {name!r} {why}; a streamed fit cannot infer it from batches: "
                     "drop the column or fit in memory")


@dataclass
class StreamedColumn:
    """What one column's batches add up to (module docstring)."""

    name: str
    dtype: str = ""
    number: bool = False
    rows: int = 0
    missing: int = 0
    counts: dict[Any, int] = field(default_factory=dict)
    capped: bool = False  # numbers: more distinct values than `counts` keeps
    whole: bool = True
    low: float = np.inf
    high: float = -np.inf
    decimals: int | None = 0

    def add(self, col: pd.Series) -> None:
        """Add one batch of the column."""
        if not self.dtype:
            self.dtype = str(col.dtype)
            if isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_datetime64_any_dtype(
                    col):
                raise _refuse(self.name, f"has pandas dtype {col.dtype}")
            self.number = (pd.api.types.is_numeric_dtype(col)
                           and not pd.api.types.is_bool_dtype(col))
        self.rows += len(col)
        present = col.dropna()
        self.missing += len(col) - len(present)
        if present.empty:
            return
        if self.number:
            self._add_numbers(present)
            return
        for value, count in present.value_counts(sort=False).items():
            self.counts[value] = self.counts.get(value, 0) + int(count)

    def _add_numbers(self, present: pd.Series) -> None:
        values = present.to_numpy(dtype=np.float64)
        self.low, self.high = min(self.low, values.min()), max(self.high, values.max())
        self.whole = self.whole and bool(np.all(values == np.round(values)))
        if self.decimals is not None:
            d = _decimals(values)
            self.decimals = None if d is None else max(self.decimals, d)
        if self.capped:
            return
        for value, count in present.value_counts(sort=False).items():
            self.counts[value] = self.counts.get(value, 0) + int(count)
        if len(self.counts) > MAX_CATEGORIES_FOR_NUMBERS:
            self.capped, self.counts = True, {}

    def spec(self) -> ColumnSpec:
        """The column's spec, as `genlab.data.kinds.infer_column` would give it."""
        present = self.rows - self.missing
        if present == 0:
            raise DataError(f"column {self.name!r} has no values (all missing); drop it or "
                            "fill it before fitting")
        spec = ColumnSpec(name=self.name, kind="constant", dtype=self.dtype,
                          missing_rate=self.missing / self.rows)
        uniques = list(self.counts)
        if self.number:
            kind = self._number_kind(present)
        elif len(uniques) == 1:
            kind = "constant"
        elif "bool" in self.dtype or set(map(value_key, uniques)) <= BOOL_KEYS:
            kind = "boolean"
        else:
            kind = self._text_kind(present)
        spec.kind = kind  # type: ignore[assignment]
        if kind in ("categorical", "boolean", "constant"):
            cats = sorted(uniques, key=lambda v: (-self.counts[v], str(v)))
            spec.categories = [json_value(v) for v in cats]
        else:
            _check_range(self.name, np.array([self.low, self.high]))
            spec.min, spec.max = float(self.low), float(self.high)
            if kind == "continuous":
                spec.decimals = self.decimals
        return spec

    def _number_kind(self, present: int) -> str:
        n_unique = MAX_CATEGORIES_FOR_NUMBERS + 1 if self.capped else len(self.counts)
        if n_unique == 1:
            return "constant"
        if n_unique <= MAX_CATEGORIES_FOR_NUMBERS and n_unique <= present / 2:
            return "categorical"
        return "integer" if self.whole else "continuous"

    def _text_kind(self, present: int) -> str:
        values = pd.Series(list(self.counts), dtype=object).astype(str)
        weights = np.array(list(self.counts.values()), dtype=np.int64)
        if values.str.match(_DATE_LIKE).all():
            raise _refuse(self.name, "looks like dates")
        numbers = pd.to_numeric(values.str.strip(), errors="coerce").notna().to_numpy()
        share = float(weights[numbers].sum()) / present
        if not numbers.all() and share >= 0.5:
            raise DataError(f"column {self.name!r} mixes numbers and text; clean or blank "
                            "those values, or drop the column for a streamed fit")
        if present >= MIN_ROWS_FOR_ID and len(values) >= 0.5 * present:
            raise _refuse(self.name, f"has {len(values)} distinct values in {present} rows "
                                     "(an identifier or free text)")
        return "categorical"


def stream_codec(source: str | os.PathLike[str], batch_rows: int) -> TabularCodec:
    """The codec of a Parquet file, folder or glob, in one pass of `batch_rows` batches."""
    from genlab._progress import task
    from genlab.stream.source import iter_batches

    columns: dict[str, StreamedColumn] = {}
    with task("streaming: column statistics", None) as advance:
        for batch in iter_batches(source, batch_rows):
            for name in batch.columns:
                columns.setdefault(str(name), StreamedColumn(str(name))).add(batch[name])
            advance(len(batch))
    rows = next(iter(columns.values())).rows if columns else 0
    if rows < 2:
        raise DataError(f"the table has {rows} row; give at least 2 rows to fit a model")
    for name in columns:
        if not name.strip():
            raise DataError("a column has an empty name; give every column a name")
    return TabularCodec([c.spec() for c in columns.values()])
