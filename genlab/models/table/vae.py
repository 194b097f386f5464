"""Tabular variational autoencoder in the style of TVAE, with IWAE likelihoods and CVAE."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch.nn import functional as F

from genlab.data.modes import ModeNormalizer
from genlab.data.tabular import Encoded
from genlab.errors import ParameterError
from genlab.models.table._vae_combos import DeclaredCombos
from genlab.models.table._vae_latent import LatentRows
from genlab.models.table.neural import NeuralModel
from genlab.nets.tabular_vae import VAENet, block_loglik, data_loglik, fit_aggregate_posterior
from genlab.params import ParamSpec
from genlab.privacy._sgd_fit import PrivateSGD, noisy_counts, range_normalizer
from genlab.seeding import torch_generator, torch_seeded
from genlab.train import resolve_device

__all__ = ["VAE"]

_CHUNK = 65_536  # decoder rows per pass (bounded memory, fast matmuls)
_LOG_2PI = math.log(2 * math.pi)
_PROPOSALS_PER_ROW = 20  # rejection budget per requested row (plus 200,000)
_POOL_PER_ROW = 20  # importance-resampling pool per missing row (at least 10,000)


class VAE(PrivateSGD, DeclaredCombos, LatentRows, NeuralModel):
    """Variational autoencoder for mixed tables (TVAE, Xu et al. 2019), optionally conditional.

    Rows are mode-normalised (`genlab.data.modes`): numeric value -> (alpha, mode one-hot),
    categorical -> one-hot. An encoder gives q(z | x) = N(mu(x), diag sigma^2(x)); a decoder
    gives, per numeric column, a mean a(z) = tanh(.) of alpha with sd s (one per column,
    learned in [0.01, 1] or fixed at 0.1) and mode logits, and per categorical column logits.
    Training maximises the beta-weighted ELBO per row (Kingma & Welling 2014):

        ELBO(x) = E_q[log p(x | z)] - beta * KL(q(z | x) || N(0, I)),
        log p(x | z) = sum_num [log N(alpha; a(z), s) + log pi_mode(z)] + sum_cat log p_c(z)

    `log_prob` is the importance-weighted estimate (IWAE, Burda et al. 2016) with
    k = `iwae_samples` draws z_i ~ q(z | x), in the user's units:

        log p(x) ~ log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x),
        p(x_j | z) = sum_m pi_m(z) N(alpha_m(x_j); a(z), s) / (4 sigma_m)

    (modes marginalised exactly). It is a stochastic lower bound in expectation that tightens
    as k grows, so `log_prob_is_exact` is False; draws use a fixed internal seed, so the same
    rows always get the same scores. Missing numeric cells are dropped from p(x | z) (their
    encoder input block is zero) and their pattern is MCAR (base class).

    Conditioning: columns declared at `fit(..., conditions=[cols])` make a CVAE: their
    one-hots feed encoder and decoder, their joint frequencies give p(m), and sampling fixes
    them directly (exact, as fast as unconditional sampling). Any other categorical column is
    exact rejection sampling: z ~ N(0, I) (with declared columns from their frequencies) is
    kept with probability prod_j p(v_j | z), which yields p(z | v) exactly because columns
    are independent given z; the other columns are then drawn from p(. | z). If a rare value
    leaves rows missing after 20 proposals per row, the rest come from importance resampling
    with the aggregate posterior of the training rows holding the rarest value as proposal
    (approximate; the row count is guaranteed).

    Args:
        latent_dim: size of z.
        hidden: hidden layer sizes of the encoder (the decoder mirrors them).
        beta: weight of the KL term (1 is the ELBO; 0.5, the default, is TVAE's loss factor
            2, which keeps the latent space in use and the columns' dependence with it).
        decoder_variance: "learned" (one sd per numeric column) or "fixed" (0.1).
        iwae_samples: importance samples k per row in `log_prob`.
        max_modes: most mixture modes per numeric column.
        epochs, batch_size, lr, weight_decay, optimizer, val_fraction, patience, grad_clip,
        max_minutes, warmup_steps, device: see `genlab.train.TrainConfig`; early stopping
            watches the validation loss (negative ELBO).
        seed: seeds initialisation, training and default sampling.

    References: Kingma & Welling 2014, Auto-Encoding Variational Bayes; Burda et al. 2016,
    Importance Weighted Autoencoders; Xu et al. 2019, Modeling Tabular Data using
    Conditional GAN (TVAE); Sohn et al. 2015 (CVAE).

    Example:
        >>> import pandas as pd, numpy as np
        >>> rng = np.random.default_rng(0)
        >>> df = pd.DataFrame({"a": rng.normal(size=200).round(2),
        ...                    "b": rng.choice(["x", "y"], 200)})
        >>> m = VAE(epochs=2, latent_dim=4, hidden=(16,), iwae_samples=4, seed=0).fit(df)
        >>> m.sample(5, conditions={"b": "y"}, seed=1)["b"].tolist()
        ['y', 'y', 'y', 'y', 'y']
        >>> m.encode(df.head(3)).shape
        (3, 4)
    """

    family: ClassVar[str] = "vae"
    log_prob_is_exact: ClassVar[bool] = False
    has_latent: ClassVar[bool] = True
    summary: ClassVar[str] = "Variational autoencoder (TVAE style), IWAE log_prob, CVAE option"
    when_to_use: ClassVar[str] = "Realistic rows, a latent space (encode/interpolate), scores"
    adult_fit_time: ClassVar[str] = "~2 min"
    conditioning: ClassVar[str] = ("declared: CVAE inputs (exact); others: rejection on "
                                   "p(value | z) (exact), importance resampling for rare values")
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **NeuralModel._parameter_constraints,
        "latent_dim": ("int", 1, 4096),
        "beta": ("float", 0.0, 1e6),
        "decoder_variance": ("choice", ("learned", "fixed")),
        "iwae_samples": ("int", 1, 100_000),
        "max_modes": ("int", 1, 100),
    }

    train_defaults: ClassVar[dict[str, Any]] = {
        "lr": 3e-3,
        "optimizer": "adam",
        "patience": 20,
        "max_steps": 6_500,  # ~110 epochs of Adult: the ~2 min of the old time budget
        "warmup_steps": 0,
    }

    def __init__(
        self,
        *,
        latent_dim: int = 128,
        hidden: tuple[int, ...] = (256, 256),
        beta: float = 0.5,
        decoder_variance: Literal["learned", "fixed"] = "learned",
        iwae_samples: int = 64,
        max_modes: int = 10,
        seed: int | None = None,
        **shared: Any,
    ) -> None:
        self._init_params(locals())

    def _validate_params(self) -> None:
        super()._validate_params()
        h = self.hidden
        if not (isinstance(h, tuple) and 1 <= len(h) <= 8 and all(
                isinstance(k, (int, np.integer)) and not isinstance(k, bool) and 1 <= k <= 65_536
                for k in h)):
            raise ParameterError(
                f"VAE: hidden must be a tuple of 1 to 8 layer sizes in [1, 65536], got {h!r}")

    # -- networks and layout --------------------------------------------------------------
    def _build(self, meta: dict[str, Any]) -> VAENet:
        nrm = ModeNormalizer.from_dict(meta["normalizer"])
        return VAENet(nrm.width, int(meta["cond_width"]), self.latent_dim,
                    tuple(int(k) for k in self.hidden), len(nrm.means), sum(nrm.n_codes),
                    self.decoder_variance == "learned")

    def _setup(self, meta: dict[str, Any]) -> None:
        """What scoring and sampling need besides the network, from JSON metadata."""
        self.normalizer_ = nrm = ModeNormalizer.from_dict(meta["normalizer"])
        self.cond_cols_ = [int(j) for j in meta["cond_cols"]]
        widths = [nrm.n_codes[j] for j in self.cond_cols_]
        self.cond_offsets_ = np.cumsum([0, *widths])[:-1].astype(np.int64)
        self.combo_counts_ = np.asarray(meta["combo_counts"], np.float64)
        self.combos_ = np.asarray(meta["combos"], np.int64).reshape(
            self.combo_counts_.size, len(self.cond_cols_))
        self.n_combos_ = float(np.prod(widths)) if widths else 1.0
        self.counts_ = [np.asarray(k, np.float64) for k in meta["counts"]]
        self.code_offsets_ = np.cumsum([0, *nrm.n_codes])[:-1].astype(np.int64)

    def _encoder_input(self, enc: Encoded) -> np.ndarray:
        """Block matrix for the encoder; blocks of missing cells and unseen codes stay zero
        (the input then depends on the observed cells only, as IWAE needs)."""
        nrm = self.normalizer_
        x, c = enc.x.copy(), enc.c.copy()
        miss, bad = np.isnan(x), c < 0
        for j in range(x.shape[1]):
            x[miss[:, j], j] = nrm.means[j][0]
        c[bad] = 0
        out = nrm.transform(Encoded(x, c), np.random.default_rng(0))
        for b in nrm.blocks:
            zero = miss[:, b.index] if b.kind == "num" else bad[:, b.index]
            out[zero, b.start:b.start + b.width] = 0.0
        return out

    # -- fit ------------------------------------------------------------------------------
    def _fit_arrays(self, enc: Encoded, conditions: list[int], rng: np.random.Generator) -> None:
        n_codes, dp = self.schema_.n_codes(), self._dp_plan  # dp: DP-SGD, nothing copied
        nrm = ModeNormalizer.fit(enc, n_codes, rng, max_modes=self.max_modes) if (
            dp is None) else range_normalizer(self.schema_, conditions)
        if conditions:
            combos, counts = np.unique(enc.c[:, conditions], axis=0, return_counts=True)
        else:
            combos, counts = np.zeros((1, 0), np.int64), np.array([enc.n])
        self.meta_ = {
            "normalizer": nrm.to_dict(), "cond_cols": list(conditions),
            "cond_width": int(sum(n_codes[j] for j in conditions)),
            "combos": combos.tolist(), "combo_counts": counts.tolist(),
            "counts": [np.bincount(enc.c[:, j], minlength=m).tolist()
                       for j, m in enumerate(n_codes)] if dp is None else noisy_counts(dp, enc),
        }
        self._setup(self.meta_)
        tensors = self._train_tensors(enc, rng)
        data = tensors[0].numpy()
        device = resolve_device(self.device)
        with torch_seeded(rng):  # seeded initialisation, user state untouched
            net = self.net_ = self._build(self.meta_).to(device)
        with torch.no_grad():  # start every softmax at the marginal frequencies
            bias = np.zeros(nrm.width, np.float32)
            for b in nrm.blocks if dp is None else []:
                part = data[:, b.start + (b.kind == "num"):b.start + b.width]
                bias[b.start + (b.kind == "num"):b.start + b.width] = np.log(
                    (part.sum(0) + 0.5) / (part.shape[0] + 0.5 * part.shape[1]))
            net.decoder[-1].bias.copy_(torch.as_tensor(bias))
        noise = torch_generator(rng, device)
        skip = set(conditions)

        def loss_fn(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            d, cv = batch
            mu, logvar = net.encode(d, cv)
            # DP-SGD's vmap draws per row from the seeded default generator instead
            eps = torch.randn(mu.shape, generator=None if dp else noise, device=mu.device)
            raw = net.decode(mu + torch.exp(0.5 * logvar) * eps, cv)
            kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(1)
            return -block_loglik(net, self.normalizer_, raw, d, skip) + self.beta * kl

        self._train(loss_fn, tensors, rng)
        if dp is None:  # under DP the proposal stays the prior (it would read the rows)
            fit_aggregate_posterior(net, data, enc.c, tensors[1], self.code_offsets_,
                                    self.counts_)

    def _train_tensors(self, enc: Encoded, rng: np.random.Generator) -> list[torch.Tensor]:
        """The training tensors of rows `enc` once the setup is fitted (a streamed fit's
        fresh buffer too): mode-normalised rows and the declared conditions' one-hots."""
        return [torch.as_tensor(self.normalizer_.transform(enc, rng)),
                torch.as_tensor(self._cond_array(enc.c[:, self.cond_cols_]))]

    # -- log_prob -------------------------------------------------------------------------
    def _log_prob_arrays(self, enc: Encoded) -> np.ndarray:
        k, net, lat = int(self.iwae_samples), self.net_, self.latent_dim
        d_in = self._encoder_input(enc)
        combos = enc.c[:, self.cond_cols_]
        gen = torch.Generator(device=self.device_).manual_seed(0)  # same rows, same scores
        out = np.empty(enc.n)
        rows = max(1, _CHUNK // k)
        net.eval()
        with torch.no_grad():
            for s in range(0, enc.n, rows):
                sl = slice(s, s + rows)
                cv = self._cond_vec(combos[sl])
                mu, logvar = net.encode(self._to_tensor(d_in[sl]), cv)
                r, std = mu.shape[0], torch.exp(0.5 * logvar)
                eps = torch.randn((r, k, lat), generator=gen, device=mu.device)
                z = mu[:, None] + std[:, None] * eps
                log_q = (-0.5 * eps**2 - torch.log(std)[:, None] - 0.5 * _LOG_2PI).sum(-1)
                log_pz = (-0.5 * z**2 - 0.5 * _LOG_2PI).sum(-1)
                raw = net.decode(z.reshape(r * k, lat), cv.repeat_interleave(k, 0))
                log_px = data_loglik(
                    self.net_, self.normalizer_, self.cond_cols_, raw,
                    self._to_tensor(enc.x[sl], torch.float64).repeat_interleave(k, 0),
                    self._to_tensor(enc.c[sl], torch.long).repeat_interleave(k, 0))
                lw = log_px.reshape(r, k) + (log_pz - log_q).double()
                out[sl] = (torch.logsumexp(lw, 1) - math.log(k)).cpu().numpy()
        return out + self._log_p_combo(combos)

    def _encode(self, data: Any) -> np.ndarray:
        """Posterior means mu(x) of q(z | x) per row (missing cells do not feed in), each
        number in its most probable mode, so a row's features do not depend on its batch."""
        d_in, combos = self.encoder_rows(data)
        out = [self.net_.encode(self._to_tensor(d_in[s:s + _CHUNK]),
                                self._cond_vec(combos[s:s + _CHUNK]))[0].double().cpu().numpy()
               for s in range(0, d_in.shape[0], _CHUNK)]
        return np.concatenate(out) if out else np.zeros((0, self.latent_dim))

    def encoder_rows(self, data: Any) -> tuple[np.ndarray, np.ndarray]:
        """The encoder's input per row (mode-normalised, each number in its most probable
        mode, missing cells as zero blocks) and the declared conditions' codes."""
        enc, nrm = self._encoded(data), self.normalizer_
        d_in = self._encoder_input(enc)
        for b in (b for b in nrm.blocks if b.kind == "num"):
            rows = np.flatnonzero(~np.isnan(enc.x[:, b.index]))
            col = enc.x[rows, b.index]
            mode = nrm._responsibilities(b.index, col).argmax(axis=1)
            d_in[rows, b.start:b.start + b.width] = 0.0
            d_in[rows, b.start + 1 + mode] = 1.0
            d_in[rows, b.start] = np.clip((col - nrm.means[b.index][mode]) / (
                4 * nrm.stds[b.index][mode]), -0.99, 0.99)
        return d_in, np.maximum(enc.c[:, self.cond_cols_], 0)  # never-seen code: the first

    def _decode(self, z: torch.Tensor, combos: np.ndarray, gen: torch.Generator | None,
                fixed: dict[int, int]) -> tuple[Encoded, np.ndarray]:
        """Rows from latent codes: modes and categories drawn from their softmax (gumbel-max)
        and alpha ~ N(a(z), s), or the most likely row when `gen` is None. Also returns
        log prod_j p(v_j | z) of the `fixed` values, which are then written in."""
        nrm, net, m = self.normalizer_, self.net_, z.shape[0]
        x = np.empty((m, len(nrm.means)))
        c = np.empty((m, len(nrm.n_codes)), np.int64)
        log_accept = np.zeros(m)
        net.eval()
        with torch.no_grad():
            sigma = net.sigma()
            for s in range(0, m, _CHUNK):
                sl = slice(s, s + _CHUNK)
                raw = net.decode(z[sl], self._cond_vec(combos[sl]))
                noisy = raw
                if gen is not None:
                    u = torch.rand(raw.shape, generator=gen, device=raw.device)
                    noisy = raw - torch.log(-torch.log(u.clamp(1e-12, 1 - 1e-7)))
                for b in nrm.blocks:
                    if b.kind == "num":
                        a = torch.tanh(raw[:, b.start])
                        if gen is not None:
                            a = a + sigma[b.index] * torch.randn(a.shape, generator=gen,
                                                                 device=a.device)
                        mode = noisy[:, b.start + 1:b.start + b.width].argmax(1).cpu().numpy()
                        x[sl, b.index] = nrm.decode_numeric(b.index, a.double().cpu().numpy(),
                                                            mode)
                        continue
                    span = raw[:, b.start:b.start + b.width]
                    c[sl, b.index] = noisy[:, b.start:b.start + b.width].argmax(1).cpu().numpy()
                    if b.index in fixed:
                        log_accept[sl] += F.log_softmax(span, 1)[:, fixed[b.index]].cpu().numpy()
        c[:, self.cond_cols_] = combos
        for j, v in fixed.items():
            c[:, j] = v
        return Encoded(x=x, c=c), log_accept

    def _sample_arrays(
        self, n: int, conditions: dict[int, int], rng: np.random.Generator
    ) -> Encoded:
        gen, dev, lat = torch_generator(rng, self.device_), self.device_, self.latent_dim
        declared = {j: v for j, v in conditions.items() if j in self.cond_cols_}
        other = {j: v for j, v in conditions.items() if j not in self.cond_cols_}
        if not other:  # prior draws, declared values fed to the decoder: exact
            z = torch.randn((n, lat), generator=gen, device=dev)
            return self._decode(z, self._draw_combos(declared, n, rng), gen, {})[0]
        kept: list[Encoded] = []
        got, proposed, budget = 0, 0, _PROPOSALS_PER_ROW * n + 200_000
        while got < n and proposed < budget:
            rate = got / proposed if proposed else 1.0
            m = int(min(max((n - got) / max(rate, 1e-3) * 1.2, 256), budget - proposed))
            z = torch.randn((m, lat), generator=gen, device=dev)
            enc, log_acc = self._decode(z, self._draw_combos(declared, m, rng), gen, other)
            ok = np.log(rng.random(m)) < log_acc  # accept with probability prod p(v_j | z)
            kept.append(Encoded(x=enc.x[ok], c=enc.c[ok]))
            got, proposed = got + int(ok.sum()), proposed + m
            if proposed >= 20_000 and (n - got) * proposed > (budget - proposed) * max(got, 1):
                break  # the budget cannot fill the rest at this rate: resample at once
        if got < n:
            kept.append(self._resample(n - got, declared, other, rng, gen))
        return Encoded(x=np.concatenate([k.x for k in kept])[:n],
                       c=np.concatenate([k.c for k in kept])[:n])

    def _resample(self, n: int, declared: dict[int, int], other: dict[int, int],
                  rng: np.random.Generator, gen: torch.Generator) -> Encoded:
        """Importance resampling of z for rare values: proposal N(m_v, diag v_v), the
        aggregate posterior of training rows holding the rarest asked value v."""
        rare = min(other, key=lambda j: self.counts_[j][other[j]] / self.counts_[j].sum())
        off = int(self.code_offsets_[rare] + other[rare])
        mean, sd = self.net_.agg_mean[off], self.net_.agg_var[off].sqrt()
        pool = min(max(_POOL_PER_ROW * n, 10_000), 4 * _CHUNK)
        eps = torch.randn((pool, self.latent_dim), generator=gen, device=self.device_)
        z = mean + sd * eps
        log_w = ((-0.5 * z**2).sum(1) - (-0.5 * eps**2 - torch.log(sd)).sum(1)).double()
        combos = self._draw_combos(declared, pool, rng)
        log_w = log_w.cpu().numpy() + self._decode(z, combos, gen, other)[1]
        w = np.exp(log_w - log_w.max())
        pick = rng.choice(pool, size=n, p=w / w.sum())
        return self._decode(z[torch.as_tensor(pick, device=z.device)], combos[pick], gen,
                            other)[0]

    # -- persistence ----------------------------------------------------------------------
    def _expected_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        nrm, n_codes = meta["normalizer"], self.schema_.n_codes()
        if (len(nrm["means"]) != len(self.schema_.numeric) or list(nrm["n_codes"]) != n_codes
                or [len(k) for k in meta["counts"]] != n_codes
                or any(not 0 <= int(j) < len(n_codes) for j in meta["cond_cols"])):
            raise ValueError("fitted metadata does not match the codec's columns")
        return super()._expected_shapes(meta)

    def _restore(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        super()._restore(meta, tensors)
        self._setup(meta)
