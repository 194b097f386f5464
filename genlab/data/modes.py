"""Mode-specific normalisation: the neural families' view of a table (as in CTGAN/TVAE).

Each numeric column gets a variational (Dirichlet-process) Gaussian mixture; a value x is
represented by the mode k it falls in (one-hot) and alpha = (x - mu_k) / (4 sigma_k), so
multi-modal and spiky columns become easy targets for a network. Categorical columns are
one-hot. The representation is a float32 matrix made of blocks, in codec order:

    numeric j:      [alpha_j, onehot(mode_j) (K_j)]
    categorical j:  [onehot(code_j) (M_j)]

`log_density_numeric` turns a decoder's per-mode Gaussian over alpha back into an exact
density of x in the user's units: p(x) = sum_k pi_k N(alpha_k(x); a, s) / (4 sigma_k).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture

from genlab.data.tabular import Encoded

__all__ = ["Block", "ModeNormalizer"]

_FIT_ROWS = 20_000
_MIN_WEIGHT = 0.005


@dataclass(frozen=True)
class Block:
    """One column's slice of the representation."""

    kind: str  # "num" or "cat"
    index: int  # position in enc.x (num) or enc.c (cat)
    start: int
    width: int  # 1 + K for num, M for cat

    @property
    def n_classes(self) -> int:
        """Modes (num) or codes (cat): the width of the softmax part."""
        return self.width - 1 if self.kind == "num" else self.width


class ModeNormalizer:
    """Fit per-column mode mixtures; map `Encoded` tables to and from the block matrix."""

    def __init__(
        self, means: list[np.ndarray], stds: list[np.ndarray], n_codes: list[int]
    ) -> None:
        self.means = [np.asarray(m, np.float64) for m in means]
        self.stds = [np.asarray(s, np.float64) for s in stds]
        self.n_codes = list(n_codes)
        blocks, start = [], 0
        for j, m in enumerate(self.means):
            blocks.append(Block("num", j, start, 1 + m.size))
            start += 1 + m.size
        for j, m in enumerate(self.n_codes):
            blocks.append(Block("cat", j, start, m))
            start += m
        self.blocks = blocks
        self.width = start

    @classmethod
    def fit(cls, enc: Encoded, n_codes: list[int], rng: np.random.Generator,
            max_modes: int = 10) -> ModeNormalizer:
        """Fit a variational Gaussian mixture to every numeric column."""
        means, stds = [], []
        for j in range(enc.x.shape[1]):
            col = enc.x[:, j]
            v = col[~np.isnan(col)]
            if v.size > _FIT_ROWS:
                v = rng.choice(v, _FIT_ROWS, replace=False)
            k = int(min(max_modes, max(1, np.unique(v).size)))
            vgm = BayesianGaussianMixture(
                n_components=k, weight_concentration_prior_type="dirichlet_process",
                weight_concentration_prior=1e-3, max_iter=100, n_init=1,
                random_state=int(rng.integers(2**31)),
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                vgm.fit(v.reshape(-1, 1))
            keep = vgm.weights_ > _MIN_WEIGHT
            spread = max(float(np.std(v)), 1e-9)
            means.append(vgm.means_[keep, 0])
            # a floor on sigma keeps alpha bounded on spikes (a mode that is one repeated value)
            stds.append(np.maximum(np.sqrt(vgm.covariances_[keep, 0, 0]), 1e-3 * spread))
        return cls(means, stds, n_codes)

    def to_dict(self) -> dict[str, Any]:
        """JSON metadata to rebuild the normaliser."""
        return {"means": [m.tolist() for m in self.means], "stds": [s.tolist() for s in self.stds],
                "n_codes": self.n_codes}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModeNormalizer:
        """Inverse of `to_dict`."""
        return cls([np.asarray(m) for m in d["means"]], [np.asarray(s) for s in d["stds"]],
                   list(d["n_codes"]))

    def _responsibilities(self, j: int, x: np.ndarray) -> np.ndarray:
        """Posterior of each mode for values x of numeric column j, ignoring mode weights
        so that every value goes to the mode that explains it best (as CTGAN does)."""
        z = (x[:, None] - self.means[j][None]) / self.stds[j][None]
        logp = -0.5 * z**2 - np.log(self.stds[j])[None]
        logp -= logp.max(axis=1, keepdims=True)
        p = np.exp(logp)
        return p / p.sum(axis=1, keepdims=True)

    def transform(self, enc: Encoded, rng: np.random.Generator) -> np.ndarray:
        """Block matrix (n, width) float32; missing numeric values are imputed by a random
        observed value (the base class models missingness separately)."""
        n = enc.n
        out = np.zeros((n, self.width), dtype=np.float32)
        for b in self.blocks:
            if b.kind == "num":
                col = enc.x[:, b.index].copy()
                isna = np.isnan(col)
                if isna.any():
                    col[isna] = rng.choice(col[~isna], int(isna.sum()))
                resp = self._responsibilities(b.index, col)
                u = rng.random(n)[:, None]
                mode = np.minimum((u > np.cumsum(resp, axis=1)).sum(axis=1), resp.shape[1] - 1)
                alpha = (col - self.means[b.index][mode]) / (4 * self.stds[b.index][mode])
                out[:, b.start] = np.clip(alpha, -0.99, 0.99)
                out[np.arange(n), b.start + 1 + mode] = 1.0
            else:
                out[np.arange(n), b.start + enc.c[:, b.index]] = 1.0
        return out

    def numeric_alpha(self, j: int, x: torch.Tensor) -> torch.Tensor:
        """alpha_k(x) for every mode k: (n,) -> (n, K_j)."""
        mu = torch.as_tensor(self.means[j], dtype=x.dtype, device=x.device)
        sd = torch.as_tensor(self.stds[j], dtype=x.dtype, device=x.device)
        return (x[:, None] - mu) / (4 * sd)

    def log_jacobian(self, j: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """log |d alpha_k / dx| = -log(4 sigma_k) for each mode of numeric column j."""
        return -torch.log(4 * torch.as_tensor(self.stds[j], dtype=dtype, device=device))

    def decode_numeric(self, j: int, alpha: np.ndarray, mode: np.ndarray) -> np.ndarray:
        """Values of numeric column j from alpha and the chosen mode."""
        return alpha * 4 * self.stds[j][mode] + self.means[j][mode]
