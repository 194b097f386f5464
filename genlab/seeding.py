"""Seeds: one helper draws them, local generators use them; the global numpy and torch
random states are never left changed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from genlab.errors import ParameterError

__all__ = ["check_seed", "draw_seed", "torch_generator", "torch_seeded"]

MAX_SEED = 2**63 - 1


def draw_seed() -> int:
    """A fresh seed from the operating system's entropy (recorded wherever it is used)."""
    return int(np.random.SeedSequence().entropy % MAX_SEED)


def check_seed(seed: Any, what: str = "seed") -> int | None:
    """`seed` as an int (None stays None); one-line error for anything else."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not (
            0 <= seed <= MAX_SEED):
        raise ParameterError(f"{what} must be an integer in [0, 2**63 - 1], got {seed!r}")
    return int(seed)


def torch_generator(rng: np.random.Generator, device: Any = "cpu") -> Any:
    """A torch generator seeded from a numpy generator (local state, never the global one)."""
    import torch

    return torch.Generator(device=device).manual_seed(int(rng.integers(2**62)))


@contextlib.contextmanager
def torch_seeded(rng: np.random.Generator, device: Any = "cpu") -> Iterator[None]:
    """Seed torch's default generators from `rng` inside the block and restore them after.

    Parameter initialisation inside `nn.Module` constructors and dropout draw from the
    default generator, which takes no local generator; forking it keeps the caller's state
    (and `torch.initial_seed()`) exactly as it was."""
    import torch

    devices = [device] if str(device).startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(rng.integers(2**62)))
        yield
