"""DCGAN-style GAN for images: hinge loss, spectral norm, projection discriminator."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from genlab.models.image.base import ImageModel
from genlab.models.image.vae import pad_image, pad_to
from genlab.nets.logistic_mixture import to_unit
from genlab.params import ParamSpec
from genlab.seeding import torch_generator
from genlab.train import resolve_device

__all__ = ["ImageGAN"]


class _Generator(nn.Module):
    def __init__(self, c: int, h: int, w: int, k: int, latent: int, width: int) -> None:
        super().__init__()
        self.h, self.w, self.hp, self.wp = h, w, pad_to(h), pad_to(w)
        self.width = width
        self.k = k
        self.fc = nn.Linear(latent + k, 2 * width * (self.hp // 4) * (self.wp // 4))
        self.body = nn.Sequential(
            nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, width // 2, 4, 2, 1), nn.BatchNorm2d(width // 2), nn.ReLU(),
            nn.Conv2d(width // 2, c, 3, 1, 1))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Images in [-1, 1], B x C x H x W."""
        if self.k:
            z = torch.cat([z, F.one_hot(y, self.k).float()], 1)  # type: ignore[arg-type]
        h = self.fc(z).view(-1, 2 * self.width, self.hp // 4, self.wp // 4)
        return torch.tanh(self.body(h)[:, :, :self.h, :self.w])


class _Discriminator(nn.Module):
    def __init__(self, c: int, h: int, w: int, k: int, width: int) -> None:
        super().__init__()
        self.hp, self.wp = pad_to(h), pad_to(w)
        self.body = nn.Sequential(
            spectral_norm(nn.Conv2d(c, width // 2, 3, 1, 1)), nn.LeakyReLU(0.1),
            spectral_norm(nn.Conv2d(width // 2, width, 4, 2, 1)), nn.LeakyReLU(0.1),
            spectral_norm(nn.Conv2d(width, 2 * width, 4, 2, 1)), nn.LeakyReLU(0.1),
            nn.Flatten())
        flat = 2 * width * (self.hp // 4) * (self.wp // 4)
        self.out = spectral_norm(nn.Linear(flat, 1))
        # projection discriminator (Miyato & Koyama 2018): score += <embed(y), features>
        self.embed = spectral_norm(nn.Embedding(k, flat)) if k else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        f = self.body(pad_image(x, self.hp, self.wp, -1.0))
        score = self.out(f).squeeze(1)
        if self.embed is not None and y is not None:
            score = score + (self.embed(y) * f).sum(1)
        return score


class _Net(nn.Module):
    def __init__(self, c: int, h: int, w: int, k: int, latent: int, width: int) -> None:
        super().__init__()
        self.generator = _Generator(c, h, w, k, latent, width)
        self.discriminator = _Discriminator(c, h, w, k, width)


class ImageGAN(ImageModel):
    """DCGAN-style generative adversarial network (Radford et al. 2016) with the hinge loss
    and spectral normalisation in the discriminator (Miyato et al. 2018), which keeps
    training stable without tuning; class-conditional through a one-hot label input to the
    generator and a projection discriminator.

    A GAN has no likelihood: `log_prob` raises; judge it by the sample metrics
    (`genlab.evaluate.images`). Training runs `n_critic` discriminator steps per generator
    step (Adam, betas (0.5, 0.999) as in DCGAN); `val_fraction` is 0 (no early stopping:
    a GAN's losses do not measure sample quality), so `max_minutes` / `epochs` end training.

    Args:
        latent_dim: size of the noise z.
        width: base number of channels of both networks.
        n_critic: discriminator steps per generator step.
        size: (height, width) to resize inputs to.
        epochs, batch_size, lr, ...: see `genlab.train.TrainConfig` (lr for both networks).
        seed: seeds initialisation and training (`sample` draws its own seed).
    """

    family: ClassVar[str] = "gan"
    supports_log_prob: ClassVar[bool] = False
    summary: ClassVar[str] = "DCGAN with hinge loss + spectral norm, projection cGAN"
    when_to_use: ClassVar[str] = "Sharp samples when no likelihood is needed"
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **ImageModel._parameter_constraints,
        "latent_dim": ("int", 1, 4096),
        "width": ("int", 2, 4096),
        "n_critic": ("int", 1, 100),
    }

    train_defaults: ClassVar[dict[str, Any]] = {
        "lr": 2e-4,
        "val_fraction": 0.0,
        "patience": 1_000_000,
        "grad_clip": None,
        "max_steps": 1_000,  # ~8 epochs of 8,000 MNIST digits, ~5 min on one thread
    }

    def __init__(
        self,
        *,
        latent_dim: int = 64,
        width: int = 64,
        n_critic: int = 1,
        seed: int | None = None,
        **shared: Any,
    ) -> None:
        self._init_params(locals())

    def _build(self, meta: dict[str, Any]) -> _Net:
        return _Net(int(meta["c"]), int(meta["h"]), int(meta["w"]), int(meta["k"]),
                    self.latent_dim, self.width)

    @property
    def device_(self) -> torch.device:
        return next(self.net_.generator.parameters()).device

    def _fit_tensors(self, x: torch.Tensor, y: torch.Tensor | None,
                     rng: np.random.Generator) -> None:
        c = self.codec_
        self.meta_ = {"c": c.channels, "h": c.height, "w": c.width, "k": self.n_classes_}
        self.net_ = self._new_net(rng)  # initial weights from the model's seed alone
        device = resolve_device(self.device)
        self.net_.to(device)
        g, d = self.net_.generator, self.net_.discriminator
        opt_g = torch.optim.Adam(g.parameters(), lr=self.lr, betas=(0.5, 0.999),
                                 weight_decay=self.weight_decay)
        opt_d = torch.optim.Adam(d.parameters(), lr=self.lr, betas=(0.5, 0.999),
                                 weight_decay=self.weight_decay)
        gen = torch_generator(rng, device)

        def noise(n: int) -> torch.Tensor:
            return torch.randn((n, self.latent_dim), generator=gen, device=device)

        def train_step(batch: tuple[torch.Tensor, ...], step: int) -> float:
            real = to_unit(batch[0])
            yb = batch[1] if len(batch) > 1 else None
            b = real.shape[0]
            for _ in range(self.n_critic):
                with torch.no_grad():
                    fake = g(noise(b), yb)
                loss_d = (F.relu(1.0 - d(real, yb)).mean() + F.relu(1.0 + d(fake, yb)).mean())
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
            loss_g = -d(g(noise(b), yb), yb).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            return float(loss_d.detach())

        def loss_fn(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            # validation only (val_fraction > 0): the discriminator's hinge loss on real rows
            return F.relu(1.0 - d(to_unit(batch[0]), batch[1] if len(batch) > 1 else None))

        self._train(loss_fn, [x] if y is None else [x, y], rng, train_step=train_step)

    def _sample_tensor(self, n: int, y: torch.Tensor | None,
                       generator: torch.Generator) -> torch.Tensor:
        z = torch.randn((n, self.latent_dim), generator=generator, device=self.device_)
        out = self.net_.generator(z, y)
        return torch.round((out + 1.0) * 127.5).to(torch.uint8)
