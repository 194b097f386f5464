"""Column kinds for the reports and the evaluation suite: the tabular codec's own rule.

A table reported or evaluated without a model gets the kinds `TabularCodec.fit` would give
it, so `genlab report` with and without `--model` agree on what each column is.
"""

from __future__ import annotations

import warnings

import pandas as pd

from genlab.data.kinds import infer_column
from genlab.errors import DataError

__all__ = ["NUMERIC_KINDS", "table_kinds"]

NUMERIC_KINDS = ("continuous", "integer", "datetime")


def _fallback(s: pd.Series) -> str:
    # The codec refuses a column without values (or without a name); a report still
    # compares it with the synthetic column, so its dtype decides how.
    if pd.api.types.is_bool_dtype(s.dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(s.dtype):
        return "continuous"
    return "categorical"


def _kind(s: pd.Series) -> str:
    try:
        with warnings.catch_warnings():
            # the codec warns that an id column is not modelled; a report models nothing
            warnings.simplefilter("ignore")
            return str(infer_column(s, None).kind)
    except DataError:
        return _fallback(s)


def table_kinds(df: pd.DataFrame, kinds: dict[str, str] | None = None) -> dict[str, str]:
    """Kind of every column of `df`, keyed by column label, as `TabularCodec.fit` infers it.

    `kinds` overrides the inferred kind by column name; columns the codec cannot fit (no
    values at all) get a kind from their dtype.
    """
    given = kinds or {}
    return {c: given.get(c) or _kind(df[c]) for c in df.columns}
