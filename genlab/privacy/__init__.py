"""Differential privacy: private fitting of table families and an empirical audit.

- `genlab.privacy.fit`: `fit(data, epsilon=..., delta=None, bounds=..., categories=...)` on
  the families that mix in `PrivateFit` (`dp_families()`: the Bayesian network, PrivBayes;
  the Gaussian copula, noisy sufficient statistics);
- `genlab.privacy.dpsgd`: DP-SGD (Opacus) for the neural table families (autoregressive,
  flow, vae, gan with a private critic) and the image vae and pixelcnn;
- `genlab.privacy.codec`: the codec's ranges and category sets, declared or released privately;
- `genlab.privacy.budget`: zCDP accounting and the Gaussian / exponential mechanisms;
- `genlab.privacy.auditing`: `audit(model, train, test)` (also `genlab.privacy.audit`),
  empirical epsilon lower bounds.

Nothing here is imported by `import genlab`; import the submodules you need.
"""

from __future__ import annotations

from typing import Any

__all__ = ["audit", "dp_families"]


def audit(model: Any, train: Any, test: Any, **options: Any) -> Any:
    """Audit a table model (`genlab.privacy.auditing.audit`: membership, distance to closest
    record, canaries), an empirical epsilon lower bound beside the claimed epsilon."""
    from genlab.privacy.auditing import audit as run

    return run(model, train, test, **options)


def dp_families() -> list[str]:
    """The table families that can fit with differential privacy."""
    from genlab.privacy.fit import dp_families as names

    return names()
