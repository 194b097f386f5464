"""Kinds of data beyond tables: images, sequences (text, molecules, music), and the like.

A modality registers its families (`DataModel` subclasses naming `modality` and `family`)
and a detector that recognises its inputs. `genlab.load` and the command line dispatch
through here, so `genlab fit DATA` works for any input and a model file loads as the class
that wrote it. Tables keep their own contract (`genlab.models.base.Model`).

A `DataModel` fills these hooks:

- `fit(data, conditions=None)`: read the input, set `self.codec_`, train; wrap the work
  between `self._begin_fit()` (returns the seeded numpy generator) and
  `self._end_fit(start, n_items, fingerprint)`;
- `_state() -> (meta, tensors)`, `_expected_shapes(meta)`, `_restore(meta, tensors)`
  (the `TorchModule` mixin provides all three for one `net_`);
- `_codec_dict()` / `_codec_from_dict(d)`: the codec as JSON types and back;
- `write_samples(output, n, *, seed, where, prompt) -> str`: what `genlab sample` writes
  (grid PNG, a folder of files, text, MIDI...), returning a one-line summary.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from genlab._version import __version__
from genlab.errors import (
    DataError,
    ModelFileError,
    NotFittedError,
    ParameterError,
    UnsupportedOperation,
)
from genlab.models.base import Estimator, check_tensors
from genlab.store import write_model_file

__all__ = [
    "TABLE",
    "DataModel",
    "detect_modality",
    "load_data_model",
    "make_data_model",
    "modality_families",
    "register_detector",
]

TABLE = "table"
_FAMILIES: dict[str, dict[str, type[DataModel]]] = {}
# (modality, detector, default family); tried in registration order, tables last
_DETECTORS: list[tuple[str, Callable[[Path], bool], str]] = []


def register_detector(modality: str, detect: Callable[[Path], bool], default_family: str) -> None:
    """Declare how to recognise a modality's input path and which family fits it by default."""
    _DETECTORS[:] = [d for d in _DETECTORS if d[0] != modality]
    _DETECTORS.append((modality, detect, default_family))


def _load_modalities() -> None:
    # modalities register on import; imported lazily so `import genlab` stays light
    import importlib

    for name in ("genlab.models.series.autoregressive", "genlab.images", "genlab.sequences"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:  # a modality that exists but misses a dependency: say so
                raise


def modalities() -> list[str]:
    """Names of the known modalities, tables included."""
    _load_modalities()
    return [TABLE, *(_FAMILIES.keys())]


def detect_modality(path: str | os.PathLike[str], override: str | None = None) -> tuple[str, str]:
    """(modality, default family) for an input path; `override` names the modality."""
    _load_modalities()
    defaults = {m: fam for m, _, fam in _DETECTORS} | {TABLE: "copula"}
    if override is not None:
        if override not in defaults:
            raise ParameterError(
                f"unknown kind of data {override!r}; choose one of {', '.join(sorted(defaults))}"
            )
        return override, defaults[override]
    p = Path(path)
    for modality, detect, family in _DETECTORS:
        if detect(p):
            return modality, family
    return TABLE, defaults[TABLE]


def modality_families(modality: str) -> dict[str, type[DataModel]]:
    """Registered families of a (non-table) modality, by name."""
    _load_modalities()
    return dict(_FAMILIES.get(modality, {}))


def make_data_model(modality: str, family: str, **params: Any) -> DataModel:
    """An unfitted model of `family` for `modality` with the given parameters."""
    known = modality_families(modality)
    if family not in known:
        raise ParameterError(
            f"unknown model {family!r} for {modality} data; choose one of "
            f"{', '.join(sorted(known)) or '(none installed)'}"
        )
    return known[family].build(**params)


def load_data_model(config: dict[str, Any], tensors: dict[str, np.ndarray], where: str) -> Any:
    """Rebuild a non-table model from a validated model file's config and tensors."""
    modality, family = config.get("modality"), config.get("family")
    cls = modality_families(str(modality)).get(str(family))
    if cls is None:
        raise ModelFileError(
            f"{where} holds a {modality} model of family {family!r} that this genlab does not "
            "know; upgrade genlab or check the file"
        )
    return cls._from_file(config, tensors, where)


class DataModel(Estimator):
    """Base of the families of non-table modalities (see the module docstring)."""

    modality: ClassVar[str] = ""
    family: ClassVar[str] = ""
    log_prob_is_exact: ClassVar[bool] = True
    supports_log_prob: ClassVar[bool] = True
    summary: ClassVar[str] = ""
    when_to_use: ClassVar[str] = ""
    conditioning: ClassVar[str] = ""
    history_: list[dict[str, float]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.modality and cls.family:
            _FAMILIES.setdefault(cls.modality, {})[cls.family] = cls

    # -- fitting bookkeeping ----------------------------------------------------------------
    def _begin_fit(self) -> np.random.Generator:
        """Validate parameters, fix the seed, reset the history; returns the generator."""
        self._validate_params()
        seed = getattr(self, "seed", None)
        self.seed_ = int(seed) if seed is not None else int(
            np.random.SeedSequence().entropy % 2**63)
        self.history_ = []
        return np.random.default_rng(self.seed_)

    def _end_fit(self, start: float, n_items: int, fingerprint: str) -> None:
        """Record what provenance needs once training is over (`start`: perf_counter)."""
        self.fit_seconds_ = time.perf_counter() - start
        self.n_rows_ = int(n_items)
        self.fingerprint_ = fingerprint
        self.created_at_ = datetime.now(UTC).isoformat(timespec="seconds")

    def _check_fitted(self) -> None:
        if not hasattr(self, "fit_seconds_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(data) or genlab.load()"
            )

    def provenance(self, **extra: Any) -> dict[str, Any]:
        """Where an output came from: genlab version, family, parameters, training data."""
        self._check_fitted()
        return {
            "generator": f"genlab {__version__}",
            "modality": self.modality,
            "family": self.family,
            "params": self.get_params(),
            "training_items": self.n_rows_,
            "training_fingerprint": self.fingerprint_,
            "model_created_at": self.created_at_,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **{k: v for k, v in extra.items() if v is not None},
        }

    # -- persistence ----------------------------------------------------------------------
    def save(
        self, path: str | os.PathLike[str], *, owner: str | None = None, licence: str | None = None
    ) -> Path:
        """Write the model to one `.genlab` file (JSON config + safetensors weights)."""
        self._check_fitted()
        meta, tensors = self._state()
        config = self._file_config(owner, licence, modality=self.modality,
                                   codec=self._codec_dict(), fitted=meta)
        return write_model_file(path, config, tensors)

    @classmethod
    def _from_file(
        cls, config: dict[str, Any], tensors: dict[str, np.ndarray], where: str
    ) -> DataModel:
        try:
            model = cls(**config["params"])
            model._validate_params()
            model._codec_from_dict(config["codec"])
            meta = config.get("fitted") or {}
            expected = dict(model._expected_shapes(meta))
        except (TypeError, KeyError, ValueError, DataError, ParameterError) as err:
            raise ModelFileError(f"{where} has an invalid config: {err}") from err
        check_tensors(where, cls.__name__, tensors, expected)
        provenance = config.get("provenance") or {}
        training = config.get("training") or {}
        model.history_ = list(config.get("history") or [])
        model.n_rows_ = int(training.get("rows", 0))
        model.fingerprint_ = str(training.get("fingerprint", ""))
        model.created_at_ = str(provenance.get("created_at", ""))
        model.fit_seconds_ = float(provenance.get("fit_seconds") or 0.0)
        model.seed_ = provenance.get("seed")
        model.owner_ = provenance.get("owner")
        model.licence_ = provenance.get("licence")
        try:
            model._restore(meta, tensors)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ModelFileError(f"{where} has an invalid fitted state: {err}") from err
        return model

    # -- hooks ------------------------------------------------------------------------------
    def _codec_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def _codec_from_dict(self, data: dict[str, Any]) -> None:
        raise NotImplementedError

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        raise NotImplementedError

    def _expected_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def _restore(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def write_samples(
        self,
        output: str | os.PathLike[str],
        n: int,
        *,
        seed: int | None = None,
        where: dict[str, str] | None = None,
        prompt: str | None = None,
    ) -> str:
        """Draw `n` samples and write them where `output` says; returns a one-line summary."""
        raise UnsupportedOperation(
            f"{type(self).__name__} cannot write samples from the command line yet"
        )

    def write_report(
        self, path: str | os.PathLike[str], *, data: str | os.PathLike[str] | None = None
    ) -> Path:
        """Write a self-contained HTML report on this model (samples, scores); `data` is
        real data of the same kind to compare with."""
        raise UnsupportedOperation(f"{type(self).__name__} has no report yet")
