"""Hyperparameters: one validator (`check_param`) and one owner of them (`Estimator`).

A parameter spec is a tuple: `("int", low, high)`, `("float", low, high)` (a trailing `?`
allows None), `("bool",)` or `("choice", options)`. Models of every modality keep their
hyperparameters the scikit-learn way: keyword-only constructor arguments stored as given,
validated at fit. Settings shared by many families are declared once and reach the constructor
through `**shared`: every training setting of `TrainConfig` for neural families
(`trains = True`), and the settings a modality's families all take (`modality_params`, e.g.
a sequence model's `context`). A class lists only the defaults it changes
(`train_defaults`), merged along its bases.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Self

from genlab._checks import ParamSpec, check_param, check_params
from genlab.config import TrainConfig
from genlab.errors import ParameterError

__all__ = ["Estimator", "ParamSpec", "check_param", "check_params"]

class Estimator:
    """Hyperparameter handling shared by every genlab model of any modality."""

    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {"seed": ("int?", 0, 2**63 - 1)}
    trains: ClassVar[bool] = False  # True: the TrainConfig fields are parameters too
    # parameters every family of a modality takes (name -> default), declared once there
    modality_params: ClassVar[dict[str, Any]] = {}
    # the defaults of shared settings (training, modality) this class changes; merged along
    # the class hierarchy, so a family lists only what differs from its modality's base
    train_defaults: ClassVar[dict[str, Any]] = {}

    @classmethod
    def _own_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY]

    @classmethod
    def _shared_defaults(cls) -> dict[str, Any]:
        """Defaults of the parameters that come through `**shared`, not the signature."""
        out: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            out.update(vars(klass).get("modality_params", {}))
        if cls.trains:
            out.update(TrainConfig.defaults())
        for klass in reversed(cls.__mro__):
            out.update(vars(klass).get("train_defaults", {}))
        return out

    @classmethod
    def _param_names(cls) -> list[str]:
        own = cls._own_names()
        return own + [n for n in cls._shared_defaults() if n not in own]

    @classmethod
    def _default(cls, name: str) -> Any:
        """The value a parameter takes when it is not given."""
        param = inspect.signature(cls.__init__).parameters.get(name)
        if param is not None and param.kind == param.KEYWORD_ONLY:
            return param.default
        return cls._shared_defaults().get(name)

    @classmethod
    def _specs(cls) -> dict[str, ParamSpec]:
        return {**TrainConfig.specs(), **cls._parameter_constraints} if cls.trains else dict(
            cls._parameter_constraints)

    def _init_params(self, values: dict[str, Any]) -> None:
        """Store the constructor's arguments (call with `locals()`; training and modality
        settings arrive in `**shared`), unvalidated as in scikit-learn. Lists become tuples:
        JSON (model files, the command line) has no tuples, and a loaded model must compare
        and print the same as the one saved."""
        extra = dict(values.get("shared") or {})
        names = self._param_names()
        unknown = sorted(set(extra) - set(names))
        if unknown:
            raise ParameterError(
                f"{type(self).__name__} has no parameter(s) {unknown}; parameters are {names}")
        for name in names:
            value = values[name] if name in values else extra.get(name, self._default(name))
            setattr(self, name, tuple(value) if isinstance(value, list) else value)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
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

    def train_config(self) -> TrainConfig:
        """The training settings from this model's parameters."""
        params = self.get_params()
        return TrainConfig(**{k: params[k] for k in TrainConfig.names() if k in params})

    def _validate_params(self) -> None:
        check_params(type(self).__name__, self.get_params(), self._specs())

    def __repr__(self) -> str:
        shown = [f"{k}={v!r}" for k, v in self.get_params().items() if v != self._default(k)]
        return f"{type(self).__name__}({', '.join(shown)})"
