"""Dequantisation widths of new rows under marginals fitted to other rows: what the
autoregressive and flow families need to make training tensors of a streamed fit's fresh
buffer with the Gaussianising layer of the first."""

from __future__ import annotations

from typing import Any

import numpy as np

from genlab.models.table._marginal import PiecewiseMarginal, column_resolution

__all__ = ["half_widths"]


def half_widths(marginals: list[PiecewiseMarginal], x: np.ndarray, schema: Any) -> np.ndarray:
    """Each observed value's dequantisation half-width (0 for a missing cell), as
    `fit_adaptive` gives for the values it fitted: the value's atom in an empirical
    marginal (a value it never saw takes the next larger one's), half the column's
    resolution in a smooth one."""
    half = np.zeros(x.shape)
    for j, (marginal, spec) in enumerate(zip(marginals, schema.numeric, strict=True)):
        ok = ~np.isnan(x[:, j])
        half[ok, j] = (column_resolution(spec) / 2 if marginal._v is None
                       else marginal.half_widths(x[ok, j]))
    return half
