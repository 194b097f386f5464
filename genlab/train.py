"""One training loop for every neural family: mini-batches, validation, early stopping.

`fit_loop(module, loss_fn, data, config)` trains `module` to minimise the mean of
`loss_fn(batch)` (a per-row loss) and returns the history, one dict per epoch. A family
whose update is not "one loss, one optimiser" (a GAN) passes its own `train_step` and
keeps the rest: batching, validation, time budget, progress and the history.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from genlab._progress import task
from genlab.config import TrainConfig
from genlab.errors import ParameterError

__all__ = [
    "ConvergenceWarning",
    "EarlyStopping",
    "TrainConfig",
    "TrainResult",
    "fit_loop",
    "resolve_device",
]

EPOCH, TRAIN_LOSS, VAL_LOSS, SECONDS = "epoch", "train_loss", "val_loss", "seconds"
Batch = tuple[torch.Tensor, ...]


class ConvergenceWarning(UserWarning):
    """Training used its whole epoch budget while the validation loss was still improving."""


def resolve_device(device: str) -> torch.device:
    """"auto" means CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ParameterError("device='cuda' was asked for but no CUDA GPU is available; use 'auto'")
    return torch.device(device)


def learning_rate(step: int, config: TrainConfig) -> float:
    """Learning rate as a pure function of the step: linear warm-up, then constant."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    return config.lr


@dataclass
class TrainResult:
    """What `fit_loop` returns: per-epoch records, why it stopped, the restored epoch."""

    history: list[dict[str, float]]
    stopped_by: Literal["epochs", "early stopping", "time budget"]
    best_epoch: int
    steps: int


class EarlyStopping:
    """Tracks the best validation loss and weights; `update` records, `should_stop` reads."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best = math.inf
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.epoch = 0

    def update(self, loss: float, module: nn.Module) -> None:
        """Record the loss of one more epoch; keep a copy of the weights if it is the best."""
        self.epoch += 1
        if loss < self.best - 1e-6 * abs(self.best if math.isfinite(self.best) else 0):
            self.best, self.best_epoch = loss, self.epoch
            self.best_state = copy.deepcopy(module.state_dict())

    @property
    def should_stop(self) -> bool:
        """True once `patience` epochs passed without improvement."""
        return self.epoch - self.best_epoch >= self.patience


def _split(
    n: int, fraction: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    perm = torch.randperm(n, generator=generator)
    n_val = int(round(n * fraction)) if fraction > 0 and n >= 20 else 0
    return perm[n_val:], perm[:n_val]


def _mean_loss(loss_fn: Callable[[Batch], torch.Tensor], data: Batch, idx: torch.Tensor,
               batch_size: int) -> float:
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, idx.numel(), batch_size):
            rows = idx[start:start + batch_size]
            loss = loss_fn(tuple(t[rows] for t in data))
            total += float(loss.sum())
            count += rows.numel()
    return total / max(count, 1)


class _Update:
    """The default `train_step`: one loss, one AdamW/Adam optimiser, warm-up, clipping."""

    def __init__(self, module: nn.Module, loss_fn: Callable[[Batch], torch.Tensor],
                 config: TrainConfig) -> None:
        self.params = [p for p in module.parameters() if p.requires_grad]
        opt_cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = opt_cls(self.params, lr=config.lr, weight_decay=config.weight_decay)
        self.loss_fn, self.config = loss_fn, config

    def __call__(self, batch: Batch, step: int) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(step, self.config)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(batch).mean()
        loss.backward()
        if self.config.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
        self.optimizer.step()
        return float(loss.detach())


def _run_epoch(update: Callable[[Batch, int], float], tensors: Batch, order: torch.Tensor,
               batch_size: int, step: int, deadline: float | None) -> tuple[float, int]:
    """One pass over `order` in batches; returns (mean train loss, steps taken so far)."""
    total, count = 0.0, 0
    for begin in range(0, order.numel(), batch_size):
        if deadline is not None and count and time.perf_counter() > deadline:
            break  # one epoch of a large model can outlast the whole budget
        rows = order[begin:begin + batch_size]
        if rows.numel() < 2 and order.numel() >= 2:
            continue  # a one-row batch breaks batch statistics and adds only noise
        total += update(tuple(t[rows] for t in tensors), step) * rows.numel()
        count += rows.numel()
        step += 1
    return total / max(count, 1), step


def fit_loop(
    module: nn.Module,
    loss_fn: Callable[[Batch], torch.Tensor],
    data: Sequence[torch.Tensor],
    config: TrainConfig,
    *,
    seed: int,
    description: str = "training",
    train_step: Callable[[Batch, int], float] | None = None,
) -> TrainResult:
    """Train `module` on row-aligned tensors `data`; return the per-epoch history.

    `loss_fn(batch)` returns one loss per row. With `train_step(batch, step) -> mean loss`
    the caller owns the update (e.g. a GAN's two optimisers); `loss_fn` is then only used
    for validation, and early stopping is off if `config.val_fraction` is 0.
    """
    tensors = tuple(data)
    generator = torch.Generator().manual_seed(seed)
    train_idx, val_idx = _split(int(tensors[0].shape[0]), config.val_fraction, generator)
    update = train_step or _Update(module, loss_fn, config)
    stopper = EarlyStopping(config.patience)
    history: list[dict[str, float]] = []
    start_time = time.perf_counter()
    deadline = None if config.max_minutes is None else start_time + 60 * config.max_minutes
    step = 0
    reason: Literal["epochs", "early stopping", "time budget"] = "epochs"
    with task(description, config.epochs) as advance:
        for epoch in range(1, config.epochs + 1):
            module.train()
            order = train_idx[torch.randperm(train_idx.numel(), generator=generator)]
            mean, step = _run_epoch(update, tensors, order, config.batch_size, step, deadline)
            record = {EPOCH: float(epoch), TRAIN_LOSS: mean}
            if val_idx.numel():
                module.eval()
                record[VAL_LOSS] = _mean_loss(loss_fn, tensors, val_idx, config.batch_size)
                stopper.update(record[VAL_LOSS], module)
            record[SECONDS] = time.perf_counter() - start_time
            history.append(record)
            advance(1, loss=record[TRAIN_LOSS], **({"val": record[VAL_LOSS]}
                                                   if VAL_LOSS in record else {}))
            if not math.isfinite(record[TRAIN_LOSS]):
                raise ParameterError(
                    f"training diverged (loss {record[TRAIN_LOSS]}) at epoch {epoch}; "
                    "lower lr or raise batch_size"
                )
            if val_idx.numel() and stopper.should_stop:
                reason = "early stopping"
                break
            if deadline is not None and time.perf_counter() > deadline:
                reason = "time budget"
                break
    if stopper.best_state is not None:
        module.load_state_dict(stopper.best_state)
    module.eval()
    if reason == "epochs" and val_idx.numel() and stopper.best_epoch >= config.epochs - 1:
        warnings.warn(
            f"{description}: validation loss still improving after {config.epochs} epochs; "
            "raise epochs (or max_minutes) for a better fit",
            ConvergenceWarning,
            stacklevel=2,
        )
    return TrainResult(history=history, stopped_by=reason, best_epoch=stopper.best_epoch,
                       steps=step)
