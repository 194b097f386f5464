"""The parts every streamed-fit plan is made of (`genlab.stream.plan` describes the
contract): `Stage`, `sum_combine`, `row_hashes`, the codec stage, and the statistics stages
several families share (observed means and deviations; distinct values)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from genlab.errors import DataError

__all__ = ["Partial", "Stage", "codec_stage", "encode", "missing_rate", "moments_stages",
           "need", "row_hashes", "standardiser", "sum_combine", "values_stage"]

Partial = dict[str, Any]


@dataclass
class Stage:
    """One pass over the data: `partial` per batch, `combine` the partials, `finish` the total
    (module docstring). `columns`: the columns `partial` reads (None: all)."""

    name: str
    partial: Callable[[pd.DataFrame], Partial]
    combine: Callable[[Partial, Partial], Partial]
    finish: Callable[[Partial | None], None]
    columns: list[str] | None = None


def sum_combine(a: Partial, b: Partial) -> Partial:
    """Key-wise sum of two partials (arrays, numbers, lists of arrays), recursing into dicts:
    associative and commutative; exact for integers."""
    out: Partial = {}
    for key in a.keys() | b.keys():
        if key not in a or key not in b:
            out[key] = a[key] if key in a else b[key]
            continue
        x, y = a[key], b[key]
        if isinstance(x, dict):
            out[key] = sum_combine(x, y)
        elif isinstance(x, list):
            out[key] = [u + v for u, v in zip(x, y, strict=True)]
        else:
            out[key] = x + y
    return out


def row_hashes(batch: pd.DataFrame) -> np.ndarray:
    """The 8-byte hash of every row (`pandas.util.hash_pandas_object`, as in memory)."""
    return pd.util.hash_pandas_object(batch, index=False).to_numpy()


# object columns of one kind of value, which factorize groups as value_key does
_ONE_TYPE = ("string", "boolean", "integer", "floating", "mixed-integer-float", "empty")


def encode(codec: Any, df: pd.DataFrame) -> Any:
    """`codec.encode(df)`, with each categorical column looked up once per distinct value
    (`pandas.factorize`) instead of once per row: the same codes, several times faster on
    the many passes of a streamed fit. An object column mixing kinds of values (booleans
    and numbers, which factorize would merge as True == 1) takes the row-by-row path."""
    from genlab.data.columns import to_number, value_key
    from genlab.data.tabular import Encoded

    codec.encode(df.iloc[:0])  # the column check, with its one-line error
    x = np.empty((len(df), len(codec.numeric)), dtype=np.float64)
    for j, spec in enumerate(codec.numeric):
        x[:, j] = to_number(df[spec.name], spec)
    c = np.empty((len(df), len(codec.categorical)), dtype=np.int64)
    for j, spec in enumerate(codec.categorical):
        col = df[spec.name]
        if col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) not in _ONE_TYPE:
            c[:, j] = codec.encode(df).c[:, j]
            continue
        index, uniques = pd.factorize(col)
        keys = [value_key(v) for v in uniques]
        lookup = codec._lookup[j]
        codes = np.array([lookup.get(k, -1) for k in keys] + [-1], dtype=np.int64)
        missing_code = len(spec.categories or []) if spec.missing_rate > 0 else -1
        c[:, j] = np.where(index < 0, missing_code, codes[index])
    return Encoded(x=x, c=c)


def need(total: Partial | None) -> Partial:
    """The total of a stage, refusing a table without rows."""
    if total is None:
        raise DataError("the table has no rows; give at least 2 rows to fit a model")
    return total


def codec_stage(plan: Any) -> Stage:
    """Stage 0 of every family: the table codec (`genlab.stream.codec`)."""
    from genlab.stream.codec import codec_from_total, codec_partial, combine_codec

    def finish(total: Partial | None) -> None:
        plan.codec, plan.rows, plan.columns = codec_from_total(need(total))
        if not plan.codec.numeric and not plan.codec.categorical:
            raise DataError("no column can be modelled (all are constant or identifiers); "
                            "give a table with varying columns")
        plan.model.schema_ = plan.codec

    return Stage("codec", codec_partial, combine_codec, finish)


def missing_rate(plan: Any, seen: np.ndarray) -> None:
    """Each numeric column's missing share, from its observed count."""
    d = len(plan.codec.numeric)
    plan.model.missing_rate_ = (plan.rows - seen) / plan.rows if d else np.zeros(0)


def moments_stages(plan: Any, out: dict[str, Any]) -> Iterator[Stage]:
    """Column means of the observed values, then their squared deviations about them (the
    two-pass variance of `numpy.nanstd`), with category counts: fills `out`."""
    codec = plan.codec
    d, n_codes = len(codec.numeric), codec.n_codes()

    def sums(batch: pd.DataFrame) -> dict[str, Any]:
        enc = encode(codec, batch)
        ok = ~np.isnan(enc.x)
        return {"seen": ok.sum(axis=0).astype(np.int64),
                "total": np.where(ok, enc.x, 0.0).sum(axis=0),
                "cats": [np.bincount(enc.c[:, j], minlength=m).astype(np.int64)
                         for j, m in enumerate(n_codes)]}

    def got_sums(total: dict[str, Any] | None) -> None:
        t = need(total)
        out.update(t, mean=np.divide(t["total"], t["seen"], out=np.full(d, np.nan),
                                     where=t["seen"] > 0))
        missing_rate(plan, t["seen"])

    yield Stage("means", sums, sum_combine, got_sums)

    def squares(batch: pd.DataFrame) -> dict[str, Any]:
        return {"squares": np.nansum((encode(codec, batch).x - out["mean"]) ** 2, axis=0)}

    def got_squares(total: dict[str, Any] | None) -> None:
        out["squares"] = need(total)["squares"]

    yield Stage("deviations", squares, sum_combine, got_squares)


def standardiser(out: dict[str, Any], d: int) -> Any:
    """The `Standardiser` of the two moment stages, as `Standardiser.fit` in memory."""
    from genlab.models.table._latent import Standardiser

    if not d:
        return Standardiser(np.zeros(0), np.ones(0))
    scale = np.sqrt(out["squares"] / out["seen"])
    return Standardiser(out["mean"], np.where(scale > 0, scale, 1.0))


def values_stage(plan: Any, out: dict[str, Any]) -> Stage:
    """The distinct observed values of every numeric column and their counts (exact; the
    marginals' input, `genlab.stream._counts`), and each column's observed count."""
    from genlab.stream._counts import distinct_counts, merge_distinct

    codec = plan.codec

    def partial(batch: pd.DataFrame) -> dict[str, Any]:
        x = encode(codec, batch).x
        return {"values": [distinct_counts(x[:, j]) for j in range(x.shape[1])]}

    def combine(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        return {"values": [merge_distinct(u, v) for u, v in zip(a["values"], b["values"],
                                                                strict=True)]}

    def finish(total: dict[str, Any] | None) -> None:
        out["values"] = need(total)["values"]
        missing_rate(plan, np.array([int(c.sum()) for _, c in out["values"]]))
        if any(v.size == 0 for v, _ in out["values"]):
            raise DataError("a numeric column has no values (all missing); drop it")

    return Stage("distinct values", partial, combine, finish)


