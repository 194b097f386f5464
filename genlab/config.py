"""`TrainConfig`: the one owner of the training settings of every neural family, their
defaults and their bounds. Importing it imports no torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from functools import cache
from typing import Any

from genlab._checks import check_params
from genlab.errors import ParameterError

__all__ = ["TrainConfig"]


def _setting(default: Any, spec: tuple[Any, ...], doc: str) -> Any:
    return field(default=default, metadata={"spec": spec, "doc": doc})


@dataclass(frozen=True)
class TrainConfig:
    """Settings of `genlab.train.fit_loop`, which neural families take as constructor
    arguments (`VAE(epochs=50)`). A family changes a default in its `train_defaults`."""

    epochs: int = _setting(300, ("int", 1, 1_000_000), "most passes over the training data")
    max_steps: int | None = _setting(None, ("int?", 1, 10**12),
                                     "most optimiser steps in all (None: no cap)")
    batch_size: int = _setting(500, ("int", 2, 10_000_000), "items per optimiser step")
    lr: float = _setting(2e-3, ("float", 1e-8, 10.0), "learning rate (after warm-up)")
    weight_decay: float = _setting(1e-5, ("float", 0.0, 10.0), "decoupled weight decay")
    optimizer: str = _setting("adamw", ("choice", ("adamw", "adam")), "adamw or adam")
    val_fraction: float = _setting(0.1, ("float", 0.0, 0.9),
                                   "share held out for early stopping (0: none)")
    patience: int = _setting(15, ("int", 1, 1_000_000),
                             "epochs without a better validation loss before stopping")
    grad_clip: float | None = _setting(5.0, ("float?", 1e-8, 1e9), "max gradient norm or None")
    # a safety cap only: a fit it ends depends on the machine and its load, so it is off
    # by default in every family; epochs and max_steps are the budget
    max_minutes: float | None = _setting(None, ("float?", 1e-6, 1e9),
                                         "wall-clock safety cap, checked between steps "
                                         "(None: off; results then depend on the machine)")
    warmup_steps: int = _setting(50, ("int", 0, 1_000_000), "linear learning-rate warm-up")
    device: str = _setting("auto", ("choice", ("auto", "cpu", "cuda")),
                           "auto: CUDA when present, else CPU")
    checkpoint_every: int | None = _setting(None, ("int?", 1, 10**12),
                                            "write a checkpoint every this many steps "
                                            "(with checkpoint_path)")
    checkpoint_path: str | None = _setting(None, ("str?",),
                                           "training checkpoint file (None: no checkpoints)")
    resume: bool = _setting(False, ("bool",),
                            "continue from checkpoint_path if it exists (same data, seed "
                            "and settings give the same model as an uninterrupted fit)")

    def __post_init__(self) -> None:
        check_params("training setting", self.to_dict(), self.specs())
        if self.checkpoint_path is None and (self.checkpoint_every is not None or self.resume):
            raise ParameterError("training setting: checkpoint_every and resume need "
                                 "checkpoint_path (the checkpoint file); give it too")
        if self.checkpoint_path is not None and self.checkpoint_every is None:
            raise ParameterError("training setting: checkpoint_path needs checkpoint_every "
                                 "(steps between checkpoints); give it too")

    @classmethod
    def names(cls) -> list[str]:
        """Field names, which neural families accept as constructor arguments."""
        return [f.name for f in fields(cls)]

    @classmethod
    @cache
    def specs(cls) -> dict[str, tuple[Any, ...]]:
        """The bounds of every setting, as parameter specs (`genlab.params`)."""
        return {f.name: f.metadata["spec"] for f in fields(cls)}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The default of every setting."""
        return {f.name: f.default for f in fields(cls)}

    def to_dict(self) -> dict[str, Any]:
        """As JSON types."""
        return asdict(self)
