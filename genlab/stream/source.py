"""Reading a table larger than memory: a Parquet file, a folder of Parquet files or a glob,
as pandas batches of at most `batch_rows` rows (`pyarrow.parquet`, file by file), every
file's schema checked against the first one's before any row is read; and the exact per-column
statistics a streaming fit starts from (`column_stats`: category counts, numeric
min/max/missing counts), which add up over batches.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genlab.errors import DataError, ParameterError

__all__ = ["BATCH_ROWS", "ColumnStats", "column_stats", "dataset_schema", "iter_batches",
           "parquet_files"]

BATCH_ROWS = 100_000


def parquet_files(source: str | os.PathLike[str]) -> list[Path]:
    """The Parquet files of `source` (a file, a folder searched recursively, or a glob), in
    sorted order; a one-line DataError when there are none. Hidden and `_` files (temporary
    files, sidecars) are left out, as pyarrow.dataset does."""
    text = os.fspath(source)
    path = Path(text)
    if path.is_file():
        found = [path]
    elif path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file()
                       and p.suffix.lower() in (".parquet", ".pq"))
    elif glob.has_magic(text):
        found = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
    else:
        raise DataError(f"no such file or folder: {text!r}; give a Parquet file, a folder of "
                        "Parquet files or a glob such as 'big/*.parquet'")
    found = [p for p in found if not p.name.startswith((".", "_"))]
    if not found:
        raise DataError(f"{text!r} holds no Parquet file; give a .parquet file, a folder of "
                        "them or a glob matching them")
    return found


def _check_schemas(files: list[Path]) -> Any:
    """The schema shared by every file; a one-line DataError naming the first file and
    column that differ from the first file."""
    import pyarrow.parquet as pq

    def schema_of(p: Path) -> Any:
        try:
            return pq.read_schema(p)
        except (OSError, ValueError) as err:  # ArrowInvalid is a ValueError
            raise DataError(f"cannot read {str(p)!r} as Parquet "
                            f"({str(err).splitlines()[0]})") from None

    first = schema_of(files[0])
    for p in files[1:]:
        other = schema_of(p)
        for f in first:
            if f.name not in other.names:
                raise DataError(f"{str(p)!r} has no column {f.name!r}, which {files[0].name} "
                                "has; every file of a dataset needs the same columns")
            if not other.field(f.name).type.equals(f.type):
                raise DataError(f"{str(p)!r}: column {f.name!r} is {other.field(f.name).type}"
                                f", but {f.type} in {files[0].name}; write every file with "
                                "the same column types")
        extra = [n for n in other.names if n not in first.names]
        if extra:
            raise DataError(f"{str(p)!r} has column {extra[0]!r}, which {files[0].name} has "
                            "not; every file of a dataset needs the same columns")
    return first.remove_metadata()


def dataset_schema(source: str | os.PathLike[str]) -> Any:
    """The pyarrow schema every file of `source` shares (checked as `iter_batches` does)."""
    return _check_schemas(parquet_files(source))


def iter_batches(source: str | os.PathLike[str], batch_rows: int = BATCH_ROWS,
                 columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """The rows of `source` in order (files sorted, rows as stored) as DataFrames of at most
    `batch_rows` rows; the schemas are checked before the first batch."""
    import pyarrow as pa

    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ParameterError(f"batch_rows must be a positive integer, got {batch_rows!r}")
    files = parquet_files(source)
    schema = _check_schemas(files)
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns])
    for path in files:
        yield from file_batches(path, schema, batch_rows)


def file_batches(path: str | os.PathLike[str], schema: Any, batch_rows: int,
                 groups: Iterable[int] | None = None) -> Iterator[pd.DataFrame]:
    """The rows of one Parquet file (its row groups `groups`, default all) as DataFrames of
    at most `batch_rows` rows in `schema`'s column order, without pandas metadata. A batch
    never spans row groups, so any split of a source into runs of whole row groups (the
    Dask driver's pieces) reads exactly the batches of `iter_batches`; file by file and
    without read-ahead, because a dataset scanner decodes several files and batches ahead
    of the consumer, which made the memory grow with the file sizes, not the batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as reader:
        for group in range(reader.num_row_groups) if groups is None else groups:
            for batch in reader.iter_batches(batch_size=batch_rows, row_groups=[group],
                                             columns=schema.names, use_threads=False):
                if batch.num_rows:
                    yield pa.RecordBatch.from_arrays([batch.column(n) for n in schema.names],
                                                     schema=schema).to_pandas()


@dataclass
class ColumnStats:
    """Exact statistics of one column over every batch: value counts (missing left out),
    missing count, and for numbers min and max."""

    name: str
    rows: int = 0
    missing: int = 0
    counts: dict[Any, int] = field(default_factory=dict)
    minimum: float | None = None
    maximum: float | None = None

    def add(self, values: pd.Series) -> None:
        """Add one batch of the column."""
        self.rows += len(values)
        isna = values.isna()
        self.missing += int(isna.sum())
        for value, count in values[~isna].value_counts(sort=False).items():
            self.counts[value] = self.counts.get(value, 0) + int(count)
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            kept = values[~isna].to_numpy(dtype=np.float64)
            if kept.size:
                lo, hi = float(kept.min()), float(kept.max())
                self.minimum = lo if self.minimum is None else min(self.minimum, lo)
                self.maximum = hi if self.maximum is None else max(self.maximum, hi)


def column_stats(source: str | os.PathLike[str],
                 batch_rows: int = BATCH_ROWS) -> dict[str, ColumnStats]:
    """Exact per-column statistics of `source` in one streaming pass; memory: one batch
    plus the distinct values of each column."""
    from genlab._progress import task

    stats: dict[str, ColumnStats] = {}
    with task("reading statistics", None) as advance:
        for batch in iter_batches(source, batch_rows):
            for name in batch.columns:
                stats.setdefault(name, ColumnStats(name)).add(batch[name])
            advance(len(batch))
    return stats
