"""Networks and heads of the autoregressive family: per-column conditional parameters from a
MADE-style masked MLP or a small causal transformer over columns, and the heads' exact
log-probabilities.

A network sees the columns in the model's order. `columns[q]` describes position q: the
number of codes of a categorical column, or 0 for a numeric one. Categorical inputs are
codes (n, J) in order of appearance; numeric inputs are normal scores z (n, d) and a
missingness flag (n, d). The output is one flat vector of parameters per row: position q
owns `sizes[q]` entries, its softmax logits (categorical) or, for a numeric column, K mixture
logits, K means, K raw scales and one missingness logit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

__all__ = ["ARNet", "ColumnTransformer", "MaskedMLP", "build_net"]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
_MIN_SCALE = 1e-3  # mixture scales are softplus(raw) + this, in normal-score units
State = dict[str, Any]


class ARNet(nn.Module):
    """The layout and heads shared by both networks; subclasses give `forward` (all
    positions at once) and the sampling steps `init_state` / `params_at` / `set_column`."""

    def __init__(self, columns: list[int], components: int) -> None:
        super().__init__()
        self.columns, self.k = list(columns), components
        self.cat_pos = [q for q, m in enumerate(columns) if m]
        self.num_pos = [q for q, m in enumerate(columns) if not m]
        self.sizes = [m if m else 3 * components + 1 for m in columns]
        self.starts = np.r_[0, np.cumsum(self.sizes)].astype(int).tolist()
        self.n_out = self.starts[-1]
        cat_sizes = [columns[q] for q in self.cat_pos]
        widest = max(cat_sizes, default=1)
        # gather indices: categorical logits padded to the widest column, numeric blocks
        idx = np.zeros((len(cat_sizes), widest), dtype=np.int64)
        valid = np.zeros((len(cat_sizes), widest), dtype=bool)
        for i, q in enumerate(self.cat_pos):
            idx[i, :columns[q]] = np.arange(self.starts[q], self.starts[q + 1])
            valid[i, :columns[q]] = True
        nidx = np.array([np.arange(self.starts[q], self.starts[q + 1]) for q in self.num_pos],
                        dtype=np.int64).reshape(len(self.num_pos), 3 * components + 1)
        self.register_buffer("cat_idx", torch.as_tensor(idx), persistent=False)
        self.register_buffer("cat_valid", torch.as_tensor(valid), persistent=False)
        self.register_buffer("num_idx", torch.as_tensor(nidx), persistent=False)
        self.register_buffer("cat_offsets", torch.as_tensor(
            np.r_[0, np.cumsum(cat_sizes)][:-1].astype(np.int64) if cat_sizes else
            np.zeros(0, np.int64)), persistent=False)

    def forward(self, codes: torch.Tensor, z: torch.Tensor, miss: torch.Tensor) -> torch.Tensor:
        """(n, n_out) parameters of every position given the columns before it."""
        raise NotImplementedError

    def log_prob(self, codes: torch.Tensor, z: torch.Tensor, miss: torch.Tensor,
                 has_missing: torch.Tensor) -> torch.Tensor:
        """(n,) sum over columns of log P(code) and, per numeric column, log P(missing) or
        log P(present) + log q(z); has_missing (d,) switches the indicator off for columns
        that were complete in training (they are always present)."""
        out = self(codes, z, miss)
        total = torch.zeros(codes.shape[0], dtype=out.dtype, device=out.device)
        if self.cat_pos:
            logits = out[:, self.cat_idx].masked_fill(~self.cat_valid, -torch.inf)
            lp = torch.log_softmax(logits, dim=2).gather(2, codes[:, :, None]).squeeze(2)
            total = total + lp.sum(dim=1)
        if self.num_pos:
            p = out[:, self.num_idx]  # (n, d, 3K + 1)
            k = self.k
            logw = torch.log_softmax(p[..., :k], dim=2)
            scale = F.softplus(p[..., 2 * k:3 * k]) + _MIN_SCALE
            dev = (z[..., None] - p[..., k:2 * k]) / scale
            comp = logw - 0.5 * dev**2 - torch.log(scale) - _HALF_LOG_2PI
            dens = torch.logsumexp(comp, dim=2)
            a = p[..., 3 * k]
            present = torch.where(has_missing, F.logsigmoid(-a), torch.zeros_like(a))
            cell = torch.where(miss, F.logsigmoid(a), present + dens)
            total = total + cell.sum(dim=1)
        return total

    # -- sampling, one position at a time ------------------------------------------------
    def init_state(self, n: int) -> State:
        dev = self.cat_idx.device
        return {"codes": torch.zeros(n, len(self.cat_pos), dtype=torch.long, device=dev),
                "z": torch.zeros(n, len(self.num_pos), device=dev),
                "miss": torch.zeros(n, len(self.num_pos), device=dev)}

    def params_at(self, state: State, q: int) -> torch.Tensor:
        """(n, sizes[q]) parameters of position q once positions < q are set."""
        return self(state["codes"], state["z"], state["miss"].bool())[
            :, self.starts[q]:self.starts[q + 1]]

    def set_column(self, state: State, q: int, value: torch.Tensor,
                   miss: torch.Tensor | None = None) -> None:
        """Store position q's sampled code, or normal score and missingness flag."""
        if self.columns[q]:
            state["codes"][:, self.cat_pos.index(q)] = value
        else:
            j = self.num_pos.index(q)
            state["z"][:, j] = value
            state["miss"][:, j] = miss


class MaskedMLP(ARNet):
    """MADE (Germain et al., 2015) over columns: every input of position q has degree q + 1,
    hidden units degrees 1..D-1 (sorted, so units of degree <= g are a prefix), and the
    outputs of position q see only hidden units of degree <= q. Hidden layers after the
    first are residual. Sampling computes each hidden unit once, when the last column it
    may see is set, so drawing all D columns costs about one forward pass."""

    def __init__(self, columns: list[int], components: int, hidden: int, layers: int) -> None:
        super().__init__(columns, components)
        d_pos = len(columns)
        deg = np.sort(np.arange(hidden) % max(d_pos - 1, 1) + 1)
        deg_cat = np.repeat(np.array(self.cat_pos, dtype=int) + 1,
                            [columns[q] for q in self.cat_pos])
        deg_num = np.repeat(np.array(self.num_pos, dtype=int) + 1, 2)
        deg_out = np.repeat(np.arange(d_pos), self.sizes)
        self.ends = np.searchsorted(deg, np.arange(d_pos), side="right").tolist()

        def buf(name: str, mask: np.ndarray) -> None:
            self.register_buffer(name, torch.as_tensor(mask, dtype=torch.float32),
                                 persistent=False)

        buf("mask_cat", deg[None, :] >= deg_cat[:, None])
        buf("mask_num", deg[None, :] >= deg_num[:, None])
        buf("mask_hid", deg[:, None] >= deg[None, :])
        buf("mask_out", deg[None, :] <= deg_out[:, None])
        self.w_cat = nn.Parameter(torch.randn(deg_cat.size, hidden) / math.sqrt(d_pos))
        self.w_num = nn.Parameter(torch.randn(deg_num.size, hidden) / math.sqrt(d_pos))
        self.b1 = nn.Parameter(torch.zeros(hidden))
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers - 1))
        self.out = nn.Linear(hidden, self.n_out)
        with torch.no_grad():
            self.out.weight.mul_(0.1)  # start near the initial biases (marginal fits)

    def _weights(self) -> list[torch.Tensor]:
        return ([self.w_cat * self.mask_cat, self.w_num * self.mask_num]
                + [h.weight * self.mask_hid for h in self.hidden]
                + [self.out.weight * self.mask_out])

    def _first(self, w: list[torch.Tensor], codes: torch.Tensor, z: torch.Tensor,
               miss: torch.Tensor, cols: slice) -> torch.Tensor:
        pre = self.b1[cols] + torch.stack([z, miss.to(z.dtype)], dim=2).flatten(1) @ w[1][:, cols]
        if self.cat_pos:
            pre = pre + F.embedding(codes + self.cat_offsets, w[0][:, cols]).sum(dim=1)
        return torch.relu(pre)

    def forward(self, codes: torch.Tensor, z: torch.Tensor, miss: torch.Tensor) -> torch.Tensor:
        w = self._weights()
        h = self._first(w, codes, z, miss, slice(None))
        for layer, wh in zip(self.hidden, w[2:-1], strict=True):
            h = h + torch.relu(F.linear(h, wh, layer.bias))
        return F.linear(h, w[-1], self.out.bias)

    def init_state(self, n: int) -> State:
        state = super().init_state(n)
        w = self._weights()
        # hidden activations stored transposed (H, n): a block of units is then contiguous
        state["w"] = [w[0].T.contiguous(), w[1].T.contiguous(), *w[2:]]
        state["hT"] = [torch.zeros(self.b1.numel(), n, device=self.b1.device)
                       for _ in range(len(self.hidden) + 1)]
        return state

    def params_at(self, state: State, q: int) -> torch.Tensor:
        w, h = state["w"], state["hT"]
        if q >= 1:  # the hidden units of degree q see exactly positions < q: compute them now
            block = slice(self.ends[q - 1], self.ends[q])
            feats = torch.stack([state["z"], state["miss"]], dim=2).flatten(1)
            pre = (w[1][block] @ feats.T) + self.b1[block, None]
            if self.cat_pos:
                idx = (state["codes"] + self.cat_offsets).flatten()
                pre += w[0][block][:, idx].view(-1, *state["codes"].shape).sum(dim=2)
            h[0][block] = torch.relu(pre)
            for i, layer in enumerate(self.hidden):
                pre = torch.addmm(layer.bias[block, None], w[2 + i][block, :block.stop],
                                  h[i][:block.stop])
                h[i + 1][block] = h[i][block] + torch.relu(pre)
        rows = slice(self.starts[q], self.starts[q + 1])
        end = self.ends[q]
        return torch.addmm(self.out.bias[rows, None], w[-1][rows, :end], h[-1][:end]).T


class ColumnTransformer(ARNet):
    """A small pre-norm transformer over columns (Vaswani et al., 2017) with a causal mask:
    the token of position q is the embedding of column q - 1's value (a learned start token
    for q = 0) plus a position embedding, and position q's parameters come from a per-column
    linear head on its output. Sampling re-runs the network once per column."""

    def __init__(self, columns: list[int], components: int, hidden: int, layers: int,
                 heads: int = 4) -> None:
        super().__init__(columns, components)
        d_pos, d_num = len(columns), len(self.num_pos)
        self.cat_embed = nn.Embedding(max(int(sum(columns)), 1), hidden)
        self.num_embed = nn.Parameter(torch.randn(d_num, 2, hidden) * 0.5)
        self.num_bias = nn.Parameter(torch.zeros(d_num, hidden))
        self.start = nn.Parameter(torch.zeros(1, 1, hidden))
        self.pos = nn.Parameter(torch.randn(d_pos, hidden) * 0.1)
        layer = nn.TransformerEncoderLayer(hidden, heads, 2 * hidden, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)
        widest = max(self.sizes)
        self.head_w = nn.Parameter(torch.randn(d_pos, hidden, widest) * 0.01)
        self.head_b = nn.Parameter(torch.zeros(d_pos, widest))
        flat = np.concatenate([q * widest + np.arange(s) for q, s in enumerate(self.sizes)])
        perm = np.argsort(np.r_[self.cat_pos, self.num_pos]).astype(np.int64)
        self.register_buffer("flat", torch.as_tensor(flat), persistent=False)
        self.register_buffer("perm", torch.as_tensor(perm), persistent=False)
        self.register_buffer("causal", torch.triu(torch.full((d_pos, d_pos), -torch.inf), 1),
                             persistent=False)

    def forward(self, codes: torch.Tensor, z: torch.Tensor, miss: torch.Tensor) -> torch.Tensor:
        n = codes.shape[0]
        parts = []
        if self.cat_pos:
            parts.append(self.cat_embed(codes + self.cat_offsets))
        if self.num_pos:
            feats = torch.stack([z, miss.to(z.dtype)], dim=2)  # (n, d, 2)
            parts.append(torch.einsum("ndi,dih->ndh", feats, self.num_embed) + self.num_bias)
        tokens = torch.cat(parts, dim=1)[:, self.perm]
        seq = torch.cat([self.start.expand(n, 1, -1), tokens[:, :-1]], dim=1) + self.pos
        h = self.norm(self.encoder(seq, mask=self.causal, is_causal=True))
        out = torch.einsum("nqh,qho->nqo", h, self.head_w) + self.head_b
        return out.flatten(1)[:, self.flat]

    def bias_of(self, q: int) -> torch.Tensor:
        """The output bias entries of position q (to start at the marginal fits)."""
        return self.head_b[q, :self.sizes[q]]


def build_net(kind: str, columns: list[int], components: int, hidden: int,
              layers: int) -> ARNet:
    """The network named by `kind` ("made" or "transformer")."""
    if kind == "made":
        return MaskedMLP(columns, components, hidden, layers)
    return ColumnTransformer(columns, components, hidden, layers)


def output_bias(net: ARNet, q: int) -> torch.Tensor:
    """A view of position q's output bias, for initialising the heads."""
    if isinstance(net, MaskedMLP):
        return net.out.bias[net.starts[q]:net.starts[q + 1]]
    assert isinstance(net, ColumnTransformer)
    return net.bias_of(q)
