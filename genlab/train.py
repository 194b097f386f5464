"""One training loop for every neural family: mini-batches, validation, early stopping.

`fit_loop(module, loss_fn, data, config)` trains `module` to minimise the mean of
`loss_fn(batch)` (a per-row loss) and returns the history, one dict per epoch. A family
whose update is not "one loss, one optimiser" (a GAN) passes its own `train_step` and
keeps the rest: batching, validation, budgets, early stopping, progress and the history."""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from genlab import checkpoint, distributed
from genlab._progress import task
from genlab._train_stop import (
    EarlyStopping,
    StopReason,
    improving_at_end,
    stop_reason,
    training_summary,
)
from genlab.config import TrainConfig
from genlab.distributed import Group
from genlab.errors import ParameterError

__all__ = [
    "ConvergenceWarning",
    "EarlyStopping",
    "TrainConfig",
    "TrainResult",
    "fit_loop",
    "resolve_device",
    "training_summary",
    "validation_rows",
]

EPOCH, TRAIN_LOSS, VAL_LOSS, SECONDS = "epoch", "train_loss", "val_loss", "seconds"
Batch = tuple[torch.Tensor, ...]
Refresh = Callable[[int, torch.Tensor], Sequence[torch.Tensor]]


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


def _split(
    n: int, fraction: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    perm = torch.randperm(n, generator=generator)
    n_val = validation_rows(n, fraction)
    return perm[n_val:], perm[:n_val]


def validation_rows(n: int, fraction: float) -> int:
    """How many of `n` rows `fit_loop` holds out for validation at `val_fraction`."""
    return int(round(n * fraction)) if fraction > 0 and n >= 20 else 0


def _loss_sums(loss_fn: Callable[[Batch], torch.Tensor], data: Batch, idx: torch.Tensor,
               batch_size: int) -> list[float]:
    """[sum of per-row losses, rows] over `idx` in batches, without gradients."""
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, idx.numel(), batch_size):
            rows = idx[start:start + batch_size]
            loss = loss_fn(tuple(t[rows] for t in data))
            total += float(loss.sum())
            count += rows.numel()
    return [total, float(count)]


class _Update:
    """The default `train_step`: one loss, one AdamW/Adam optimiser, warm-up, clipping.
    Across processes (`group` active) the loss runs through DistributedDataParallel and
    each rank's sum is scaled so the averaged gradient is the global batch's mean."""

    def __init__(self, module: nn.Module, loss_fn: Callable[[Batch], torch.Tensor],
                 config: TrainConfig, group: Group | None = None) -> None:
        self.params = [p for p in module.parameters() if p.requires_grad]
        opt_cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = opt_cls(self.params, lr=config.lr, weight_decay=config.weight_decay)
        self.loss_fn, self.config = loss_fn, config
        self._group = group if group is not None and group.active else None
        self._ddp = None if self._group is None else distributed.wrap(module, loss_fn,
                                                                      self._group)
        self.global_rows = 0  # rows of the global batch, set by the loop across processes

    def __call__(self, batch: Batch, step: int) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(step, self.config)
        self.optimizer.zero_grad(set_to_none=True)
        if self._ddp is None or self._group is None:
            loss = self.loss_fn(batch).mean()
            loss.backward()
            reported = loss
        else:
            rows = self._ddp(*batch)
            # DDP averages over ranks: sum * world / global rows is the global mean
            (rows.sum() * (self._group.world / max(self.global_rows, 1))).backward()
            reported = rows.mean()
        if self.config.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
        self.optimizer.step()
        return float(reported.detach())


class _Run:
    """One `fit_loop` call: the data split, the update, the processes, checkpoints."""

    def __init__(self, module: nn.Module, loss_fn: Callable[[Batch], torch.Tensor],
                 tensors: Batch, config: TrainConfig, seed: int,
                 train_step: Callable[[Batch, int], float] | None, tag: str,
                 refresh: Refresh | None = None) -> None:
        self.group = distributed.group()
        if self.group.active:
            if config.batch_size < self.group.world:
                raise ParameterError(f"batch_size {config.batch_size} is smaller than the "
                                     f"{self.group.world} processes; raise batch_size")
            self.group.check_same(seed, "seeds")
        self.module, self.loss_fn, self.tensors, self.config = module, loss_fn, tensors, config
        self.val_tensors, self.refresh, self.drawn = tensors, refresh, 0
        tag += "; refreshed each epoch" * (refresh is not None)
        self.generator = torch.Generator().manual_seed(seed)
        self.train_idx, self.val_idx = _split(int(tensors[0].shape[0]), config.val_fraction,
                                              self.generator)
        self.update = train_step or _Update(module, loss_fn, config, self.group)
        self.objects = checkpoint.training_objects(module, loss_fn, self.update)
        self.modules = [o for o in self.objects.values() if isinstance(o, nn.Module)]
        self.group.broadcast_modules(self.modules)
        self.keys = ("", "")
        if config.checkpoint_path is not None:
            self.keys = (checkpoint.settings_key(config, seed, tag, self.objects,
                                                 self.group.world),
                         checkpoint.data_key(tensors, self.objects))
        distributed.reseed_for_rank([o for o in self.objects.values()
                                     if not isinstance(o, nn.Module | torch.optim.Optimizer)],
                                    self.group)
        self.stopper = EarlyStopping(config.patience)
        self.loop = checkpoint.LoopState()
        self.start = time.perf_counter()
        self.deadline = None if config.max_minutes is None else (
            self.start + 60 * config.max_minutes)

    def resume(self) -> None:
        """Continue from `checkpoint_path` if it exists (a warning says when it does not)."""
        path = self.config.checkpoint_path
        if path is None or not self.config.resume:
            return
        if not os.path.exists(path):
            warnings.warn(f"no checkpoint at {path!r} yet; training from the start",
                          stacklevel=4)
            return
        state = checkpoint.load(path, self.keys, self.objects, self.group.rank,
                                (self.loss_fn, self.update))
        self.loop = state.loop
        for name, value in state.stopper.items():
            setattr(self.stopper, name, value)

    def save(self) -> None:
        """Write a checkpoint of this moment (every rank takes part; rank 0 writes)."""
        s = self.stopper
        record = {"best": s.best, "best_epoch": s.best_epoch, "epoch": s.epoch,
                  "best_state": s.best_state}
        checkpoint.save(self.config.checkpoint_path or "", self.keys, self.objects,
                        checkpoint.CheckpointState(self.loop, record), self.group,
                        (self.loss_fn, self.update))

    def past_deadline(self) -> bool:
        """Past the time cap, on every rank if on one (so all stop at the same step)."""
        return self.deadline is not None and self.group.any(time.perf_counter() > self.deadline)

    def run_epoch(self, order: torch.Tensor) -> None:
        """Steps over `order` from `loop.offset`, ending early at `max_steps` or (with a time
        cap) past the deadline; checkpoints every `checkpoint_every` steps."""
        loop, config = self.loop, self.config
        every = config.checkpoint_every if config.checkpoint_path is not None else None
        for begin in range(loop.offset, order.numel(), config.batch_size):
            if config.max_steps is not None and loop.step >= config.max_steps:
                break  # on large data the step budget ends training inside an epoch
            if loop.count and self.past_deadline():
                break  # one epoch of a large model can outlast the whole budget
            rows = order[begin:begin + config.batch_size]
            loop.offset = begin + rows.numel()
            if rows.numel() < 2 and order.numel() >= 2:
                continue  # a one-row batch breaks batch statistics and adds only noise
            mine = self.group.share(rows)
            if isinstance(self.update, _Update):
                self.update.global_rows = int(rows.numel())
            loss = self.update(tuple(t[mine] for t in self.tensors), loop.step)
            loop.total += loss * mine.numel()
            loop.count += mine.numel()
            loop.step += 1
            if every is not None and loop.step % every == 0:
                self.save()

    def end_epoch(self) -> dict[str, float]:
        """The epoch's record (losses summed over processes); early stopping updated."""
        loop = self.loop
        self.group.broadcast_modules(self.modules, weights=False)  # rank 0's buffers for all
        total, count = self.group.sum([loop.total, loop.count])
        record = {EPOCH: float(loop.epoch + 1), TRAIN_LOSS: total / max(count, 1)}
        if self.val_idx.numel():
            self.module.eval()
            val_total, val_count = self.group.sum(_loss_sums(
                self.loss_fn, self.val_tensors, self.group.share(self.val_idx),
                self.config.batch_size))
            record[VAL_LOSS] = val_total / max(val_count, 1)
            self.stopper.update(record[VAL_LOSS], self.module)
        record[SECONDS] = time.perf_counter() - self.start
        loop.history.append(record)
        loop.epoch, loop.offset, loop.total, loop.count = loop.epoch + 1, 0, 0.0, 0.0
        return record

    def training_rows(self) -> torch.Tensor:
        """This epoch's training rows of `self.tensors`: the first data's training split, or
        with `refresh` every row of the epoch's fresh tensors (drawn again after a resume:
        they are a function of the seed and the epoch)."""
        epoch = self.loop.epoch
        if self.refresh is None or epoch == 0:
            return self.train_idx
        if self.drawn != epoch:
            self.tensors = self.val_tensors  # the last epoch's rows go before new ones come
            self.tensors = tuple(self.refresh(epoch, self.val_idx))
            self.drawn = epoch
            self.group.check_same(int(self.tensors[0].shape[0]), "refreshed training rows")
        return torch.arange(int(self.tensors[0].shape[0]))

    def train(self, description: str) -> StopReason:
        """Epochs until a budget or early stopping ends training; returns why it ended."""
        config, loop = self.config, self.loop
        show = description if self.group.rank == 0 else ""
        with _bar(show, config.epochs) as advance:
            if loop.epoch:
                advance(loop.epoch)
            while loop.epoch < config.epochs:
                if loop.offset == 0:
                    loop.epoch_start = self.generator.get_state()
                elif loop.epoch_start is not None:  # resumed inside this epoch
                    self.generator.set_state(loop.epoch_start)
                train_idx = self.training_rows()
                order = train_idx[torch.randperm(train_idx.numel(), generator=self.generator)]
                self.module.train()
                self.run_epoch(order)
                record = self.end_epoch()
                advance(1, loss=record[TRAIN_LOSS], **({"val": record[VAL_LOSS]}
                                                       if VAL_LOSS in record else {}))
                if not math.isfinite(record[TRAIN_LOSS]):
                    raise ParameterError(
                        f"training diverged (loss {record[TRAIN_LOSS]}) at epoch {loop.epoch}; "
                        "lower lr or raise batch_size"
                    )
                stop = stop_reason(config, self.stopper, bool(self.val_idx.numel()),
                                    loop.step, self.past_deadline())
                if stop is not None:
                    return stop
        return "epochs"


@contextlib.contextmanager
def _bar(description: str, total: int) -> Iterator[Callable[..., None]]:
    """The progress bar, on rank 0 only (an empty description: no bar)."""
    if not description:
        yield lambda step=1, **fields: None
        return
    with task(description, total) as advance:
        yield advance


def fit_loop(
    module: nn.Module,
    loss_fn: Callable[[Batch], torch.Tensor],
    data: Sequence[torch.Tensor],
    config: TrainConfig,
    *,
    seed: int,
    description: str = "training",
    train_step: Callable[[Batch, int], float] | None = None,
    tag: str = "",
    refresh: Refresh | None = None,
) -> TrainResult:
    """Train `module` on row-aligned tensors `data`; return the per-epoch history.

    `loss_fn(batch)` returns one loss per row. With `train_step(batch, step) -> mean loss`
    the caller owns the update (e.g. a GAN's two optimisers); `loss_fn` is then only used
    for validation, and early stopping is off if `config.val_fraction` is 0. Training ends
    after `config.epochs` epochs, `config.max_steps` steps or early stopping, whichever
    comes first, so the result depends on the data and the seed alone; `max_minutes`, off
    by default, is a safety cap whose result also depends on the machine.

    Under torchrun every process trains its share of each batch (`genlab.distributed`).
    With `config.checkpoint_path` a checkpoint is written every `checkpoint_every` steps
    and `config.resume` continues from it (`genlab.checkpoint`); `tag` (the family's
    hyperparameters) must match for a checkpoint to be taken up.

    `refresh(epoch, held_out)` gives the training tensors of each epoch after the first
    (row-aligned like `data`; `held_out`: the indices of `data`'s validation rows, which
    must stay out); validation keeps `data`'s rows. It must be a function of the seed and
    the epoch alone, drawing from no generator of the fit, so a resumed fit draws the same.
    """
    # resume and other ranks reset torch's default generator: forked, the caller's is kept
    with torch.random.fork_rng(devices=sorted({p.get_device() for p in module.parameters()
                                               if p.is_cuda})):
        run = _Run(module, loss_fn, tuple(data), config, seed, train_step, tag, refresh)
        with distributed.averaged_gradients(run.group, on=train_step is not None):
            run.resume()
            reason = run.train(description)
    stopper = run.stopper
    if stopper.best_state is not None:
        module.load_state_dict(stopper.best_state)
    module.eval()
    history = run.loop.history
    result = TrainResult(history=history, stopped_by=reason, best_epoch=stopper.best_epoch,
                         steps=run.loop.step, still_improving=improving_at_end(history))
    if reason == "time budget" or (reason != "early stopping" and result.still_improving):
        warnings.warn(f"{description}: {result.summary()}", ConvergenceWarning, stacklevel=2)
    return result
