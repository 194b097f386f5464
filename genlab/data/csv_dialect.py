"""What a CSV file is written in: its delimiter, how its numbers are written, and where its
rows go wrong. `read_table` uses these; each finding is stated or refused in one line."""

from __future__ import annotations

import csv
import io
import re
import warnings

import pandas as pd

from genlab.errors import DataError

__all__ = ["DELIMITERS", "check_header", "delimiter_name", "fix_number_formats", "header",
           "parser_error", "ragged_error", "ragged_line", "sniff_delimiter"]

DELIMITERS = (",", ";", "\t", "|")
_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}

_PLAIN = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_INT = r"[+-]?\d+"
_COMMA_THOUSANDS = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"  # 1,234 or 1,234,567.5
_DOT_THOUSANDS = r"[+-]?\d{1,3}(?:\.\d{3})+"  # 1.234 in a decimal-comma file
_COMMA_DECIMAL = r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+),\d+"  # 3,14 or 1.234,5


def delimiter_name(delimiter: str) -> str:
    """How a message names a delimiter ("tab" for a tab)."""
    return _NAMES.get(delimiter, repr(delimiter))


def _rows(text: str, delimiter: str) -> list[list[str]]:
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True))
    except csv.Error:
        return []
    return [r for r in rows if r]  # pandas skips blank lines


def header(text: str, delimiter: str) -> list[str]:
    """The header's fields as written (pandas renames a repeated "a" to "a.1")."""
    rows = _rows(text, delimiter)
    return rows[0] if rows else []


def sniff_delimiter(text: str) -> str:
    """The delimiter of a CSV from its first lines: among `DELIMITERS`, the one that splits
    the header into 2+ fields and the most rows into as many fields (ties: the first)."""
    best, best_score = ",", -1.0
    for delimiter in DELIMITERS:
        rows = _rows(text, delimiter)
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        body = rows[1:] or rows
        score = sum(len(r) == width for r in body) / len(body)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def check_header(text: str, delimiter: str, where: str, max_columns: int) -> None:
    """Refuse a header with more columns than the budget, before the table is read."""
    rows = _rows(text, delimiter)
    if rows and len(rows[0]) > max_columns:
        raise DataError(
            f"{where} has {len(rows[0])} columns, over the budget of {max_columns}; pass "
            f"max_columns={len(rows[0])} to read_table (CLI: --max-columns) to read it"
        )


def ragged_line(text: str, delimiter: str) -> tuple[int, int, int] | None:
    """(line number, fields, header fields) of the first row longer than the header."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True)
    width = None
    try:
        for row in reader:
            if not row:
                continue
            if width is None:
                width = len(row)
            elif len(row) > width:
                return reader.line_num, len(row), width
    except csv.Error:
        return None
    return None


def _all_match(values: pd.Series, *patterns: str) -> bool:
    return bool(values.str.fullmatch("|".join(f"(?:{p})" for p in patterns)).all())


def _number_format(values: pd.Series, delimiter: str) -> str | None:
    """"thousands" or "decimal" when every value is a number written with commas."""
    if not values.str.contains(",", regex=False).any():
        return None
    thousands = _all_match(values, _COMMA_THOUSANDS, _PLAIN)
    decimal = _all_match(values, _COMMA_DECIMAL, _DOT_THOUSANDS, _INT)
    if thousands and decimal:  # only values like 1,234: read as the file's convention says
        return "decimal" if delimiter == ";" else "thousands"
    return "thousands" if thousands else "decimal" if decimal else None


def fix_number_formats(df: pd.DataFrame, delimiter: str, where: str) -> pd.DataFrame:
    """Read text columns whose every value is a number written with ',' for thousands
    ("1,234") or as the decimal mark ("3,14") as numbers, one warning line per column."""
    for name in df.columns:
        col = df[name]
        if not (pd.api.types.is_string_dtype(col) or col.dtype == object):
            continue
        present = col.dropna()
        if present.empty or not all(isinstance(v, str) for v in present.head(1000)):
            continue
        values = present.astype(str).str.strip()
        form = _number_format(values, delimiter)
        if form is None:
            continue
        text = col.astype(object).where(col.isna(), col.astype(str).str.strip())
        if form == "thousands":
            cleaned = text.str.replace(",", "", regex=False)
            said, other = "thousands=','", "decimal=','"
        else:
            cleaned = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
            said, other = "decimal=','", "thousands=','"
        number = pd.to_numeric(cleaned, errors="coerce")
        if (number.isna() & col.notna()).any():
            continue
        example = str(values[values.str.contains(",", regex=False)].iloc[0])
        shown = number[values[values.str.contains(",", regex=False)].index[0]]
        mark = "thousands separator" if form == "thousands" else "decimal mark"
        warnings.warn(
            f"column {name!r} of {where}: read {example!r} as {shown:g} (',' as the {mark}); "
            f"pass read_table(..., {said}) to say so, or {other} if it is not",
            UserWarning,
            stacklevel=3,
        )
        df[name] = number
    return df


def parser_error(err: Exception, where: str) -> DataError:
    """A pandas parse error as one line; a row with too many fields names its line."""
    text = str(err).strip()
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if m:
        width, line, seen = m.groups()
        return ragged_error(where, int(line), int(seen), int(width))
    first = text.splitlines()[0] if text else type(err).__name__
    return DataError(f"cannot read {where}: {first}")


def ragged_error(where: str, line: int, fields: int, width: int) -> DataError:
    """The one-line refusal of a row longer than the header."""
    return DataError(
        f"{where} line {line} has {fields} fields but the header has {width}; remove the "
        "extra delimiter or quote the value that holds it"
    )
