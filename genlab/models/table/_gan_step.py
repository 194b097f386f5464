"""One optimiser step of the table GAN: WGAN-GP critic steps on training-by-sampling
batches, then a generator step (CTGAN's recipe); `fit_loop` calls it as `train_step`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from genlab.config import TrainConfig
from genlab.nets.tabular_gan import CondSampler, Discriminator, Generator, Layout
from genlab.seeding import torch_generator
from genlab.train import learning_rate

__all__ = ["GANStep"]

_BETAS = (0.5, 0.9)  # Adam moments of WGAN-GP and CTGAN


class GANStep:
    """The GAN's `train_step(batch, step) -> critic's Wasserstein estimate`."""

    def __init__(self, gen: Generator, critic: Discriminator, data: torch.Tensor,
                 sampler: CondSampler, layout: Layout, config: TrainConfig,
                 rng: np.random.Generator, *, embedding_dim: int, pac: int,
                 discriminator_steps: int, gp_weight: float) -> None:
        self.gen, self.critic, self.data = gen, critic, data
        self.sampler, self.layout, self.config = sampler, layout, config
        self.device = data.device
        self.embedding_dim, self.pac = embedding_dim, pac
        self.discriminator_steps, self.gp_weight = discriminator_steps, gp_weight
        opt_cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        self.critic_params = list(critic.parameters())
        self.opt_g = opt_cls(gen.parameters(), lr=config.lr, betas=_BETAS,
                             weight_decay=config.weight_decay)
        self.opt_d = opt_cls(self.critic_params, lr=config.lr, betas=_BETAS,
                             weight_decay=config.weight_decay)
        self.step_rng = np.random.default_rng(rng.integers(2**62))
        self.noise = torch_generator(rng, self.device)

    def swap(self, data: torch.Tensor, sampler: CondSampler) -> None:
        """Train on other real rows from now on (a streamed fit's fresh buffer): `data`,
        mode-normalised, and the `sampler` of their codes. Optimisers and noise go on."""
        self.data, self.sampler = data, sampler

    def conditions_for(self, m: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor | None]:
        """(column, code, conditional-vector position) of m training conditions."""
        if not self.sampler.n_columns:
            return np.zeros(m, np.int64), np.zeros(m, np.int64), None
        col, code = self.sampler.draw(m, self.step_rng)
        return col, code, torch.as_tensor(self.sampler.offsets[col] + code, device=self.device)

    def with_cond(self, rows: torch.Tensor, cond_id: torch.Tensor | None) -> torch.Tensor:
        """The critic's input: rows next to their one-hot conditional vectors."""
        if cond_id is None:
            return rows
        one_hot = F.one_hot(cond_id, self.layout.cond_width).to(rows.dtype)
        return torch.cat([rows, one_hot], 1)

    def fake_rows(self, cond_id: torch.Tensor | None,
                  m: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(raw generator output, activated rows) for m conditions."""
        z = torch.randn((m, self.embedding_dim), generator=self.noise, device=self.device)
        raw = self.gen(z, cond_id)
        return raw, self.layout.activate(raw, self.noise)

    def _clip(self, params: Any) -> None:
        if self.config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip)

    def critic_step(self, m: int) -> torch.Tensor:
        """One WGAN-GP update of the critic; returns the Wasserstein estimate."""
        col, code, cond_id = self.conditions_for(m)
        # real rows hold a shuffled copy of the same conditions (CTGAN's permutation)
        perm = self.step_rng.permutation(m)
        rows = (self.sampler.real_rows(col[perm], code[perm], self.step_rng)
                if self.sampler.n_columns else self.step_rng.integers(self.data.shape[0], size=m))
        with torch.no_grad():
            fake = self.fake_rows(cond_id, m)[1]
        real_in = self.with_cond(self.data[torch.as_tensor(rows, device=self.device)],
                                 None if cond_id is None else cond_id[perm])
        fake_in = self.with_cond(fake, cond_id)
        wasserstein = self.critic(real_in).mean() - self.critic(fake_in).mean()
        penalty = self.critic.gradient_penalty(real_in, fake_in, self.noise)
        self.opt_d.zero_grad(set_to_none=True)
        (self.gp_weight * penalty - wasserstein).backward()
        self._clip(self.critic_params)
        self.opt_d.step()
        return wasserstein

    def generator_step(self, m: int) -> None:
        """One update of the generator against the current critic."""
        self.critic.requires_grad_(False)  # the generator step needs no critic weight grads
        col, code, cond_id = self.conditions_for(m)
        raw, fake = self.fake_rows(cond_id, m)
        loss_g = -self.critic(self.with_cond(fake, cond_id)).mean()
        if self.sampler.n_columns:
            loss_g = loss_g + self.layout.cond_loss(raw, torch.as_tensor(col, device=self.device),
                                                    torch.as_tensor(code, device=self.device))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self._clip(self.gen.parameters())
        self.opt_g.step()

    def __call__(self, batch: tuple[torch.Tensor, ...], step: int) -> float:
        # the loop's batch only sets the step size: rows come from training-by-sampling
        m = max(self.pac, math.ceil(batch[0].shape[0] / self.pac) * self.pac)
        # the critic trains alone for `warmup_steps`, then the generator's learning rate
        # ramps up: an untrained critic's gradients would only push it off its warm start
        generator_step = step - self.config.warmup_steps
        for group in self.opt_g.param_groups:
            group["lr"] = learning_rate(max(generator_step, 0), self.config)
        self.critic.requires_grad_(True)
        for _ in range(self.discriminator_steps):
            wasserstein = self.critic_step(m)
        if generator_step >= 0:
            self.generator_step(m)
        return float(wasserstein.detach())
