"""The table modality on the one contract: the tabular codec in, DataFrames out.

A table family subclasses `TableModel` and fills hooks on encoded arrays:

- `_fit_arrays(enc, conditions, rng)`: learn from encoded data (`conditions`: indices of
  categorical columns to condition on exactly);
- `_sample_arrays(n, conditions, rng) -> Encoded`: draw rows, `conditions` maps a
  categorical column index to a code;
- `_log_prob_arrays(enc) -> (n,)`: natural log density/probability per row, marginalising
  numeric values that are NaN;
- `_state() -> (meta, tensors)`, `_expected_shapes(meta)`, `_restore(meta, tensors)`.

Numeric missing values are modelled here, once for all families that do not model them
themselves: each numeric column is missing completely at random at its training rate.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from genlab._progress import task
from genlab.data.readers import read_table
from genlab.data.tabular import Encoded, TabularCodec
from genlab.errors import DataError, ParameterError
from genlab.models.base import Conditions, Model

__all__ = ["SAMPLE_CHUNK", "TableModel", "fingerprint"]

SAMPLE_CHUNK = 200_000


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
             kinds: dict[str, str] | None = None) -> tuple[int, str]:
        df = read_table(data)
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
        return len(df), fingerprint(df)

    def _condition_codes(self, conditions: Conditions | None) -> dict[int, int]:
        codec = self.schema_
        return {codec.categorical_index(k): codec.code_of(codec.categorical_index(k), v)
                for k, v in (conditions or {}).items()}

    def _condition_from_text(self, name: str, text: str) -> Any:
        j = self.schema_.categorical_index(name)
        match = [c for c in self.schema_.categorical[j].categories or [] if str(c) == text]
        return match[0] if match else text

    def _sample(self, n: int, conditions: Conditions, rng: np.random.Generator,
                **options: Any) -> pd.DataFrame:
        codes = self._condition_codes(conditions)
        parts = []
        with task(f"sampling {type(self).__name__}", n) as advance:
            for start in range(0, n, SAMPLE_CHUNK):
                m = min(SAMPLE_CHUNK, n - start)
                enc = self._sample_arrays(m, codes, rng)
                if not self.models_missing and enc.x.size:
                    enc.x[rng.random(enc.x.shape) < self.missing_rate_] = np.nan
                parts.append(self.schema_.decode(enc, rng, row_offset=start))
                advance(m)
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

    def _log_prob(self, data: Any, conditions: Conditions | None, **options: Any) -> np.ndarray:
        if conditions:
            raise ParameterError("table log_prob scores the whole row; put the conditioning "
                                 "columns in the table instead of conditions=")
        enc = self.schema_.encode(read_table(data))
        unseen = (enc.c < 0).any(axis=1) if enc.c.size else np.zeros(enc.n, bool)
        if unseen.any():
            warnings.warn(
                f"{int(unseen.sum())} rows hold category values never seen in training; "
                "their log_prob is -inf",
                UserWarning,
                stacklevel=4,
            )
            enc.c[unseen] = 0
        lp = np.asarray(self._log_prob_arrays(enc), dtype=np.float64)
        if not self.models_missing and enc.x.size:
            isna = np.isnan(enc.x)
            rate = self.missing_rate_
            with np.errstate(divide="ignore"):
                lp = lp + np.where(isna, np.log(rate), np.log1p(-rate)).sum(axis=1)
        lp[unseen] = -np.inf
        return lp

    # -- the model file -------------------------------------------------------------------
    def _codec_dict(self) -> dict[str, Any]:
        return self.schema_.to_dict()

    def _codec_from_dict(self, data: dict[str, Any]) -> None:
        self.schema_ = TabularCodec.from_dict(data)

    def _file_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, tensors = self._state()
        return meta, dict(tensors, _missing_rate=np.asarray(self.missing_rate_, np.float64))

    def _file_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        return {**self._expected_shapes(meta), "_missing_rate": (len(self.schema_.numeric),)}

    def _file_restore(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.missing_rate_ = tensors.pop("_missing_rate")
        self._restore(meta, tensors)

    # -- family hooks ---------------------------------------------------------------------
    def _fit_arrays(self, enc: Encoded, conditions: list[int], rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _sample_arrays(
        self, n: int, conditions: dict[int, int], rng: np.random.Generator
    ) -> Encoded:
        raise NotImplementedError

    def _log_prob_arrays(self, enc: Encoded) -> np.ndarray:
        raise NotImplementedError
