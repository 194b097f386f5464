"""The privacy budget: zero-concentrated DP (zCDP) accounting and the mechanisms that spend it.

Neighbouring tables differ in one row replaced by another (bounded DP; the row count n is
public). Every mechanism here is rho-zCDP (Bun & Steinke 2016), so budgets add up:

- Gaussian mechanism, L2 sensitivity s, noise sigma: rho = s^2 / (2 sigma^2);
- exponential mechanism, epsilon0-DP: rho = epsilon0^2 / 8 (Cesar & Rogers 2021).

The total rho converts to (epsilon, delta)-DP by epsilon = rho + 2 sqrt(rho ln(1/delta))
(Bun & Steinke, Prop. 1.3). Category sets found in the data are released by thresholded
noisy counts, which adds a small delta of its own (the chance a category held by one row
clears the threshold); the accountant adds it to the conversion's delta.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtri

from genlab.errors import ParameterError

__all__ = ["Budget", "default_delta", "epsilon_of", "rho_of"]


def rho_of(epsilon: float, delta: float) -> float:
    """The zCDP rho whose (epsilon, delta) conversion is exactly `epsilon`."""
    log_term = math.log(1 / delta)
    return (math.sqrt(epsilon + log_term) - math.sqrt(log_term)) ** 2


def epsilon_of(rho: float, delta: float) -> float:
    """epsilon of rho-zCDP at `delta` (Bun & Steinke, Prop. 1.3)."""
    return rho + 2 * math.sqrt(rho * math.log(1 / delta))


def default_delta(n: int) -> float:
    """delta when none is given: 1 / (10 n), below the 1 / n at which releasing one whole
    row at random would already satisfy it."""
    return 1.0 / (10 * max(int(n), 1))


def check_budget(epsilon: Any, delta: Any, n: int) -> tuple[float, float]:
    """(epsilon, delta) validated; delta defaults to `default_delta(n)`."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not (
            0 < float(epsilon) <= 1000):
        raise ParameterError(f"epsilon must be a number in (0, 1000], e.g. 1.0; got {epsilon!r}")
    if delta is None:
        delta = default_delta(n)
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not (
            0 < float(delta) < 1):
        raise ParameterError(f"delta must be a number in (0, 1), e.g. 1e-6; got {delta!r}")
    if float(delta) >= 1 / n:
        raise ParameterError(f"delta={delta:g} is not below 1/n = {1 / n:.3g} (n = {n} rows), "
                             "so it could allow releasing a whole row; give a smaller delta")
    return float(epsilon), float(delta)


@dataclass
class Budget:
    """A zCDP budget being spent; `spend` records what each step took."""

    epsilon: float
    delta: float
    rng: np.random.Generator
    rho: float = 0.0
    spent: dict[str, float] = field(default_factory=dict)  # part -> rho
    threshold_delta: float = 0.0  # delta set aside for releasing category sets

    def __post_init__(self) -> None:
        # half of delta converts zCDP to (epsilon, delta); half pays for category sets
        self.rho = rho_of(self.epsilon, self.delta / 2)
        self.threshold_delta = self.delta / 2

    def share(self, fraction: float) -> float:
        """rho of a fraction of the whole budget."""
        return self.rho * fraction

    def _spend(self, part: str, rho: float) -> None:
        self.spent[part] = self.spent.get(part, 0.0) + rho

    def gaussian(self, values: np.ndarray, sensitivity: float, rho: float, part: str
                 ) -> np.ndarray:
        """`values` plus Gaussian noise for rho-zCDP at L2 `sensitivity`."""
        self._spend(part, rho)
        return np.asarray(values, np.float64) + self.rng.normal(
            0.0, self.sigma(sensitivity, rho), size=np.shape(values))

    @staticmethod
    def sigma(sensitivity: float, rho: float) -> float:
        """Noise scale of the Gaussian mechanism for rho-zCDP."""
        return sensitivity / math.sqrt(2 * rho)

    def exponential(self, scores: np.ndarray, sensitivity: float, rho: float, part: str) -> int:
        """Index drawn with probability ~ exp(epsilon0 * score / (2 sensitivity)), where
        epsilon0 = sqrt(8 rho) (the exponential mechanism, rho-zCDP)."""
        self._spend(part, rho)
        eps0 = math.sqrt(8 * rho)
        logits = eps0 * np.asarray(scores, np.float64) / (2 * sensitivity)
        # the Gumbel-max trick: argmax of logits + Gumbel noise is the exponential mechanism
        return int(np.argmax(logits + self.rng.gumbel(size=logits.size)))

    def threshold(self, sigma: float, parts: int) -> float:
        """Count a category must clear to be released: a category held by one row passes
        with probability at most threshold_delta / parts."""
        return 1.0 + sigma * float(ndtri(1 - self.threshold_delta / max(parts, 1)))

    def record(self, mechanism: str, declared: list[str], estimated: list[str]
               ) -> dict[str, Any]:
        """What the model file and every sample's provenance carry about this fit."""
        total = sum(self.spent.values())
        split = self.spent
        return {
            "epsilon": self.epsilon,
            "epsilon_spent": round(epsilon_of(total, self.delta / 2), 6) if total else 0.0,
            "delta": self.delta,
            "rho": self.rho,
            "accountant": "zCDP (Bun & Steinke 2016), replace-one neighbours; "
                          "delta/2 for the conversion, delta/2 for category thresholds",
            "mechanism": mechanism,
            "budget_split": {k: round(v / self.rho, 4) for k, v in split.items()},
            "declared": declared,
            "estimated": estimated,
        }
