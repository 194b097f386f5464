"""DP-SGD for image families: `fit(images, epsilon=1.0, delta=None, max_grad_norm=1.0)`.

The image format (height, width, channels, 0..255 pixels) is the public schema; nothing
else of the data is released: the fit is unconditional, class names and counts are
dropped from the model file, and the training-data fingerprint is replaced by a tag drawn
from the seed (as for the table families, `genlab.privacy.fit`). The whole budget goes to
DP-SGD (`genlab.privacy.dpsgd`, through `TorchModule._train`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from genlab.errors import ParameterError
from genlab.privacy.budget import Budget, check_budget
from genlab.privacy.dpsgd import DPPlan
from genlab.privacy.fit import PrivateFit, _private_fingerprint

__all__ = ["PrivateImageSGD"]


class PrivateImageSGD(PrivateFit):
    """Mixin of image families trained by DP-SGD (see the module doc)."""

    _dp_plan: DPPlan | None = None
    _dp_request: tuple[float, float | None, float] | None = None

    def _fit(self, data: Any, conditions: list[str], rng: np.random.Generator,
             epsilon: float | None = None, delta: float | None = None,
             bounds: dict[str, Any] | None = None,
             categories: dict[str, list[Any]] | None = None,
             max_grad_norm: float | None = None) -> tuple[int, str]:
        self.privacy_ = None
        plain = super(PrivateFit, self)._fit  # the modality's own fit (ImageModel._fit)
        if epsilon is None:
            if delta is not None or max_grad_norm is not None:
                raise ParameterError("delta= and max_grad_norm= apply to a differentially "
                                     "private fit; give epsilon= too")
            return plain(data, conditions, rng)  # type: ignore[no-any-return]
        if bounds or categories:
            raise ParameterError("bounds= and categories= apply to tables; an image's pixel "
                                 "range is fixed (0-255)")
        if conditions:
            raise ParameterError("a private image fit is unconditional (class names and "
                                 "counts would be released); drop conditions=")
        norm = 1.0 if max_grad_norm is None else max_grad_norm
        if isinstance(norm, bool) or not isinstance(norm, (int, float)) or not norm > 0:
            raise ParameterError(f"max_grad_norm must be a number > 0, e.g. 1.0; got {norm!r}")
        self._dp_request = (epsilon, delta, float(norm))
        try:
            n, _ = plain(data, conditions, rng)
        finally:
            plan, self._dp_plan, self._dp_request = self._dp_plan, None, None
        assert plan is not None
        record = plan.budget.record(plan.mechanism, [], [])
        record.update(plan.record(int(self.steps_trained_)))  # type: ignore[attr-defined]
        record.pop("budget_split", None)
        self.privacy_ = record
        self.meta_["class_counts"] = None  # type: ignore[attr-defined]
        self.codec_ = dataclasses.replace(self.codec_, classes=None)  # type: ignore[attr-defined]
        return n, _private_fingerprint(rng)

    def _new_dp_plan(self, n: int, rng: np.random.Generator) -> DPPlan:
        """The plan of this fit, once `TorchModule._train` knows the number of images."""
        assert self._dp_request is not None
        epsilon, delta, norm = self._dp_request
        eps, dlt = check_budget(epsilon, delta, n)
        return DPPlan(Budget(eps, dlt, np.random.default_rng(rng.integers(2**62))), 0.0,
                      norm, n)
