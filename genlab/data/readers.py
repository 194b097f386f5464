"""Read and write tables (CSV, Parquet, DataFrames) with one-line errors on bad input."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from genlab._atomic import atomic_path
from genlab.errors import DataError

__all__ = ["TABLE_SUFFIXES", "TableSource", "read_table", "table_suffix", "write_table"]

TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")  # the one list every reader uses
TableSource = str | os.PathLike[str] | pd.DataFrame


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


def read_table(source: TableSource) -> pd.DataFrame:
    """Read a CSV or Parquet file (by extension), or pass a DataFrame through (copied).

    Raises DataError with a one-line message for a missing file, an unsupported extension,
    an empty file, a header without rows and bytes that are not UTF-8.
    """
    written: list[str] = []  # a CSV's header as written, before pandas renames repeats
    if isinstance(source, pd.DataFrame):
        df = source.copy()
        where = "the DataFrame"
    else:
        path = Path(source)
        suffix = _suffix(path)
        if not path.exists():
            raise DataError(f"file not found: {str(path)!r}; check the path")
        if path.is_dir():
            raise DataError(f"{str(path)!r} is a folder; give a {suffix} file")
        if path.stat().st_size == 0:
            raise DataError(f"file {str(path)!r} is empty; give a table with a header and rows")
        where = repr(str(path))
        try:
            if suffix in (".csv", ".csv.gz"):
                df = pd.read_csv(path, encoding="utf-8", skipinitialspace=True)
                # pandas renames a repeated header "a" to "a.1"; read it as written too
                written = pd.read_csv(
                    path, encoding="utf-8", skipinitialspace=True, header=None, nrows=1, dtype=str
                ).iloc[0].dropna().tolist()
            else:
                df = pd.read_parquet(path)
        except UnicodeDecodeError as err:
            raise DataError(
                f"file {where} is not UTF-8 text (byte {err.start}: {err.reason}); "
                "re-save it as UTF-8"
            ) from err
        except pd.errors.EmptyDataError as err:
            raise DataError(f"file {where} has no columns; give a table with a header") from err
        except (pd.errors.ParserError, OSError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DataError(f"cannot read {where}: {first}") from err
    if df.shape[1] == 0:
        raise DataError(f"{where} has no columns; give a table with a header")
    if len(df) == 0:
        raise DataError(f"{where} has a header but no rows; give at least 2 rows")
    df.columns = [str(c) for c in df.columns]
    names = written or list(df.columns)
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        raise DataError(f"{where} has duplicate column names {dupes}; rename them")
    return df


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
