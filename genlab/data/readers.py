"""Read and write tables (CSV, Parquet, DataFrames) with one-line errors on bad input.

What `read_table` does with what people write:

- the delimiter of a CSV is sniffed among ``,`` ``;`` tab ``|`` (stated when not a comma;
  `delimiter=` fixes it);
- numbers written ``1,234`` or ``3,14`` are read as numbers, one warning line per column
  (`thousands=` / `decimal=` say how the file writes them and turn the guess off);
- ``""``, ``NA``, ``n/a``, ``null``, ``NaN``, ``None`` and ``-`` are missing values;
- ``inf`` in a numeric column is refused with its row and column (`inf="missing"` reads it
  as missing); a row longer than the header is refused with its line number; nested Parquet
  columns are refused by name;
- only regular files are read, within a budget of bytes (`max_bytes`, decompressed) and of
  columns (`max_columns`) that the caller can raise.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import warnings
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from genlab._atomic import atomic_path
from genlab.data import csv_dialect
from genlab.errors import DataError, ParameterError

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_COLUMNS", "MISSING_MARKERS", "TABLE_SUFFIXES",
           "TableSource", "read_table", "table_suffix", "write_table"]

TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")  # the one list every reader uses
TableSource = str | os.PathLike[str] | pd.DataFrame
DEFAULT_MAX_BYTES = 2 * 1024**3
DEFAULT_MAX_COLUMNS = 2000
MISSING_MARKERS = ("-",)  # beside pandas' own: "", "NA", "n/a", "null", "NaN", "None", ...
_HEAD_BYTES = 1 << 20  # what the delimiter, the header and a ragged first row are read from


def table_suffix(path: Path) -> str:
    """The table extension of `path` (".csv.gz" counts as one), lower case, or its suffix."""
    name = path.name.lower()
    return ".csv.gz" if name.endswith(".csv.gz") else path.suffix.lower()


def _suffix(path: Path) -> str:
    suffix = table_suffix(path)
    if suffix not in TABLE_SUFFIXES:
        raise DataError(
            f"unsupported file extension {path.suffix or '(none)'!r} for {str(path)!r}; "
            f"use one of {', '.join(TABLE_SUFFIXES)}"
        )
    return suffix


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _over_bytes(where: str, what: str, limit: int, needed: int) -> DataError:
    return DataError(
        f"{where} {what}, over the budget of {_size(limit)}; pass max_bytes={needed} to "
        "read_table (CLI: --max-bytes) to read it"
    )


class _OverBudget(Exception):
    """Raised inside pandas' reads when the decompressed bytes pass the budget."""


class _Bounded(io.RawIOBase):
    """A binary stream that stops with `_OverBudget` after `limit` bytes."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self._raw, self._limit, self.total = raw, limit, 0

    def readable(self) -> bool:
        """Always: this stream only reads."""
        return True

    def readinto(self, b: Any) -> int:
        """Read into `b`, counting the bytes against the budget."""
        n = self._raw.readinto(b) or 0  # type: ignore[attr-defined]
        self.total += n
        if self.total > self._limit:
            raise _OverBudget
        return n

    def close(self) -> None:
        """Close the underlying file too."""
        self._raw.close()
        super().close()


def _open(path: Path, suffix: str, limit: int) -> io.BufferedReader:
    raw: BinaryIO = gzip.open(path, "rb") if suffix == ".csv.gz" else open(path, "rb")
    return io.BufferedReader(_Bounded(raw, limit))


def _check_path(path: Path, max_bytes: int) -> str:
    """Refuse what is not a readable regular table file within the byte budget."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DataError(f"file not found: {str(path)!r}; check the path") from None
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or err
        raise DataError(f"cannot read {str(path)!r}: {reason}; check the path") from None
    if stat.S_ISDIR(info.st_mode):
        raise DataError(f"{str(path)!r} is a folder; give a {table_suffix(path) or '.csv'} file")
    if not stat.S_ISREG(info.st_mode):
        raise DataError(
            f"{str(path)!r} is not a regular file (a device, pipe or socket); "
            "save the table to a .csv or .parquet file and give that"
        )
    suffix = _suffix(path)
    if info.st_size == 0:
        raise DataError(f"file {str(path)!r} is empty; give a table with a header and rows")
    if info.st_size > max_bytes:
        raise _over_bytes(repr(str(path)), f"is {_size(info.st_size)}", max_bytes, info.st_size)
    return suffix


def _head(path: Path, suffix: str, max_bytes: int, where: str) -> str:
    """The first complete lines of the file as text (bad bytes replaced: pandas names them)."""
    with _open(path, suffix, max_bytes) as fh:
        head = fh.read(_HEAD_BYTES)
    nul = head.find(b"\x00")
    if nul >= 0:  # pandas would read NUL bytes into values
        raise DataError(
            f"file {where} is not UTF-8 text (byte {nul} is NUL: UTF-16 or "
            "binary data?); re-save it as UTF-8 CSV"
        )
    if len(head) == _HEAD_BYTES and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]
    return head.decode("utf-8", errors="replace").lstrip("\ufeff")


def _read_csv(path: Path, suffix: str, where: str,
              opts: dict[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """The table and its header as written."""
    text = _head(path, suffix, opts["max_bytes"], where)
    delimiter = opts["delimiter"] or csv_dialect.sniff_delimiter(text)
    csv_dialect.check_header(text, delimiter, where, opts["max_columns"])
    try:
        with warnings.catch_warnings(), _open(path, suffix, opts["max_bytes"]) as fh:
            # a first row longer than the header would silently become the index
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(
                fh, sep=delimiter, encoding="utf-8", skipinitialspace=True, index_col=False,
                na_values=list(MISSING_MARKERS), decimal=opts["decimal"] or ".",
                thousands=opts["thousands"] or None,
            )
    except pd.errors.ParserWarning as err:
        ragged = csv_dialect.ragged_line(text, delimiter)
        if ragged is None:
            raise DataError(f"cannot read {where}: {str(err).splitlines()[0]}") from None
        raise csv_dialect.ragged_error(where, *ragged) from None
    except pd.errors.ParserError as err:
        raise csv_dialect.parser_error(err, where) from None
    if delimiter != "," and opts["delimiter"] is None:
        name = csv_dialect.delimiter_name(delimiter)
        warnings.warn(
            f"read {where} with {name} as the delimiter (detected); pass "
            f"read_table(..., delimiter=...) if it is another",
            UserWarning,
            stacklevel=3,
        )
    if opts["decimal"] is None and opts["thousands"] is None:
        df = csv_dialect.fix_number_formats(df, delimiter, where)
    return df, [c for c in csv_dialect.header(text, delimiter) if c != ""]


def _read_parquet(path: Path, where: str, max_bytes: int, max_columns: int) -> pd.DataFrame:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    if meta.num_columns > max_columns:
        raise DataError(
            f"{where} has {meta.num_columns} columns, over the budget of {max_columns}; pass "
            f"max_columns={meta.num_columns} to read_table (CLI: --max-columns) to read it"
        )
    # encoded sizes hide runs and dictionaries: in memory a cell takes at least 8 bytes
    encoded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    needed = max(encoded, 8 * meta.num_rows * meta.num_columns)
    if needed > max_bytes:
        raise _over_bytes(where, f"holds {_size(needed)} uncompressed", max_bytes, needed)
    schema = pq.read_schema(path)
    for field in schema:
        if field.type.num_fields > 0:  # struct, list and map columns
            raise DataError(
                f"column {field.name!r} of {where} is nested ({field.type}); flatten it into "
                "plain columns (one per field) before reading"
            )
    return pd.read_parquet(path)


def _check_options(opts: dict[str, Any]) -> None:
    for key in ("max_bytes", "max_columns"):
        value = opts[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParameterError(f"{key} must be a positive whole number, not {value!r}")
    if opts["inf"] not in ("error", "missing"):
        raise ParameterError(f"inf must be 'error' or 'missing', not {opts['inf']!r}")
    if opts["delimiter"] is not None and opts["delimiter"] not in csv_dialect.DELIMITERS:
        raise ParameterError(
            f"delimiter must be one of {[*csv_dialect.DELIMITERS]}, not {opts['delimiter']!r}")
    if opts["decimal"] not in (None, ".", ","):
        raise ParameterError(f"decimal must be '.' or ',', not {opts['decimal']!r}")
    if opts["thousands"] not in (None, "", ",", ".", " ", "'", "_"):
        raise ParameterError(
            f"thousands must be one of '', ',', '.', ' ', \"'\", '_', not {opts['thousands']!r}")
    marks = [m for m in (opts["delimiter"], opts["decimal"] or ".", opts["thousands"]) if m]
    if len(set(marks)) < len(marks):
        raise ParameterError(
            f"delimiter, decimal and thousands must differ (got {opts['delimiter']!r}, "
            f"{opts['decimal']!r}, {opts['thousands']!r})"
        )


def _check_frame(df: pd.DataFrame, where: str, inf: str, max_columns: int) -> pd.DataFrame:
    """Column budget, nested values and infinities: the checks every source gets."""
    if df.shape[1] > max_columns:
        raise DataError(
            f"{where} has {df.shape[1]} columns, over the budget of {max_columns}; pass "
            f"max_columns={df.shape[1]} to read_table (CLI: --max-columns) to read it"
        )
    for j, name in enumerate(df.columns):
        col = df.iloc[:, j]
        if col.dtype == object:
            nested = col.map(lambda v: isinstance(v, (dict, list, tuple, set, np.ndarray)))
            if nested.any():
                kind = type(col[nested].iloc[0]).__name__
                raise DataError(
                    f"column {str(name)!r} of {where} holds nested values ({kind}); flatten "
                    "it into plain columns before reading"
                )
        elif pd.api.types.is_float_dtype(col):
            bad = np.isinf(col.to_numpy(dtype=np.float64, na_value=np.nan))
            if not bad.any():
                continue
            if inf == "missing":
                df.iloc[:, j] = col.mask(bad)
                continue
            i = int(np.argmax(bad))
            raise DataError(
                f"column {str(name)!r} of {where} holds {col.iloc[i]} in row {i + 1}; remove "
                "it, or pass read_table(..., inf='missing') (CLI: --inf missing) to read it as "
                "missing"
            )
    return df


def read_table(
    source: TableSource,
    *,
    delimiter: str | None = None,
    decimal: str | None = None,
    thousands: str | None = None,
    inf: str = "error",
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_columns: int = DEFAULT_MAX_COLUMNS,
) -> pd.DataFrame:
    """Read a CSV or Parquet file (by extension), or pass a DataFrame through (copied).

    `delimiter` (``,`` ``;`` tab ``|``; sniffed when None), `decimal` (``.`` or ``,``) and
    `thousands` (``""`` for none) say how a CSV is written; either of the last two turns off
    the guess of number formats. `inf`: ``"error"`` or ``"missing"``. `max_bytes` and
    `max_columns` bound what is read. Every refusal is a one-line DataError (see the module
    docstring); a bad option is a ParameterError.
    """
    opts = {"delimiter": delimiter, "decimal": decimal, "thousands": thousands, "inf": inf,
            "max_bytes": max_bytes, "max_columns": max_columns}
    _check_options(opts)
    written: list[str] = []  # a CSV's header as written, before pandas renames repeats
    if isinstance(source, pd.DataFrame):
        df = source.copy()
        where = "the DataFrame"
    elif not isinstance(source, (str, os.PathLike)):
        raise DataError(f"a table is a CSV/Parquet path or a pandas DataFrame, got "
                        f"{type(source).__name__}; pass one of those")
    else:
        path = Path(source)
        suffix = _check_path(path, max_bytes)
        where = repr(str(path))
        try:
            if suffix in (".csv", ".csv.gz"):
                df, written = _read_csv(path, suffix, where, opts)
            else:
                df = _read_parquet(path, where, max_bytes, max_columns)
        except DataError:
            raise
        except UnicodeDecodeError as err:
            raise DataError(
                f"file {where} is not UTF-8 text (byte {err.start}: {err.reason}); "
                "re-save it as UTF-8"
            ) from None
        except _OverBudget:
            raise DataError(
                f"{where} holds more than {_size(max_bytes)} once decompressed, over the "
                "budget; pass a larger max_bytes= to read_table (CLI: --max-bytes) to read it"
            ) from None
        except pd.errors.EmptyDataError:
            raise DataError(f"file {where} has no columns; give a table with a header") from None
        except (pd.errors.ParserError, OSError, ValueError, EOFError, zlib.error) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DataError(f"cannot read {where}: {first}") from None
    if df.shape[1] == 0:
        raise DataError(f"{where} has no columns; give a table with a header")
    if len(df) == 0:
        raise DataError(f"{where} has a header but no rows; give at least 2 rows")
    names = written or [str(c) for c in df.columns]
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        raise DataError(f"{where} has duplicate column names {dupes}; rename them")
    df.columns = [str(c) for c in df.columns]
    return _check_frame(df, where, inf, max_columns)


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write `df` to CSV or Parquet by the extension of `path`, atomically; return the path."""
    target = Path(path)
    suffix = _suffix(target)
    with atomic_path(target) as tmp:
        if suffix in (".csv", ".csv.gz"):  # the temp name hides the extension: say it
            df.to_csv(tmp, index=False, compression="gzip" if suffix == ".csv.gz" else None)
        else:
            df.to_parquet(tmp, index=False)
    return target
