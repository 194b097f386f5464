"""The latent-space API of the table VAE: posterior means of rows, the most likely row of
a latent code, and interpolation between two rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from genlab.errors import ParameterError
from genlab.models.base import Conditions

__all__ = ["LatentRows"]


class LatentRows:
    """Mixed into `VAE`: `decode`, `interpolate` on its fitted network (`encode` is
    `Model.encode`, filled by `VAE._encode`)."""

    latent_dim: int
    net_: Any
    schema_: Any
    cond_cols_: list[int]
    combos_: np.ndarray
    combo_counts_: np.ndarray

    def decode(self: Any, z: np.ndarray, *, conditions: Conditions | None = None) -> pd.DataFrame:
        """The most likely row for each latent code z (n, latent_dim): argmax modes and
        categories, alpha at its mean. Declared condition columns take `conditions`, else
        their most frequent combination."""
        self._check_fitted()
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ParameterError(f"z must have shape (n, {self.latent_dim}), got {z.shape}")
        codes = self._condition_codes(conditions)
        bad = sorted(self.schema_.categorical[j].name for j in codes if j not in self.cond_cols_)
        if bad:
            raise ParameterError(f"decode conditions must be columns declared at fit "
                                 f"{[self.schema_.categorical[j].name for j in self.cond_cols_]}"
                                 f", got {bad}")
        pos = {j: k for k, j in enumerate(self.cond_cols_)}
        match = np.all([self.combos_[:, pos[j]] == v for j, v in codes.items()], axis=0)
        weight = np.where(match, self.combo_counts_, -1.0) if match.any() else self.combo_counts_
        top = self.combos_[np.argmax(weight)].copy()
        for j, v in codes.items():
            top[pos[j]] = v
        return self._decode_table(z, np.repeat(top[None], z.shape[0], 0))

    def _decode_table(self: Any, z: np.ndarray, combos: np.ndarray) -> pd.DataFrame:
        enc, _ = self._decode(self._to_tensor(z), combos, None, {})
        df = self.schema_.decode(enc, np.random.default_rng(0))
        cons = getattr(self, "constraints_", None)  # back from the reparametrised table
        return cons.restore(df) if cons is not None else df

    def interpolate(self: Any, row_a: pd.DataFrame | pd.Series | dict[str, Any],
                    row_b: pd.DataFrame | pd.Series | dict[str, Any],
                    steps: int = 8) -> pd.DataFrame:
        """`steps` rows decoded along the straight line between the posterior means of two
        rows (both ends included); declared condition columns switch from a's to b's values
        half-way."""
        self._check_fitted()
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
            raise ParameterError(f"steps must be an integer >= 2, got {steps!r}")
        rows = [r if isinstance(r, pd.DataFrame) else pd.DataFrame([dict(r)])
                for r in (row_a, row_b)]
        if any(len(r) != 1 for r in rows):
            raise ParameterError("row_a and row_b must each be a single row")
        both = pd.concat(rows, ignore_index=True)
        za, zb = self.encode(both)
        t = np.linspace(0.0, 1.0, int(steps))[:, None]
        combos = np.maximum(self._encoded(both).c[:, self.cond_cols_], 0)
        return self._decode_table((1 - t) * za + t * zb, combos[(t[:, 0] >= 0.5).astype(int)])
