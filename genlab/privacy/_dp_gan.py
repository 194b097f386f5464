"""The table GAN under DP-SGD: a private critic, the generator as post-processing.

Only the critic's gradients touch real rows, so only the critic is trained by DP-SGD; the
generator learns from the privatised critic alone, and its updates are post-processing, so
the whole GAN is as private as the critic (the DP-GAN argument: Xie et al. 2018, "DPGAN";
Torkzadehmahani et al. 2019, "DP-CGAN"). Under DP the recipe changes where CTGAN's reads
the data outside the accountant:

- real rows are Poisson-sampled uniformly (not training-by-sampling, which picks rows by
  their category); each row's conditional vector names one of its own values, a column
  drawn at random; fake rows' conditions come from noisy category counts;
- the per-sample unit is one (real, fake) pair: its loss D(fake) - D(real) is clipped;
  packs (PacGAN) are off (pac = 1), since a pack of several real rows would let one row
  move another's pack;
- WGAN-GP's gradient penalty is dropped: it differentiates the critic at interpolates of
  real rows, a second-order term per pack that per-sample clipping would have to bound
  too. The Lipschitz constraint is kept by weight clipping instead (the original WGAN's,
  as DPGAN does), post-processing of the noisy weights;
- numeric columns are mode-normalised with fixed, equal-width modes over the released
  range (`genlab.privacy._sgd_fit.range_normalizer`: no Gaussian mixture fitted to the
  data); no warm start, no spikes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genlab.data.modes import ModeNormalizer
from genlab.models.table._gan_step import GANStep
from genlab.privacy._sgd_fit import noisy_counts, range_normalizer
from genlab.privacy.dpsgd import MECHANISM, DPPlan, DPSGDStep

__all__ = ["CLIP_VALUE", "DPGANStep", "private_gan_parts"]

CLIP_VALUE = 0.01  # WGAN's weight clipping


def private_gan_parts(schema: Any, enc: Any, plan: DPPlan) -> tuple[ModeNormalizer,
                                                                     list[np.ndarray]]:
    """(a data-independent mode normaliser over the released ranges, noisy category
    counts, each at least 1 so every released category can be drawn)."""
    counts = noisy_counts(plan, enc)
    return range_normalizer(schema), [np.maximum(np.round(k), 1).astype(np.int64)
                                      for k in counts]


class DPGANStep(GANStep):
    """`GANStep` with the critic trained by DP-SGD (see the module doc)."""

    def __init__(self, *args: Any, plan: DPPlan, codes: np.ndarray, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "pac": 1, "gp_weight": 0.0})
        self.plan = plan
        plan.updates_per_step = self.discriminator_steps
        plan.mechanism = (MECHANISM + " on the critic (pac 1, WGAN weight clipping instead of "
                          "the gradient penalty); the generator is post-processing")
        self.codes = torch.as_tensor(codes, device=self.device)
        self.dp: DPSGDStep | None = None  # built at the first step, once the plan is set
        self.dp_seed = np.random.default_rng(self.step_rng.integers(2**62))

    def _private(self) -> DPSGDStep:
        if self.dp is None:
            critic = self.critic

            def pair_loss(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
                real, fake = batch
                return (critic(fake) - critic(real)).squeeze(1)

            self.dp = DPSGDStep(critic, pair_loss, [self.data], self.config, self.plan,
                                self.dp_seed, betas=(0.5, 0.9))
        return self.dp

    def critic_step(self, m: int) -> torch.Tensor:
        """One DP-SGD update of the critic on a Poisson sample of real rows."""
        dp = self._private()
        rows = dp.rows()
        k = int(rows.numel())
        if self.sampler.n_columns:
            col = torch.as_tensor(self.step_rng.integers(self.sampler.n_columns, size=k),
                                  device=self.device)
            offsets = torch.as_tensor(self.sampler.offsets, device=self.device)
            real_id = offsets[col] + self.codes[rows, col] if k else col
            f_col, f_code = self.sampler.draw(k, self.step_rng, empirical=True)
            fake_id = torch.as_tensor(self.sampler.offsets[f_col] + f_code, device=self.device)
        else:
            real_id = fake_id = None
        with torch.no_grad():
            fake = self.fake_rows(fake_id, k)[1]
        real_in = self.with_cond(self.data[rows], real_id)
        fake_in = self.with_cond(fake, fake_id)
        dp.optimizer.zero_grad(set_to_none=True)
        grads, losses = dp.per_sample_grads((real_in, fake_in))
        for (_, p), g in zip(dp.named, grads, strict=True):
            p.grad_sample = g
        dp.optimizer.step()
        with torch.no_grad():  # the Lipschitz constraint, on the privatised weights
            for p in self.critic_params:
                p.clamp_(-CLIP_VALUE, CLIP_VALUE)
        return -losses.mean() if k else torch.zeros(())

    def close(self) -> None:
        """Drop Opacus's per-sample buffers."""
        if self.dp is not None:
            self.dp.close()
