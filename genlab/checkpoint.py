"""Training checkpoints: everything `genlab.train.fit_loop` needs to go on after a kill and
end with the same weights as a run never stopped.

A checkpoint is one `torch.save` file of tensors and plain containers (read back with
`torch.load(weights_only=True)`, never pickle of objects), written atomically by rank 0:

- the loop: completed epochs, optimiser steps, the position inside the current epoch and
  its partial loss sums, the history, the loop generator's state at the epoch's start (the
  epoch's order is drawn again from it), the early-stopping record and best weights;
- the training objects reachable from the network, the loss and the update step (closure
  cells and public attributes, a few levels deep): every `nn.Module`'s and optimiser's state
  (a GAN's critic and both optimisers included) and, per rank, every torch and numpy
  generator's state with torch's default ones (dropout, dequantisation noise);
- two keys that refuse a checkpoint from other settings (seed, training settings, the
  family's hyperparameters, network shapes, number of processes) or other data (the
  training tensors and the initial weights).

A generator a step creates on its first call (the sequence families') is found by the walk
at each checkpoint; on resume it is made from its saved state and put in the empty slot
(list element, closure cell or attribute) the step would fill, so the step uses it.
"""

from __future__ import annotations

import hashlib
import io
import os
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from genlab.errors import ParameterError

__all__ = ["CheckpointState", "LoopState", "load", "refuse_private", "save", "settings_key",
           "training_objects"]

FORMAT = "genlab-checkpoint-1"
_DEPTH = 3
_NOT_SETTINGS = ("checkpoint_every", "checkpoint_path", "resume", "max_minutes", "device")


@dataclass
class LoopState:
    """Where `fit_loop` is: epochs done, steps, position in the current epoch (`offset`
    rows of its order used; `total`, `count`: its loss sums so far) and the history."""

    epoch: int = 0
    step: int = 0
    offset: int = 0
    total: float = 0.0
    count: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    epoch_start: torch.Tensor | None = None  # the loop generator at the epoch's start


@dataclass
class CheckpointState:
    """What a checkpoint restores besides the objects: the loop and early stopping."""

    loop: LoopState
    stopper: dict[str, Any]


def refuse_private(config: Any) -> None:
    """A DP-SGD fit takes no checkpoints and no torchrun: neither the privacy accountant's
    record nor per-process noise (which averaging over processes would shrink) is handled,
    so the stated epsilon would not hold."""
    from genlab.distributed import launched

    if config.checkpoint_path is not None:
        raise ParameterError("a differentially private (DP-SGD) fit takes no checkpoints: its "
                             "privacy accounting is not saved; drop checkpoint_path")
    if launched():
        raise ParameterError("a differentially private (DP-SGD) fit runs in one process: "
                             "averaging noisy gradients over processes breaks its epsilon; "
                             "run it without torchrun or --ddp")


def _is_state(obj: Any) -> bool:
    return isinstance(obj, nn.Module | torch.optim.Optimizer | torch.Generator
                      | np.random.Generator)


def _children(obj: Any) -> list[tuple[str, Any]]:
    """The named references a walk follows from `obj` (closures, attributes, containers)."""
    if isinstance(obj, types.MethodType):
        return [("self", obj.__self__), ("func", obj.__func__)]
    if isinstance(obj, types.FunctionType):
        cells = obj.__closure__ or ()
        out = []
        for name, cell in zip(obj.__code__.co_freevars, cells, strict=True):
            try:
                out.append((name, cell.cell_contents))
            except ValueError:  # an empty cell (a name assigned after the closure)
                continue
        return out
    if isinstance(obj, list | tuple):
        return [(str(i), v) for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        return [(str(k), v) for k, v in obj.items() if isinstance(k, str | int)]
    if type(obj).__module__.startswith("genlab") and hasattr(obj, "__dict__"):
        return [(k, v) for k, v in vars(obj).items() if not k.startswith("_")]
    return []


def training_objects(module: nn.Module, *roots: Any) -> dict[str, Any]:
    """The modules, optimisers and generators reachable from `module` and `roots` (a loss,
    an update step), by a stable name (their path), each once; `module` is "net"."""
    found: dict[str, Any] = {"net": module}
    seen = {id(module)}
    visited: set[int] = set()

    def walk(obj: Any, path: str, depth: int) -> None:
        if id(obj) in visited or depth > _DEPTH:
            return
        visited.add(id(obj))
        for name, child in _children(obj):
            where = f"{path}.{name}"
            if _is_state(child):
                if id(child) not in seen and not _wraps(child, module):
                    seen.add(id(child))
                    found[where] = child
            elif not isinstance(child, torch.Tensor | np.ndarray | str | bytes | int | float):
                walk(child, where, depth + 1)

    for i, root in enumerate(roots):
        walk(root, f"r{i}", 0)
    return found


def _wraps(child: Any, module: nn.Module) -> bool:
    """A wrapper of `module` (DDP's), whose state is `module`'s."""
    return isinstance(child, nn.Module) and any(m is module for m in child.modules())


def _digest(parts: list[Any]) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.Tensor):
            t = part.detach().cpu().contiguous()
            h.update(f"{tuple(t.shape)}{t.dtype}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(repr(part).encode())
        h.update(b"\x1f")
    return h.hexdigest()


def settings_key(config: Any, seed: int, tag: str, objects: dict[str, Any],
                 world: int) -> str:
    """What must match for a checkpoint to continue this fit, besides the data."""
    settings = {k: v for k, v in config.to_dict().items() if k not in _NOT_SETTINGS}
    shapes = [(name, k, tuple(v.shape)) for name, obj in objects.items()
              if isinstance(obj, nn.Module) for k, v in obj.state_dict().items()]
    return _digest([FORMAT, sorted(settings.items()), seed, tag, shapes, world])


def data_key(tensors: tuple[torch.Tensor, ...], objects: dict[str, Any]) -> str:
    """The training data and the initial weights (which warm starts draw from the data)."""
    weights = [v for obj in objects.values() if isinstance(obj, nn.Module)
               for v in obj.state_dict().values()]
    return _digest([*tensors, *weights])


def _rng_bytes(objects: dict[str, Any]) -> bytes:
    """This rank's generator states (torch.save of tensors and plain containers)."""
    states: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state()
    for name, obj in objects.items():
        if isinstance(obj, torch.Generator):
            states[name] = {"device": str(obj.device), "state": obj.get_state()}
        elif isinstance(obj, np.random.Generator):
            states[name] = {"numpy": obj.bit_generator.state}
    buf = io.BytesIO()
    torch.save(states, buf)
    return buf.getvalue()


def _fill(roots: tuple[Any, ...], name: str, value: Any) -> None:
    """Put `value` in the empty slot (None) that the path `name` names: a generator a step
    creates on its first call, which the walk before that call could not find."""
    parts = name.split(".")
    if len(parts) < 2 or not parts[0][1:].isdigit() or int(parts[0][1:]) >= len(roots):
        return
    obj = roots[int(parts[0][1:])]
    for part in parts[1:-1]:
        obj = dict(_children(obj)).get(part)
    last = parts[-1]
    if isinstance(obj, list) and last.isdigit() and int(last) < len(obj):
        if obj[int(last)] is None:
            obj[int(last)] = value
    elif isinstance(obj, types.FunctionType) and last in obj.__code__.co_freevars:
        cell = (obj.__closure__ or ())[obj.__code__.co_freevars.index(last)]
        if dict(_children(obj)).get(last, 0) is None:
            cell.cell_contents = value
    elif obj is not None and dict(_children(obj)).get(last, 0) is None and hasattr(obj, last):
        setattr(obj, last, value)


def _set_rngs(payload: bytes, objects: dict[str, Any], roots: tuple[Any, ...]) -> None:
    buffer = io.BytesIO(payload)
    states = torch.load(buffer, weights_only=True)
    torch.set_rng_state(states.pop("torch"))
    cuda = states.pop("cuda", None)
    if cuda is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(cuda)
    for name, state in states.items():
        obj = objects.get(name)
        if "numpy" in state:
            if isinstance(obj, np.random.Generator):
                obj.bit_generator.state = state["numpy"]
            continue
        if obj is None:  # created lazily by the step: made here, in the slot it will fill
            obj = torch.Generator(device=state["device"])
            _fill(roots, name, obj)
        if isinstance(obj, torch.Generator):
            obj.set_state(state["state"])


def save(path: str | os.PathLike[str], keys: tuple[str, str], objects: dict[str, Any],
         state: CheckpointState, group: Any, roots: tuple[Any, ...] = ()) -> None:
    """Write the checkpoint (every rank sends its generators; rank 0 writes the file).
    `roots` are walked again, for generators created since the first walk."""
    from genlab._atomic import atomic_path

    objects = {**training_objects(objects["net"], *roots), **objects} if roots else objects
    rngs = group.gather_bytes(_rng_bytes(objects))
    if group.rank != 0:
        return
    loop = state.loop
    payload = {
        "format": FORMAT, "settings": keys[0], "data": keys[1],
        "loop": {"epoch": loop.epoch, "step": loop.step, "offset": loop.offset,
                 "total": loop.total, "count": loop.count, "history": loop.history,
                 "epoch_start": loop.epoch_start},
        "stopper": state.stopper,
        "objects": {name: obj.state_dict() for name, obj in objects.items()
                    if isinstance(obj, nn.Module | torch.optim.Optimizer)},
        "rngs": [torch.frombuffer(bytearray(r), dtype=torch.uint8) for r in rngs],
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load(path: str | os.PathLike[str], keys: tuple[str, str], objects: dict[str, Any],
         rank: int, roots: tuple[Any, ...] = ()) -> CheckpointState:
    """Restore the objects from the checkpoint at `path`; return the loop and early-stopping
    state. One-line errors for a file that is no checkpoint or belongs to another fit."""
    name = str(path)
    try:
        payload = torch.load(name, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise ParameterError(f"no checkpoint at {name!r}; train without resume first") from None
    except Exception as error:  # torch raises many kinds for a file that is not its format
        raise ParameterError(f"{name!r} is not a genlab checkpoint "
                             f"({str(error).splitlines()[0][:120]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ParameterError(f"{name!r} is not a genlab checkpoint; give the file that "
                             "checkpoint_path wrote")
    if payload["settings"] != keys[0]:
        raise ParameterError(f"checkpoint {name!r} was written with other settings (seed, "
                             "training settings, hyperparameters or number of processes); "
                             "resume with the same ones or start without resume")
    if payload["data"] != keys[1]:
        raise ParameterError(f"checkpoint {name!r} was written for other data; resume on the "
                             "same data or start without resume")
    missing = sorted(set(payload["objects"]) - set(objects))
    if missing:
        raise ParameterError(f"checkpoint {name!r} holds {missing[0]!r}, which this fit has "
                             "not (another family or version); start without resume")
    for key, state in payload["objects"].items():
        objects[key].load_state_dict(state)
    _set_rngs(bytes(payload["rngs"][rank].numpy().tobytes()), objects, roots)
    loop = LoopState(**payload["loop"])
    return CheckpointState(loop=loop, stopper=payload["stopper"])
