"""The checks behind `_constrained`: which columns and kinds a constraint may use, whether a
row keeps it, the reparametrisation plan, and reading the constraints of a model file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from genlab.constraints import (
    Bound,
    Constraint,
    FixedCombinations,
    Inequality,
    Predicate,
    Range,
    Sum,
)
from genlab.data.columns import _NS_PER_DAY, CATEGORICAL_KINDS, NUMERIC_KINDS, ColumnSpec
from genlab.data.tabular import TabularCodec
from genlab.errors import DataError, GenlabError, ModelFileError, ParameterError
from genlab.store_schema import one_line

if TYPE_CHECKING:
    from genlab.models.table._constrained import Constrained

__all__ = ["WHERE", "check_kinds", "from_dict", "holds", "planned", "read_file", "step_column"]

Step = tuple[Any, ...]  # ("gap", i, column, base) | ("sum", i, total, parts) | ("merge", ...)
_DAMAGED = "the file is damaged or was edited"
WHERE = "the model file's constraints"


def _sort(spec: ColumnSpec) -> str | None:
    """"number", "date" or None: what an inequality, range or sum may compare."""
    if spec.kind == "datetime":
        return "date"
    if spec.kind in ("continuous", "integer"):
        return "number"
    if spec.kind in ("categorical", "constant") and all(
            isinstance(v, (int, float)) and not isinstance(v, bool)
            for v in spec.categories or []):
        return "number"  # numbers the codec models as categories
    return None


def _days(bound: Any) -> float:
    ts = pd.Timestamp(bound)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.value / _NS_PER_DAY


def bound_value(c: Range, spec: ColumnSpec, side: str) -> float | None:
    """A Range bound in the column's numbers (days since 1970 for dates)."""
    v = getattr(c, side)
    if v is None:
        return None
    if _sort(spec) == "date":
        if not isinstance(v, str):
            raise DataError(f"constraint {c.describe()}: {spec.name!r} holds dates, so its "
                            f"bound must be a date such as '2020-01-01', got {v!r}")
        try:
            return _days(v)
        except (ValueError, TypeError):
            raise DataError(f"constraint {c.describe()}: the bound {v!r} is not a date; "
                            "write it like '2020-01-01'") from None
    if isinstance(v, str):
        raise DataError(f"constraint {c.describe()}: {spec.name!r} holds numbers, so its "
                        f"bound must be a number, got {v!r}")
    return float(v)


def check_kinds(items: list[Constraint], specs: dict[str, ColumnSpec], names: list[str]) -> None:
    """One-line DataError for a constraint on a column the table lacks or does not model,
    or between columns of kinds it cannot compare."""
    for c in items:
        unknown = [n for n in c.columns if n not in specs]
        if unknown:
            raise DataError(f"constraint {c.describe()} names column(s) not in the data: "
                            f"{unknown}; columns are {names}")
        for n in c.columns:
            if specs[n].kind in ("id", "text"):
                what = "an identifier" if specs[n].kind == "id" else "free text"
                raise DataError(f"constraint {c.describe()} uses {n!r}, which genlab does not "
                                f"model (it looks like {what}); pass "
                                f"kinds={{{n!r}: 'categorical'}} to model it")
        kinds = {n: f"{n!r} ({specs[n].kind})" for n in c.columns}
        if isinstance(c, Inequality):
            a, b = _sort(specs[c.low]), _sort(specs[c.high])
            if a is None or b is None or a != b:
                raise DataError(f"constraint {c.describe()} compares {kinds[c.high]} with "
                                f"{kinds[c.low]}; an inequality needs two number columns or "
                                "two date columns")
        elif isinstance(c, Range):
            if _sort(specs[c.column]) is None:
                raise DataError(f"constraint {c.describe()} bounds {kinds[c.column]}; a range "
                                "needs a number or date column")
            bound_value(c, specs[c.column], "low"), bound_value(c, specs[c.column], "high")
        elif isinstance(c, Sum):
            bad = [kinds[n] for n in c.columns if _sort(specs[n]) != "number"]
            if bad:
                raise DataError(f"constraint {c.describe()} adds up {', '.join(bad)}; a sum "
                                "needs number columns")
        elif isinstance(c, FixedCombinations):
            bad = [n for n in c.columns if specs[n].kind not in CATEGORICAL_KINDS]
            if bad:
                raise DataError(f"constraint {c.describe()} needs categorical columns, but "
                                f"{kinds[bad[0]]} is not; pass kinds={{{bad[0]!r}: "
                                "'categorical'}} to treat it as one")


def _depends(base_of: dict[str, set[str]], col: str, target: str) -> bool:
    seen, stack = set(), [col]
    while stack:
        x = stack.pop()
        if x == target:
            return True
        if x not in seen:
            seen.add(x)
            stack.extend(base_of.get(x, ()))
    return False


def planned(items: list[Constraint], specs: dict[str, ColumnSpec]) -> list[Step]:
    """The reparametrisation of each constraint that can have one (module docstring of
    `_constrained`), in order; a column is reparametrised at most once and never in a
    cycle, so the other constraints on it are kept by rejection."""
    taken: set[str] = set()
    base_of: dict[str, set[str]] = {}
    steps: list[Step] = []
    numeric = {n for n, s in specs.items() if s.kind in NUMERIC_KINDS}
    for i, c in enumerate(items):
        if isinstance(c, Inequality) and {c.low, c.high} <= numeric:
            for col, base in ((c.high, c.low), (c.low, c.high)):
                if col not in taken and not _depends(base_of, base, col):
                    steps.append(("gap", i, col, base))
                    taken.add(col)
                    base_of[col] = {base}
                    break
        elif isinstance(c, Sum) and set(c.columns) <= numeric - {
                n for n in numeric if specs[n].kind == "datetime"}:
            if c.total not in taken and not any(_depends(base_of, p, c.total) for p in c.parts):
                steps.append(("sum", i, c.total, c.parts))
                taken.add(c.total)
                base_of[c.total] = set(c.parts)
        elif isinstance(c, FixedCombinations) and all(
                specs[n].kind in CATEGORICAL_KINDS for n in c.names) and not taken & set(c.names):
            name = "+".join(c.names)
            while name in specs or any(s[2] == name for s in steps):
                name += "_"
            steps.append(("merge", i, name, c.names))
            taken.update(c.names)
    return steps


def step_column(step: Step) -> str:
    """The column of the modelled table a step writes (a gap, a merged column) or drops."""
    return str(step[2])


def holds(c: Constraint, df: pd.DataFrame, cs: Constrained, i: int) -> np.ndarray:
    """Which rows of a user table keep constraint `c` (the `i`-th of `cs`)."""
    with np.errstate(invalid="ignore"):
        if isinstance(c, Inequality):
            a, b = cs.numbers(df, c.low), cs.numbers(df, c.high)
            return np.isnan(a) | np.isnan(b) | ((b > a) if c.strict else (b >= a))
        if isinstance(c, Range):
            v, spec = cs.numbers(df, c.column), cs.specs[c.column]
            ok = np.ones(len(df), bool)
            lo, hi = bound_value(c, spec, "low"), bound_value(c, spec, "high")
            if lo is not None:
                ok &= (v > lo) if c.strict_low else (v >= lo)
            if hi is not None:
                ok &= (v < hi) if c.strict_high else (v <= hi)
            return np.isnan(v) | ok
        if isinstance(c, Sum):
            parts = np.array([cs.numbers(df, p) for p in c.parts])
            total, got = cs.numbers(df, c.total), parts.sum(axis=0)
            close = np.abs(total - got) <= 1e-9 * np.maximum(1.0, np.abs(total))
            return np.isnan(total) | np.isnan(parts).any(axis=0) | close
        if isinstance(c, FixedCombinations):
            codes = TabularCodec([cs.specs[n] for n in c.names]).encode(df[c.columns]).c
            seen = set(map(tuple, cs.combos[i].tolist()))
            return np.fromiter((r in seen for r in map(tuple, codes.tolist())), bool, len(df))
    return _predicate(c, df)  # type: ignore[arg-type]


def _predicate(c: Predicate, df: pd.DataFrame) -> np.ndarray:
    try:
        out = np.asarray(c.fn(df.copy()))
    except GenlabError:
        raise
    except Exception as err:  # the user's code: any failure is one line naming it
        raise ParameterError(f"the constraint {c.describe()} raised {type(err).__name__}: "
                             f"{one_line(err, 200)}") from err
    if out.shape != (len(df),) or out.dtype.kind not in "bi":
        raise ParameterError(f"the constraint {c.describe()} must return one True/False per "
                             f"row ({len(df)}), got {out.dtype} of shape {out.shape}")
    return out.astype(bool)


def _codes(value: Any, shape: int, n_codes: list[int], where: str) -> np.ndarray:
    ok = isinstance(value, list) and 0 < len(value) <= 10**6 and all(
        isinstance(r, list) and len(r) == shape and all(
            isinstance(k, int) and not isinstance(k, bool) and 0 <= k < m
            for k, m in zip(r, n_codes, strict=True)) for r in value)
    if not ok:
        raise ModelFileError(f"{where}: the seen combinations must be a list of rows of "
                             f"{shape} category codes within the columns' codes; {_DAMAGED}")
    return np.unique(np.array(value, dtype=np.int64).reshape(-1, shape), axis=0)


_FIELDS: dict[str, tuple[type, dict[str, Any]]] = {
    "inequality": (Inequality, {"low": str, "high": str, "strict": bool}),
    "range": (Range, {"column": str, "low": Bound, "high": Bound, "strict_low": bool,
                      "strict_high": bool}),
    "fixed_combinations": (FixedCombinations, {"columns": list}),
    "sum": (Sum, {"parts": list, "total": str}),
}


def from_dict(d: Any, where: str = "constraint") -> Constraint:
    """A constraint from `to_dict` output; one-line ModelFileError for anything else."""
    if not isinstance(d, dict) or d.get("type") not in _FIELDS:
        kind = d.get("type") if isinstance(d, dict) else type(d).__name__
        raise ModelFileError(f"{where} is not a known constraint (type {str(kind)[:40]!r}; "
                             f"known: {', '.join(_FIELDS)}); the file is damaged or was edited")
    cls, fields = _FIELDS[d["type"]]
    if set(d) != {"type", *fields}:
        raise ModelFileError(f"{where} ({d['type']}) must have exactly the keys "
                             f"{sorted(fields)}; the file is damaged or was edited")
    for key, kind in fields.items():
        v = d[key]
        ok = (isinstance(v, kind) if kind is not Bound else v is None or isinstance(
            v, (str, int, float)) and not isinstance(v, bool))
        if kind is list:
            ok = ok and all(isinstance(x, str) for x in v)
        if not ok:
            raise ModelFileError(f"{where} ({d['type']}): {key} has the wrong type "
                                 f"({type(v).__name__}); the file is damaged or was edited")
    args = {k: d[k] for k in fields}
    try:
        if cls is FixedCombinations:
            return FixedCombinations(args["columns"])
        return cls(**args)
    except ParameterError as err:
        raise ModelFileError(f"{where} is invalid: {err}; the file is damaged or was "
                             "edited") from None


def read_file(d: Any) -> tuple[TabularCodec, list[Constraint], dict[int, np.ndarray]]:
    """The user's schema, the rules and the seen combinations of a model file's
    constraints (`Constrained.to_dict`); one-line ModelFileError for anything malformed."""
    keys = {"version", "table", "items", "combinations"}
    if not isinstance(d, dict) or set(d) != keys or d["version"] != 1:
        raise ModelFileError(f"{WHERE} must be an object with keys {sorted(keys)} and "
                             f"version 1; {_DAMAGED}")
    if not isinstance(d["items"], list) or not isinstance(d["combinations"], list) or len(
            d["items"]) != len(d["combinations"]) or not d["items"]:
        raise ModelFileError(f"{WHERE}: items and combinations must be lists of the same "
                             f"(non-zero) length; {_DAMAGED}")
    try:
        codec = TabularCodec.from_dict(d["table"])
    except (GenlabError, TypeError, ValueError, AttributeError) as err:
        raise ModelFileError(f"{WHERE}: the table schema is invalid: {one_line(err, 200)}; "
                             f"{_DAMAGED}") from None
    items = [from_dict(x, f"constraint {k} of the model file") for k, x in enumerate(d["items"])]
    specs = {s.name: s for s in codec.columns}
    try:
        check_kinds(items, specs, codec.names)
    except DataError as err:
        raise ModelFileError(f"{WHERE} do not fit its table: {err}; {_DAMAGED}") from None
    combos: dict[int, np.ndarray] = {}
    for k, (c, value) in enumerate(zip(items, d["combinations"], strict=True)):
        if isinstance(c, FixedCombinations):
            combos[k] = _codes(value, len(c.names), [specs[n].n_codes for n in c.names],
                               f"constraint {k} of the model file")
        elif value is not None:
            raise ModelFileError(f"constraint {k} of the model file: only fixed combinations "
                                 f"have seen combinations; {_DAMAGED}")
    return codec, items, combos
