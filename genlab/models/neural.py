"""What the neural families share: training settings, a torch module, torch state on disk.

A neural family subclasses `NeuralModel`, takes the `TrainConfig` fields as constructor
arguments (so `VAE(epochs=50, max_minutes=2)` works), and fills:

- `_build(meta) -> nn.Module`: the network from JSON metadata (sizes), used at fit and load;
- `_fit_tensors(enc, conditions, rng)`: set `self.meta_` and `self.net_`, train via
  `self._train(loss_fn, tensors)`;
- `_sample_arrays` / `_log_prob_arrays` as every family.

Weights go to safetensors as `net.<state_dict key>`; loading rebuilds the module from
`meta`, so a wrong tensor shape is caught by comparing with the fresh module's state.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from genlab.models.base import Model, ParamSpec
from genlab.train import TrainConfig, TrainResult, fit_loop, resolve_device

__all__ = ["TRAIN_CONSTRAINTS", "NeuralModel", "TorchModule", "torch_generator"]

TRAIN_CONSTRAINTS: dict[str, ParamSpec] = {
    "epochs": ("int", 1, 1_000_000),
    "batch_size": ("int", 2, 10_000_000),
    "lr": ("float", 1e-8, 10.0),
    "weight_decay": ("float", 0.0, 10.0),
    "optimizer": ("choice", ("adamw", "adam")),
    "val_fraction": ("float", 0.0, 0.9),
    "patience": ("int", 1, 1_000_000),
    "grad_clip": ("float?", 1e-8, 1e9),
    "max_minutes": ("float?", 1e-6, 1e9),
    "warmup_steps": ("int", 0, 1_000_000),
    "device": ("choice", ("auto", "cpu", "cuda")),
}


def torch_generator(
    rng: np.random.Generator, device: torch.device | str = "cpu"
) -> torch.Generator:
    """A torch generator seeded from a numpy generator (local state, never the global one)."""
    return torch.Generator(device=device).manual_seed(int(rng.integers(2**62)))


class TorchModule:
    """Training and torch state on disk for a model holding one `nn.Module` in `net_`;
    mixed into the neural families of every modality (tables, images, sequences)."""

    net_: nn.Module
    meta_: dict[str, Any]

    def train_config(self) -> TrainConfig:
        """The training settings from this model's parameters."""
        params = self.get_params()
        return TrainConfig(**{k: params[k] for k in TrainConfig.names() if k in params})

    @property
    def device_(self) -> torch.device:
        """Where the network lives."""
        return next(self.net_.parameters()).device

    def _train(
        self,
        loss_fn: Any,
        tensors: list[torch.Tensor],
        rng: np.random.Generator,
        **kwargs: Any,
    ) -> TrainResult:
        config = self.train_config()
        device = resolve_device(config.device)
        self.net_.to(device)
        tensors = [t.to(device) for t in tensors]
        torch.manual_seed(int(rng.integers(2**62)))  # parameter init inside modules, dropout
        result = fit_loop(self.net_, loss_fn, tensors, config, seed=int(rng.integers(2**62)),
                          description=f"fitting {type(self).__name__}", **kwargs)
        self.history_ = result.history
        self.stopped_by_ = result.stopped_by
        self.steps_trained_ = result.steps
        return result

    def _build(self, meta: dict[str, Any]) -> nn.Module:
        raise NotImplementedError

    # -- persistence ----------------------------------------------------------------------
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        return dict(self.meta_), state

    def _expected_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        with torch.device("meta"):
            module = self._build(meta)
        return {f"net.{k}": tuple(v.shape) for k, v in module.state_dict().items()}

    def _restore(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.meta_ = dict(meta)
        self.net_ = self._build(meta)
        state = {k[len("net."):]: torch.from_numpy(np.array(v)) for k, v in tensors.items()}
        self.net_.load_state_dict(state)
        self.net_.to(resolve_device(self.device))
        self.net_.eval()

    def _to_tensor(self, a: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(a, dtype=dtype, device=self.device_)


class NeuralModel(TorchModule, Model):
    """Base of the neural tabular families (see the module docstring)."""

    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **Model._parameter_constraints,
        **TRAIN_CONSTRAINTS,
    }

