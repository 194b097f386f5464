"""Evaluation suite: fidelity, utility, privacy and bias of a synthetic table, with a report.

`genlab.evaluate(train=..., test=..., synthetic=..., target=..., sensitive=[...])` returns an
`EvaluationResult` whose `.scores` is a JSON-ready dict and whose `.to_html(path)` writes a
self-contained HTML report. `genlab.evaluate.rebalanced_sample` is the fix offered for group
imbalance. The package itself is callable, so `genlab.evaluate` is both the function and
the namespace of its helpers (a function of that name would hide the subpackage).
"""

import sys
import types
from typing import Any

from genlab.evaluate.bias import rebalanced_sample
from genlab.evaluate.suite import EvaluationResult, evaluate

__all__ = ["EvaluationResult", "evaluate", "rebalanced_sample"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> EvaluationResult:
        """`genlab.evaluate(...)` is `genlab.evaluate.evaluate(...)`."""
        return evaluate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
