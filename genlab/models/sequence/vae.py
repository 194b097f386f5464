"""Sequence VAE: a latent space for molecules and melodies (Bowman et al. 2016,
Gomez-Bombarelli et al. 2018).

q(z | x) is a diagonal Gaussian from a bidirectional GRU over the tokens; p(x | z) is a GRU
language model that sees z in its initial state and at every step. Training maximises the
ELBO with the KL weight warmed up from 0 (against posterior collapse) and word dropout
(inputs replaced by PAD with probability `word_dropout`, so the decoder must lean on z).
`log_prob` is the ELBO (a lower bound on log p(x)), averaged over 8 posterior draws.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genlab.data.sequences.codecs import BOS, EOS, PAD, UNKNOWN, MusicCodec
from genlab.errors import ParameterError, UnsupportedOperation
from genlab.models.base import Conditions
from genlab.models.sequence.base import COMMON_CONSTRAINTS, SequenceModel
from genlab.models.sequence.training import Slots, items_tensor, train_with_schedule
from genlab.nets.sequence import VAENet
from genlab.params import ParamSpec
from genlab.seeding import torch_generator

__all__ = ["SequenceVAE"]

_ELBO_DRAWS = 8


class SequenceVAE(SequenceModel):
    """Sequence VAE for molecules (SMILES) and music segments: `encode` to a latent,
    `decode`, `interpolate` between two items and `sample_near` one item.

    Args:
        hidden, latent, layers: GRU width, latent size, GRU layers.
        beta: weight of the KL term once warmed up; kl_warmup_steps: steps to reach it.
        word_dropout: share of decoder inputs hidden during training.
        epoch_size: items per epoch (random draws; see `Transformer`).
        Other arguments as for `Transformer`; text is not supported (it has no items).
    """

    family: ClassVar[str] = "vae"
    log_prob_is_exact: ClassVar[bool] = False
    summary: ClassVar[str] = "GRU encoder-decoder VAE with a latent space"
    when_to_use: ClassVar[str] = "Interpolate between molecules or melodies; sample near one"
    conditioning: ClassVar[str] = "none (latent neighbourhoods instead)"
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **COMMON_CONSTRAINTS,
        "hidden": ("int", 4, 8192),
        "latent": ("int", 1, 4096),
        "layers": ("int", 1, 8),
        "beta": ("float", 0.0, 100.0),
        "kl_warmup_steps": ("int", 0, 10**9),
        "word_dropout": ("float", 0.0, 1.0),
        "epoch_size": ("int?", 1, 10**9),
    }

    train_defaults: ClassVar[dict[str, Any]] = {
        "batch_size": 128,
        "context": 512,
        "segment_bars": 4,
        "sample_bars": 4,
    }

    def __init__(
        self,
        *,
        hidden: int = 256,
        latent: int = 32,
        layers: int = 1,
        beta: float = 1.0,
        kl_warmup_steps: int = 2000,
        word_dropout: float = 0.2,
        seed: int | None = None,
        **shared: Any,
    ) -> None:
        self._init_params(locals())

    def _build(self, meta: dict[str, Any]) -> nn.Module:
        return VAENet(int(meta["vocab"]), self.hidden, self.latent, self.layers)

    def _fit_net(self, items: list[Any], cond: np.ndarray | None,
                 rng: np.random.Generator) -> None:
        if self.codec_.stream:
            raise ParameterError("the sequence VAE models items (molecules, music), not a text "
                                 "stream; use --model autoregressive or lstm for text")
        if cond is not None:
            raise ParameterError("the sequence VAE takes no conditions; use --model "
                                 "autoregressive for property-conditioned molecules")
        self.meta_ = {**self._base_meta(None, rng), "context": self.context}
        self.net_ = self._new_net(rng)
        tensors, mean_len = items_tensor(self, items, None, self.context, stacklevel=5)
        self.meta_["max_len"] = int(tensors[0].shape[1])
        pick = Slots(tensors, self.epoch_size, self.val_fraction, rng)
        steps = [0]

        def row_loss(batch: tuple[torch.Tensor, ...], gen: torch.Generator | None) -> torch.Tensor:
            ids = pick(batch, gen)[0]
            width = int((ids != PAD).sum(dim=1).max())
            ids = ids[:, :width]
            lengths = (ids != PAD).sum(dim=1)
            mu, logvar = self.net_.encode(ids, lengths)
            if gen is not None:
                eps = torch.randn(mu.shape, generator=gen, device=mu.device)
                z = mu + eps * torch.exp(0.5 * logvar)
                steps[0] += 1
                warm = min(1.0, steps[0] / self.kl_warmup_steps) if self.kl_warmup_steps else 1.0
            else:
                z, warm = mu, 1.0
            inputs = torch.cat([torch.full_like(ids[:, :1], BOS), ids[:, :-1]], dim=1)
            if gen is not None and self.word_dropout > 0:
                noise = torch.rand(inputs.shape, generator=gen, device=ids.device)
                hide = noise < self.word_dropout
                inputs = inputs.masked_fill(hide & (inputs != BOS), PAD)
            logits = self.net_(inputs, z)
            nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids.reshape(-1),
                                  reduction="none", ignore_index=PAD).view(ids.shape).sum(dim=1)
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)
            return (nll + self.beta * warm * kl) / mean_len

        train_with_schedule(self, row_loss, pick.rows, rng)

    # -- latent space ---------------------------------------------------------------------------
    def _ids(self, items: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        seqs = [self.codec_.encode(x) + [EOS] for x in items]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), PAD, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s)
        lengths = torch.tensor([len(s) for s in seqs])
        return ids.to(self.device_), lengths

    def encode(self, items: list[Any]) -> np.ndarray:
        """Posterior means (n, latent) of items (SMILES strings or Pieces)."""
        self._check_fitted()
        ids, lengths = self._ids(list(items))
        with self._inference():
            mu, _ = self.net_.encode(ids, lengths)
        return mu.cpu().numpy()

    def decode(self, z: np.ndarray, *, seed: int | None = None, temperature: float | None = None,
               bars: int | None = None) -> list[Any]:
        """Items decoded from latent points z (n, latent); temperature 0 decodes greedily."""
        self._check_fitted()
        z_t = torch.as_tensor(np.atleast_2d(z), dtype=torch.float32, device=self.device_)
        opts = self._options(self._check_options({"temperature": temperature, "bars": bars}))
        gen = torch_generator(np.random.default_rng(seed), self.device_)
        with self._inference():
            rows = self._generate_batch(z_t.shape[0], [], None, opts, gen, True, z=z_t)
        return [self.codec_.decode(r) for r in rows.cpu().numpy()]

    def interpolate(self, a: Any, b: Any, steps: int = 7, *, temperature: float = 0.0,
                    seed: int | None = None) -> list[Any]:
        """Items decoded along the straight line between the latent means of `a` and `b`
        (greedy by default, so the path is deterministic)."""
        if steps < 2:
            raise ParameterError(f"steps must be at least 2, got {steps}")
        za, zb = self.encode([a, b])
        w = np.linspace(0.0, 1.0, steps)[:, None]
        return self.decode((1 - w) * za + w * zb, seed=seed, temperature=temperature)

    def sample_near(self, item: Any, n: int = 10, *, scale: float = 0.5,
                    seed: int | None = None, temperature: float | None = None) -> list[Any]:
        """n items decoded from z = mean(item) + scale * N(0, I)."""
        z0 = self.encode([item])[0]
        rng = np.random.default_rng(seed)
        z = z0 + scale * rng.standard_normal((n, z0.size))
        return self.decode(z, seed=int(rng.integers(2**62)), temperature=temperature)

    # -- sampling and scoring ---------------------------------------------------------------------
    def _generate_batch(self, b: int, prefix: list[int], cond: torch.Tensor | None,
                        opts: dict[str, Any], generator: torch.Generator, use_cache: bool,
                        z: torch.Tensor | None = None) -> torch.Tensor:
        if prefix:
            raise ParameterError("the sequence VAE takes no prompt; use sample_near(item)")
        if z is None:
            z = torch.randn(b, self.latent, generator=generator, device=self.device_)
        return super()._generate_batch(b, prefix, cond, opts, generator, use_cache, z=z)

    def _max_new(self, prefix_len: int, opts: dict[str, Any]) -> int:
        if isinstance(self.codec_, MusicCodec) or opts.get("length") is not None:
            return super()._max_new(prefix_len, opts)  # bars, or the asked length cap
        return int(self.meta_.get("max_len", 256))

    def _token_scores(self, ids: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        raise UnsupportedOperation(
            "the sequence VAE has no exact per-token probabilities; use log_prob (the ELBO) "
            "or an autoregressive model"
        )

    def token_log_prob(self, item: Any) -> np.ndarray:
        """Not available: a VAE's likelihood does not factor over tokens."""
        return self._token_scores(torch.empty(0), None).numpy()  # raises

    def _log_prob(self, data: Any, conditions: Conditions | None, **options: Any) -> np.ndarray:
        """ELBO of each item (a lower bound on log p(x), in nats), averaged over 8 posterior
        draws with a fixed seed; -inf for items with tokens never seen in training."""
        self._check_score_args(conditions, options)
        items, _ = self._read_for_scoring(data)
        seqs = [self.codec_.encode(x, unknown="mark") + [EOS] for x in items]
        out = np.empty(len(seqs))
        gen = torch.Generator(device=self.device_).manual_seed(0)
        self.net_.eval()
        for begin in range(0, len(seqs), 256):
            chunk = seqs[begin:begin + 256]
            width = max(len(s) for s in chunk)
            ids = torch.full((len(chunk), width), PAD, dtype=torch.long)
            for i, s in enumerate(chunk):
                ids[i, :len(s)] = torch.tensor(s)
            ids = ids.to(self.device_)
            unknown = (ids == UNKNOWN).any(dim=1)
            ids = ids.masked_fill(ids == UNKNOWN, PAD)
            lengths = torch.tensor([len(s) for s in chunk])
            with torch.no_grad():
                mu, logvar = self.net_.encode(ids, lengths)
                inputs = torch.cat([torch.full_like(ids[:, :1], BOS), ids[:, :-1]], dim=1)
                rec = torch.zeros(len(chunk), device=self.device_)
                for _ in range(_ELBO_DRAWS):
                    eps = torch.randn(mu.shape, generator=gen, device=mu.device)
                    logits = self.net_(inputs, mu + eps * torch.exp(0.5 * logvar))
                    rec += -F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids.reshape(-1),
                                            reduction="none", ignore_index=PAD
                                            ).view(ids.shape).sum(dim=1)
                kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)
                elbo = rec / _ELBO_DRAWS - kl
            elbo = elbo.masked_fill(unknown, -math.inf)
            out[begin:begin + len(chunk)] = elbo.cpu().numpy()
        return out
