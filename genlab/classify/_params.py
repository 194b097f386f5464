"""scikit-learn parameters of an estimator wrapping a genlab family: its own, plus the
family's hyperparameters passed as keywords (which `BaseEstimator` would not list)."""

from __future__ import annotations

from typing import Any

import numpy as np

from genlab.errors import ParameterError

__all__ = ["FamilyParams", "seed_of"]


class FamilyParams:
    """`get_params` / `set_params` over the named own parameters and the family's."""

    _own: tuple[str, ...] = ()
    _family_params: list[str]

    def _store(self, params: dict[str, Any]) -> None:
        self._family_params = sorted(params)
        for name, value in params.items():
            setattr(self, name, value)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments, the family's hyperparameters included."""
        out = {n: getattr(self, n) for n in self._own}
        out.update({n: getattr(self, n) for n in self._family_params})
        return out

    def set_params(self, **params: Any) -> Any:
        """Set parameters by name (family hyperparameters are checked at fit)."""
        for name, value in params.items():
            if name not in self._own and name not in self._family_params:
                self._family_params = sorted({*self._family_params, name})
            setattr(self, name, value)
        return self

    def _family_values(self) -> dict[str, Any]:
        params = {n: getattr(self, n) for n in self._family_params}
        if "seed" not in params:
            params["seed"] = seed_of(getattr(self, "random_state", None))
        return params


def seed_of(random_state: Any) -> int | None:
    """A genlab seed from a scikit-learn random_state (None, int or RandomState)."""
    if random_state is None:
        return None
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return int(random_state)
    raise ParameterError(f"random_state must be an int or None, got {random_state!r}")
