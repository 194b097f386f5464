"""One training loop for every neural family: mini-batches, validation, early stopping.

`fit_loop(module, loss_fn, data, config)` trains `module` to minimise the mean of
`loss_fn(batch)` (a per-row loss) and returns the history, one dict per epoch. A family
whose update is not "one loss, one optimiser" (a GAN) passes its own `train_step` and
keeps the rest: batching, validation, the epoch and step budgets, early stopping, the
optional time cap, progress and the history.
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
    "training_summary",
]

EPOCH, TRAIN_LOSS, VAL_LOSS, SECONDS = "epoch", "train_loss", "val_loss", "seconds"
Batch = tuple[torch.Tensor, ...]


class ConvergenceWarning(UserWarning):
    """Training ended on its budget (epochs, steps) while the validation loss was still
    improving, or on the `max_minutes` time cap, which makes the result machine-dependent."""


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


StopReason = Literal["epochs", "steps", "early stopping", "time budget"]
_BUDGET_SETTING = {"epochs": "epochs", "steps": "max_steps", "time budget": "max_minutes"}


@dataclass
class TrainResult:
    """What `fit_loop` returns: per-epoch records, why it stopped, the restored epoch, the
    optimiser steps taken and whether the validation loss was still improving at the end
    (None without a validation set)."""

    history: list[dict[str, float]]
    stopped_by: StopReason
    best_epoch: int
    steps: int
    still_improving: bool | None = None

    def summary(self) -> str:
        """One line on how training went, for the command line."""
        return training_summary(self.history, self.stopped_by, self.steps,
                                still_improving=self.still_improving)


def _improving_at_end(history: Sequence[dict[str, float]]) -> bool | None:
    """Whether one of the last two epochs had the best validation loss (None: no validation)."""
    losses = [r[VAL_LOSS] for r in history if VAL_LOSS in r]
    if not losses:
        return None
    return min(losses) in losses[-2:]


def training_summary(history: Sequence[dict[str, float]], stopped_by: str | None,
                     steps: int | None = None, *, still_improving: bool | None = None) -> str:
    """One line saying how long a network trained and what stopped it, e.g. "trained 120
    epochs (3,840 steps); stopped by the time budget while still improving; results depend
    on the machine: raise max_minutes or leave it unset". Works from a loaded model's
    `history_` and `stopped_by_` too (`still_improving` is then read from the history)."""
    if still_improving is None:
        still_improving = _improving_at_end(history)
    n = len(history)
    head = f"trained {n:,} epoch{'s' * (n != 1)}"
    if steps is not None:
        head += f" ({steps:,} step{'s' * (steps != 1)})"
    if stopped_by == "early stopping":
        return f"{head}; stopped early: the validation loss had stopped improving"
    if stopped_by not in _BUDGET_SETTING:
        return head
    setting = _BUDGET_SETTING[stopped_by]
    what = {"epochs": "the epoch budget", "steps": "the step budget (max_steps)",
            "time budget": "the time budget (max_minutes)"}[stopped_by]
    line = f"{head}; stopped by {what}"
    if still_improving:
        line += " while still improving"
    if stopped_by == "time budget":
        return line + f"; results depend on the machine: raise {setting} or leave it unset"
    return line + (f"; raise {setting} for a better fit" if still_improving else "")


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
               batch_size: int, step: int, deadline: float | None,
               max_steps: int | None = None) -> tuple[float, int]:
    """One pass over `order` in batches, ending early at step `max_steps` or (with a time
    cap) past `deadline`; returns (mean train loss, steps taken so far)."""
    total, count = 0.0, 0
    for begin in range(0, order.numel(), batch_size):
        if max_steps is not None and step >= max_steps:
            break  # on large data the step budget ends training inside an epoch
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
    for validation, and early stopping is off if `config.val_fraction` is 0. Training ends
    after `config.epochs` epochs, `config.max_steps` steps or early stopping, whichever
    comes first, so the result depends on the data and the seed alone; `max_minutes`, off
    by default, is a safety cap whose result also depends on the machine.
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
    reason: StopReason = "epochs"
    with task(description, config.epochs) as advance:
        for epoch in range(1, config.epochs + 1):
            module.train()
            order = train_idx[torch.randperm(train_idx.numel(), generator=generator)]
            mean, step = _run_epoch(update, tensors, order, config.batch_size, step, deadline,
                                    config.max_steps)
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
            stop = _stop_reason(config, stopper, bool(val_idx.numel()), step, deadline)
            if stop is not None:
                reason = stop
                break
    if stopper.best_state is not None:
        module.load_state_dict(stopper.best_state)
    module.eval()
    result = TrainResult(history=history, stopped_by=reason, best_epoch=stopper.best_epoch,
                         steps=step, still_improving=_improving_at_end(history))
    if reason == "time budget" or (reason != "early stopping" and result.still_improving):
        warnings.warn(f"{description}: {result.summary()}", ConvergenceWarning, stacklevel=2)
    return result


def _stop_reason(config: TrainConfig, stopper: EarlyStopping, validating: bool, step: int,
                 deadline: float | None) -> StopReason | None:
    """Why training ends after this epoch, or None to go on (the epoch budget ends the
    loop itself)."""
    if validating and stopper.should_stop:
        return "early stopping"
    if config.max_steps is not None and step >= config.max_steps:
        return "steps"
    if deadline is not None and time.perf_counter() > deadline:
        return "time budget"
    return None
