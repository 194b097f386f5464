"""How a table model keeps its constraints (`genlab.constraints`) exactly in every sample.

The family models a reparametrised table, built from the user's by:

- `Inequality` between two number or two date columns: one side replaced by the gap
  ``high - low`` (never negative; a column of the same kind), added back after sampling;
- `Sum` of number columns: the total dropped and recomputed from the sampled parts;
- `FixedCombinations` of categorical columns: the columns merged into one categorical of the
  combinations seen in training (``city+country``), split back after sampling;
- `Range`: nothing: the codec keeps every sampled number inside its training range, which
  the training data (checked at fit) puts inside the bounds.

Then every sampled row is checked against every constraint, and rows that break one (a
`Predicate`, a constraint whose column another one already reparametrised, a total whose
rounding no longer adds up) are replaced by fresh draws, at most `MAX_DRAWS` x n rows in
all; how many were rejected is in the samples' provenance.

`log_prob` of a constrained model is the family's density of the reparametrised row: each
change is a shift, a relabelling or drops a column the others determine, so its Jacobian is
1 and nothing is added (for a `Sum`, a density on the surface ``a + b == total``). Rejection
is not renormalised: with a `Predicate` the scores are the model's, off by the log of its
acceptance share (one constant). A row breaking a constraint scores -inf with `strict=True`;
by default it keeps the model's finite score, with a warning.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from genlab.constraints import FixedCombinations, Predicate, to_constraints
from genlab.data.columns import _NS_PER_DAY, NUMERIC_KINDS
from genlab.data.tabular import Encoded, TabularCodec
from genlab.errors import DataError, ModelFileError
from genlab.models.table._constraint_checks import (
    WHERE,
    check_kinds,
    holds,
    planned,
    read_file,
    step_column,
)

__all__ = ["MAX_DRAWS", "Constrained"]

MAX_DRAWS = 50  # rows drawn per row asked for, at most, before sampling gives up
HEAVY = 0.1  # share of drawn rows rejected above which sampling warns
_RNG = np.random.default_rng(0)  # the decode of numbers and categories draws nothing


def _mini(specs: list[Any]) -> TabularCodec:
    return TabularCodec(list(specs))


def _gap_values(col: pd.Series) -> np.ndarray:
    """A gap column of the modelled table as numbers (days for datetimes)."""
    if pd.api.types.is_datetime64_any_dtype(col):
        ns = col.astype("datetime64[ns]").to_numpy().astype("int64").astype(np.float64)
        return np.where(col.isna().to_numpy(), np.nan, ns / _NS_PER_DAY)
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


class Constrained:
    """The fitted constraints of a table model: the user's codec (`codec`), the rules, the
    seen combinations, and the reparametrisation `steps` (see the module docstring)."""

    def __init__(self, codec: TabularCodec, items: list[Any],
                 combos: dict[int, np.ndarray]) -> None:
        self.codec, self.items, self.combos = codec, items, combos
        self.specs = {s.name: s for s in codec.columns}
        self.steps = planned(items, self.specs)
        self.reparametrised = {s[1] for s in self.steps}
        self.merged = {m: s for s in self.steps if s[0] == "merge" for m in s[3]}
        self.dropped = {s[2] for s in self.steps if s[0] == "sum"}
        self.labels = {s[1]: self._labels(s[1]) for s in self.steps if s[0] == "merge"}

    # -- fit -------------------------------------------------------------------------------
    @classmethod
    def fit(cls, df: pd.DataFrame, constraints: Any,
            kinds: dict[str, str] | None) -> Constrained | None:
        """Read, check (columns, kinds, the training rows) and plan `constraints`."""
        items = to_constraints(constraints)
        if not items:
            return None
        with warnings.catch_warnings():  # the modelled table's codec gives these notices
            warnings.simplefilter("ignore", UserWarning)
            codec = TabularCodec.fit(df, kinds)
        specs = {s.name: s for s in codec.columns}
        check_kinds(items, specs, codec.names)
        combos = {}
        for i, c in enumerate(items):
            if isinstance(c, FixedCombinations):
                codes = _mini([specs[n] for n in c.names]).encode(df[c.columns]).c
                combos[i] = np.unique(codes, axis=0)
        self = cls(codec, items, combos)
        ok = self.check(df)
        for c, good in zip(items, ok, strict=True):
            if not good.all():
                bad = int((~good).sum())
                raise DataError(f"{bad:,} of {len(df):,} training rows {c.broken()} (the "
                                f"constraint {c.describe()}); fix the data or drop the "
                                "constraint")
        return self

    def inner_kinds(self, kinds: dict[str, str] | None, inner: pd.DataFrame) -> dict[str, str]:
        """`kinds` for the modelled table `inner`: the user's, plus the kind of each new
        column (a gap takes its column's kind) unless it holds one value (a constant)."""
        out = {k: v for k, v in (kinds or {}).items()
               if k not in self.dropped and k not in self.merged}
        for step in self.steps:
            name = step_column(step)
            if step[0] != "sum" and inner[name].nunique() > 1:
                out[name] = "categorical" if step[0] == "merge" else self.specs[name].kind
        return out

    def inner_columns(self) -> list[str]:
        """The columns of the modelled table, in the user's order."""
        order: list[str] = []
        for n in self.codec.names:
            new = step_column(self.merged[n]) if n in self.merged else n
            if new not in order and n not in self.dropped:
                order.append(new)
        return order

    def inner_names(self, names: list[str]) -> list[str]:
        """Condition names of the fit in the modelled table (a merged column's members
        become the merged column)."""
        out: list[str] = []
        for name in names:
            if name in self.dropped:
                self.codec.categorical_index(name)  # says why it cannot be a condition
            new = step_column(self.merged[name]) if name in self.merged else name
            out += [new] if new not in out else []
        return out

    # -- the modelled table ----------------------------------------------------------------
    def numbers(self, df: pd.DataFrame, name: str) -> np.ndarray:
        """Column `name` of a user table as numbers (days for datetimes), NaN if missing."""
        from genlab.data.columns import to_number

        spec = self.specs[name]
        if spec.kind in NUMERIC_KINDS:
            return to_number(df[name], spec)
        return pd.to_numeric(df[name], errors="coerce").to_numpy(np.float64, na_value=np.nan)

    def _labels(self, i: int) -> list[str]:
        """One readable, distinct label per seen combination of constraint `i`."""
        specs = [self.specs[n] for n in self.items[i].names]
        out: list[str] = []
        for row in self.combos[i]:
            parts = [str((s.categories or [])[k]) if k < len(s.categories or []) else
                     "(missing)" for s, k in zip(specs, row, strict=True)]
            label = " / ".join(parts)
            while label in out:
                label += " #"
            out.append(label)
        return out

    def to_inner(self, df: pd.DataFrame) -> pd.DataFrame:
        """The table the family models, from a user table with the training columns."""
        cols: dict[str, Any] = {n: df[n] for n in df.columns}
        for step in self.steps:
            if step[0] == "gap":
                _, i, col, base = step
                c = self.items[i]
                gap = self.numbers(df, c.high) - self.numbers(df, c.low)
                spec = self.specs[col]
                if spec.kind == "datetime":
                    ns = np.where(np.isnan(gap), 0, np.round(gap * _NS_PER_DAY)).astype(np.int64)
                    value = pd.Series(pd.to_datetime(ns, unit="ns"), index=df.index)
                    value[np.isnan(gap)] = pd.NaT
                else:
                    digits = [self.specs[n].decimals for n in c.columns]
                    if spec.kind == "continuous" and None not in digits:
                        gap = np.round(gap, max(digits))  # type: ignore[type-var]
                    value = pd.Series(gap, index=df.index)
                cols[col] = value
            elif step[0] == "sum":
                cols.pop(step[2])
            else:
                _, i, name, members = step
                codes = _mini([self.specs[n] for n in members]).encode(df[list(members)]).c
                lookup = {tuple(r): k for k, r in enumerate(self.combos[i].tolist())}
                labels = self.labels[i]
                unseen = "(unseen combination)"
                while unseen in labels:
                    unseen += " #"
                cols[name] = pd.Series([labels[lookup[r]] if r in lookup else unseen
                                        for r in map(tuple, codes.tolist())],
                                       index=df.index, dtype=object)
        return pd.DataFrame({n: cols[n] for n in self.inner_columns()}).reset_index(drop=True)

    def restore(self, inner: pd.DataFrame) -> pd.DataFrame:
        """A sampled modelled table back in the user's columns, kinds and dtypes."""
        n = len(inner)
        out: dict[str, pd.Series] = {}
        pending = {s[2] for s in self.steps if s[0] != "merge"}
        for name in inner.columns:
            if name not in pending:
                out[name] = inner[name]
        for step in self.steps:
            if step[0] == "merge":
                _, i, name, members = step
                index = {lab: k for k, lab in enumerate(self.labels[i])}
                which = np.array([index[v] for v in inner[name]], dtype=np.int64)
                dec = _mini([self.specs[m] for m in members]).decode(
                    Encoded(x=np.zeros((n, 0)), c=self.combos[i][which]), _RNG)
                out.update({m: dec[m] for m in members})
                out.pop(name, None)
        while pending:
            step = next(s for s in self.steps if s[0] != "merge" and s[2] in pending
                        and not set(s[3] if s[0] == "sum" else [s[3]]) & pending)
            table = pd.DataFrame(out)
            spec = self.specs[step[2]]
            if step[0] == "gap":
                c, base = self.items[step[1]], self.numbers(table, step[3])
                gap = _gap_values(inner[step[2]])
                value = base + gap if step[2] == c.high else base - gap
            else:  # a total is what its parts add up to, even beyond its training range
                value = np.sum([self.numbers(table, p) for p in step[3]], axis=0)
                spec = dataclasses.replace(spec, min=-np.inf, max=np.inf, decimals=None)
            out[step[2]] = _mini([spec]).decode(
                Encoded(x=value.reshape(-1, 1), c=np.zeros((n, 0), np.int64)), _RNG)[spec.name]
            pending.discard(step[2])
        return pd.DataFrame({name: out[name].reset_index(drop=True)
                             for name in self.codec.names})

    # -- checks, sampling, scoring ---------------------------------------------------------
    def check(self, df: pd.DataFrame) -> list[np.ndarray]:
        """Per constraint, which rows of a user table keep it (a missing value keeps all)."""
        return [holds(c, df, self, i) for i, c in enumerate(self.items)]

    def sample(self, draw: Callable[..., pd.DataFrame], n: int, conditions: dict[str, Any],
               rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, Any]]:
        """`n` rows keeping every constraint, from `draw(m, conditions, rng)` of modelled
        rows; with how many drawn rows were rejected, per constraint."""
        inner_conditions, wanted = self._conditions(conditions)
        kept: list[pd.DataFrame] = []
        got = drawn = rejected = 0
        broke = np.zeros(len(self.items), np.int64)
        off = failed = 0  # rows off the conditions on merged columns; breaking a rule
        while got < n:
            if drawn >= MAX_DRAWS * n:
                self._give_up(n, got, drawn, broke, wanted)
            rate = max(got / drawn, 1 / MAX_DRAWS) if drawn else 1.0
            m = n if not drawn else min(int((n - got) / rate * 1.2) + 16, MAX_DRAWS * n - drawn)
            rows = self.restore(draw(m, inner_conditions, rng))
            oks = self.check(rows)
            kept_rules = np.logical_and.reduce(oks) if oks else np.ones(m, bool)
            on = wanted(rows)
            ok = kept_rules & on
            broke += [int((~o).sum()) for o in oks]
            off += int((~on).sum())
            failed += int((~kept_rules).sum())
            kept.append(rows[ok])
            got, drawn, rejected = got + int(ok.sum()), drawn + m, rejected + int((~ok).sum())
        out = pd.concat(kept, ignore_index=True).iloc[:n].reset_index(drop=True)
        if rejected:  # draws from several rounds: number fresh ids again from the first row
            for s in self.codec.columns:
                if s.kind == "id":
                    out[s.name] = _mini([s]).decode(Encoded(np.zeros((n, 0)), np.zeros(
                        (n, 0), np.int64)), rng)[s.name]
        by = {c.describe(): int(b) for c, b in zip(self.items, broke, strict=True) if b}
        if off:
            by["conditions on merged columns"] = off
        if failed / drawn > HEAVY:  # conditions kept by rejection are no news
            warnings.warn(f"rejected {failed:,} of {drawn:,} sampled rows "
                          f"({failed / drawn:.0%}) that broke constraints ({_counts(by)}); "
                          "the sample keeps them all, at that much more sampling time",
                          UserWarning, stacklevel=4)
        return out, {"drawn": drawn, "rejected": rejected, "broken": by,
                     "reparametrised": [self.items[i].describe()
                                        for i in sorted(self.reparametrised)]}

    def _conditions(self, conditions: dict[str, Any]
                    ) -> tuple[dict[str, Any], Callable[[pd.DataFrame], np.ndarray]]:
        """Conditions of the modelled table, and which restored rows meet the conditions
        on merged columns that several seen combinations meet (kept by rejection)."""
        inner: dict[str, Any] = {}
        fixed: dict[int, dict[int, int]] = {}
        for name, value in conditions.items():
            if name in self.dropped:
                self.codec.categorical_index(name)
            if name not in self.merged:
                inner[name] = value
                continue
            _, i, _, members = self.merged[name]
            code = self.codec.code_of(self.codec.categorical_index(name), value)
            fixed.setdefault(i, {})[members.index(name)] = code
        tests: list[tuple[list[str], np.ndarray]] = []
        for i, given in fixed.items():
            members = self.items[i].columns
            match = np.logical_and.reduce([self.combos[i][:, j] == v for j, v in given.items()])
            if not match.any():
                shown = ", ".join(f"{members[j]}={conditions[members[j]]!r}" for j in given)
                raise DataError(f"no training row has {shown} together, and the constraint "
                                f"{self.items[i].describe()} samples only seen combinations;"
                                f" condition on a seen one")
            if match.sum() == 1:
                inner[step_column(self.merged[members[0]])] = self.labels[i][int(
                    np.flatnonzero(match)[0])]
            else:
                tests.append(([members[j] for j in given], np.array(list(given.values()))))

        def wanted(rows: pd.DataFrame) -> np.ndarray:
            ok = np.ones(len(rows), bool)
            for names, codes in tests:
                enc = _mini([self.specs[m] for m in names]).encode(rows[names]).c
                ok &= (enc == codes).all(axis=1)
            return ok
        return inner, wanted

    def _give_up(self, n: int, got: int, drawn: int, broke: np.ndarray,
                 wanted: Any) -> None:
        by = {c.describe(): int(b) for c, b in zip(self.items, broke, strict=True) if b}
        raise DataError(f"only {got:,} of {n:,} rows kept the constraints after drawing "
                        f"{drawn:,} ({MAX_DRAWS} per row asked for; broken: "
                        f"{_counts(by) or 'conditions on merged columns'}); the model "
                        "rarely meets them: loosen or drop the constraint, or condition on a "
                        "full seen combination of merged columns")

    def score(self, df: pd.DataFrame, strict: bool) -> tuple[pd.DataFrame, np.ndarray]:
        """The modelled table of `df` for log_prob, and what to add to each row's score:
        -inf for a row breaking a constraint with `strict`, else 0 (with a warning)."""
        self.codec.encode(df.iloc[:0])  # the one-line error for other columns
        oks = self.check(df)
        bad = ~np.logical_and.reduce(oks) if oks else np.zeros(len(df), bool)
        extra = np.zeros(len(df))
        if bad.any():
            by = {c.describe(): int((~o).sum()) for c, o in zip(self.items, oks, strict=True)
                  if (~o).any()}
            how = ("their log_prob is -inf (strict=True)" if strict else
                   "scored by the model as they are (strict=True gives -inf)")
            warnings.warn(f"{int(bad.sum()):,} row{'s break' if bad.sum() > 1 else ' breaks'} "
                          f"constraints ({_counts(by)}); {how}", UserWarning, stacklevel=4)
            if strict:
                extra[bad] = -np.inf
        return self.to_inner(df), extra

    # -- the model file --------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Any, inner: TabularCodec) -> Constrained:
        """The constraints of a model file, checked against the table the family models
        (`inner`); one-line ModelFileError for anything malformed."""
        cs = cls(*read_file(d))
        if cs.inner_columns() != inner.names:
            raise ModelFileError(f"{WHERE} do not match the modelled columns "
                                 f"{inner.names[:8]}; the file is damaged or was edited")
        for step in cs.steps:
            if step[0] == "merge" and inner.kinds[step[2]] in ("categorical", "constant"):
                spec = next(s for s in inner.columns if s.name == step[2])
                if not set(map(str, spec.categories or [])) <= set(cs.labels[step[1]]):
                    raise ModelFileError(f"{WHERE}: column {step[2]!r} holds combinations "
                                         "never seen; the file is damaged or was edited")
        return cs

    def to_dict(self) -> dict[str, Any] | None:
        """The constraints as JSON data (None if only a `Predicate`, which is code and is
        left out, with a warning)."""
        saved = [i for i, c in enumerate(self.items) if not isinstance(c, Predicate)]
        for c in self.items:
            if isinstance(c, Predicate):
                warnings.warn(f"the constraint {c.describe()} is Python code, so it is not "
                              "saved in the model file; the loaded model samples without it",
                              UserWarning, stacklevel=4)
        if not saved:
            return None
        return {"version": 1, "table": self.codec.to_dict(),
                "items": [self.items[i].to_dict() for i in saved],
                "combinations": [self.combos[i].tolist() if i in self.combos else None
                                 for i in saved]}


def _counts(by: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v:,}" for k, v in by.items())

