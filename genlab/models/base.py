"""The model contract every family keeps: fit, sample, log_prob, save and load.

`Model` owns the public methods; a family fills a handful of hooks on arrays:

- `_fit_arrays(enc, conditions, rng)`: learn from encoded data;
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
import inspect
import math
import os
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from genlab._progress import task
from genlab._version import __version__
from genlab.data.readers import TableSource, read_table
from genlab.data.tabular import Encoded, TabularCodec
from genlab.errors import (
    DataError,
    ModelFileError,
    NotFittedError,
    ParameterError,
    UnsupportedOperation,
)
from genlab.store import read_model_file, write_model_file

__all__ = [
    "Conditions", "Estimator", "Model", "ParamSpec", "check_tensors", "fingerprint", "load"
]

Conditions = dict[str, Any]
ParamSpec = tuple[Any, ...]
SAMPLE_CHUNK = 200_000
_REGISTRY: dict[str, type[Model]] = {}


def fingerprint(df: pd.DataFrame) -> str:
    """sha256 of a table's contents (values, column names and order), independent of index."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def _check_param(name: str, value: Any, spec: ParamSpec) -> str | None:
    """Return an error message if `value` breaks `spec`, else None."""
    kind = spec[0]
    if kind == "choice":
        if value not in spec[1]:
            return f"{name} must be one of {list(spec[1])}, got {value!r}"
        return None
    if value is None and kind.endswith("?"):
        return None
    base = kind.rstrip("?")
    if base == "bool":
        return None if isinstance(value, bool) else f"{name} must be True or False, got {value!r}"
    numeric_ok = isinstance(value, (int, np.integer)) if base == "int" else isinstance(
        value, (int, float, np.integer, np.floating)
    )
    if isinstance(value, bool) or not numeric_ok:
        return f"{name} must be {'an integer' if base == 'int' else 'a number'}, got {value!r}"
    low, high = spec[1], spec[2]
    if not (low <= value <= high) or (base == "float" and not math.isfinite(value)):
        return f"{name} must be in [{low}, {high}], got {value!r}"
    return None


class Estimator:
    """Hyperparameter handling shared by every genlab model of any modality, as in
    scikit-learn: keyword-only constructor arguments stored as given, validated at fit
    against `_parameter_constraints`."""

    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {"seed": ("int?", 0, 2**63 - 1)}

    # -- parameters -----------------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY]

    def _init_params(self, values: dict[str, Any]) -> None:
        """Store the constructor's arguments (call with `locals()`), unvalidated as in
        scikit-learn. Lists become tuples: JSON (model files, the command line) has no tuples,
        and a loaded model must compare and print the same as the one saved."""
        for name in self._param_names():
            value = values[name]
            setattr(self, name, tuple(value) if isinstance(value, list) else value)

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as given."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Set constructor arguments by name; returns self."""
        for name, value in params.items():
            if name not in self._param_names():
                raise ParameterError(
                    f"{type(self).__name__} has no parameter {name!r}; "
                    f"parameters are {self._param_names()}"
                )
            setattr(self, name, value)
        return self

    @classmethod
    def build(cls, **params: Any) -> Self:
        """An instance with `params`, refusing names the constructor does not take."""
        unknown = sorted(set(params) - set(cls._param_names()))
        if unknown:
            raise ParameterError(
                f"{cls.__name__} has no parameter(s) {unknown}; parameters are "
                f"{cls._param_names()}"
            )
        return cls(**params)

    def _file_config(self, owner: str | None, licence: str | None,
                     **fields: Any) -> dict[str, Any]:
        """The model-file config every modality shares (version, family, parameters,
        history, training fingerprint, provenance), plus `fields`."""
        return {
            "genlab_version": __version__,
            "family": getattr(self, "family", ""),
            "params": self.get_params(),
            **fields,
            "history": getattr(self, "history_", []),
            "training": {"rows": self.n_rows_, "fingerprint": self.fingerprint_},
            "provenance": {
                "created_at": self.created_at_,
                "fit_seconds": round(self.fit_seconds_, 3),
                "seed": self.seed_,
                "owner": owner,
                "licence": licence,
            },
        }

    def _validate_params(self) -> None:
        for name, value in self.get_params().items():
            spec = self._parameter_constraints.get(name)
            if spec is not None and (msg := _check_param(name, value, spec)):
                raise ParameterError(f"{type(self).__name__}: {msg}")

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
        }
        shown = [f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults.get(k)]
        return f"{type(self).__name__}({', '.join(shown)})"


class Model(Estimator):
    """Base class of every genlab family (see the module docstring for the hooks)."""

    family: ClassVar[str] = ""
    log_prob_is_exact: ClassVar[bool] = True
    supports_log_prob: ClassVar[bool] = True
    has_latent: ClassVar[bool] = False
    models_missing: ClassVar[bool] = False
    summary: ClassVar[str] = ""
    when_to_use: ClassVar[str] = ""
    adult_fit_time: ClassVar[str] = ""  # measured by benchmarks/tabular.py on 2 CPU cores
    conditioning: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.family:
            _REGISTRY[cls.family] = cls

    # -- fit ------------------------------------------------------------------------------
    def fit(
        self,
        data: TableSource,
        conditions: list[str] | None = None,
        *,
        kinds: dict[str, str] | None = None,
    ) -> Model:
        """Fit to a table (path or DataFrame); `conditions` names categorical columns the
        model should condition on exactly; `kinds` overrides inferred column kinds."""
        self._validate_params()
        df = read_table(data)
        codec = TabularCodec.fit(df, kinds)
        if not codec.numeric and not codec.categorical:
            raise DataError(
                "no column can be modelled (all are constant or identifiers); "
                "give a table with varying columns or set kinds="
            )
        enc = codec.encode(df)
        cond_names = list(conditions or [])
        cond_idx = [codec.categorical_index(name) for name in cond_names]
        seed = self.seed if self.seed is not None else int(np.random.SeedSequence().entropy % 2**63)
        rng = np.random.default_rng(seed)
        self.schema_ = codec
        self.conditions_ = cond_names
        self.seed_ = seed
        self.n_rows_ = len(df)
        self.fingerprint_ = fingerprint(df)
        self.history_: list[dict[str, float]] = []
        self.missing_rate_ = np.isnan(enc.x).mean(axis=0) if enc.x.size else np.zeros(0)
        start = time.perf_counter()
        self._fit_arrays(enc, cond_idx, rng)
        self.fit_seconds_ = time.perf_counter() - start
        self.created_at_ = datetime.now(UTC).isoformat(timespec="seconds")
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "schema_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(data) or genlab.load()"
            )

    def _condition_codes(self, conditions: Conditions | None) -> dict[int, int]:
        if conditions is None:
            return {}
        if not isinstance(conditions, dict):
            raise ParameterError(
                f"conditions must be a dict of column to value, got {type(conditions).__name__}"
            )
        codec = self.schema_
        return {codec.categorical_index(k): codec.code_of(codec.categorical_index(k), v)
                for k, v in conditions.items()}

    # -- sample ---------------------------------------------------------------------------
    def sample(
        self, n: int, *, conditions: Conditions | None = None, seed: int | None = None
    ) -> pd.DataFrame:
        """Draw `n` rows like the training table; `conditions` fixes categorical columns.

        The same `seed` gives the same rows; without one a random seed is drawn and recorded
        in the result's `attrs["provenance"]`.
        """
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ParameterError(f"n must be a positive integer number of rows, got {n!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ParameterError(f"seed must be a non-negative integer, got {seed!r}")
        codes = self._condition_codes(conditions)
        used_seed = int(seed) if seed is not None else int(
            np.random.SeedSequence().entropy % 2**63
        )
        rng = np.random.default_rng(used_seed)
        parts = []
        with task(f"sampling {type(self).__name__}", n) as advance:
            for start in range(0, int(n), SAMPLE_CHUNK):
                m = min(SAMPLE_CHUNK, int(n) - start)
                enc = self._sample_arrays(m, codes, rng)
                if not self.models_missing and enc.x.size:
                    enc.x[rng.random(enc.x.shape) < self.missing_rate_] = np.nan
                parts.append(self.schema_.decode(enc, rng, row_offset=start))
                advance(m)
        out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        out.attrs["provenance"] = self.provenance(seed=used_seed, n=int(n), conditions=conditions)
        return out

    def provenance(self, **extra: Any) -> dict[str, Any]:
        """Where an output came from: genlab version, family, parameters, training data."""
        self._check_fitted()
        return {
            "generator": f"genlab {__version__}",
            "family": self.family,
            "params": self.get_params(),
            "training_rows": self.n_rows_,
            "training_fingerprint": self.fingerprint_,
            "model_created_at": self.created_at_,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **{k: v for k, v in extra.items() if v is not None},
        }

    # -- log_prob -------------------------------------------------------------------------
    def log_prob(self, data: TableSource) -> np.ndarray:
        """Natural-log likelihood of each row, in the user's data space.

        Continuous columns contribute densities (per unit of the column; datetimes per day),
        categorical columns probabilities. A value never seen in training gives -inf.
        """
        if not self.supports_log_prob:
            able = sorted(n for n, c in _REGISTRY.items() if c.supports_log_prob)
            raise UnsupportedOperation(
                f"{type(self).__name__} ({self.family}) has no likelihood, so log_prob is not "
                f"available; use one of the families with log_prob: {', '.join(able)}"
            )
        self._check_fitted()
        df = read_table(data)
        enc = self.schema_.encode(df)
        unseen = (enc.c < 0).any(axis=1) if enc.c.size else np.zeros(enc.n, bool)
        if unseen.any():
            warnings.warn(
                f"{int(unseen.sum())} rows hold category values never seen in training; "
                "their log_prob is -inf",
                UserWarning,
                stacklevel=2,
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

    # -- persistence ----------------------------------------------------------------------
    def save(
        self, path: str | os.PathLike[str], *, owner: str | None = None, licence: str | None = None
    ) -> Path:
        """Write the model to one `.genlab` file (JSON config + safetensors weights)."""
        self._check_fitted()
        meta, tensors = self._state()
        tensors = dict(tensors, _missing_rate=np.asarray(self.missing_rate_, np.float64))
        config = self._file_config(owner, licence, codec=self.schema_.to_dict(),
                                   conditions=self.conditions_, fitted=meta)
        return write_model_file(path, config, tensors)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        raise NotImplementedError

    def _expected_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def _restore(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def _fit_arrays(self, enc: Encoded, conditions: list[int], rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _sample_arrays(
        self, n: int, conditions: dict[int, int], rng: np.random.Generator
    ) -> Encoded:
        raise NotImplementedError

    def _log_prob_arrays(self, enc: Encoded) -> np.ndarray:
        raise NotImplementedError


def families() -> dict[str, type[Model]]:
    """Registered families by name."""
    return dict(_REGISTRY)


def check_tensors(
    where: str, owner: str, tensors: dict[str, np.ndarray], expected: dict[str, tuple[int, ...]]
) -> None:
    """Refuse a model file whose tensors are not exactly the expected names and shapes,
    or hold NaN / infinite values (one-line ModelFileError)."""
    if set(tensors) != set(expected):
        raise ModelFileError(
            f"{where} holds tensors {sorted(tensors)} but a {owner} needs "
            f"{sorted(expected)}; the file is damaged or was edited"
        )
    for name, shape in expected.items():
        if tuple(tensors[name].shape) != tuple(shape):
            raise ModelFileError(
                f"{where}: tensor {name!r} has shape {tuple(tensors[name].shape)}, expected "
                f"{tuple(shape)}; the file is damaged or was edited"
            )
        if not np.all(np.isfinite(tensors[name])):
            raise ModelFileError(f"{where}: tensor {name!r} holds NaN or infinite values")


def load(path: str | os.PathLike[str]) -> Any:
    """Load a `.genlab` file of any modality; it is parsed as JSON and raw tensors, never
    executed. Tables give a `Model`; images and sequences their own model classes."""
    config, tensors = read_model_file(path)
    where = repr(str(path))
    modality = config.get("modality", "table")
    if modality != "table":
        from genlab.models.registry import load_data_model

        return load_data_model(config, tensors, where)
    cls = _REGISTRY.get(config["family"])
    if cls is None:
        raise ModelFileError(
            f"{where} names unknown family {config['family']!r}; known: {sorted(_REGISTRY)}"
        )
    try:
        model = cls(**config["params"])
        model._validate_params()
        model.schema_ = TabularCodec.from_dict(config["codec"])
        meta = config.get("fitted") or {}
        expected = dict(model._expected_shapes(meta))
    except (TypeError, KeyError, ValueError) as err:
        raise ModelFileError(f"{where} has an invalid config: {err}") from err
    expected["_missing_rate"] = (len(model.schema_.numeric),)
    check_tensors(where, cls.__name__, tensors, expected)
    provenance = config.get("provenance") or {}
    model.conditions_ = list(config.get("conditions") or [])
    model.history_ = list(config.get("history") or [])
    model.n_rows_ = int(config.get("training", {}).get("rows", 0))
    model.fingerprint_ = str(config.get("training", {}).get("fingerprint", ""))
    model.created_at_ = str(provenance.get("created_at", ""))
    model.fit_seconds_ = float(provenance.get("fit_seconds") or 0.0)
    model.seed_ = provenance.get("seed")
    model.owner_ = provenance.get("owner")
    model.licence_ = provenance.get("licence")
    model.missing_rate_ = tensors.pop("_missing_rate")
    try:
        model._restore(meta, tensors)
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFileError(f"{where} has an invalid fitted state: {err}") from err
    return model
