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

__all__ = ["StreamedColumn", "codec_from_total", "codec_partial", "combine_codec", "stream_codec"]

_DATE_LIKE = r"^\d{1,4}[-/]\d{1,2}[-/]\d{1,4}"


def _refuse(name: str, why: str) -> DataError:
    return DataError(f"column {name!r} {why}; a streamed fit cannot infer it from batches: "
                     "drop the column or fit in memory")


@dataclass
class StreamedColumn:
    """What one column's batches add up to (module docstring); `partial` / `merge` carry it
    between processes as a plain dict, and merging is associative and commutative."""

    name: str
    dtypes: set[str] = field(default_factory=set)
    number: bool = False
    rows: int = 0
    missing: int = 0
    counts: dict[Any, int] = field(default_factory=dict)
    capped: bool = False  # numbers: more distinct values than `counts` keeps
    whole: bool = True
    low: float = np.inf
    high: float = -np.inf
    decimals: int | None = 0

    @property
    def dtype(self) -> str:
        """The column's pandas dtype over the whole table: batches with and without missing
        values read as float64 and int64 (or object and bool), the whole table as the first."""
        if len(self.dtypes) <= 1:
            return next(iter(self.dtypes), "object")
        return "float64" if self.number else "object"

    @classmethod
    def of(cls, name: str, col: pd.Series) -> StreamedColumn:
        """The statistics of one batch of the column."""
        if isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_datetime64_any_dtype(
                col):
            raise _refuse(name, f"has pandas dtype {col.dtype}")
        out = cls(name, {str(col.dtype)}, pd.api.types.is_numeric_dtype(col)
                  and not pd.api.types.is_bool_dtype(col))
        out.rows = len(col)
        present = col.dropna()
        out.missing = len(col) - len(present)
        if not present.empty:
            if out.number:
                out._add_numbers(present)
            else:
                out.counts = {v: int(c) for v, c in present.value_counts(sort=False).items()}
        return out

    def add(self, col: pd.Series) -> None:
        """Add one batch of the column."""
        self.merge(StreamedColumn.of(self.name, col))

    def merge(self, other: StreamedColumn) -> None:
        """Add another part of the column's rows."""
        self.number = self.number or other.number if self.dtypes else other.number
        self.dtypes |= other.dtypes
        self.rows += other.rows
        self.missing += other.missing
        self.low, self.high = min(self.low, other.low), max(self.high, other.high)
        self.whole = self.whole and other.whole
        self.decimals = (None if self.decimals is None or other.decimals is None
                         else max(self.decimals, other.decimals))
        self.capped = self.capped or other.capped
        if self.capped:
            self.counts = {}
            return
        for value, count in other.counts.items():
            self.counts[value] = self.counts.get(value, 0) + count
        if self.number and len(self.counts) > MAX_CATEGORIES_FOR_NUMBERS:
            self.capped, self.counts = True, {}

    def _add_numbers(self, present: pd.Series) -> None:
        values = present.to_numpy(dtype=np.float64)
        self.low, self.high = float(values.min()), float(values.max())
        self.whole = bool(np.all(values == np.round(values)))
        self.decimals = _decimals(values)
        counts = present.value_counts(sort=False)
        if len(counts) > MAX_CATEGORIES_FOR_NUMBERS:
            self.capped = True
        else:
            # -0.0 and 0.0 count as one value; keep +0.0 so merging in any order agrees
            self.counts = {v + 0.0 if isinstance(v, float) else v: int(c)
                           for v, c in counts.items()}

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


def codec_partial(batch: pd.DataFrame) -> dict[str, Any]:
    """Stage 0 of a plan: the statistics of one batch, column by column."""
    return {"columns": [str(c) for c in batch.columns],
            "stats": {str(c): vars(StreamedColumn.of(str(c), batch[c])) for c in batch.columns}}


def combine_codec(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Merge two batches' statistics (associative and commutative; exact)."""
    stats = {}
    for name, sa in a["stats"].items():
        col = StreamedColumn(**{**sa, "dtypes": set(sa["dtypes"]), "counts": dict(sa["counts"])})
        col.merge(StreamedColumn(**b["stats"][name]))
        stats[name] = vars(col)
    return {"columns": a["columns"], "stats": stats}


def codec_from_total(total: dict[str, Any]) -> tuple[TabularCodec, int, list[str]]:
    """The codec, the row count and the column names from every batch's statistics."""
    columns = [StreamedColumn(**total["stats"][name]) for name in total["columns"]]
    rows = columns[0].rows if columns else 0
    if rows < 2:
        raise DataError(f"the table has {rows} row; give at least 2 rows to fit a model")
    for c in columns:
        if not c.name.strip():
            raise DataError("a column has an empty name; give every column a name")
    return TabularCodec([c.spec() for c in columns]), rows, list(total["columns"])


def stream_codec(source: str | os.PathLike[str], batch_rows: int) -> TabularCodec:
    """The codec of a Parquet file, folder or glob, in one pass of `batch_rows` batches."""
    from genlab._progress import task
    from genlab.stream.source import iter_batches

    total: dict[str, Any] | None = None
    with task("streaming: column statistics", None) as advance:
        for batch in iter_batches(source, batch_rows):
            part = codec_partial(batch)
            total = part if total is None else combine_codec(total, part)
            advance(len(batch))
    if total is None:
        raise DataError("the table has 0 row; give at least 2 rows to fit a model")
    return codec_from_total(total)[0]
