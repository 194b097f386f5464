"""The GAN family's networks and training sampler (the CTGAN architecture, Xu et al. 2019).

- `Layout`: where each part of the mode-normalised row lives (tanh alphas, softmax spans) and
  where each categorical value sits in the conditional vector.
- `Generator`: residual MLP from (noise, conditional vector) to raw outputs.
- `Discriminator`: PacGAN critic over packs of `pac` rows (Lin et al. 2018), with the WGAN-GP
  gradient penalty (Gulrajani et al. 2017).
- `CondSampler`: training-by-sampling (a column uniformly, a value by log-frequency, a real
  row holding that value), vectorised so a step costs a few array lookups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genlab.data.modes import ModeNormalizer

__all__ = ["CondSampler", "Discriminator", "Generator", "Layout", "gumbel"]

_TAU = 0.2  # gumbel-softmax temperature during training, as in CTGAN


@dataclass(frozen=True)
class Layout:
    """Positions in the block matrix of `ModeNormalizer` and in the conditional vector."""

    segments: list[tuple[int, int, bool]]  # (start, width, is_softmax), in column order
    cat_spans: list[tuple[int, int]]  # (start, width) of each categorical column's one-hot
    cond_offsets: list[int]  # start of each categorical column in the conditional vector
    width: int
    cond_width: int

    @classmethod
    def of(cls, normalizer: ModeNormalizer) -> Layout:
        """The layout of a fitted normaliser's blocks."""
        segments, cat_spans, offsets, cond = [], [], [], 0
        for b in normalizer.blocks:
            if b.kind == "num":
                segments += [(b.start, 1, False), (b.start + 1, b.width - 1, True)]
            else:
                segments.append((b.start, b.width, True))
                cat_spans.append((b.start, b.width))
                offsets.append(cond)
                cond += b.width
        return cls(segments, cat_spans, offsets, normalizer.width, cond)

    def activate(self, raw: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Training-time outputs: tanh alphas, gumbel-softmax (tau 0.2) one-hots, so the
        critic sees near-discrete rows through which gradients still flow."""
        soft = (raw + gumbel(raw.shape, generator, raw.device)) / _TAU
        return torch.cat([F.softmax(soft[:, s:s + w], dim=1) if is_softmax
                          else torch.tanh(raw[:, s:s + w]) for s, w, is_softmax in self.segments],
                         dim=1)

    def cond_loss(self, raw: torch.Tensor, col: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the generator's logits for each row's conditioned column
        against the value it was asked for (CTGAN's penalty that makes the condition bind)."""
        total = raw.new_zeros(())
        for j, (start, width) in enumerate(self.cat_spans):
            rows = col == j
            if rows.any():
                total = total + F.cross_entropy(raw[rows, start:start + width], code[rows],
                                                reduction="sum")
        return total / raw.shape[0]


def gumbel(shape: torch.Size | tuple[int, ...], generator: torch.Generator,
           device: torch.device) -> torch.Tensor:
    """Standard Gumbel noise from a local generator (never the global torch state)."""
    u = torch.rand(shape, generator=generator, device=device)
    return -torch.log(-torch.log(u.clamp(1e-10, 1.0 - 1e-7)))


class _Residual(nn.Module):
    """Linear -> BatchNorm -> ReLU, whose output is concatenated with its input (CTGAN)."""

    def __init__(self, i: int, o: int) -> None:
        super().__init__()
        self.fc = nn.Linear(i, o)
        self.bn = nn.BatchNorm1d(o)


def _linear(layer: nn.Linear, parts: list[torch.Tensor], cond_id: torch.Tensor | None
            ) -> torch.Tensor:
    """`layer` applied to cat(parts + [onehot(cond_id)]) without building either: the
    one-hot's product is a column lookup and each part is one matmul (sampling speed)."""
    w = layer.weight
    if cond_id is None:
        y = layer.bias.expand(parts[0].shape[0], -1)
    else:
        width = sum(p.shape[1] for p in parts)
        y = layer.bias + w[:, width:].t()[cond_id]
    start = 0
    for p in parts:
        y = torch.addmm(y, p, w[:, start:start + p.shape[1]].t())
        start += p.shape[1]
    return y


class Generator(nn.Module):
    """(noise z, conditional value) -> raw outputs (alphas and logits) of one row.

    Each residual layer reads [earlier layers' outputs, z, conditional one-hot] (CTGAN's
    concatenation); the one-hot is given as its position `cond_id` (None without
    categorical columns).
    """

    def __init__(self, embedding_dim: int, cond_width: int, hidden: tuple[int, ...],
                 width: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList()
        dim = embedding_dim + cond_width
        for h in hidden:
            self.blocks.append(_Residual(dim, h))
            dim += h
        self.out = nn.Linear(dim, width)
        self.embedding_dim = embedding_dim

    def forward(self, z: torch.Tensor, cond_id: torch.Tensor | None) -> torch.Tensor:
        parts = [z]
        for block in self.blocks:
            assert isinstance(block, _Residual)
            parts.insert(0, F.relu(block.bn(_linear(block.fc, parts, cond_id))))
        return _linear(self.out, parts, cond_id)


class Discriminator(nn.Module):
    """PacGAN critic: scores packs of `pac` (row, conditional vector) pairs, one per pack."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], pac: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        dim = in_dim * pac
        for h in hidden:
            layers += [nn.Linear(dim, h), nn.LeakyReLU(0.2), nn.Dropout(0.5)]
            dim = h
        layers.append(nn.Linear(dim, 1))
        self.seq = nn.Sequential(*layers)
        self.pac = pac
        self.pack_dim = in_dim * pac

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x.reshape(-1, self.pack_dim))

    def gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor,
                         generator: torch.Generator) -> torch.Tensor:
        """E[(||grad D(x_hat)|| - 1)^2] on random interpolates of packs (WGAN-GP)."""
        eps = torch.rand(real.shape[0] // self.pac, 1, 1, generator=generator,
                         device=real.device)
        eps = eps.expand(-1, self.pac, real.shape[1]).reshape(real.shape)
        mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self(mix).sum(), mix, create_graph=True)
        norms = grad.reshape(-1, self.pack_dim).norm(2, dim=1)
        return ((norms - 1) ** 2).mean()


class CondSampler:
    """Conditional vectors and matching real rows.

    Category g (position in the conditional vector) of column j with code v is
    `offset_j + v`. Built from per-column value `counts`; with the training codes `c` (n, J)
    it also groups rows by category, so "a real row with value v in column j" is one index
    into `rows_flat`.
    """

    def __init__(self, counts: list[np.ndarray], c: np.ndarray | None = None) -> None:
        self.counts = [np.asarray(k, np.int64) for k in counts]
        self.n_codes = [k.size for k in self.counts]
        self.offsets = np.concatenate([[0], np.cumsum(self.n_codes)]).astype(np.int64)
        self.n = int(self.counts[0].sum()) if self.counts else 0
        # log-frequency: rare values are drawn far more often than their share while
        # training, so the generator learns them too (CTGAN's training-by-sampling)
        log_p = [np.log1p(k) / np.log1p(k).sum() for k in self.counts]
        self.cum_log = self._cumulative(log_p)
        self.cum_emp = self._cumulative([k / max(self.n, 1) for k in self.counts])
        if c is not None and self.counts:
            # rows of category g are rows_flat[start[g] : start[g] + count[g]]
            self.count = np.concatenate(self.counts)
            within = [np.concatenate([[0], np.cumsum(k)[:-1]]) for k in self.counts]
            self.start = np.concatenate([w + j * c.shape[0] for j, w in enumerate(within)])
            self.rows_flat = np.concatenate([np.argsort(c[:, j], kind="stable")
                                             for j in range(c.shape[1])])

    def _cumulative(self, probs: list[np.ndarray]) -> np.ndarray:
        width = max(self.n_codes, default=1)
        out = np.ones((len(probs), width))
        for j, p in enumerate(probs):
            out[j, :p.size] = np.cumsum(p)
        return out

    @property
    def n_columns(self) -> int:
        """Categorical columns J."""
        return len(self.n_codes)

    def draw(self, m: int, rng: np.random.Generator, *, empirical: bool = False
             ) -> tuple[np.ndarray, np.ndarray]:
        """(column, code) for m conditional vectors: a column uniformly, a value by
        log-frequency (training) or by its real frequency (`empirical`, unconditional
        sampling, so the conditioned column keeps its real distribution)."""
        col = rng.integers(self.n_columns, size=m)
        cum = (self.cum_emp if empirical else self.cum_log)[col]
        u = rng.random(m)[:, None]
        code = np.minimum((u >= cum).sum(axis=1), np.asarray(self.n_codes)[col] - 1)
        return col, code

    def real_rows(self, col: np.ndarray, code: np.ndarray, rng: np.random.Generator
                  ) -> np.ndarray:
        """A uniformly drawn training row holding each requested (column, value)."""
        g = self.offsets[col] + code
        pick = np.floor(rng.random(g.size) * self.count[g]).astype(np.int64)
        return self.rows_flat[self.start[g] + pick]

    def frequency(self, j: int, code: int) -> float:
        """Share of training rows with `code` in column j."""
        return float(self.counts[j][code]) / max(self.n, 1)


def warm_start(gen: Generator, data: np.ndarray, c: np.ndarray, layout: Layout,
               offsets: np.ndarray, scale: float) -> None:
    """Start the generator's output layer at the conditional marginals.

    The last layer reads (hidden features, z, conditional vector); its weights from the
    conditional vector are set to log p(part | conditioned value) for every softmax part and
    atanh E[alpha | conditioned value] for alphas, and the other weights are scaled by
    `scale`. So training starts from "each column drawn from its distribution given the
    conditioned value" and the adversarial game spends its steps on the joint structure.
    """
    n, k = data.shape[0], layout.cond_width
    if k:
        onehot = np.zeros((n, k))
        onehot[np.arange(n)[:, None], offsets[:-1][None, :] + c] = 1.0
        mean = (onehot.T @ data) / np.maximum(onehot.sum(axis=0), 1.0)[:, None]
    else:
        mean = data.mean(axis=0, keepdims=True, dtype=np.float64)
    init = np.zeros_like(mean)
    for s, w, is_softmax in layout.segments:
        part = mean[:, s:s + w]
        init[:, s:s + w] = np.log(part + 1e-3) if is_softmax else np.arctanh(
            np.clip(part, -0.9, 0.9))
    out = gen.out
    with torch.no_grad():
        out.weight.mul_(scale)
        if k:
            out.weight[:, -k:] = torch.as_tensor(init.T, dtype=out.weight.dtype)
            out.bias.zero_()
        else:
            out.bias.copy_(torch.as_tensor(init[0], dtype=out.bias.dtype))
