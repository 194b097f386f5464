"""When `genlab.train.fit_loop` stops and how that is told: the stop reasons, early
stopping on the validation loss and the one-line training summary."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from genlab.config import TrainConfig

__all__ = ["EarlyStopping", "StopReason", "improving_at_end", "stop_reason", "training_summary"]

VAL_LOSS = "val_loss"

StopReason = Literal["epochs", "steps", "early stopping", "time budget"]
_BUDGET_SETTING = {"epochs": "epochs", "steps": "max_steps", "time budget": "max_minutes"}


def improving_at_end(history: Sequence[dict[str, float]]) -> bool | None:
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
        still_improving = improving_at_end(history)
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


def stop_reason(config: TrainConfig, stopper: EarlyStopping, validating: bool, step: int,
                 late: bool) -> StopReason | None:
    """Why training ends after this epoch, or None to go on (the epoch budget ends the
    loop itself)."""
    if validating and stopper.should_stop:
        return "early stopping"
    if config.max_steps is not None and step >= config.max_steps:
        return "steps"
    if late:
        return "time budget"
    return None
