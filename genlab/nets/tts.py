"""A small duration-based text-to-mel network (the FastSpeech layout, Ren et al. 2019, at a
few hundred thousand weights): characters -> embeddings -> convolutional + BiGRU encoder ->
one log-duration per character and, after the length regulator repeats each character's
state for its frames, a convolutional decoder -> log-mel frames.

Non-autoregressive and without attention: training is one parallel pass per batch, which is
what a CPU affords, and the output length is fixed by the predicted durations, so the model
cannot skip or repeat words the way an attention decoder can early in training.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["TextToMel", "regulate_length"]


def regulate_length(states: torch.Tensor, durations: torch.Tensor,
                    max_frames: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat each character's state for its number of frames: states (B, L, D), integer
    durations (B, L) -> (frames (B, T, D + 1), mask (B, T)); the extra channel is the
    frame's position inside its character, 0 at its start to 1 at its end, so the decoder
    can shape a sound over its duration. T is the longest total (or `max_frames`)."""
    b, length, d = states.shape
    dur = durations.clamp(min=0).long()
    totals = dur.sum(1)
    t = int(max_frames) if max_frames is not None else max(1, int(totals.max().item()))
    ends = dur.cumsum(1)  # (B, L)
    frame = torch.arange(t, device=states.device)
    # index of the character each frame belongs to: how many ends lie at or before it
    index = (frame[None, :, None] >= ends[:, None, :]).sum(-1).clamp(max=length - 1)
    mask = frame[None, :] < totals[:, None]
    gathered = states.gather(1, index[..., None].expand(b, t, d))
    starts = ends - dur
    start = starts.gather(1, index).float()
    span = dur.gather(1, index).clamp(min=1).float()
    rel = ((frame[None, :].float() - start + 0.5) / span).clamp(0.0, 1.0)
    out = torch.cat([gathered, rel[..., None]], -1) * mask[..., None]
    return out, mask


class _ConvBlock(nn.Module):
    def __init__(self, channels: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, padding=kernel // 2)
        self.norm = nn.LayerNorm(channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, T, C) -> the same shape, residual; padded frames stay zero."""
        y = torch.relu(self.conv((x * mask[..., None]).transpose(1, 2))).transpose(1, 2)
        return (x + self.drop(self.norm(y))) * mask[..., None]


class TextToMel(nn.Module):
    """Character ids (B, L), 0 = padding -> log-durations (B, L) and log-mel (B, T, n_mels)."""

    def __init__(self, vocab: int, n_mels: int, *, hidden: int = 128, layers: int = 3,
                 kernel: int = 5, dropout: float = 0.1) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden, padding_idx=0)
        self.encoder = nn.ModuleList(_ConvBlock(hidden, kernel, dropout) for _ in range(layers))
        self.rnn = nn.GRU(hidden, hidden // 2, batch_first=True, bidirectional=True)
        self.duration = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.expand = nn.Linear(hidden + 1, hidden)
        self.decoder = nn.ModuleList(_ConvBlock(hidden, kernel, dropout) for _ in range(layers))
        self.out = nn.Linear(hidden, n_mels)

    def encode(self, chars: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Character states (B, L, hidden) and predicted log(1 + frames) per character."""
        mask = chars > 0
        h = self.embed(chars)
        for block in self.encoder:
            h = block(h, mask)
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(h, lengths, batch_first=True,
                                                   enforce_sorted=False)
        h, _ = self.rnn(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=chars.shape[1])
        h = h * mask[..., None]
        return h, self.duration(h).squeeze(-1) * mask

    def decode(self, states: torch.Tensor, durations: torch.Tensor,
               max_frames: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-mel frames (B, T, n_mels) and their mask from states and integer durations."""
        frames, mask = regulate_length(states, durations, max_frames)
        h = self.expand(frames) * mask[..., None]
        for block in self.decoder:
            h = block(h, mask)
        return self.out(h), mask

    def forward(self, chars: torch.Tensor, durations: torch.Tensor,
                max_frames: int | None = None) -> tuple[torch.Tensor, torch.Tensor,
                                                        torch.Tensor]:
        """Teacher-forced pass: (log-mel, mask, predicted log-durations)."""
        states, log_dur = self.encode(chars)
        mel, mask = self.decode(states, durations, max_frames)
        return mel, mask, log_dur
