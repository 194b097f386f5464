"""Training the sequence families: the padded item tensor, the learning-rate schedule over
`fit_loop`, epochs of random slots (`Slots`) and the autoregressive loss on text windows
or on items."""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genlab._machine import bf16_native
from genlab.data.sequences.codecs import BOS, EOS, PAD
from genlab.errors import DataError
from genlab.seeding import torch_generator
from genlab.train import resolve_device

__all__ = ["Slots", "cosine_lr", "fit_autoregressive", "items_tensor", "train_with_schedule",
           "use_bf16"]


def cosine_lr(step: int, frac: float, lr: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to lr/10 as training progresses (frac 0 -> 1)."""
    warm = min(1.0, (step + 1) / warmup) if warmup else 1.0
    return lr * warm * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0))))


def items_tensor(model: Any, items: list[Any], cond: np.ndarray | None, context: int | None,
                 *, stacklevel: int = 7) -> tuple[list[torch.Tensor], float]:
    """([ids (n, width) padded, standardised conditions], mean tokens per item) of the
    items that fit in `context` tokens (the others are left out with a warning, shown at
    the caller's `fit`: `stacklevel` frames up)."""
    seqs = [model.codec_.encode(x) + [EOS] for x in items]
    lengths = np.array([len(s) for s in seqs])
    keep = lengths <= context if context is not None else np.ones(len(seqs), bool)
    if not keep.any():
        raise DataError(f"every item is longer than the context of {context} tokens; "
                        "raise context")
    if not keep.all():
        warnings.warn(f"{int((~keep).sum())} items longer than the context of {context} "
                      "tokens were left out; raise context to keep them",
                      stacklevel=stacklevel)
    seqs = [s for s, k in zip(seqs, keep, strict=True) if k]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
    tensors = [ids]
    if cond is not None:
        meta = model.meta_
        c = (cond[keep] - np.array(meta["cond_mean"])) / np.array(meta["cond_std"])
        tensors.append(torch.as_tensor(c, dtype=torch.float32))
    return tensors, float(lengths[keep].mean())


def train_with_schedule(model: Any, row_loss: Any, tensors: list[torch.Tensor],
                        rng: np.random.Generator) -> None:
    """The shared loop (`fit_loop`) with the sequence families' step: AdamW, warm-up and
    cosine decay over the step budget (the epochs' steps, or `max_steps` if fewer). The
    schedule is a function of the step alone, never of the clock, so the same data and seed
    give the same weights on any machine and load (a `max_minutes` cap only cuts it short).
    `row_loss(batch, gen)` is one loss per row; `gen` is None for validation."""
    config = model.train_config()
    params = [p for p in model.net_.parameters() if p.requires_grad]
    opt_cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    optimizer = opt_cls(params, lr=config.lr, weight_decay=config.weight_decay,
                        betas=(0.9, 0.99))
    n = int(tensors[0].shape[0])
    n_train = n - (int(round(n * config.val_fraction)) if config.val_fraction and n >= 20
                   else 0)
    total = max(1, config.epochs * math.ceil(n_train / config.batch_size))
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    gen_holder: list[torch.Generator | None] = [None]

    def train_step(batch: tuple[torch.Tensor, ...], step: int) -> float:
        if gen_holder[0] is None:  # on the device training runs on, known at the first batch
            gen_holder[0] = torch_generator(rng, batch[0].device)
        frac = step / total
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, frac, config.lr, config.warmup_steps)
        optimizer.zero_grad(set_to_none=True)
        loss = row_loss(batch, gen_holder[0]).mean()
        loss.backward()
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        return float(loss.detach())

    model._train(lambda batch: row_loss(batch, None), tensors, rng, train_step=train_step)


class Slots:
    """Rows that `fit_loop` batches: the items themselves, or, with an `epoch_size`, slot
    numbers: training slots draw random training items, validation slots map to a fixed
    held-out set (so an epoch can be shorter than the data and the split stays clean)."""

    def __init__(self, tensors: list[torch.Tensor], epoch_size: int | None,
                 val_fraction: float, rng: np.random.Generator) -> None:
        n = int(tensors[0].shape[0])
        self.tensors = tensors
        if epoch_size is None or epoch_size >= n:
            self.rows, self.train, self.val = tensors, None, None
            return
        n_val = int(round(epoch_size * val_fraction)) if val_fraction and epoch_size >= 20 else 0
        perm = torch.as_tensor(rng.permutation(n))
        self.val, self.train = perm[:n_val], perm[n_val:]
        self.rows = [torch.arange(epoch_size)]

    def __call__(self, batch: tuple[torch.Tensor, ...],
                 gen: torch.Generator | None) -> tuple[torch.Tensor, ...]:
        if self.train is None or self.val is None:
            return batch
        slots = batch[0]
        if gen is not None:
            pos = torch.randint(0, self.train.numel(), slots.shape, generator=gen,
                                device=slots.device)
            idx = self.train.to(slots.device)[pos]
        else:
            idx = self.val.to(slots.device)[slots % max(1, self.val.numel())]
        if self.tensors[0].device != slots.device:  # once: keep the data where training runs
            self.tensors = [t.to(slots.device) for t in self.tensors]
        return tuple(t[idx] for t in self.tensors)


def _autocast(ids: torch.Tensor, mixed: bool, training: bool) -> Any:
    # only training steps run in bfloat16; validation and scoring stay float32
    return torch.autocast(ids.device.type, dtype=torch.bfloat16, enabled=mixed and training)


def use_bf16(model: Any) -> bool:
    """Whether training runs its matrix products in bfloat16: only when asked (`bf16=True`)
    and native on the training device (`genlab._machine.bf16_native`); elsewhere bf16 is
    emulated, ~17x slower, and a fit in the same minutes would see far fewer tokens, so it
    trains in float32 with one warning. Also sets `model.bf16_used_`."""
    model.bf16_used_ = False
    if not getattr(model, "bf16", False):
        return False
    device = resolve_device(model.train_config().device)
    if bf16_native(device.type):
        model.bf16_used_ = True
        return True
    where = ("this GPU" if device.type == "cuda" else
             "this CPU (it needs AVX512-BF16 or AMX-BF16 and AVX-512 kernels; "
             f"ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY') or 'unset'})")
    warnings.warn(f"bf16=True, but bfloat16 is not native on {where}; training in float32, "
                  "which is faster here (bf16=False silences this)", stacklevel=4)
    return False


def fit_autoregressive(model: Any, items: list[Any], cond: np.ndarray | None,
                       rng: np.random.Generator) -> None:
    """Train an autoregressive net: random windows of a text stream, or padded items."""
    # the compiled module shares parameters with net_; only training runs through it
    net = torch.compile(model.net_) if getattr(model, "compile", False) else model.net_
    mixed = use_bf16(model)
    if model.codec_.stream:
        _fit_stream(model, net, mixed, items, rng)
    else:
        _fit_items(model, net, mixed, items, cond, rng)


def _fit_stream(model: Any, net: nn.Module, mixed: bool, items: list[Any],
                rng: np.random.Generator) -> None:
    context = int(model.context)
    stream = torch.tensor(model.codec_.encode("\n".join(items)), dtype=torch.long)
    if stream.numel() < context + 1:
        raise DataError(f"the text has {stream.numel()} characters, fewer than the context "
                        f"of {context}; give more text or lower context")
    last = stream.numel() - context
    n_rows = model.epoch_size or max(2, last // context)
    # rows are slots. Validation slots (fit_loop holds out round(n_rows * val_fraction)
    # of them) score fixed windows at the end of the text, which training never sees;
    # training slots draw a fresh window start, uniform over the rest, at every step,
    # so an epoch of any size samples the whole text
    n_val = (int(round(n_rows * model.val_fraction))
             if model.val_fraction and n_rows >= 20 else 0)
    n_tail = min(n_val, max(0, stream.numel() // context - 1))
    tail_begin = stream.numel() - n_tail * context
    train_last = max(0, tail_begin - context)
    val_starts = (tail_begin + torch.arange(n_tail) * context if n_tail
                  else torch.zeros(1, dtype=torch.long))
    offsets = torch.arange(context)
    holder: dict[str, torch.Tensor] = {}

    def row_loss(batch: tuple[torch.Tensor, ...], gen: torch.Generator | None) -> torch.Tensor:
        slots = batch[0]
        if "stream" not in holder or holder["stream"].device != slots.device:
            holder.update(stream=stream.to(slots.device), offsets=offsets.to(slots.device),
                          val=val_starts.to(slots.device))
        if gen is not None:
            s = torch.randint(0, train_last + 1, slots.shape, generator=gen, device=slots.device)
        else:
            s = holder["val"][slots % holder["val"].numel()]
        win = holder["stream"][s[:, None] + holder["offsets"]]  # (B, context) targets
        bos = torch.full((s.shape[0], 1), BOS, dtype=torch.long, device=s.device)
        with _autocast(win, mixed, gen is not None):
            logits = net(torch.cat([bos, win[:, :-1]], dim=1))
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), win.reshape(-1),
                              reduction="none")
        return nll.view(win.shape).mean(dim=1)

    model.meta_["stream_tokens"] = int(stream.numel())
    model.meta_["validation_tail_tokens"] = int(stream.numel() - tail_begin)
    train_with_schedule(model, row_loss, [torch.arange(n_rows)], rng)


def _fit_items(model: Any, net: nn.Module, mixed: bool, items: list[Any],
               cond: np.ndarray | None, rng: np.random.Generator) -> None:
    tensors, mean_len = items_tensor(model, items, cond, int(model.context))
    model.meta_["max_len"] = int(tensors[0].shape[1])
    pick = Slots(tensors, model.epoch_size, model.val_fraction, rng)

    def item_loss(batch: tuple[torch.Tensor, ...], gen: torch.Generator | None) -> torch.Tensor:
        batch = pick(batch, gen)
        ids = batch[0]
        c = batch[1] if len(batch) > 1 else None
        bos = torch.full((ids.shape[0], 1), BOS, dtype=torch.long, device=ids.device)
        if net is model.net_:  # trim padding shared by the batch (compiled: keep one shape)
            ids = ids[:, :int((ids != PAD).sum(dim=1).max())]
        with _autocast(ids, mixed, gen is not None):
            logits = net(torch.cat([bos, ids[:, :-1]], dim=1), c)
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), ids.reshape(-1),
                              reduction="none", ignore_index=PAD)
        # per-row sum over its tokens, scaled so the mean is in nats per token
        return nll.view(ids.shape).sum(dim=1) / mean_len

    train_with_schedule(model, item_loss, pick.rows, rng)
