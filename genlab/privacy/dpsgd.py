"""DP-SGD (Abadi et al. 2016) for the neural families, on the one training loop, with Opacus.

`DPSGDStep` is a `train_step(batch, step) -> mean loss` for `genlab.train.fit_loop`:

- each step draws its own batch by **Poisson sampling** (every training row independently
  with probability q = batch_size / n, as Opacus's `DPDataLoader` does); the loop's
  shuffled batch only counts the step, so the accountant's sampling assumption holds
  exactly rather than by Opacus's fixed-batch approximation;
- per-sample gradients come from `torch.func` (vmap of grad over the rows: Opacus's own
  `GradSampleModule` hooks refuse layers holding buffers or their own weights, like the
  masked MADE of the autoregressive family); Opacus's `DPOptimizer` clips each to L2 norm
  `max_grad_norm`, sums them, adds Gaussian noise of standard deviation
  `noise_multiplier * max_grad_norm`, divides by the expected batch size q n and steps;
- the noise multiplier is the smallest that keeps the whole fit within (epsilon, delta):
  the **RDP accountant** (Mironov 2017; Opacus's `compute_rdp` of the sampled Gaussian
  mechanism, converted by Balle et al. 2020) on the steps planned, composed with the zCDP
  already spent on the codec and the family's other statistics (rho-zCDP is
  (alpha, rho alpha)-RDP at every order alpha, so the two add order by order). The figure
  recorded is the same accountant on the steps actually taken.

Neighbours: the DP-SGD part is Opacus's analysis, one row added or removed; the codec and
statistics are accounted for one row replaced (`genlab.privacy.budget`). The record says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from genlab.errors import ParameterError, UnsupportedOperation

__all__ = ["DPPlan", "DPSGDStep", "check_dp_module", "epsilon_spent", "noise_multiplier_for",
           "planned_steps"]

ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)) + [80, 96, 128, 192, 256]
ACCOUNTANT = ("RDP (Mironov 2017) of the Poisson-sampled Gaussian mechanism (Opacus "
              "compute_rdp), composed with the zCDP of the codec and statistics; delta/2 for "
              "the conversion, delta/2 for category thresholds; add/remove-one neighbours "
              "for DP-SGD, replace-one for the codec")
STATISTICS_SHARE = 0.25  # of a family's rho, for marginals and counts beside the network
MECHANISM = "DP-SGD (Abadi et al. 2016; Opacus per-sample clipping, Poisson sampling)"


def _rdp(q: float, sigma: float, steps: int, rho: float) -> np.ndarray:
    from opacus.accountants.analysis.rdp import compute_rdp

    sgd = np.asarray(compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=ORDERS)
                     ) if steps else np.zeros(len(ORDERS))
    return sgd + rho * np.asarray(ORDERS)  # rho-zCDP is (alpha, rho alpha)-RDP


def epsilon_spent(q: float, sigma: float, steps: int, rho: float, delta: float) -> float:
    """epsilon at `delta` of `steps` DP-SGD steps (sample rate q, noise multiplier sigma)
    composed with rho-zCDP spent elsewhere."""
    import warnings

    from opacus.accountants.analysis.rdp import get_privacy_spent

    with warnings.catch_warnings():  # "optimal order is the largest": still a valid bound
        warnings.simplefilter("ignore", UserWarning)
        eps, _ = get_privacy_spent(orders=ORDERS, rdp=_rdp(q, sigma, steps, rho), delta=delta)
    return float(eps)


def noise_multiplier_for(epsilon: float, delta: float, q: float, steps: int, rho: float
                         ) -> float:
    """The smallest noise multiplier (to 1 %) whose fit stays within `epsilon` (bisection,
    as Opacus's `get_noise_multiplier`, on the composed accountant)."""
    if epsilon_spent(q, 1e4, steps, rho, delta) > epsilon:
        raise ParameterError(f"epsilon={epsilon:g} is too small for this data: the codec and "
                             "statistics spend it all; give a larger epsilon or declare "
                             "bounds= and categories=")
    lo, hi = 0.0, 1.0
    while epsilon_spent(q, hi, steps, rho, delta) > epsilon:
        lo, hi = hi, hi * 2
    while hi - lo > 0.01 * hi:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if epsilon_spent(q, mid, steps, rho, delta) > epsilon else (lo, mid)
    return hi


def planned_steps(n: int, config: Any) -> int:
    """Steps `fit_loop` takes on n rows without validation or early stopping (a one-row
    last batch is skipped there, so it is here)."""
    per_epoch = n // config.batch_size + (n % config.batch_size >= 2)
    steps = per_epoch * config.epochs
    return steps if config.max_steps is None else min(steps, config.max_steps)


def check_dp_module(module: nn.Module, family: str) -> None:
    """One-line error when a network has layers DP-SGD cannot train (BatchNorm mixes rows,
    so a row's gradient is not its own)."""
    from opacus.validators import ModuleValidator

    errors = ModuleValidator.validate(module, strict=False)
    if errors:
        raise UnsupportedOperation(f"{family} cannot fit with differential privacy: "
                                   f"{str(errors[0]).splitlines()[0]}")


@dataclass
class DPPlan:
    """What a DP-SGD fit was given: the budget, what was spent before it, its clipping."""

    budget: Any  # genlab.privacy.budget.Budget: the zCDP spent on codec and statistics
    rho: float  # the family's share of the budget's rho (for its statistics)
    max_grad_norm: float
    n: int
    noise_multiplier: float = 0.0
    sample_rate: float = 0.0
    steps: int = 0
    updates_per_step: int = 1  # private updates per loop step (the GAN's critic steps)
    mechanism: str = MECHANISM
    n_codes: list[int] | None = None  # categorical columns' code counts (the schema's)

    @property
    def epsilon(self) -> float:
        """The target epsilon of the whole fit."""
        return float(self.budget.epsilon)

    @property
    def delta(self) -> float:
        """The fit's delta."""
        return float(self.budget.delta)

    @property
    def rho_spent(self) -> float:
        """zCDP spent so far outside DP-SGD (codec, statistics)."""
        return float(sum(self.budget.spent.values()))

    def statistic_rho(self, count: int) -> float:
        """rho for each of `count` statistics a family releases besides its network
        (`STATISTICS_SHARE` of its rho in all); DP-SGD gets the rest of epsilon."""
        return self.rho * STATISTICS_SHARE / max(count, 1)

    def prepare(self, config: Any) -> None:
        """Noise multiplier and sample rate for the steps `config` plans."""
        self.sample_rate = min(config.batch_size / self.n, 1.0)
        self.steps = planned_steps(self.n, config) * self.updates_per_step
        self.noise_multiplier = noise_multiplier_for(
            self.epsilon, self.delta / 2, self.sample_rate, self.steps, self.rho_spent)

    def record(self, steps_taken: int) -> dict[str, Any]:
        """The model file's DP figures after `steps_taken` loop steps."""
        steps_taken *= self.updates_per_step
        eps = epsilon_spent(self.sample_rate, self.noise_multiplier, steps_taken,
                            self.rho_spent, self.delta / 2)
        split = {part: round(r, 6) for part, r in self.budget.spent.items()}
        return {"epsilon_spent": round(eps, 6), "accountant": ACCOUNTANT,
                "budget_split": {**split, "dp-sgd": "rest of epsilon"},
                "mechanism": self.mechanism, "max_grad_norm": float(self.max_grad_norm),
                "noise_multiplier": float(self.noise_multiplier), "steps": int(steps_taken),
                "sample_rate": float(self.sample_rate)}


class _LossOf(nn.Module):
    """The per-row loss as a module holding the network, so `torch.func.functional_call`
    can swap in per-sample copies of its parameters whatever methods `loss_fn` calls."""

    def __init__(self, net: nn.Module, loss_fn: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.net, self.loss_fn = net, loss_fn

    def forward(self, *row: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(tuple(t.unsqueeze(0) for t in row)).sum()


class DPSGDStep:
    """`train_step` of a DP-SGD fit of `module` minimising the mean of per-row `loss_fn`.

    Per-sample gradients are computed by `torch.func` (vmap of grad over the rows), which
    works for any network made of per-row operations, including layers Opacus's hooks do not
    cover (a MADE's masked weights, buffers); Opacus's `DPOptimizer` then clips, sums, adds
    the noise and steps, from those per-sample gradients (`p.grad_sample`)."""

    CHUNK = 256  # rows per vmap pass: bounds the memory of per-sample gradients

    def __init__(self, module: nn.Module, loss_fn: Callable[..., torch.Tensor],
                 tensors: list[torch.Tensor], config: Any, plan: DPPlan,
                 rng: np.random.Generator, **optimizer: Any) -> None:
        from opacus.optimizers import DPOptimizer

        from genlab.train import learning_rate

        self._lr = learning_rate
        self.tensors, self.config, self.plan = tensors, config, plan
        self.loss_fn, self.module = loss_fn, _LossOf(module, loss_fn)
        self.named = [(f"net.{k}", p) for k, p in module.named_parameters() if p.requires_grad]
        opt_cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        base = opt_cls([p for _, p in self.named], lr=config.lr,
                       weight_decay=config.weight_decay, **optimizer)
        device = tensors[0].device
        self.sampling = torch.Generator().manual_seed(int(rng.integers(2**62)))
        noise = torch.Generator(device=device).manual_seed(int(rng.integers(2**62)))
        self.optimizer = DPOptimizer(
            base, noise_multiplier=plan.noise_multiplier, max_grad_norm=plan.max_grad_norm,
            expected_batch_size=max(1, round(plan.sample_rate * plan.n)),
            loss_reduction="mean", generator=noise)

    def rows(self) -> torch.Tensor:
        """This step's Poisson sample of row indices."""
        n = int(self.tensors[0].shape[0])
        keep = torch.rand(n, generator=self.sampling) < self.plan.sample_rate
        return keep.nonzero().squeeze(1).to(self.tensors[0].device)

    def per_sample_grads(self, batch: tuple[torch.Tensor, ...]
                         ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(each parameter's gradients row by row, (m, *shape); the rows' losses)."""
        from torch.func import functional_call, grad_and_value, vmap

        params = {k: p.detach() for k, p in self.named}

        def loss_of(p: dict[str, torch.Tensor], *row: torch.Tensor) -> torch.Tensor:
            return functional_call(self.module, p, row, strict=False)

        per_row = vmap(grad_and_value(loss_of), in_dims=(None, *[0] * len(batch)),
                       randomness="different")
        m = int(batch[0].shape[0])
        grads: list[list[torch.Tensor]] = [[] for _ in self.named]
        losses = []
        for s in range(0, m, self.CHUNK):
            g, loss = per_row(params, *(t[s:s + self.CHUNK] for t in batch))
            for i, (k, _) in enumerate(self.named):
                grads[i].append(g[k].detach())
            losses.append(loss.detach())
        if not m:
            return [p.new_zeros((0, *p.shape)) for _, p in self.named], torch.zeros(0)
        return [torch.cat(g) for g in grads], torch.cat(losses)

    def step_on(self, rows: torch.Tensor, step: int) -> float:
        """One DP-SGD update on the rows given; the mean loss of those rows."""
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr(step, self.config)
        self.optimizer.zero_grad(set_to_none=True)
        grads, losses = self.per_sample_grads(tuple(t[rows] for t in self.tensors))
        for (_, p), g in zip(self.named, grads, strict=True):
            p.grad_sample = g
        self.optimizer.step()
        return float(losses.mean()) if rows.numel() else 0.0

    def __call__(self, batch: tuple[torch.Tensor, ...], step: int) -> float:
        # the loop's shuffled batch only counts the step: the rows are Poisson-sampled here
        return self.step_on(self.rows(), step)

    def close(self) -> None:
        """Drop the per-sample buffers Opacus leaves on the parameters."""
        self.optimizer.zero_grad(set_to_none=True)
        for _, p in self.named:
            for attr in ("grad_sample", "summed_grad", "_processed"):
                if hasattr(p, attr):
                    delattr(p, attr)


def dp_config(config: Any) -> Any:
    """The training settings of a DP fit: no validation split (early stopping would read
    held-out real rows outside the accountant) and no global clipping (per-sample instead)."""
    from dataclasses import replace

    if math.isfinite(config.epochs) and config.epochs < 1:
        raise ParameterError("epochs must be at least 1")
    return replace(config, val_fraction=0.0, grad_clip=None)


def dp_training(model: Any, config: Any, loss_fn: Callable[..., torch.Tensor],
                tensors: list[torch.Tensor], rng: np.random.Generator,
                kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any], Any]:
    """The settings, `fit_loop` keywords and step object of a DP-SGD fit of `model.net_`
    under `model._dp_plan` (a family whose step is its own, the GAN, builds it itself from
    the plan; it is then only prepared here)."""
    if model._dp_plan is None:  # an image fit: its size is known only now
        model._dp_plan = model._new_dp_plan(int(tensors[0].shape[0]), rng)
    plan: DPPlan = model._dp_plan
    config = dp_config(config)
    plan.prepare(config)
    if "train_step" in kwargs:
        return config, kwargs, kwargs["train_step"]
    check_dp_module(model.net_, model.family)
    step = DPSGDStep(model.net_, loss_fn, tensors, config, plan, rng)
    return config, {**kwargs, "train_step": step}, step
