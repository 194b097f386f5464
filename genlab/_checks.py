"""The one validator of parameter values (hyperparameters, training settings, sample
options). A spec is `("int", low, high)`, `("float", low, high)` (a trailing `?` allows
None), `("bool",)`, `("choice", options)`, `("str?",)` (text or None), `("path?", what)` (a
path or None) or `("any",)` (checked by its owner)."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from genlab.errors import ParameterError

__all__ = ["ParamSpec", "check_param", "check_params"]

ParamSpec = tuple[Any, ...]


def check_param(name: str, value: Any, spec: ParamSpec) -> str | None:
    """An error message if `value` breaks `spec`, else None."""
    kind = spec[0]
    if kind == "any":  # validated by its owner (arrays, prompts): nothing generic to check
        return None
    if kind == "str?":
        return None if value is None or isinstance(value, str) else (
            f"{name} must be a string, got {value!r}")
    if kind == "path?":
        what = spec[1] if len(spec) > 1 else "a file or folder"
        return None if value is None or isinstance(value, (str, os.PathLike)) else (
            f"{name} must be the path of {what}, got {type(value).__name__}")
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
    if (base == "float" and not math.isfinite(value)) or not (low <= value <= high):
        return f"{name} must be in [{low}, {high}], got {value!r}"
    return None


def check_params(owner: str, values: dict[str, Any], specs: dict[str, ParamSpec]) -> None:
    """Raise a one-line ParameterError for the first value in `values` that breaks its spec."""
    for name, value in values.items():
        spec = specs.get(name)
        if spec is not None and (msg := check_param(name, value, spec)):
            raise ParameterError(f"{owner}: {msg}")
