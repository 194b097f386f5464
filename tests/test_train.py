"""The shared training loop (genlab.train.fit_loop): budgets, why training stopped, the
one-line warning and summary, and the bounds of the new setting."""

from __future__ import annotations

import time
import warnings

import pytest
import torch
from torch import nn

from genlab.errors import ParameterError
from genlab.train import ConvergenceWarning, TrainConfig, fit_loop, training_summary


def _net_and_data(n: int = 400) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    return nn.Linear(4, 1), torch.randn(n, 4)


def _square_loss(net: nn.Module):
    return lambda batch: (net(batch[0]) - batch[0].sum(1, keepdim=True)).pow(2).sum(1)


def _convergence_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, ConvergenceWarning)]


def test_time_budget_ends_an_epoch_between_steps_and_says_results_depend_on_machine():
    net = nn.Linear(4, 1)
    x = torch.randn(2000, 4)

    def slow_loss(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        time.sleep(0.01)  # 100 batches per epoch: ~1 s, far past the budget
        return net(batch[0]).pow(2).sum(1)

    config = TrainConfig(epochs=5, batch_size=20, val_fraction=0.0, max_minutes=0.1 / 60)
    with pytest.warns(ConvergenceWarning) as record:
        result = fit_loop(net, slow_loss, [x], config, seed=0)
    assert result.stopped_by == "time budget"
    assert len(result.history) == 1
    assert 1 <= result.steps < 100  # stopped inside the first epoch
    message = _convergence_warnings(record.list)[0]
    assert "\n" not in message
    assert "time budget (max_minutes)" in message and "depend on the machine" in message


def test_step_budget_ends_training_inside_an_epoch():
    net, x = _net_and_data()
    # 360 training rows at 20 per step: 18 steps per epoch, so 25 steps end in epoch 2
    config = TrainConfig(epochs=50, batch_size=20, max_steps=25, patience=1000, lr=1e-3,
                         warmup_steps=0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = fit_loop(net, _square_loss(net), [x], config, seed=0)
    assert result.stopped_by == "steps"
    assert result.steps == 25
    assert len(result.history) == 2
    if result.still_improving:  # a slow learning rate: the loss still falls at step 25
        assert "raise max_steps" in _convergence_warnings(record)[0]


def test_epoch_budget_while_improving_warns_in_one_line():
    net, x = _net_and_data()
    config = TrainConfig(epochs=3, batch_size=50, lr=1e-3, warmup_steps=0)
    with pytest.warns(ConvergenceWarning) as record:
        result = fit_loop(net, _square_loss(net), [x], config, seed=0, description="fitting X")
    assert result.stopped_by == "epochs" and result.still_improving
    (message,) = _convergence_warnings(record.list)
    assert message == ("fitting X: trained 3 epochs (24 steps); stopped by the epoch budget "
                       "while still improving; raise epochs for a better fit")


def test_early_stopping_gives_no_warning():
    net, x = _net_and_data()
    x = torch.zeros_like(x)  # nothing to learn: the validation loss stalls at once
    config = TrainConfig(epochs=200, batch_size=50, patience=2)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = fit_loop(net, lambda b: net(b[0]).pow(2).sum(1) * 0, [x], config, seed=0)
    assert result.stopped_by == "early stopping"
    assert len(result.history) == 3
    assert _convergence_warnings(record) == []
    assert result.summary() == ("trained 3 epochs (24 steps); stopped early: the validation "
                                "loss had stopped improving")


def test_epochs_without_validation_end_silently():
    net, x = _net_and_data()
    config = TrainConfig(epochs=2, batch_size=100, val_fraction=0.0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = fit_loop(net, _square_loss(net), [x], config, seed=0)
    assert result.stopped_by == "epochs" and result.still_improving is None
    assert _convergence_warnings(record) == []
    assert result.summary() == "trained 2 epochs (8 steps); stopped by the epoch budget"


@pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")
def test_result_does_not_depend_on_the_clock(monkeypatch):
    """Without max_minutes the loop reads the clock only to record seconds: a clock that
    jumps an hour per call (a machine stalled by load) gives the same weights."""
    def fit() -> dict[str, torch.Tensor]:
        net, x = _net_and_data()
        fit_loop(net, _square_loss(net), [x], TrainConfig(epochs=4, batch_size=40), seed=3)
        return {k: v.clone() for k, v in net.state_dict().items()}

    quiet = fit()
    ticks = iter(range(10**9))
    monkeypatch.setattr(time, "perf_counter", lambda: 3600.0 * next(ticks))
    stalled = fit()
    assert all(torch.equal(quiet[k], stalled[k]) for k in quiet)


def test_summary_of_a_loaded_history_reads_improvement_from_it():
    history = [{"epoch": 1.0, "train_loss": 2.0, "val_loss": 2.0},
               {"epoch": 2.0, "train_loss": 1.0, "val_loss": 1.5}]
    line = training_summary(history, "time budget")
    assert line == ("trained 2 epochs; stopped by the time budget (max_minutes) while still "
                    "improving; results depend on the machine: raise max_minutes or leave "
                    "it unset")
    flat = [*history, {"epoch": 3.0, "train_loss": 1.0, "val_loss": 1.6},
            {"epoch": 4.0, "train_loss": 1.0, "val_loss": 1.7}]
    assert training_summary(flat, "steps", 1) == ("trained 4 epochs (1 step); stopped by the "
                                                  "step budget (max_steps)")
    assert training_summary([], None) == "trained 0 epochs"


@pytest.mark.parametrize("value, expected", [
    pytest.param(0, "max_steps", id="max_steps-zero"),
    pytest.param(-5, "max_steps", id="max_steps-negative"),
    pytest.param(2.5, "max_steps", id="max_steps-fraction"),
    pytest.param("100", "max_steps", id="max_steps-string"),
    pytest.param(True, "max_steps", id="max_steps-bool"),
])
def test_bad_max_steps_is_one_line_parameter_error(value, expected):
    with pytest.raises(ParameterError) as err:
        TrainConfig(max_steps=value)
    message = str(err.value)
    assert expected in message and "\n" not in message


@pytest.mark.parametrize("value", [
    pytest.param(0.0, id="max_minutes-zero"),
    pytest.param(-1.0, id="max_minutes-negative"),
    pytest.param(float("nan"), id="max_minutes-nan"),
])
def test_bad_max_minutes_is_one_line_parameter_error(value):
    with pytest.raises(ParameterError) as err:
        TrainConfig(max_minutes=value)
    assert "max_minutes" in str(err.value) and "\n" not in str(err.value)


def test_defaults_use_no_clock():
    assert TrainConfig().max_minutes is None and TrainConfig().max_steps is None


def test_fit_loop_leaves_the_global_torch_state_as_it_was() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Dropout(0.5), torch.nn.Linear(4, 1))
    x = torch.arange(40, dtype=torch.float32).reshape(20, 2) / 40
    before = torch.get_rng_state()
    fit_loop(net, lambda b: (net(b[0]) ** 2).sum(1), [x],
             TrainConfig(epochs=2, batch_size=8, device="cpu"), seed=0)
    assert torch.equal(torch.get_rng_state(), before)
