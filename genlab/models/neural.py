"""What the neural families of every modality share: one torch module in `net_`, the
training settings (`TrainConfig` fields are parameters, `trains = True`), seeded
construction and training, and torch state on disk.

A neural family mixes in `TorchModule` and fills `_build(meta) -> nn.Module` (the network
from JSON metadata, used at fit and load); it builds with `self.net_ = self._new_net(rng)`
and trains with `self._train(loss_fn, tensors, rng)` (with `self._refresh` set, a streamed
fit's `fit_loop` refresh: fresh training tensors each epoch). Weights go to safetensors as
`net.<state_dict key>`; loading rebuilds the module from `meta`, so a wrong tensor shape is
caught by comparing with the fresh module's state.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from genlab.seeding import torch_generator, torch_seeded
from genlab.train import TrainResult, fit_loop, resolve_device

__all__ = ["TorchModule", "one_thread", "torch_generator"]


@contextlib.contextmanager
def one_thread(device: torch.device) -> Iterator[None]:
    """Run torch on one CPU thread inside the block, then restore the setting. At the matrix
    sizes of row-by-row and token-by-token work, intra-op threads cost more than they save
    (on Adult, 2 threads fitted 8x slower than 1 on a busy 2-core machine; a 6-layer
    transformer decoded 4.2 ms per token on 1 thread against 82 ms on 2)."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _load_device(device: str) -> torch.device:
    """Where a loaded network goes: as saved, except that a model saved with device="cuda"
    still loads on a machine without CUDA, on the CPU (with one warning)."""
    if device == "cuda" and not torch.cuda.is_available():
        warnings.warn("this model was saved with device='cuda' but no CUDA GPU is available; "
                      "it was loaded on the CPU", stacklevel=2)
        return torch.device("cpu")
    return resolve_device(device)


class TorchModule:
    """Training and torch state on disk for a model holding one `nn.Module` in `net_`."""

    trains: ClassVar[bool] = True
    net_: nn.Module
    meta_: dict[str, Any]

    @property
    def device_(self) -> torch.device:
        """Where the network lives."""
        return next(self.net_.parameters()).device

    def _new_net(self, rng: np.random.Generator, meta: dict[str, Any] | None = None) -> nn.Module:
        """The network for `meta` (default `self.meta_`), initialised from `rng` alone."""
        with torch_seeded(rng):
            return self._build(self.meta_ if meta is None else meta)

    def _train(
        self,
        loss_fn: Any,
        tensors: list[torch.Tensor],
        rng: np.random.Generator,
        **kwargs: Any,
    ) -> TrainResult:
        config = self.train_config()  # type: ignore[attr-defined]
        device = resolve_device(config.device)
        self.net_.to(device)
        tensors = [t.to(device) for t in tensors]
        dp_step = None
        if getattr(self, "_dp_plan", None) or getattr(self, "_dp_request", None):  # DP-SGD
            from genlab.checkpoint import refuse_private
            from genlab.privacy.dpsgd import dp_training

            refuse_private(config)
            config, kwargs, dp_step = dp_training(self, config, loss_fn, tensors, rng, kwargs)
        refresh = getattr(self, "_refresh", None)  # a streamed fit's fresh buffer per epoch
        if refresh is not None:
            kwargs["refresh"] = lambda epoch, held: [t.to(device) for t in refresh(epoch, held)]
        try:
            with torch_seeded(rng, device):  # dropout and other draws inside modules
                result = fit_loop(self.net_, loss_fn, tensors, config,
                                  seed=int(rng.integers(2**62)),
                                  description=f"fitting {type(self).__name__}",
                                  tag=self._checkpoint_tag(), **kwargs)
        finally:
            if dp_step is not None:
                dp_step.close()
        # a DP fit's training losses are statistics of the real rows outside the accountant
        self.history_ = result.history if dp_step is None else [
            {k: v for k, v in r.items() if k != "train_loss"} for r in result.history]
        self.stopped_by_ = result.stopped_by
        self.steps_trained_ = result.steps
        # one line for the command line: how long it trained and what stopped it
        self.training_summary_ = result.summary()
        return result

    def _build(self, meta: dict[str, Any]) -> nn.Module:
        raise NotImplementedError

    def _checkpoint_tag(self) -> str:
        """The family and its hyperparameters, which a training checkpoint must match."""
        from genlab.config import TrainConfig

        shared = set(TrainConfig.names())
        params = self.get_params()  # type: ignore[attr-defined]
        return repr([type(self).__name__, sorted((k, repr(v)) for k, v in params.items()
                                                 if k not in shared)])

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
        # the saved weights replace the initial ones; seeded so the caller's state stays
        self.net_ = self._new_net(np.random.default_rng(0), meta)
        state = {k[len("net."):]: torch.from_numpy(np.array(v)) for k, v in tensors.items()}
        self.net_.load_state_dict(state)
        self.net_.to(_load_device(self.device))  # type: ignore[attr-defined]
        self.net_.eval()

    def _to_tensor(self, a: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(a, dtype=dtype, device=self.device_)

