"""The WaveNet network (van den Oord et al. 2016) and its two samplers.

A stack of dilated causal convolutions (kernel 2, dilations 1, 2, 4, ... restarting every
`cycle` layers) with gated units tanh(a) * sigmoid(b), residual and skip connections, and a
softmax over the μ-law levels. Conditioning is added inside every gate: a learned vector per
class (global) and, for local conditioning, log-mel frames through a width-3 convolution and
a 1x1 projection, each frame held for its `hop` samples (upsampling by repetition: sample t
sees frame t // hop). Optionally (`positions` > 0) the class vector also varies with time:
one learned vector per class and position step of `position_hop` samples since the clip's
start (the last step held), so a class-conditional model knows where in the word it is,
which a receptive field of a tenth of a second cannot tell it.

Sampling has two paths that compute the same numbers: `sample_naive` reruns the stack over
the last receptive field for every new sample, `sample_cached` keeps, per layer, a queue of
the layer's last `dilation` inputs (Paine et al. 2016, "Fast Wavenet Generation"), so each
sample costs one matrix product per layer. Both run in float64 and draw one uniform per
sample from the same generator, so the same seed gives identical samples.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["WaveNetNet"]


class WaveNetNet(nn.Module):
    """Dilated causal convolution stack over μ-law tokens (module docstring)."""

    def __init__(self, levels: int, channels: int, skip_channels: int, layers: int,
                 cycle: int, n_classes: int = 0, n_mels: int = 0,
                 cond_channels: int = 64, positions: int = 0) -> None:
        super().__init__()
        self.levels, self.channels, self.n_layers = levels, channels, layers
        self.dilations = [2 ** (i % cycle) for i in range(layers)]
        self.embed = nn.Embedding(levels, channels)
        self.conv = nn.ModuleList(nn.Conv1d(channels, 2 * channels, 2, dilation=d)
                                  for d in self.dilations)
        # the last layer feeds only the skip sum: it has no residual output to train
        self.res = nn.ModuleList(nn.Conv1d(channels, channels, 1) for _ in range(layers - 1))
        self.skip = nn.ModuleList(nn.Conv1d(channels, skip_channels, 1) for _ in range(layers))
        self.out1 = nn.Conv1d(skip_channels, skip_channels, 1)
        self.out2 = nn.Conv1d(skip_channels, levels, 1)
        width = layers * 2 * channels
        self.global_cond = nn.Embedding(n_classes, width) if n_classes else None
        self.positions = positions
        # per (class, position step) gate bias; the class is 0 for an unconditional model
        self.position_cond = (nn.Embedding(max(n_classes, 1) * positions, width)
                              if positions else None)
        self.mel_in = nn.Conv1d(n_mels, cond_channels, 3) if n_mels else None
        self.mel_out = nn.Conv1d(cond_channels, width, 1) if n_mels else None

    @property
    def receptive_field(self) -> int:
        """Inputs one output depends on: 1 + the sum of the dilations."""
        return 1 + sum(self.dilations)

    # -- conditioning ---------------------------------------------------------------------
    def frame_conditioning(self, y: torch.Tensor | None, mel: torch.Tensor | None
                           ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(per-clip gate bias B x W x 1, or B x W x P with position steps; per-frame gate
        bias B x W x F): `y` class codes, `mel` normalised log-mel B x (F + 2) x n_mels (one
        context frame each side)."""
        g = None if self.global_cond is None or y is None else self.global_cond(y)[:, :, None]
        if self.position_cond is not None:
            if y is None:
                raise ValueError("position conditioning needs class codes (0 if unconditional)")
            steps = torch.arange(self.positions, device=y.device)
            p = self.position_cond(y[:, None] * self.positions + steps).transpose(1, 2)
            g = p if g is None else g + p
        f = None
        if self.mel_in is not None and self.mel_out is not None and mel is not None:
            f = self.mel_out(torch.tanh(self.mel_in(mel.transpose(1, 2))))
        return g, f

    @staticmethod
    def cond_at(g: torch.Tensor | None, f: torch.Tensor | None, positions: torch.Tensor,
                hop: int, position_hop: int = 0, shift: torch.Tensor | None = None
                ) -> torch.Tensor | None:
        """The gate bias at sample `positions` (frame = position // hop), B x W x T; when
        `g` has one column per position step, step (position + shift) // position_hop with
        `shift` (B,) each row's first sample in its clip (the last step held)."""
        if g is not None and g.shape[2] > 1:
            at = positions[None, :] + (0 if shift is None else shift[:, None])
            steps = torch.clamp(at // position_hop, max=g.shape[2] - 1)
            steps = steps.expand(g.shape[0], -1)[:, None, :].expand(-1, g.shape[1], -1)
            g = g.gather(2, steps)
        if f is None:
            return g
        frames = torch.clamp(positions // hop, max=f.shape[2] - 1)
        local = f.index_select(2, frames)
        return local if g is None else local + g

    # -- the stack ------------------------------------------------------------------------
    def forward(self, inputs: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Logits B x levels x T of token t + 1 given the input tokens B x T up to t (the
        layers' inputs before the first one are zeros)."""
        h = self.embed(inputs).transpose(1, 2)
        c2 = 2 * self.channels
        skips = None
        for i, d in enumerate(self.dilations):
            z = self.conv[i](F.pad(h, (d, 0)))
            if cond is not None:
                z = z + cond[:, i * c2:(i + 1) * c2]
            a, b = z.chunk(2, dim=1)
            gated = torch.tanh(a) * torch.sigmoid(b)
            s = self.skip[i](gated)
            skips = s if skips is None else skips + s
            if i < self.n_layers - 1:
                h = h + self.res[i](gated)
        assert skips is not None
        return self.out2(F.relu(self.out1(F.relu(skips))))

    # -- sampling ---------------------------------------------------------------------------
    def _draw(self, logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One token per row from softmax(logits) by inverse CDF of one uniform each."""
        cdf = torch.cumsum(torch.softmax(logits.double(), dim=-1), dim=-1)
        u = torch.rand((logits.shape[0], 1), generator=generator, dtype=torch.float64,
                       device=logits.device)
        return torch.searchsorted(cdf, u * cdf[:, -1:]).clamp_(max=self.levels - 1)[:, 0]

    def sample_naive(self, n: int, length: int, first: int, cond_fn: Callable[
            [torch.Tensor], torch.Tensor | None], generator: torch.Generator,
            advance: Callable[[int], None] | None = None) -> torch.Tensor:
        """`length` tokens per row, rerunning the stack over the last receptive field for
        each one; `cond_fn(positions)` gives the gate bias there."""
        device = self.embed.weight.device
        tokens = torch.full((n, length + 1), first, dtype=torch.long, device=device)
        r = self.receptive_field
        for t in range(length):
            lo = max(0, t + 1 - r)
            pos = torch.arange(lo, t + 1, device=device)
            logits = self(tokens[:, lo:t + 1], cond_fn(pos))[:, :, -1]
            tokens[:, t + 1] = self._draw(logits, generator)
            if advance is not None:
                advance(t)
        return tokens[:, 1:]

    def sample_cached(self, n: int, length: int, first: int, cond_fn: Callable[
            [torch.Tensor], torch.Tensor | None], generator: torch.Generator,
            advance: Callable[[int], None] | None = None) -> torch.Tensor:
        """`length` tokens per row with a queue of past inputs per layer (Fast Wavenet):
        layer i's convolution at t needs only its input at t and at t - dilation."""
        device = self.embed.weight.device
        c2, last = 2 * self.channels, self.n_layers - 1
        # kernel tap 0 multiplies the input `dilation` steps back, tap 1 the current one
        weights = [torch.cat([c.weight[:, :, 0], c.weight[:, :, 1]], dim=1) for c in self.conv]
        # one product gives a layer's skip and residual outputs
        outs = [torch.cat([self.skip[i].weight[:, :, 0]] + (
            [self.res[i].weight[:, :, 0]] if i < last else []), dim=0) for i in range(last + 1)]
        out_bias = [torch.cat([self.skip[i].bias] + ([self.res[i].bias] if i < last else []))
                    for i in range(last + 1)]
        width = self.skip[0].weight.shape[0]
        zero = torch.zeros((n, self.channels), dtype=self.embed.weight.dtype, device=device)
        # per layer the inputs of the last `dilation` steps; slots are replaced, not written
        # into, so a slot read before its replacement needs no copy
        queues = [[zero] * d for d in self.dilations]
        positions = torch.arange(length, device=device)
        out = torch.empty((n, length), dtype=torch.long, device=device)
        token = torch.full((n,), first, dtype=torch.long, device=device)
        for t in range(length):
            cond = cond_fn(positions[t:t + 1])
            h = self.embed(token)
            skips = None
            for i, d in enumerate(self.dilations):
                old, queues[i][t % d] = queues[i][t % d], h
                z = F.linear(torch.cat([old, h], dim=1), weights[i], self.conv[i].bias)
                if cond is not None:
                    z = z + cond[:, i * c2:(i + 1) * c2, 0]
                a, b = z.chunk(2, dim=1)
                both = F.linear(torch.tanh(a) * torch.sigmoid(b), outs[i], out_bias[i])
                skips = both[:, :width] if skips is None else skips + both[:, :width]
                if i < last:
                    h = h + both[:, width:]
            assert skips is not None
            hidden = F.relu(F.linear(F.relu(skips), self.out1.weight[:, :, 0], self.out1.bias))
            logits = F.linear(hidden, self.out2.weight[:, :, 0], self.out2.bias)
            token = self._draw(logits, generator)
            out[:, t] = token
            if advance is not None:
                advance(t)
        return out
