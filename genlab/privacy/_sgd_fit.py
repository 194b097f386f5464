"""The mixin of neural table families that fit with DP-SGD (`genlab.privacy.dpsgd`).

`fit(data, epsilon=1.0, delta=None, bounds=None, categories=None, max_grad_norm=1.0)`:
the codec is released as for every private family (`genlab.privacy.fit`); the family's
`_fit_arrays` then runs with `self._dp_plan` set, reads it where it would copy a statistic
of the data (releasing a noisy one from `plan.budget` instead), and trains through
`TorchModule._train`, which switches to DP-SGD when a plan is set.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from genlab.errors import ParameterError
from genlab.privacy.dpsgd import MECHANISM, DPPlan
from genlab.privacy.fit import PrivateFit

__all__ = ["PrivateSGD"]


class PrivateSGD(PrivateFit):
    """`PrivateFit` for a family trained by DP-SGD."""

    dp_mechanism: ClassVar[str] = MECHANISM
    _dp_plan: DPPlan | None = None

    def _fit(self, data: Any, conditions: list[str], rng: np.random.Generator,
             kinds: dict[str, str] | None = None, constraints: Any = None,
             epsilon: float | None = None, delta: float | None = None,
             bounds: dict[str, Any] | None = None,
             categories: dict[str, list[Any]] | None = None,
             max_grad_norm: float | None = None) -> tuple[int, str]:
        if max_grad_norm is not None and epsilon is None:
            raise ParameterError("max_grad_norm= applies to a differentially private fit; "
                                 "give epsilon= too")
        norm = 1.0 if max_grad_norm is None else max_grad_norm
        if isinstance(norm, bool) or not isinstance(norm, (int, float)) or not (
                math.isfinite(norm) and norm > 0):
            raise ParameterError(f"max_grad_norm must be a number > 0, e.g. 1.0; got {norm!r}")
        self._max_grad_norm = float(norm)
        try:
            return super()._fit(data, conditions, rng, kinds=kinds, constraints=constraints,
                                epsilon=epsilon, delta=delta, bounds=bounds,
                                categories=categories)
        finally:
            self._dp_plan = None

    def _fit_private(self, enc: Any, conditions: list[int], budget: Any, rho: float
                     ) -> dict[str, Any]:
        plan = self._dp_plan = DPPlan(budget, rho, self._max_grad_norm, enc.n,
                                      n_codes=self.schema_.n_codes())  # type: ignore[attr-defined]
        self._fit_arrays(enc, conditions, budget.rng)  # type: ignore[attr-defined]
        return plan.record(int(self.steps_trained_))  # type: ignore[attr-defined]


def dp_marginal(plan: DPPlan, values: np.ndarray, spec: Any, count: int
                ) -> tuple[Any, np.ndarray]:
    """A numeric column's marginal for a DP-SGD fit (one of `count` statistics): the noisy
    fine histogram of `genlab.privacy.bayesnet` over the released range, and each value's
    dequantisation half-width from the column's declared resolution (not from its
    neighbours in the data)."""
    from genlab.models.table._marginal import column_resolution
    from genlab.privacy.bayesnet import histogram_marginal

    _, _, marginal = histogram_marginal(values, spec, plan.budget, plan.statistic_rho(count))
    return marginal, np.full(values.shape, column_resolution(spec) / 2)


RANGE_MODES = 5  # equal-width modes of a private mode normaliser


def range_normalizer(schema: Any, conditions: list[int] | None = None) -> Any:
    """A mode normaliser (`genlab.data.modes`) fitted to nothing: `RANGE_MODES` equal-width
    modes over each numeric column's released range, for the families that would fit a
    Gaussian mixture to the data (TVAE, CTGAN). `conditions`: the VAE's, refused (its
    joint frequencies of the declared columns are not released privately)."""
    from genlab.data.modes import ModeNormalizer

    if conditions:
        raise ParameterError("the VAE cannot combine conditions= with epsilon= yet; fit "
                             "without one of them, or use the autoregressive family")

    means, stds = [], []
    for spec in schema.numeric:
        lo, hi = float(spec.min), float(spec.max)
        width = max(hi - lo, 1e-9) / RANGE_MODES
        means.append(lo + width * (np.arange(RANGE_MODES) + 0.5))
        stds.append(np.full(RANGE_MODES, width / 2))
    return ModeNormalizer(means, stds, schema.n_codes())


def noisy_counts(plan: DPPlan, enc: Any) -> list[list[float]]:
    """Each categorical column's code counts with Gaussian noise (replacing a row moves two
    counts by one: L2 sensitivity sqrt 2), rounded and floored at 0; one statistic per
    column."""
    n_codes = plan.n_codes or []  # the released schema's, never read from the data
    rho = plan.statistic_rho(len(n_codes))
    return [np.maximum(np.round(plan.budget.gaussian(np.bincount(enc.c[:, j], minlength=m
                                                                  ).astype(np.float64),
                                                     math.sqrt(2), rho, "counts")), 0.0).tolist()
            for j, m in enumerate(n_codes)]
