"""The declared conditions of the table CVAE: their one-hot input, the joint frequencies
p(m) that score and draw them."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["DeclaredCombos"]


class DeclaredCombos:
    """Mixed into `VAE`: the declared columns' conditional input and joint frequencies
    (`cond_cols_`, `combos_`, `combo_counts_`, set by `VAE._setup`)."""

    meta_: dict[str, Any]
    cond_cols_: list[int]
    cond_offsets_: np.ndarray
    combos_: np.ndarray
    combo_counts_: np.ndarray
    n_combos_: float

    def _cond_array(self, combos: np.ndarray) -> np.ndarray:
        """One-hots of the declared columns' codes, (m, cond_width), float32."""
        out = np.zeros((combos.shape[0], int(self.meta_["cond_width"])), np.float32)
        for k, off in enumerate(self.cond_offsets_):
            out[np.arange(combos.shape[0]), off + combos[:, k]] = 1.0
        return out

    def _cond_vec(self, combos: np.ndarray) -> torch.Tensor:
        """`_cond_array` on the network's device."""
        return self._to_tensor(self._cond_array(combos))  # type: ignore[attr-defined]

    def _log_p_combo(self, combos: np.ndarray) -> np.ndarray:
        """log p(declared values): joint frequencies plus one pseudo-row spread evenly over
        all combinations, so a combination unseen in training keeps a finite score."""
        if not self.cond_cols_:
            return np.zeros(combos.shape[0])
        index = {tuple(r): w for r, w in zip(self.combos_.tolist(), self.combo_counts_,
                                             strict=True)}
        counts = np.array([index.get(tuple(r), 0.0) for r in combos.tolist()])
        return np.log((counts + 1.0 / self.n_combos_) / (self.combo_counts_.sum() + 1.0))

    def _draw_combos(self, declared: dict[int, int], m: int,
                     rng: np.random.Generator) -> np.ndarray:
        """Declared columns' codes from their joint frequencies given the asked values; an
        asked combination never seen in training keeps the frequencies of the other columns."""
        combos, w = self.combos_, self.combo_counts_
        pos = {j: k for k, j in enumerate(self.cond_cols_)}
        if declared:
            match = np.all([combos[:, pos[j]] == v for j, v in declared.items()], axis=0)
            if match.any():
                combos, w = combos[match], w[match]
        out = combos[rng.choice(combos.shape[0], size=m, p=w / w.sum())]
        for j, v in declared.items():
            out[:, pos[j]] = v
        return out
