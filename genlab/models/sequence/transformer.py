"""The autoregressive transformer family over characters, SMILES tokens or music events."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from genlab.data.sequences.codecs import BOS, PAD, UNKNOWN
from genlab.errors import ParameterError
from genlab.models.sequence.base import COMMON_CONSTRAINTS, SequenceModel
from genlab.models.sequence.data import condition_matrix
from genlab.nets.sequence import TransformerNet
from genlab.params import ParamSpec

__all__ = ["Transformer"]


class Transformer(SequenceModel):
    """Decoder-only transformer (GPT-style) over characters, SMILES tokens or music events.

    Pre-norm blocks with rotary positions and causal `scaled_dot_product_attention`;
    sampling with temperature / top-k / top-p, a prompt, a key-value cache (one new row of
    attention per token) and batches. `log_prob` is exact: the sum of the token
    log-probabilities (`token_log_prob`).

    Args:
        layers, d_model, heads, dropout: network size (d_model / heads even).
        context: most positions the model sees (BOS included); longer texts slide
            (see `genlab.nets.sequence`).
        codec: "auto" (from the input), "char", "smiles" or "music".
        max_items: train on a random subset of at most this many items (molecules, music).
        segment_bars: music is cut into items of this many bars.
        epoch_size: training windows (text) or items per epoch; default: the text length
            / context, or every item once. An epoch ends with validation and the early
            stopping check, so large data sets want an epoch_size (items are then drawn at
            random, validation uses a fixed held-out set).
        compile: train through `torch.compile` (needs a C compiler and about 20 s to
            compile; measured no faster on CPU for the small default model, it can help on
            a GPU).
        bf16: train with the matrix products in bfloat16 (`torch.autocast`): ~1.3x the
            tokens per second on a CPU with AVX512-BF16, more on a GPU. Used only where
            the hardware runs it natively (a CUDA GPU with bf16, or a CPU with AVX512-BF16
            / AMX-BF16 whose AVX-512 kernels torch uses: not under
            `ATEN_CPU_CAPABILITY=avx2` or `default`); elsewhere it is emulated, ~17x
            slower, so training runs in float32 with one warning (`bf16_used_` says which).
            Parameters, optimiser state, scoring and sampling stay float32.
        sample_length, sample_bars, temperature, top_k, top_p: sampling defaults.
        grammar: molecules: mask tokens that would break the SMILES syntax when sampling
            (branches and ring bonds closed, no dangling bond; see
            `genlab.models.sequence.grammar`); False samples the model unconstrained.
        molecule_tokens: "smiles" (SMILES tokens) or "selfies" (SELFIES tokens: every
            sampled string is a valid molecule; needs the `selfies` package). Data and
            samples are SMILES either way.
        epochs, batch_size, lr, ...: see `genlab.config.TrainConfig`; the learning rate
            decays on a cosine over the step budget (the epochs' steps, or `max_steps` if
            fewer), never over the clock.
        seed: seeds initialisation and training.

    Example:
        >>> m = Transformer(layers=1, d_model=16, heads=2, context=16, epochs=1, seed=0)
        >>> m = m.fit(["to be or not to be, that is the question"] * 20)
        >>> len(m.sample(2, prompt="to ", length=5, seed=0)[0])
        8
    """

    family: ClassVar[str] = "autoregressive"
    summary: ClassVar[str] = "Decoder-only transformer with rotary positions and a KV cache"
    when_to_use: ClassVar[str] = "Text, molecules, music: the default and strongest family"
    conditioning: ClassVar[str] = "molecule properties (ranges or values)"
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **COMMON_CONSTRAINTS,
        "layers": ("int", 1, 64),
        "d_model": ("int", 4, 8192),
        "heads": ("int", 1, 128),
        "dropout": ("float", 0.0, 0.9),
        "epoch_size": ("int?", 1, 10**9),
        "compile": ("bool",),
        "bf16": ("bool",),
    }

    train_defaults: ClassVar[dict[str, Any]] = {"weight_decay": 0.01}

    def __init__(
        self,
        *,
        layers: int = 4,
        d_model: int = 128,
        heads: int = 4,
        dropout: float = 0.0,
        compile: bool = False,
        bf16: bool = False,
        seed: int | None = None,
        **shared: Any,
    ) -> None:
        self._init_params(locals())

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.d_model % self.heads or (self.d_model // self.heads) % 2:
            raise ParameterError(f"d_model ({self.d_model}) must be a multiple of heads "
                                 f"({self.heads}) with an even size per head")

    def _build(self, meta: dict[str, Any]) -> nn.Module:
        return TransformerNet(int(meta["vocab"]), self.d_model, self.layers, self.heads,
                              int(meta["context"]), int(meta.get("n_cond", 0)), self.dropout)

    def _encode(self, data: Any) -> np.ndarray:
        """Final-layer hidden states (after the last layer norm) averaged over each item's
        positions, BOS included: (n_items, d_model). Items longer than the context are cut
        to their first `context` positions."""
        items, table = self._read_for_scoring(data)
        names = list(self.conditions_)
        cond_all = condition_matrix(items, table, names) if names else None
        width = int(self.net_.context)
        seqs = [[BOS, *self.codec_.encode(x, unknown="mark")][:width] for x in items]
        out = np.zeros((len(seqs), self.d_model))
        for begin in range(0, len(seqs), 256):
            part = seqs[begin:begin + 256]
            t = max(len(q) for q in part)
            ids = torch.full((len(part), t), PAD, dtype=torch.long)
            for r, q in enumerate(part):
                ids[r, :len(q)] = torch.tensor(q, dtype=torch.long)
            mask = (torch.arange(t)[None, :] < torch.tensor([len(q) for q in part])[:, None])
            ids = ids.masked_fill(ids == UNKNOWN, PAD).to(self.device_)
            c = (self._standardise(cond_all[begin:begin + 256]) if cond_all is not None
                 else None)
            net = self.net_
            x = net._embed(ids, c)
            for i, block in enumerate(net.blocks):
                x = block(x, net.cos[:t], net.sin[:t], None, i)
            h = net.ln(x).double().cpu() * mask[..., None]
            out[begin:begin + len(part)] = (h.sum(1) / mask.sum(1, keepdim=True)).numpy()
        return out
