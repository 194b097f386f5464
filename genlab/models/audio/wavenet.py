"""WaveNet (van den Oord et al. 2016): an autoregressive model of μ-law audio samples, with
global (class) and local (log-mel) conditioning, so it also serves as a mel vocoder."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np
import torch
from torch.nn import functional as F

from genlab._progress import task
from genlab.data.audio import MEL_DEFAULTS, Clips, mu_law_decode, mu_law_encode
from genlab.data.audio_features import MEL_FLOOR, bin_widths_16bit, quantize_16bit
from genlab.data.audio_lpc import lpc_analysis, lpc_from_mel, lpc_synthesis
from genlab.errors import DataError, ParameterError
from genlab.models.audio.base import AudioModel
from genlab.nets.wavenet import WaveNetNet
from genlab.params import ParamSpec
from genlab.seeding import check_seed, draw_seed, torch_generator

__all__ = ["WaveNet"]

_SCORE_CHUNK = 16_384  # samples per forward pass when scoring a long clip


class WaveNet(AudioModel):
    """WaveNet: log p(x) = sum_t log p(x_t | x_<t) over 8-bit μ-law tokens, a softmax over
    the `levels` per sample from a stack of dilated causal convolutions (kernel 2,
    dilations 1, 2, ..., 2^(cycle-1), repeated) with gated tanh-sigmoid units and residual
    and skip connections (`genlab.nets.wavenet`). The first sample is predicted from the
    token of silence. `log_prob` is exact, in nats per clip, for the μ-law tokens of the
    clip's 16-bit version (`log_prob(data, bits=16)`: of the 16-bit values themselves);
    `bits_per_sample` and `nats_per_second` summarise it.

    Conditioning: `fit(data, conditions="label")` learns one gate bias per class per layer
    (global); `local="mel"` conditions every sample on the clip's log-mel frames (each frame
    held for `hop` samples, i.e. upsampled by repetition), and `vocode(mel)` then turns mel
    frames into a waveform. A mel-conditioned model scores log p(x | mel(x)).

    Training reads random windows of `window` samples (`epoch_size` per epoch, drawn once
    from the seed, a clip in proportion to its length), each with the receptive field of
    real samples before it (no loss there), through `genlab.train.fit_loop`; the loss is
    nats per sample. Sampling keeps a queue of past activations per layer
    (Paine et al. 2016), one matrix product per layer and sample; `cache=False` reruns the
    stack over the receptive field instead, with identical samples.

    Args:
        channels: residual and gate channels; skip_channels: channels of the skip sum.
        layers, cycle: gated layers, and the dilations' cycle length (2^(cycle-1) at most).
        levels: μ-law levels (256: 8 bits).
        position_hop: 0, or samples per learned position step: the class (global) gate bias
            then also depends on (sample index // position_hop) since the clip's start, so a
            class-conditional model can follow a word's course beyond its receptive field.
        local: None, or "mel" for local conditioning on log-mel frames (n_mels, n_fft, hop;
            cond_channels: width of the mel encoder).
        lpc: 0, or the order of a linear predictor read from the mel frames (`local="mel"`
            only): the net then models the μ-law tokens of the prediction residual, scaled
            by its largest training value (a larger residual in other clips falls in the
            end bins), and `vocode` rebuilds the waveform with the
            synthesis filter, so sampling noise follows the spectral envelope
            (`genlab.data.audio_lpc`, after LPCNet). `log_prob` is then of the residual's
            tokens given the mel frames (the filter is a shift given the past: unit
            Jacobian).
        window, epoch_size: training window in samples and windows per epoch.
        rate, trim_db: how clips are read (`genlab.data.audio.read_audio`).
        epochs, batch_size, lr, ...: see `genlab.train.TrainConfig`.
    """

    family: ClassVar[str] = "wavenet"
    summary: ClassVar[str] = "WaveNet: dilated causal convolutions over μ-law samples"
    when_to_use: ClassVar[str] = ("class-conditional sounds, exact log-likelihood, or a mel "
                                  "vocoder (local='mel')")
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **AudioModel._parameter_constraints,
        "channels": ("int", 1, 1024),
        "skip_channels": ("int", 1, 4096),
        "layers": ("int", 1, 128),
        "cycle": ("int", 1, 16),
        "levels": ("int", 2, 4096),
        "local": ("choice", (None, "mel")),
        "n_mels": ("int", 1, 512),
        "n_fft": ("int", 16, 65536),
        "hop": ("int", 1, 65536),
        "cond_channels": ("int", 1, 1024),
        "lpc": ("int", 0, 64),
        "position_hop": ("int", 0, 10_000_000),
        "window": ("int", 2, 10_000_000),
        "epoch_size": ("int", 1, 10_000_000),
    }
    train_defaults: ClassVar[dict[str, Any]] = {
        "epochs": 1000, "batch_size": 8, "lr": 1e-3, "weight_decay": 0.0, "optimizer": "adam",
        "val_fraction": 0.05, "patience": 10, "grad_clip": 10.0, "warmup_steps": 0,
        "max_steps": 2_000,
    }

    def __init__(
        self,
        *,
        channels: int = 32,
        skip_channels: int = 64,
        layers: int = 10,
        cycle: int = 10,
        levels: int = 256,
        local: str | None = None,
        n_mels: int = MEL_DEFAULTS["n_mels"],
        n_fft: int = MEL_DEFAULTS["n_fft"],
        hop: int = MEL_DEFAULTS["hop"],
        cond_channels: int = 64,
        lpc: int = 0,
        position_hop: int = 0,
        window: int = 4096,
        epoch_size: int = 1024,
        seed: int | None = None,
        **shared: Any,
    ) -> None:
        self._init_params(locals())

    def _codec_settings(self) -> dict[str, Any]:
        return {"levels": self.levels, "n_mels": self.n_mels, "n_fft": self.n_fft,
                "hop": self.hop, "mel": self.local == "mel"}

    def _build(self, meta: dict[str, Any]) -> WaveNetNet:
        return WaveNetNet(self.levels, self.channels, self.skip_channels, self.layers,
                          self.cycle, int(meta["k"]), self.n_mels if meta["mel"] else 0,
                          self.cond_channels, int(meta.get("positions", 0)))

    @property
    def receptive_field_(self) -> int:
        """Past samples one prediction sees (1 + the sum of the dilations)."""
        return self.net_.receptive_field

    @property
    def _silence(self) -> int:
        return int(mu_law_encode(np.zeros(1), self.levels)[0])

    # -- mel frames -----------------------------------------------------------------------
    def _norm_mel(self, frames: np.ndarray) -> np.ndarray:
        return ((frames - self.meta_["mel_mean"]) / self.meta_["mel_std"]).astype(np.float32)

    def _mel_window(self, frames: np.ndarray, start: int, count: int) -> np.ndarray:
        """Normalised frames start - 1 .. start + count (one of context each side), padded
        with the frame of silence outside the clip: (count + 2, n_mels)."""
        quiet = (np.log(MEL_FLOOR) - self.meta_["mel_mean"]) / self.meta_["mel_std"]
        out = np.full((count + 2, frames.shape[1]), quiet, dtype=np.float32)
        lo, hi = max(start - 1, 0), min(start + count + 1, frames.shape[0])
        if hi > lo:
            out[lo - (start - 1):hi - (start - 1)] = self._norm_mel(frames[lo:hi])
        return out

    def _frame_count(self, length: int) -> int:
        return -(-length // self.codec_.hop)

    def _lpc_coeffs(self, frames: np.ndarray) -> np.ndarray:
        return lpc_from_mel(frames, self.codec_.rate, self.codec_.n_fft, self.lpc)

    def _residual(self, wave: np.ndarray, frames: np.ndarray) -> np.ndarray:
        """The prediction residual of the clip's 16-bit version (what the net models)."""
        return lpc_analysis(quantize_16bit(wave) / 32768.0, self._lpc_coeffs(frames),
                            self.codec_.hop)

    def _tokens_of(self, wave: np.ndarray, frames: np.ndarray | None) -> np.ndarray:
        """The tokens the net models: of the waveform, or with `lpc` of its residual."""
        if not self.meta_.get("lpc_gain"):
            return self.codec_.tokens(wave)
        e = self._residual(wave, frames) / self.meta_["lpc_gain"]  # type: ignore[arg-type]
        return mu_law_encode(np.clip(e, -1.0, 1.0), self.levels)

    def _bits16_correction(self, wave: np.ndarray) -> float:
        if not self.meta_.get("lpc_gain"):
            return super()._bits16_correction(wave)
        # the residual's bins, scaled back by the gain, in 16-bit steps of the waveform
        tokens = self._tokens_of(wave, self.codec_.mel_of(wave))
        widths = np.log(bin_widths_16bit(self.levels).astype(np.float64))
        return float(widths[tokens].sum() + tokens.size * np.log(self.meta_["lpc_gain"]))

    # -- fitting ----------------------------------------------------------------------------
    def _fit_clips(self, clips: Clips, codes: np.ndarray | None,
                   rng: np.random.Generator) -> None:
        mel = self.local == "mel"
        hop = self.hop if mel else 1
        window = -(-self.window // hop) * hop
        self.meta_ = {"k": self.n_classes_, "mel": mel}
        if self.position_hop:  # steps to cover the longest clip; later ones hold the last
            longest = max(w.size for w in clips.waves)
            self.meta_["positions"] = -(-longest // self.position_hop)
        if self.lpc and not mel:
            raise ParameterError("lpc needs local='mel' (the predictor is read from the mel "
                                 "frames); add --param local=mel or set lpc=0")
        mels = [self.codec_.mel_of(w) for w in clips.waves] if mel else []
        if mel:
            stacked = np.concatenate(mels)
            self.meta_["mel_mean"] = float(stacked.mean())
            self.meta_["mel_std"] = float(max(stacked.std(), 1e-3))
        if self.lpc:
            peak = max(float(np.abs(self._residual(w, m)).max()) for w, m in
                       zip(clips.waves, mels, strict=True))
            self.meta_["lpc_gain"] = max(peak, 1e-6)
        tokens = [self._tokens_of(w, m) for w, m in
                  zip(clips.waves, mels if mel else [None] * len(clips), strict=True)]
        self.net_ = self._new_net(rng)  # initial weights from the model's seed alone
        # each window comes with the receptive field before it (no loss there), so every
        # prediction sees real past samples as it does when sampling, not zero padding
        ctx = -(-(self.net_.receptive_field - 1) // hop) * hop
        rows, mask, frames, which, starts = self._windows(tokens, mels, window, ctx, hop, rng)
        firsts = torch.from_numpy(np.maximum(starts - ctx, 0))  # each row's first prediction
        y = torch.zeros(self.epoch_size, dtype=torch.long) if codes is None else (
            torch.from_numpy(codes[which]))

        def loss_fn(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            x, m, f, yb, first = batch
            logp = self._chunk_log_probs(x, self._class_codes(yb, codes is not None),
                                         f if mel else None, 0, first)
            return -(logp * m).sum(1) / m.sum(1).clamp(min=1.0)

        self._train(loss_fn, [torch.from_numpy(rows), torch.from_numpy(mask),
                              torch.from_numpy(frames), y, firsts], rng)

    def _class_codes(self, y: torch.Tensor, conditional: bool) -> torch.Tensor | None:
        """The codes the net gets: the class; for an unconditional model, class 0 with
        position steps (their table has one row of steps), else None."""
        if conditional:
            return y
        return None if self.net_.position_cond is None else torch.zeros_like(y)

    def _windows(self, tokens: list[np.ndarray], mels: list[np.ndarray], window: int, ctx: int,
                 hop: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """`epoch_size` training rows: tokens of `ctx` samples of context, the window and the
        one before it (silence before the clip), the loss mask (0 on the context and past the
        clip), the normalised mel frames of context + window with one frame each side, and
        each row's clip and window start."""
        mel = bool(mels)
        lengths = np.asarray([t.size for t in tokens], np.float64)
        which = rng.choice(len(tokens), size=self.epoch_size, p=lengths / lengths.sum())
        span = ctx + window
        rows = np.full((self.epoch_size, span + 1), self._silence, np.int64)
        mask = np.zeros((self.epoch_size, span), np.float32)
        shape = (span // hop + 2, self.n_mels) if mel else (1, 1)  # unused without mel
        frames = np.zeros((self.epoch_size, *shape), np.float32)
        starts = np.zeros(self.epoch_size, np.int64)
        for r, c in enumerate(which):
            t = tokens[c]
            start = starts[r] = int(rng.integers(0, max(t.size - window, 0) // hop + 1)) * hop
            # rows start at a multiple of hop (position // hop is the frame); a window near
            # the clip's start gets less context, from the silence token and zero padding
            # as when sampling and scoring
            lo = max(start - ctx, 0)
            piece = t[max(lo - 1, 0):lo + span]  # row j holds sample lo - 1 + j
            offset = 1 if lo == 0 else 0
            rows[r, offset:offset + piece.size] = piece[:span + 1 - offset]
            n = min(window, t.size - start)
            mask[r, start - lo:start - lo + n] = 1.0
            if mel:
                frames[r] = self._mel_window(mels[c], lo // hop, span // hop)
        return rows, mask, frames, which, starts

    # -- scoring ----------------------------------------------------------------------------
    def _log_prob_wave(self, wave: np.ndarray, code: int | None) -> float:
        """Exact nats of one clip's tokens, in chunks that carry the receptive field along."""
        frames = self.codec_.mel_of(wave) if self.meta_["mel"] else None
        tokens = np.concatenate([[self._silence], self._tokens_of(wave, frames)])
        y = self._class_codes(torch.tensor([code or 0], device=self.device_),
                              code is not None)
        hop, r = self.codec_.hop, self.receptive_field_
        total = 0.0
        for s in range(0, tokens.size - 1, _SCORE_CHUNK):
            e = min(s + _SCORE_CHUNK, tokens.size - 1)
            lo = max(s - r + 1, 0)
            x = self._to_tensor(tokens[lo:e + 1][None], torch.long)
            mel = None
            if frames is not None:
                # frames from the one holding sample `lo`, so position // hop lines up
                first = lo // hop
                count = self._frame_count(e - first * hop)
                mel = self._to_tensor(self._mel_window(frames, first, count)[None])
                lp = self._chunk_log_probs(x, y, mel, lo - first * hop, lo)
            else:
                lp = self._chunk_log_probs(x, y, None, 0, lo)
            total += float(lp[0, s - lo:].double().sum())
        return total

    def _chunk_log_probs(self, x: torch.Tensor, y: torch.Tensor | None,
                         mel: torch.Tensor | None, offset: int,
                         first: torch.Tensor | int = 0) -> torch.Tensor:
        """log p of tokens x[:, 1:] given x[:, :-1] (B x T); the first prediction is of the
        sample `offset` samples after the start of the first frame in `mel`, and of sample
        `first` (per row, or one for all) of its clip."""
        net = self.net_
        g, f = net.frame_conditioning(y, mel)
        pos = torch.arange(offset, offset + x.shape[1] - 1, device=x.device)
        shift = torch.as_tensor(first, device=x.device).reshape(-1) - offset
        logits = net(x[:, :-1], net.cond_at(g, f, pos, self.codec_.hop, self.position_hop,
                                            shift))
        return -F.cross_entropy(logits, x[:, 1:], reduction="none")

    # -- sampling ---------------------------------------------------------------------------
    def _sample_net(self) -> WaveNetNet:
        """A float64 copy of the network for sampling: both samplers then agree exactly."""
        net = copy.deepcopy(self.net_).double()
        net.eval()
        return net

    def _run(self, n: int, length: int, y: torch.Tensor | None, mel: torch.Tensor | None,
             generator: torch.Generator, cache: bool) -> list[np.ndarray]:
        net = self._sample_net()
        if net.position_cond is not None and y is None:
            y = torch.zeros(n, dtype=torch.long, device=self.device_)
        g, f = net.frame_conditioning(y, None if mel is None else mel.double())
        hop = self.codec_.hop

        def cond_fn(pos: torch.Tensor) -> torch.Tensor | None:
            return net.cond_at(g, f, pos, hop, self.position_hop)

        draw = net.sample_cached if cache else net.sample_naive
        with task(f"sampling {type(self).__name__}", length) as advance:
            tokens = draw(n, length, self._silence, cond_fn, generator,
                          lambda t: advance(1))
        return [mu_law_decode(t, self.levels) for t in tokens.cpu().numpy()]

    def _sample_waves(self, codes: np.ndarray | int, length: int, generator: Any,
                      cache: bool) -> list[np.ndarray]:
        if self.meta_["mel"]:
            raise ParameterError("this WaveNet is a vocoder (local='mel'): it needs mel "
                                 "frames, so call vocode(mel) instead of sample")
        if isinstance(codes, (int, np.integer)):
            return self._run(int(codes), length, None, None, generator, cache)
        y = torch.as_tensor(codes, device=self.device_)
        return self._run(len(codes), length, y, None, generator, cache)

    def vocode(self, mel: np.ndarray, *, seed: int | None = None, label: Any = None,
               cache: bool = True) -> np.ndarray:
        """A waveform (float32, `frames * hop` samples at the model's rate) drawn given
        log-mel frames (frames, n_mels) as `genlab.data.audio.log_mel` makes them with the
        codec's settings; `label` for a model that also conditions on the class."""
        self._check_fitted()
        if not self.meta_["mel"]:
            raise ParameterError("vocode needs a WaveNet fitted with local='mel' (--param "
                                 "local=mel)")
        frames = np.asarray(mel, dtype=np.float32)
        if frames.ndim != 2 or frames.shape[1] != self.codec_.n_mels or not frames.shape[0]:
            raise DataError(f"mel must be (frames, {self.codec_.n_mels}) log-mel frames, got "
                            f"shape {frames.shape}")
        if not np.isfinite(frames).all():
            raise DataError("mel holds NaN or infinite values")
        rng = np.random.default_rng(check_seed(seed) if seed is not None else draw_seed())
        codes = self._label_codes(1, label, rng)
        with self._inference():
            y = None if codes is None else torch.as_tensor(codes, device=self.device_)
            m = self._to_tensor(self._mel_window(frames, 0, frames.shape[0])[None])
            gen = torch_generator(rng, self.device_)
            wave = self._run(1, frames.shape[0] * self.codec_.hop, y, m, gen, cache)[0]
        if self.meta_.get("lpc_gain"):
            wave = lpc_synthesis(wave * self.meta_["lpc_gain"], self._lpc_coeffs(frames),
                                 self.codec_.hop)
            wave = np.clip(wave, -1.0, 1.0).astype(np.float32)
        return wave
