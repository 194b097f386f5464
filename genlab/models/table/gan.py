"""Conditional tabular GAN in the style of CTGAN: WGAN-GP, PacGAN, training-by-sampling."""

from __future__ import annotations

import functools
import time
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import torch

from genlab.data.modes import ModeNormalizer
from genlab.data.tabular import Encoded
from genlab.errors import ParameterError
from genlab.models.table._gan_step import GANStep
from genlab.models.table.neural import NeuralModel
from genlab.nets.tabular_gan import (
    CondSampler,
    Discriminator,
    Generator,
    Layout,
    gumbel,
    warm_start,
)
from genlab.params import ParamSpec
from genlab.privacy._sgd_fit import PrivateSGD
from genlab.seeding import torch_generator, torch_seeded
from genlab.train import TrainConfig, resolve_device

__all__ = ["GAN"]

_CHUNK = 32_768  # rows per generator pass when sampling (bounded memory, fast matmuls)
_MAX_ROUNDS = 8  # rejection rounds before the fallback fixes the conditioned values
_PROPOSALS_PER_ROW = 20  # and at most this many proposals per requested row (plus 10,000)
_WARM_SCALE = 0.1  # output weights other than the conditional vector's start this small
_COUNTER = ".num_batches_tracked"


def _spikes(normalizer: ModeNormalizer, data: np.ndarray) -> list[list[list[float]]]:
    """Per numeric column, [mode, value, share] of each mode where one value holds at least
    half of the training rows (a spike such as capital-gain's zeros). A tanh output never
    lands exactly on the one alpha that rounds back to such a value, so that share of the
    generated rows in the mode takes the value exactly."""
    out: list[list[list[float]]] = []
    for b in normalizer.blocks:
        if b.kind != "num":
            continue
        mode = data[:, b.start + 1:b.start + b.width].argmax(axis=1)
        found = []
        for k in range(b.width - 1):
            a = data[mode == k, b.start]
            if a.size < 2:
                continue
            values, counts = np.unique(a, return_counts=True)
            top = int(counts.argmax())
            share = counts[top] / a.size
            if share >= 0.5 and abs(values[top]) < 0.99:  # 0.99: a clipped alpha, no value
                value = normalizer.decode_numeric(b.index, values[top:top + 1].astype(np.float64),
                                                  np.array([k]))[0]
                found.append([k, float(value), float(share)])
        out.append(found)
    return out


class GAN(PrivateSGD, NeuralModel):
    """Conditional tabular GAN (CTGAN, Xu et al. 2019) trained with the WGAN-GP objective.

    Rows are mode-normalised (`genlab.data.modes`): a numeric value becomes the mode of a
    per-column Gaussian mixture it falls in (one-hot) and alpha, its scaled offset in that
    mode; categorical columns are one-hot. A generator G maps noise z ~ N(0, I) and a
    conditional vector m (one-hot of one value of one categorical column) to a row: tanh for
    alphas, softmax (gumbel-softmax while training) for modes and categories. A critic D scores
    packs of `pac` (row, m) pairs (PacGAN, Lin et al. 2018, against mode collapse). With
    x~ = G(z, m) and x_hat a random interpolate of a real and a generated pack,

        L_D = E[D(x~, m)] - E[D(x, m)] + gp_weight * E[(||grad D(x_hat)||_2 - 1)^2]
        L_G = -E[D(x~, m)] + CE(G's logits of the conditioned column, the asked value)

    (Gulrajani et al. 2017). Training-by-sampling: each step draws a categorical column
    uniformly, a value by log-frequency (so rare values are learned), and real rows holding
    that value, so D compares like with like and G learns p(row | value) for every value of
    every categorical column. The history's `train_loss` is the critic's estimate of the
    Wasserstein distance, E[D(x)] - E[D(x~)], averaged over the epoch.

    Two additions to CTGAN make short trainings (small tables, a time budget) useful: the
    generator's output layer starts at the conditional marginals, logits log p(part | the
    conditioned value) for every mode and category and atanh E[alpha | value] for alphas
    (other output weights scaled by 0.1), so training starts from "every column drawn given
    the conditioned value"; and the critic trains alone for the first `warmup_steps` steps,
    then the generator's learning rate ramps up linearly over as many steps, so the critic
    can tell rows apart before it steers the generator (WGAN's early extra critic updates,
    Arjovsky et al. 2017). A fit shorter than `warmup_steps` steps returns the warm start.

    There is no likelihood: `log_prob` raises `UnsupportedOperation`, so `val_fraction` must
    be 0 (no early stopping); `epochs` and `max_minutes` bound the training.

    Conditioning (any categorical column, declared at fit or not; declaring changes nothing,
    as every categorical column is a condition during training): unconditional rows use
    conditional vectors drawn from the real value frequencies (as CTGAN). `conditions` feed
    the conditional vector of the rarest requested value and keep the generated rows that
    hold every requested value (rejection in batches). If a rare combination still lacks
    rows after 8 rounds (or 20 proposals per row), the remaining rows are generated from
    that conditional vector with the requested values written in: the row count is
    guaranteed, those rows are approximate.

    Args:
        embedding_dim: size of the noise vector z.
        generator_dim: hidden sizes of the generator's residual layers.
        discriminator_dim: hidden sizes of the critic's layers.
        pac: rows per critic pack; steps use a multiple of `pac` rows (at least `pac`).
        discriminator_steps: critic updates per generator update.
        gp_weight: weight of the gradient penalty.
        max_modes: most mixture modes per numeric column.
        epochs, batch_size, lr, weight_decay, optimizer, val_fraction, patience, grad_clip,
        max_minutes, warmup_steps, device: see `genlab.train.TrainConfig`; `lr` and
            `weight_decay` apply to both networks (Adam betas 0.5, 0.9); `val_fraction` must
            be 0 and `patience` is unused; `max_minutes` bounds the whole fit, mode
            normalisation included (training stops at the end of the epoch that passes it);
            `warmup_steps` are the critic-only steps (see above).
        seed: seeds initialisation, training and default sampling.

    References: Xu et al. 2019, Modeling Tabular Data using Conditional GAN (CTGAN);
    Gulrajani et al. 2017, Improved Training of Wasserstein GANs; Lin et al. 2018, PacGAN:
    The Power of Two Samples in Generative Adversarial Networks.

    Example:
        >>> import pandas as pd, numpy as np
        >>> rng = np.random.default_rng(0)
        >>> df = pd.DataFrame({"a": rng.normal(size=200).round(2),
        ...                    "b": rng.choice(["x", "y"], 200)})
        >>> m = GAN(epochs=2, generator_dim=(32,), discriminator_dim=(32,), seed=0).fit(df)
        >>> m.sample(5, conditions={"b": "y"}, seed=1)["b"].tolist()
        ['y', 'y', 'y', 'y', 'y']
    """

    family: ClassVar[str] = "gan"
    supports_log_prob: ClassVar[bool] = False
    log_prob_is_exact: ClassVar[bool] = False
    summary: ClassVar[str] = "Conditional GAN (CTGAN): WGAN-GP, PacGAN, training-by-sampling"
    when_to_use: ClassVar[str] = "Realistic rows for mixed tables; no likelihood needed"
    adult_fit_time: ClassVar[str] = "~2 min"
    conditioning: ClassVar[str] = ("conditional vector of the rarest asked value + rejection; "
                                   "row count guaranteed (rare combinations fixed in)")
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **NeuralModel._parameter_constraints,
        "embedding_dim": ("int", 1, 4096),
        "pac": ("int", 1, 1000),
        "discriminator_steps": ("int", 1, 100),
        "gp_weight": ("float", 0.0, 1e6),
        "max_modes": ("int", 1, 100),
    }

    train_defaults: ClassVar[dict[str, Any]] = {
        "lr": 2e-4,
        "weight_decay": 1e-6,
        "optimizer": "adam",
        "val_fraction": 0.0,
        "grad_clip": None,
        "max_steps": 5_000,  # ~76 epochs of Adult: the ~2 min of the old time budget
        "warmup_steps": 200,
    }

    def __init__(
        self,
        *,
        embedding_dim: int = 128,
        generator_dim: tuple[int, ...] = (256, 256),
        discriminator_dim: tuple[int, ...] = (256, 256),
        pac: int = 10,
        discriminator_steps: int = 1,
        gp_weight: float = 10.0,
        max_modes: int = 10,
        seed: int | None = None,
        **shared: Any,
    ) -> None:
        self._init_params(locals())

    def train_config(self) -> TrainConfig:
        """The training settings; during a fit, `max_minutes` less the time already spent
        on mode normalisation, so the budget bounds the whole fit."""
        config = super().train_config()
        spent = getattr(self, "_prep_seconds", 0.0)
        if config.max_minutes is not None and spent:
            config = replace(config, max_minutes=max(config.max_minutes - spent / 60, 1e-6))
        return config

    def _validate_params(self) -> None:
        super()._validate_params()
        for name in ("generator_dim", "discriminator_dim"):
            dims = getattr(self, name)
            if not (isinstance(dims, tuple) and 1 <= len(dims) <= 8 and all(
                    isinstance(h, (int, np.integer)) and not isinstance(h, bool)
                    and 1 <= h <= 65_536 for h in dims)):
                raise ParameterError(
                    f"GAN: {name} must be a tuple of 1 to 8 layer sizes in [1, 65536], "
                    f"got {dims!r}"
                )
        if self.val_fraction != 0:
            raise ParameterError(
                f"GAN: val_fraction must be 0, got {self.val_fraction!r}; a GAN has no "
                "validation likelihood for early stopping, so epochs and max_minutes bound it"
            )

    # -- networks -------------------------------------------------------------------------
    def _build(self, meta: dict[str, Any]) -> Generator:
        layout = Layout.of(ModeNormalizer.from_dict(meta["normalizer"]))
        return Generator(self.embedding_dim, layout.cond_width,
                         tuple(int(h) for h in self.generator_dim), layout.width)

    def _setup(self, meta: dict[str, Any]) -> None:
        """What sampling needs besides the generator, rebuilt from JSON metadata."""
        self.normalizer_ = ModeNormalizer.from_dict(meta["normalizer"])
        self.layout_ = Layout.of(self.normalizer_)
        self.sampler_ = CondSampler([np.asarray(k, np.int64) for k in meta["counts"]])

    # -- fit ------------------------------------------------------------------------------
    def _fit_arrays(self, enc: Encoded, conditions: list[int], rng: np.random.Generator) -> None:
        start = time.perf_counter()
        n_codes, dp, step_cls = self.schema_.n_codes(), self._dp_plan, GANStep
        if dp is None:
            normalizer = ModeNormalizer.fit(enc, n_codes, rng, max_modes=self.max_modes)
            counts = [np.bincount(enc.c[:, j], minlength=m) for j, m in enumerate(n_codes)]
        else:  # DP-SGD: a private critic (genlab.privacy._dp_gan), nothing copied
            from genlab.privacy._dp_gan import DPGANStep, private_gan_parts

            normalizer, counts = private_gan_parts(self.schema_, enc, dp)
            step_cls = functools.partial(DPGANStep, plan=dp, codes=enc.c)
        data_np = normalizer.transform(enc, rng)
        self.meta_ = {"normalizer": normalizer.to_dict(), "counts": [k.tolist() for k in counts],
                      "spikes": _spikes(normalizer, data_np) if dp is None else [
                          [] for _ in normalizer.means]}
        self._setup(self.meta_)
        sampler = CondSampler(counts, enc.c if dp is None else None)
        layout, config = self.layout_, self.train_config()
        device = resolve_device(config.device)
        with torch_seeded(rng):  # seeded initialisation, user state untouched
            self.net_ = self._build(self.meta_).to(device)
            critic = Discriminator(layout.width + layout.cond_width,
                                   tuple(int(h) for h in self.discriminator_dim),
                                   self.pac if dp is None else 1).to(device)
        if dp is None:
            warm_start(self.net_, data_np, enc.c, layout, sampler.offsets, _WARM_SCALE)
        train_step = step_cls(self.net_, critic, torch.as_tensor(data_np, device=device), sampler,
                             layout, config, rng, embedding_dim=self.embedding_dim, pac=self.pac,
                             discriminator_steps=self.discriminator_steps,
                             gp_weight=self.gp_weight)

        def no_validation(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            raise RuntimeError("a GAN has no validation loss; val_fraction is 0")

        self._prep_seconds, self._step = time.perf_counter() - start, train_step
        try:
            self._train(no_validation, [torch.arange(enc.n)], rng, train_step=train_step)
        finally:
            del self._prep_seconds, self._step

    def _train_tensors(self, enc: Encoded, rng: np.random.Generator) -> list[torch.Tensor]:
        """A streamed fit's fresh buffer `enc` during training: its rows, mode-normalised
        with the fitted normaliser, become the real rows of training-by-sampling (the
        conditional vectors drawn by the buffer's value counts, so each drawn value has
        rows); returns the loop's tensor, which only counts the rows."""
        counts = [np.bincount(enc.c[:, j], minlength=m)
                  for j, m in enumerate(self.schema_.n_codes())]
        data = torch.as_tensor(self.normalizer_.transform(enc, rng), device=self._step.device)
        self._step.swap(data, CondSampler(counts, enc.c))
        return [torch.arange(enc.n)]

    # -- sample ---------------------------------------------------------------------------
    def _generate(self, cond_ids: np.ndarray, gen: torch.Generator) -> Encoded:
        """Rows from the generator for conditional-vector positions `cond_ids`: alphas by
        tanh, modes and categories drawn from their softmax (gumbel-max)."""
        nrm, lay, dev = self.normalizer_, self.layout_, self.device_
        m = cond_ids.size
        x = np.empty((m, len(nrm.means)))
        c = np.empty((m, len(nrm.n_codes)), np.int64)
        self.net_.eval()
        with torch.no_grad():
            for s in range(0, m, _CHUNK):
                ids = torch.as_tensor(cond_ids[s:s + _CHUNK], device=dev)
                k = ids.numel()
                z = torch.randn((k, self.embedding_dim), generator=gen, device=dev)
                raw = self.net_(z, ids if lay.cond_width else None)
                noisy = raw + gumbel(raw.shape, gen, dev)
                for b in nrm.blocks:
                    if b.kind == "num":
                        alpha = torch.tanh(raw[:, b.start]).double().cpu().numpy()
                        mode = noisy[:, b.start + 1:b.start + b.width].argmax(1).cpu().numpy()
                        values = nrm.decode_numeric(b.index, alpha, mode)
                        if spikes := self.meta_["spikes"][b.index]:
                            u = torch.rand(k, generator=gen, device=dev).cpu().numpy()
                            for spike, value, share in spikes:
                                values[(mode == spike) & (u < share)] = value
                        x[s:s + k, b.index] = values
                    else:
                        codes = noisy[:, b.start:b.start + b.width].argmax(1)
                        c[s:s + k, b.index] = codes.cpu().numpy()
        return Encoded(x=x, c=c)

    def _sample_arrays(
        self, n: int, conditions: dict[int, int], rng: np.random.Generator
    ) -> Encoded:
        sampler = self.sampler_
        gen = torch_generator(rng, self.device_)
        if not conditions:
            if not sampler.n_columns:
                return self._generate(np.zeros(n, np.int64), gen)
            col, code = sampler.draw(n, rng, empirical=True)
            return self._generate(sampler.offsets[col] + code, gen)
        # the rarest asked value drives the conditional vector: the others are commoner, so
        # rejection on them keeps more rows
        lead = min(conditions, key=lambda j: sampler.frequency(j, conditions[j]))
        cond_id = int(sampler.offsets[lead] + conditions[lead])
        cols, vals = list(conditions), np.array(list(conditions.values()))
        kept: list[Encoded] = []
        got, proposed, budget = 0, 0, _PROPOSALS_PER_ROW * n + 10_000
        for _ in range(_MAX_ROUNDS):
            rate = got / proposed if proposed else 1.0
            m = int(min(max((n - got) / max(rate, 1e-3) * 1.1, 64), budget - proposed))
            if m <= 0:
                break
            enc = self._generate(np.full(m, cond_id), gen)
            ok = (enc.c[:, cols] == vals).all(axis=1)
            kept.append(Encoded(x=enc.x[ok], c=enc.c[ok]))
            got, proposed = got + int(ok.sum()), proposed + m
            if got >= n:
                break
        if got < n:  # rare combination: guarantee the count, writing the asked values in
            enc = self._generate(np.full(n - got, cond_id), gen)
            enc.c[:, cols] = vals
            kept.append(enc)
        return Encoded(x=np.concatenate([k.x for k in kept])[:n],
                       c=np.concatenate([k.c for k in kept])[:n])

    # -- persistence ----------------------------------------------------------------------
    # BatchNorm's 0-d `num_batches_tracked` counters are not stored: with a fixed momentum
    # they play no part in the model, and the model file stores 0-d arrays as shape (1,)
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, tensors = super()._state()
        return meta, {k: v for k, v in tensors.items() if not k.endswith(_COUNTER)}

    def _expected_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        nrm = meta["normalizer"]
        n_codes = self.schema_.n_codes()
        if (len(nrm["means"]) != len(self.schema_.numeric) or list(nrm["n_codes"]) != n_codes
                or [len(k) for k in meta["counts"]] != n_codes
                or len(meta["spikes"]) != len(self.schema_.numeric)):
            raise ValueError("fitted metadata does not match the codec's columns")
        shapes = super()._expected_shapes(meta)
        return {k: v for k, v in shapes.items() if not k.endswith(_COUNTER)}

    def _restore(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        counters = {f"net.blocks.{i}.bn{_COUNTER}": np.zeros((), np.int64)
                    for i in range(len(self.generator_dim))}
        super()._restore(meta, {**tensors, **counters})
        self._setup(meta)
