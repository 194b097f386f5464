"""The table modality on the one contract: the tabular codec in, DataFrames out.

A table family subclasses `TableModel` and fills hooks on encoded arrays:

- `_fit_arrays(enc, conditions, rng)`: learn from encoded data (`conditions`: indices of
  categorical columns to condition on exactly);
- `_sample_arrays(n, conditions, rng) -> Encoded`: draw rows, `conditions` maps a
  categorical column index to a code;
- `_log_prob_arrays(enc) -> (n,)`: natural log density/probability per row, marginalising
  numeric values that are NaN (codes are always seen ones: a value never seen in training
  is summed out here and scored with a smoothed probability, `_log_prob_smoothed`);
- `_state() -> (meta, tensors)`, `_expected_shapes(meta)`, `_restore(meta, tensors)`.

Numeric missing values are modelled here, once for all families that do not model them
themselves: each numeric column is missing completely at random at its training rate.

`fit(..., constraints=[...])` (`genlab.constraints`) hands the families a reparametrised
table and keeps the rules in every sample (`_constrained`); the hooks here are a few lines.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from genlab._progress import task
from genlab.data.readers import read_table
from genlab.data.tabular import Encoded, TabularCodec
from genlab.errors import DataError, ParameterError
from genlab.models.base import Conditions, Model
from genlab.models.table._constrained import Constrained
from genlab.models.table._marginal import strict_support

__all__ = ["SAMPLE_CHUNK", "TableModel", "fingerprint", "unseen_message"]

SAMPLE_CHUNK = 200_000
UNSEEN_ALPHA = 0.5  # pseudo-count of "a value never seen": q = 0.5 / (n + 0.5), add-1/2
MAX_COMBOS = 1024  # code combinations summed per row holding several never-seen values
_MAX_EXPANDED = 500_000  # rows scored at once when summing never-seen values out
_SHOWN = 6  # never-seen values named in the warning


def _shown(value: Any) -> str:
    if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)):
        return "missing"
    return repr(value.item() if isinstance(value, np.generic) else value)


def unseen_message(codec: TabularCodec, df: pd.DataFrame, unseen: np.ndarray,
                   strict: bool) -> str:
    """One line: how many rows hold values never seen in training, which columns and
    values (with their row counts), and how they are scored."""
    parts: list[str] = []
    for j in np.flatnonzero(unseen.any(axis=0)):
        name = codec.categorical[j].name
        counts = df[name].iloc[np.flatnonzero(unseen[:, j])].value_counts(dropna=False)
        parts += [f"{name}={_shown(v)} ({c} row{'' if c == 1 else 's'})"
                  for v, c in counts.items()]
    shown = ", ".join(parts[:_SHOWN]) + (f" and {len(parts) - _SHOWN} more"
                                         if len(parts) > _SHOWN else "")
    n = int(unseen.any(axis=1).sum())
    how = ("their log_prob is -inf (strict=True)" if strict else
           "scored with a smoothed probability (strict=True gives -inf)")
    return (f"{n} row{' holds' if n == 1 else 's hold'} values never seen in training: "
            f"{shown}; {how}")


def _code_grid(n_codes: list[int], cap: int) -> np.ndarray:
    """Combinations of codes of some columns, (K, columns), K <= cap: every code of each
    column, or the first codes of the columns with most codes when there are too many."""
    take = [0] * len(n_codes)
    left = max(cap, 1)
    for rank, j in enumerate(np.argsort(n_codes, kind="stable")):
        take[j] = max(1, min(n_codes[j], int(left ** (1 / (len(n_codes) - rank)))))
        left = max(1, left // take[j])
    return np.array(list(itertools.product(*(range(t) for t in take))), dtype=np.int64)


def _expand_unseen(enc: Encoded, unseen: np.ndarray, n_codes: list[int]
                   ) -> tuple[Encoded, np.ndarray]:
    """Each row once, a row with never-seen values once per combination of codes of those
    columns; returns the rows and where each input row's block starts."""
    rows = unseen.any(axis=1)
    cap = max(1, min(MAX_COMBOS, _MAX_EXPANDED // max(int(rows.sum()), 1)))
    patterns, which = np.unique(unseen[rows], axis=0, return_inverse=True)
    grids = [_code_grid([n_codes[j] for j in np.flatnonzero(p)], cap) for p in patterns]
    reps = np.ones(enc.n, dtype=np.int64)
    reps[rows] = [grids[k].shape[0] for k in which.reshape(-1)]
    starts = np.cumsum(reps) - reps
    index = np.repeat(np.arange(enc.n), reps)
    x, c = enc.x[index], enc.c[index]
    for k, (pattern, grid) in enumerate(zip(patterns, grids, strict=True)):
        members = np.flatnonzero(rows)[which.reshape(-1) == k]
        at = (starts[members][:, None] + np.arange(grid.shape[0])[None, :]).reshape(-1)
        c[np.ix_(at, np.flatnonzero(pattern))] = np.tile(grid, (members.size, 1))
    return Encoded(x=x, c=c), starts


def _fit_text(df: pd.DataFrame, kinds: dict[str, str] | None, codec: TabularCodec,
              enc: Encoded, rng: np.random.Generator) -> Any:
    """Character models of the columns the caller declared `text` (inferred free text is
    left out); from a child generator, so the other columns' fit is as without them."""
    names = [s.name for s in codec.columns
             if s.kind == "text" and (kinds or {}).get(s.name) == "text"]
    if not names:
        return None
    from genlab.models.table._text import TextColumns

    return TextColumns.fit(df, names, enc, codec.n_codes(), rng.spawn(1)[0])


def fingerprint(df: pd.DataFrame) -> str:
    """sha256 of a table's contents (values, column names and order), independent of index."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


class TableModel(Model):
    """Base of the table families (see the module docstring)."""

    modality: ClassVar[str] = "table"
    models_missing: ClassVar[bool] = False
    adult_fit_time: ClassVar[str] = ""  # measured by benchmarks/tabular.py on 2 CPU cores
    schema_: TabularCodec

    def _fit(self, data: Any, conditions: list[str], rng: np.random.Generator,
             kinds: dict[str, str] | None = None, constraints: Any = None) -> tuple[int, str]:
        df = raw = read_table(data)
        self.constraints_ = Constrained.fit(df, constraints, kinds) if constraints else None
        if self.constraints_ is not None:  # the family models the reparametrised table
            df = self.constraints_.to_inner(raw)
            kinds = self.constraints_.inner_kinds(kinds, df)
            conditions = self.constraints_.inner_names(conditions)
        codec = TabularCodec.fit(df, kinds)
        if not codec.numeric and not codec.categorical:
            raise DataError(
                "no column can be modelled (all are constant or identifiers); "
                "give a table with varying columns or set kinds="
            )
        enc = codec.encode(df)
        cond_idx = [codec.categorical_index(name) for name in conditions]
        self.schema_ = codec
        self.missing_rate_ = np.isnan(enc.x).mean(axis=0) if enc.x.size else np.zeros(0)
        self._fit_arrays(enc, cond_idx, rng)
        self.text_ = _fit_text(df, kinds, codec, enc, rng)
        return len(raw), fingerprint(raw)

    @property
    def table_schema_(self) -> TabularCodec:
        """The schema of the user's table: `schema_`, or with constraints the user's
        schema, `schema_` being the reparametrised table the family models."""
        cons = getattr(self, "constraints_", None)
        return cons.codec if cons is not None else self.schema_

    def provenance(self, **extra: Any) -> dict[str, Any]:
        """Where an output came from (`Model.provenance`), with the constraint counts of
        the sample just drawn."""
        info = self.__dict__.pop("_constraint_info", None)
        return super().provenance(**extra, **({"constraints": info} if info else {}))

    def _condition_codes(self, conditions: Conditions | None) -> dict[int, int]:
        codec = self.schema_
        return {codec.categorical_index(k): codec.code_of(codec.categorical_index(k), v)
                for k, v in (conditions or {}).items()}

    def _condition_from_text(self, name: str, text: str) -> Any:
        j = self.table_schema_.categorical_index(name)
        match = [c for c in self.table_schema_.categorical[j].categories or []
                 if str(c) == text]
        return match[0] if match else text

    def _sample(self, n: int, conditions: Conditions, rng: np.random.Generator,
                row_offset: int = 0, **options: Any) -> pd.DataFrame:
        # row_offset: where these rows start in a longer stream (genlab.stream), so fresh
        # identifier columns stay unique across blocks
        cons = getattr(self, "constraints_", None)
        if cons is None:
            return self._sample_rows(n, conditions, rng, row_offset)
        draw = functools.partial(self._sample_rows, row_offset=row_offset)
        out, self._constraint_info = cons.sample(draw, n, conditions, rng)
        return out

    def _sample_rows(self, n: int, conditions: Conditions,
                     rng: np.random.Generator, row_offset: int = 0) -> pd.DataFrame:
        """`n` rows of the table the family models."""
        codes = self._condition_codes(conditions)
        parts = []
        text = getattr(self, "text_", None)
        # a child generator: the other columns are drawn exactly as without text columns
        text_rng = rng.spawn(1)[0] if text is not None else None
        with task(f"sampling {type(self).__name__}", n) as advance:
            for start in range(0, n, SAMPLE_CHUNK):
                m = min(SAMPLE_CHUNK, n - start)
                enc = self._sample_arrays(m, codes, rng)
                if not self.models_missing and enc.x.size:
                    enc.x[rng.random(enc.x.shape) < self.missing_rate_] = np.nan
                part = self.schema_.decode(enc, rng, row_offset=row_offset + start)
                if text is not None:
                    for name, values in text.sample(enc, text_rng).items():
                        part[name] = values
                parts.append(part)
                advance(m)
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

    def _log_prob(self, data: Any, conditions: Conditions | None, *, strict: bool = False,
                  **options: Any) -> np.ndarray:
        if options:
            raise ParameterError(f"{type(self).__name__}.log_prob takes no option(s) "
                                 f"{sorted(options)}; its options: conditions, strict")
        if conditions:
            raise ParameterError("table log_prob scores the whole row; put the conditioning "
                                 "columns in the table instead of conditions=")
        df = read_table(data)
        cons = getattr(self, "constraints_", None)
        df, lp_cons = cons.score(df, strict) if cons is not None else (df, 0.0)
        enc = self.schema_.encode(df)
        text = getattr(self, "text_", None)
        lp_text = text.log_prob(df, enc, strict=strict) if text is not None else 0.0
        unseen = enc.c < 0
        rows = unseen.any(axis=1) if enc.c.size else np.zeros(enc.n, bool)
        if rows.any():
            warnings.warn(unseen_message(self.schema_, df, unseen, strict), UserWarning,
                          stacklevel=4)
        with strict_support(strict):
            if strict or not rows.any():
                enc.c[rows] = 0
                lp = np.asarray(self._log_prob_arrays(enc), dtype=np.float64)
                lp[rows] = -np.inf
            else:
                lp = self._log_prob_smoothed(enc, unseen)
        if not self.models_missing and enc.x.size:
            isna = np.isnan(enc.x)
            rate = self.missing_rate_
            with np.errstate(divide="ignore"):
                lp = lp + np.where(isna, np.log(rate), np.log1p(-rate)).sum(axis=1)
        return lp + lp_text + lp_cons

    def _log_prob_smoothed(self, enc: Encoded, unseen: np.ndarray) -> np.ndarray:
        """log p per row, where a value never seen in column j is scored as log q_j (the
        smoothed chance of a new value) plus log p of the rest of the row, the column summed
        out over its codes (exact marginalisation; with over `MAX_COMBOS` combinations of
        several such columns, over the first codes of each: a lower bound)."""
        expanded, starts = _expand_unseen(enc, unseen, self.schema_.n_codes())
        lp = np.asarray(self._log_prob_arrays(expanded), dtype=np.float64)
        top = np.maximum.reduceat(lp, starts)
        shift = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(divide="ignore"):
            total = shift + np.log(np.add.reduceat(np.exp(lp - np.repeat(
                shift, np.diff(np.r_[starts, lp.size]))), starts))
        n_train = max(int(getattr(self, "n_rows_", 0)), 1)
        return total + unseen.sum(axis=1) * np.log(UNSEEN_ALPHA / (n_train + UNSEEN_ALPHA))

    def _encoded(self, data: Any) -> Encoded:
        """A table as the family sees it: read, reparametrised by the constraints, encoded
        (what `encode` and other per-row features start from)."""
        df = read_table(data)
        cons = getattr(self, "constraints_", None)
        return self.schema_.encode(cons.to_inner(df) if cons is not None else df)

    # -- the model file -------------------------------------------------------------------
    def _codec_dict(self) -> dict[str, Any]:
        cons = getattr(self, "constraints_", None)
        saved = cons.to_dict() if cons is not None else None
        return {**self.schema_.to_dict(), **({"constraints": saved} if saved else {})}

    def _codec_from_dict(self, data: dict[str, Any]) -> None:
        self.schema_ = TabularCodec.from_dict(data)
        self.constraints_ = (Constrained.from_dict(data["constraints"], self.schema_)
                             if "constraints" in data else None)

    # the model file: the family's state, the missingness rates and the text columns'
    # character models (their meta under "_text")
    def _file_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, tensors = self._state()
        tensors = dict(tensors, _missing_rate=np.asarray(self.missing_rate_, np.float64))
        text = getattr(self, "text_", None)
        if text is not None:
            text_meta, text_tensors = text.state()
            meta, tensors = {**meta, "_text": text_meta}, {**tensors, **text_tensors}
        return meta, tensors

    def _file_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        family = {k: v for k, v in meta.items() if k != "_text"}
        shapes = {**self._expected_shapes(family), "_missing_rate": (len(self.schema_.numeric),)}
        if "_text" in meta:
            from genlab.models.table._text import TextColumns

            shapes.update(TextColumns.shapes(meta["_text"]))
        return shapes

    def _file_restore(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.missing_rate_ = tensors.pop("_missing_rate")
        self.text_ = None
        if "_text" in meta:
            from genlab.models.table._text import TextColumns

            self.text_ = TextColumns.restore(meta["_text"], tensors)
        self._restore({k: v for k, v in meta.items() if k != "_text"}, tensors)

    # -- family hooks ---------------------------------------------------------------------
    def _fit_arrays(self, enc: Encoded, conditions: list[int], rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _sample_arrays(
        self, n: int, conditions: dict[int, int], rng: np.random.Generator
    ) -> Encoded:
        raise NotImplementedError

    def _log_prob_arrays(self, enc: Encoded) -> np.ndarray:
        raise NotImplementedError
