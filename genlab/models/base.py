"""The one model contract of every modality: fit, sample, log_prob, save and load.

`Model` owns the public methods, seeding, provenance, the fitted check, eval/no-grad mode
and the model file. A modality's base class (tables, images, sequences, series) fills the
hooks with its codec; its families fill only the tensor hooks below that.

- `_fit(data, conditions, rng, **options) -> (n_items, fingerprint)`: read through the
  modality's codec and train; `conditions` is a list of names;
- `_sample(n, conditions, rng, **options)`: `n` samples of the modality's type (DataFrame,
  uint8 image array, list of sequences); `conditions` a dict, `options` validated against
  `sample_options`;
- `_log_prob(data, conditions, **options) -> (n_items,)` natural-log likelihoods;
- `_codec_dict()` / `_codec_from_dict(d)`, `_state() -> (meta, tensors)`,
  `_expected_shapes(meta)`, `_restore(meta, tensors)`: the model file.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from genlab._version import __version__
from genlab.errors import (
    ModelFileError,
    NotFittedError,
    ParameterError,
    UnsupportedOperation,
)
from genlab.models import registry
from genlab.params import Estimator, ParamSpec, check_param
from genlab.provenance import attach, now
from genlab.seeding import check_seed, draw_seed
from genlab.store import write_model_file
from genlab.store_schema import one_line

__all__ = ["Conditions", "Model", "check_count", "check_tensors"]

Conditions = dict[str, Any]
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def check_count(n: Any, what: str = "n") -> int:
    """`n` as a positive int; one-line error for anything else."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ParameterError(f"{what} must be a positive integer number of samples, got {n!r}")
    return int(n)


def option_from_text(name: str, text: str, spec: ParamSpec) -> Any:
    """A sample option written on the command line (`--where temperature=0.8`) as its type."""
    kind = str(spec[0]).rstrip("?")
    if kind == "bool":
        if text.lower() not in _TRUE + _FALSE:
            raise ParameterError(f"--where {name}= takes true or false, got {text!r}")
        return text.lower() in _TRUE
    if kind in ("int", "float"):
        try:
            return int(text) if kind == "int" else float(text)
        except ValueError:
            raise ParameterError(f"--where {name}= needs a number, got {text!r}") from None
    return text


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


class _RestoreError(Exception):
    """Marks a failure of `_file_restore` (the cause is chained)."""


class Model(Estimator):
    """Base of every genlab family of every modality (see the module docstring)."""

    modality: ClassVar[str] = ""
    family: ClassVar[str] = ""
    log_prob_is_exact: ClassVar[bool] = True
    supports_log_prob: ClassVar[bool] = True
    has_latent: ClassVar[bool] = False
    summary: ClassVar[str] = ""
    when_to_use: ClassVar[str] = ""
    conditioning: ClassVar[str] = ""
    sample_options: ClassVar[dict[str, ParamSpec]] = {}  # keyword options of `sample`
    history_: list[dict[str, float]]
    conditions_: list[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.modality and cls.family and "family" in cls.__dict__:
            registry.register(cls)

    # -- fit ------------------------------------------------------------------------------
    def fit(self, data: Any, conditions: list[str] | str | None = None, **options: Any) -> Self:
        """Fit to `data` (a path or in-memory data of the modality); `conditions` names what
        to condition on (columns, `label`, molecule properties). Returns self."""
        self._validate_params()
        self._check_fit_options(options)
        names = [conditions] if isinstance(conditions, str) else conditions or []
        if not isinstance(names, (list, tuple)):
            raise ParameterError(
                f"conditions must be a name or a list of names, e.g. ['label'], got "
                f"{type(conditions).__name__}")
        names = list(names)
        self.seed_ = self.seed if self.seed is not None else draw_seed()  # type: ignore[attr-defined]
        rng = np.random.default_rng(self.seed_)
        self.history_ = []
        self.stopped_by_: str | None = None
        self.file_path_: str | None = None  # set by save / load
        self.conditions_ = names
        start = time.perf_counter()
        n_items, fingerprint = self._fit(data, names, rng, **options)
        self.fit_seconds_ = time.perf_counter() - start
        self.n_rows_ = int(n_items)
        self.fingerprint_ = str(fingerprint)
        self.created_at_ = now()
        return self

    def _check_fit_options(self, options: dict[str, Any]) -> None:
        accepted = [p.name for p in inspect.signature(self._fit).parameters.values()
                    if p.kind == p.KEYWORD_ONLY or (p.default is not p.empty
                                                    and p.name not in ("conditions", "rng"))]
        unknown = sorted(set(options) - set(accepted))
        if "epsilon" in unknown:  # a family without a private fit: say which have one
            from genlab.privacy.fit import refuse_dp

            refuse_dp(self)
        if unknown:
            raise ParameterError(
                f"{type(self).__name__}.fit takes no option(s) {unknown}; its options: "
                f"{', '.join(accepted) or 'none'}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "fit_seconds_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(data) or genlab.load()"
            )

    @contextlib.contextmanager
    def _inference(self) -> Iterator[None]:
        """Eval mode and no autograd for a network in `net_`; nothing for other families."""
        net = getattr(self, "net_", None)
        if net is None:
            yield
            return
        import torch

        net.eval()
        with torch.no_grad():
            yield

    # -- sample ---------------------------------------------------------------------------
    def sample(self, n: int, *, conditions: Conditions | None = None, seed: int | None = None,
               **options: Any) -> Any:
        """Draw `n` samples like the training data; `conditions` fixes what the model was
        told to condition on (e.g. `{"sex": "Female"}`, `{"label": "7"}`); `options` are the
        modality's sampling options (`sample_options`: prompt, temperature, ...).

        The same `seed` gives the same samples; without one a fresh seed is drawn. Either
        way it is recorded in the result's `attrs["provenance"]`."""
        self._check_fitted()
        count = check_count(n)
        given = check_seed(seed)
        if conditions is not None and not isinstance(conditions, dict):
            raise ParameterError(
                f"conditions must be a dict of name to value, got {type(conditions).__name__}")
        opts = self._check_options(options)
        used = given if given is not None else draw_seed()
        rng = np.random.default_rng(used)
        with self._inference():
            out = self._sample(count, dict(conditions or {}), rng, **opts)
        prov = self.provenance(seed=used, n=count, conditions=conditions or None,
                               options=opts or None)
        return attach(out, prov, modality=self.modality)

    def _check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(options) - set(self.sample_options))
        if unknown:
            allowed = ", ".join(sorted(self.sample_options)) or "none"
            raise ParameterError(
                f"{type(self).__name__}.sample takes no option(s) {unknown}; its options: "
                f"{allowed}")
        for name, value in options.items():
            if value is not None and (msg := check_param(name, value, self.sample_options[name])):
                raise ParameterError(msg)
        # paths are recorded as text, so the provenance reads the same from Python and JSON
        return {k: os.fspath(v) if self.sample_options[k][0] == "path?" else v
                for k, v in options.items() if v is not None}

    def parse_where(self, where: dict[str, str]) -> tuple[Conditions, dict[str, Any]]:
        """Split `--where name=value` text into (conditions, sample options), each value in
        its own type."""
        conditions: Conditions = {}
        options: dict[str, Any] = {}
        for name, text in where.items():
            if name in self.sample_options:
                options[name] = option_from_text(name, text, self.sample_options[name])
            else:
                conditions[name] = self._condition_from_text(name, text)
        return conditions, options

    def _condition_from_text(self, name: str, text: str) -> Any:
        """A condition value written as text, in the type the model compares it with."""
        return text

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
            "generated_at": now(),
            **{k: v for k, v in extra.items() if v is not None},
        }

    # -- log_prob -------------------------------------------------------------------------
    def log_prob(self, data: Any, *, conditions: Conditions | None = None,
                 strict: bool = False, **options: Any) -> np.ndarray:
        """Natural-log likelihood of each item of `data` (row, image, sequence, time step),
        in the user's data space; a bound or estimate where `log_prob_is_exact` is False.

        By default every value is finite and graded: a table value beyond the training range
        falls in a fitted tail that keeps decreasing with distance, a category never seen in
        training gets a smoothed probability (with a warning naming the rows, columns and
        values). `strict=True` (table families) gives the model's exact zeros instead:
        `-inf` outside the bounded support of the marginals and for never-seen categories.
        """
        if not isinstance(strict, bool):
            raise ParameterError(f"strict must be True or False, got {strict!r}")
        if strict:
            if "strict" not in inspect.signature(self._log_prob).parameters:
                raise ParameterError(
                    f"strict=True applies to table models; {type(self).__name__} "
                    f"({self.modality}) smooths nothing, so call log_prob without it")
            options["strict"] = True
        if not self.supports_log_prob:
            able = sorted(n for n, c in registry.families(self.modality).items()
                          if c.supports_log_prob)
            raise UnsupportedOperation(
                f"{type(self).__name__} ({self.family}) has no likelihood, so log_prob is not "
                f"available; use one of the {self.modality} families with log_prob: "
                f"{', '.join(able)}"
            )
        self._check_fitted()
        with self._inference():
            lp = self._log_prob(data, conditions, **options)
        return np.asarray(lp, dtype=np.float64)

    def encode(self, data: Any) -> np.ndarray:
        """Learned features per item, (n, k): VAE means, flow z, pooled transformer states."""
        self._check_fitted()
        with self._inference():
            return np.asarray(self._encode(data), dtype=np.float64)

    def _encode(self, data: Any) -> Any:
        raise UnsupportedOperation(f"{type(self).__name__} ({self.family}) has no latent space; "
                                   f"encode works with {', '.join(registry.latent_families())}")

    # -- persistence ----------------------------------------------------------------------
    def save(
        self, path: str | os.PathLike[str], *, owner: str | None = None, licence: str | None = None
    ) -> Path:
        """Write the model to one `.genlab` file (JSON config + safetensors weights)."""
        self._check_fitted()
        meta, tensors = self._file_state()
        config = {
            "genlab_version": __version__,
            "modality": self.modality,
            "family": self.family,
            "params": self.get_params(),
            "codec": self._codec_dict(),
            "conditions": list(self.conditions_),
            "fitted": meta,
            "history": list(self.history_),
            "training": {"rows": self.n_rows_, "fingerprint": self.fingerprint_,
                         "stopped_by": getattr(self, "stopped_by_", None),
                         "steps": getattr(self, "steps_trained_", None)},
            "provenance": {"created_at": self.created_at_,
                           "fit_seconds": round(self.fit_seconds_, 3), "seed": self.seed_,
                           "owner": owner, "licence": licence},
        }
        written = write_model_file(path, config, tensors)
        self.file_path_ = str(written)  # the notebook card shows the file and its size
        return written

    @classmethod
    def _from_file(cls, config: dict[str, Any], tensors: dict[str, np.ndarray],
                   where: str) -> Model:
        """Rebuild a model from a read model file (`genlab.load`). The config passed the
        store's schema; whatever else goes wrong on its content is one ModelFileError."""
        try:
            return cls._rebuild(config, tensors, where)
        except ModelFileError:
            raise
        except Exception as err:  # a file from anyone: every failure is its fault
            stage = "config" if not isinstance(err, _RestoreError) else "fitted state"
            cause = err.__cause__ if isinstance(err, _RestoreError) else err
            raise ModelFileError(f"{where} has an invalid {stage}: {one_line(cause)}; the file "
                                 "is damaged or was edited") from err

    @classmethod
    def _rebuild(cls, config: dict[str, Any], tensors: dict[str, np.ndarray],
                 where: str) -> Model:
        model = cls(**config["params"])
        model._validate_params()
        model.conditions_ = [str(c) for c in (config.get("conditions") or [])]
        model._codec_from_dict(config["codec"])
        meta = config.get("fitted") or {}
        expected = dict(model._file_shapes(meta))
        check_tensors(where, cls.__name__, tensors, expected)
        provenance = config.get("provenance") or {}
        training = config.get("training") or {}
        model.history_ = list(config.get("history") or [])
        model.n_rows_ = int(training.get("rows", 0))
        model.fingerprint_ = str(training.get("fingerprint", ""))
        model.stopped_by_, model.steps_trained_ = training.get("stopped_by"), training.get("steps")
        model.created_at_ = str(provenance.get("created_at", ""))
        model.fit_seconds_ = float(provenance.get("fit_seconds") or 0.0)
        model.seed_ = provenance.get("seed")
        model.owner_, model.licence_ = provenance.get("owner"), provenance.get("licence")
        from genlab._cards import loaded_path

        model.file_path_ = loaded_path(where)  # shown, with its size, by the notebook card
        try:
            model._file_restore(meta, dict(tensors))
        except ModelFileError:
            raise
        except Exception as err:  # any failure here is a bad fitted state
            raise _RestoreError(str(err)) from err
        return model

    # what the model file holds beyond the family's state (tables add missingness rates)
    def _file_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return self._state()

    def _file_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        return self._expected_shapes(meta)

    def _file_restore(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self._restore(meta, tensors)

    def _repr_html_(self) -> str:
        """A compact HTML card for Jupyter: family, data, seed, training, columns, file."""
        from genlab._cards import model_card

        return model_card(self)

    # -- hooks ----------------------------------------------------------------------------
    def _fit(self, data: Any, conditions: list[str], rng: np.random.Generator,
             **options: Any) -> tuple[int, str]:
        raise NotImplementedError

    def _sample(self, n: int, conditions: Conditions, rng: np.random.Generator,
                **options: Any) -> Any:
        raise NotImplementedError

    def _log_prob(self, data: Any, conditions: Conditions | None, **options: Any) -> Any:
        raise NotImplementedError

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
