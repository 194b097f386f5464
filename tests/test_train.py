"""The shared training loop (genlab.train.fit_loop)."""

from __future__ import annotations

import time

import torch
from torch import nn

from genlab.train import TrainConfig, fit_loop


def test_time_budget_ends_an_epoch_between_steps():
    net = nn.Linear(4, 1)
    x = torch.randn(2000, 4)

    def slow_loss(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        time.sleep(0.01)  # 100 batches per epoch: ~1 s, far past the budget
        return net(batch[0]).pow(2).sum(1)

    config = TrainConfig(epochs=5, batch_size=20, val_fraction=0.0, max_minutes=0.1 / 60)
    result = fit_loop(net, slow_loss, [x], config, seed=0)
    assert result.stopped_by == "time budget"
    assert len(result.history) == 1
    assert 1 <= result.steps < 100  # stopped inside the first epoch
    assert result.history[0]["seconds"] < 0.6
