"""Training on many processes (torchrun) with `torch.distributed`: the one place that knows
about ranks.

Under `torchrun --nproc-per-node N` (the `RANK`, `WORLD_SIZE`, `LOCAL_RANK` variables) the
first call that needs it (`group()`) starts the process group: gloo for CPU tensors, NCCL
for CUDA ones (each process on the GPU `LOCAL_RANK`). `genlab.train.fit_loop` then:

- gives every process the same epoch order (one generator, seeded alike) and each its
  share of every global batch, `rows[rank::world]` (what `DistributedSampler` does), so
  `batch_size` stays the global batch;
- trains the default update through `DistributedDataParallel` (bucketed gradient
  all-reduce overlapping backward), and a family's own `train_step` (a GAN's two nets, the
  sequence schedule) by averaging the gradients of every optimiser just before it steps
  (`register_optimizer_step_pre_hook`): DDP needs the forward to run through its wrapper,
  which a custom step calling its nets' methods (and a gradient penalty's double
  backward, which DDP does not support) never does;
- draws each process's own noise: the family's generators (found by `genlab.checkpoint`)
  are reseeded from (their state, rank) on ranks above 0, so rank 0 draws what a one-process
  run draws;
- all-reduces the train and validation losses, so the history, early stopping and the
  divergence check are the same on every rank.

With one process every function here is a no-op and nothing is imported or started.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from genlab.errors import ParameterError

__all__ = ["Group", "finish", "group", "is_main", "launched", "shared_seed"]

_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def launched() -> bool:
    """True inside a process that torchrun started with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


@dataclass(frozen=True)
class Group:
    """This process's place: `rank` of `world` processes (`local_rank` on this machine)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        """More than one process."""
        return self.world > 1

    def share(self, rows: Any) -> Any:
        """This process's part of a global batch of row indices."""
        return rows[self.rank::self.world] if self.active else rows

    def sum(self, values: list[float]) -> list[float]:
        """The sums over processes of `values` (float64; identical on every rank)."""
        if not self.active:
            return list(values)
        import torch
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=_comm_device())
        dist.all_reduce(t)
        dist.broadcast(t, 0)  # rank 0's sum is every rank's, bit for bit
        return [float(v) for v in t.cpu()]

    def any(self, flag: bool) -> bool:
        """True on every rank if it is True on one (a time cap reached by one process)."""
        return self.sum([float(flag)])[0] > 0 if self.active else flag

    def check_same(self, value: int, what: str) -> None:
        """A one-line ParameterError on every rank unless `value` is the same on all."""
        if not self.active:
            return
        import torch
        import torch.distributed as dist

        t = torch.tensor([value, -value], dtype=torch.int64, device=_comm_device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        if int(t[0]) != -int(t[1]):
            raise ParameterError(f"the {self.world} processes have different {what}; give "
                                 "every process the same seed (--seed, seed=) and data")

    def gather_bytes(self, payload: bytes) -> list[bytes]:
        """Every rank's `payload`, in rank order (all ranks receive all)."""
        if not self.active:
            return [payload]
        import torch
        import torch.distributed as dist

        dev = _comm_device()
        size = torch.tensor([len(payload)], dtype=torch.int64, device=dev)
        sizes = [torch.zeros_like(size) for _ in range(self.world)]
        dist.all_gather(sizes, size)
        longest = int(max(int(s) for s in sizes))
        buf = torch.zeros(longest, dtype=torch.uint8, device=dev)
        if payload:
            buf[:len(payload)] = torch.frombuffer(bytearray(payload), dtype=torch.uint8).to(dev)
        parts = [torch.zeros_like(buf) for _ in range(self.world)]
        dist.all_gather(parts, buf)
        return [bytes(p[:int(s)].cpu().numpy().tobytes()) for p, s in zip(parts, sizes,
                                                                             strict=True)]

    def broadcast_modules(self, modules: list[Any], weights: bool = True) -> None:
        """Rank 0's weights (unless `weights` is False) and buffers in every module on every
        rank: buffers such as batch-norm statistics follow each rank's own rows."""
        if not self.active:
            return
        import torch.distributed as dist

        for module in modules:
            for t in (list(module.parameters()) if weights else []) + list(module.buffers()):
                dist.broadcast(t.data, 0)

    def barrier(self) -> None:
        """Wait for every process."""
        if self.active:
            import torch.distributed as dist

            dist.barrier()


def _comm_device() -> Any:
    """Where collective tensors live: the process's GPU under NCCL, else the CPU."""
    import torch
    import torch.distributed as dist

    if torch.cuda.is_available() and "nccl" in str(dist.get_backend()).lower():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def group() -> Group:
    """This process's `Group`; under torchrun, starts the process group on first use."""
    if not launched():
        return Group()
    missing = [k for k in _ENV if k not in os.environ]
    if missing:
        raise ParameterError(f"WORLD_SIZE is set but {missing[0]} is not; start the "
                             "processes with torchrun (or genlab fit --ddp N)")
    import torch
    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ["LOCAL_RANK"])
    if not dist.is_initialized():
        backend = "gloo"
        if torch.cuda.is_available():
            torch.cuda.set_device(local)  # "cuda" then means this process's GPU
            backend = "cpu:gloo,cuda:nccl"
        dist.init_process_group(backend=backend)
    return Group(rank, world, local)


def is_main() -> bool:
    """True in the process that writes files and prints (rank 0, or the only process)."""
    return int(os.environ.get("RANK", "0") or 0) == 0


def shared_seed(seed: int | None) -> int | None:
    """`seed`, or under torchrun without one, a seed drawn by rank 0 and sent to all (each
    process drawing its own would train different models)."""
    g = group()
    if seed is not None or not g.active:
        return seed
    import torch
    import torch.distributed as dist

    from genlab.seeding import draw_seed

    t = torch.tensor([draw_seed() if g.rank == 0 else 0], dtype=torch.int64,
                     device=_comm_device())
    dist.broadcast(t, 0)
    return int(t[0])


def finish() -> None:
    """Wait for every process, then close the process group (if one was started)."""
    if not launched():
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


@contextmanager
def averaged_gradients(g: Group, on: bool = True) -> Iterator[None]:
    """Inside the block (if `on`), every optimiser averages its gradients over the
    processes just before it steps (one flat all-reduce per step and dtype)."""
    if not g.active or not on:
        yield
        return
    import torch
    import torch.distributed as dist
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    def average(optimizer: Any, args: Any, kwargs: Any) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"]
                 if p.grad is not None]
        by_kind: dict[tuple[Any, Any], list[Any]] = {}
        for grad in grads:
            by_kind.setdefault((grad.dtype, grad.device), []).append(grad)
        for same in by_kind.values():
            flat = torch.cat([t.reshape(-1) for t in same])
            dist.all_reduce(flat)
            flat /= g.world
            offset = 0
            for t in same:
                t.copy_(flat[offset:offset + t.numel()].view_as(t))
                offset += t.numel()

    handle = register_optimizer_step_pre_hook(average)
    try:
        yield
    finally:
        handle.remove()


def wrap(module: Any, loss_fn: Any, g: Group) -> Any:
    """`DistributedDataParallel` over a module whose forward is `loss_fn(batch)`, so the
    loss runs through DDP whatever methods of the network it calls."""
    import torch
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    class LossOf(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = module

        def forward(self, *batch: Any) -> Any:
            return loss_fn(batch)

    device = next(module.parameters()).device
    ids = [device.index if device.index is not None else torch.cuda.current_device()] if (
        device.type == "cuda") else None
    # some families leave parts unused on a step (a condition embedding, a missingness head)
    return DistributedDataParallel(LossOf(), device_ids=ids, find_unused_parameters=True)


def reseed_for_rank(generators: list[Any], g: Group) -> None:
    """Give ranks above 0 their own noise: each torch or numpy generator (and torch's
    default ones) restarted from (a draw of it, rank); rank 0 keeps what one process draws."""
    if not g.active or g.rank == 0:
        return
    import numpy as np
    import torch

    def mixed(base: int) -> int:  # a seed of (base, rank)
        return int(np.random.SeedSequence([base, g.rank]).generate_state(1, np.uint64)[0])

    for gen in generators:
        if isinstance(gen, torch.Generator):
            gen.manual_seed(mixed(int(torch.randint(0, 2**62, (1,), generator=gen,
                                                    device=gen.device))))
        else:
            fresh = np.random.default_rng([int(gen.integers(2**62)), g.rank])
            gen.bit_generator.state = fresh.bit_generator.state
    base = int(torch.randint(0, 2**62, (1,)))
    # dropout draws from torch's default generator; `fit_loop` forks it, so the caller's
    # global state is restored after training
    torch.manual_seed(base + g.rank)


@contextmanager
def quiet_unless_main() -> Iterator[None]:
    """No progress bars and no warnings on ranks above 0 (rank 0 speaks for all)."""
    if is_main():
        yield
        return
    import warnings

    from genlab._progress import quiet

    with quiet(True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _without_ddp(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--ddp":
            skip = True
        elif not arg.startswith("--ddp="):
            out.append(arg)
    return out


def launch(processes: int, argv: list[str]) -> int:
    """Run `genlab <argv without --ddp>` on `processes` local processes with torchrun's
    elastic launcher (`torch.distributed.launcher.elastic_launch`: rendezvous on a free
    port, RANK/WORLD_SIZE/LOCAL_RANK set, every process stopped when one fails); returns
    the exit code. Each process prints its own lines; rank 0 alone writes the model."""
    import sys
    import uuid

    if isinstance(processes, bool) or processes < 1:
        raise ParameterError(f"--ddp takes a number of processes (1 or more), got {processes}")
    if launched():
        raise ParameterError("--ddp was given inside torchrun; give one of them, not both")
    if not any(a == "--ddp" or a.startswith("--ddp=") for a in argv):
        raise ParameterError("--ddp works from the command line (genlab fit ... --ddp N); "
                             "from Python start the processes with torchrun")
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=processes,
                          run_id=str(uuid.uuid4()), rdzv_backend="c10d",
                          rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.2)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # N processes, not N x cores threads
    # DDP's C++ note that find_unused_parameters found none, once per process
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    try:
        elastic_launch(config, sys.executable)("-m", "genlab", *_without_ddp(argv))
    except ChildFailedError as failed:
        # the failing process already printed its one-line error; no launcher traceback
        first = next(iter(failed.failures.values()))
        return int(first.exitcode) if first.exitcode and first.exitcode > 0 else 1
    return 0
