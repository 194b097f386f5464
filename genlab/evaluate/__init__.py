"""Evaluation suite: fidelity, utility, privacy and bias of a synthetic table, with a report.

`evaluate(train=..., test=..., synthetic=..., target=..., sensitive=[...])` returns an
`EvaluationResult` whose `.scores` is a JSON-ready dict and whose `.to_html(path)` writes a
self-contained HTML report. `rebalanced_sample` is the fix offered for group imbalance.
"""

from genlab.evaluate.bias import rebalanced_sample
from genlab.evaluate.suite import EvaluationResult, evaluate

__all__ = ["EvaluationResult", "evaluate", "rebalanced_sample"]
