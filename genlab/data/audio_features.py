"""Audio features shared by every audio family and the audio benchmark: μ-law tokens, the
16-bit bin widths used to score the 16-bit signal, and one log-mel definition.

The mel filterbank is written here with numpy (Slaney's mel scale and area normalisation,
the same filters as `librosa.filters.mel(htk=False, norm="slaney")`), so reading and training
on audio need neither librosa nor its numba / llvmlite stack; librosa (the `audio` extra) is
imported only by `genlab.audio.griffin_lim`, and scipy has no mel filterbank. The short-time Fourier
transform is numpy's rFFT over Hann-windowed frames.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from genlab.errors import ParameterError

__all__ = ["MEL_DEFAULTS", "MEL_FLOOR", "bin_widths_16bit", "log_mel", "mel_filterbank",
           "mu_law_decode", "mu_law_encode", "quantize_16bit"]

MEL_DEFAULTS: dict[str, int] = {"n_mels": 80, "n_fft": 1024, "hop": 256}
MEL_FLOOR = 1e-5  # log_mel = ln(max(mel magnitude, MEL_FLOOR)): -11.5 is silence


def _check_levels(levels: int) -> int:
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or not (
            2 <= levels <= 65536):
        raise ParameterError(f"levels must be an integer in [2, 65536], got {levels!r}")
    return int(levels)


def mu_law_encode(wave: np.ndarray, levels: int = 256) -> np.ndarray:
    """μ-law tokens (int64 in [0, levels)) of a waveform in [-1, 1] (values outside are
    clipped), with μ = levels - 1: y = sign(x) ln(1 + μ|x|) / ln(1 + μ), then y in [-1, 1]
    rounded to one of `levels` evenly spaced values. 0.0 maps to token round(μ / 2)."""
    mu = _check_levels(levels) - 1
    x = np.clip(np.asarray(wave, dtype=np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    return np.clip(np.floor((y + 1.0) / 2.0 * mu + 0.5), 0, mu).astype(np.int64)


def mu_law_decode(tokens: np.ndarray, levels: int = 256) -> np.ndarray:
    """The waveform (float32 in [-1, 1]) at the centre of each μ-law token's bin in the
    companded domain; the inverse of `mu_law_encode` up to its quantisation."""
    mu = _check_levels(levels) - 1
    t = np.asarray(tokens)
    if t.size and (t.min() < 0 or t.max() > mu):
        raise ParameterError(f"μ-law tokens must lie in [0, {mu}], got values in "
                             f"[{t.min()}, {t.max()}]")
    y = 2.0 * t.astype(np.float64) / mu - 1.0
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


def quantize_16bit(wave: np.ndarray) -> np.ndarray:
    """A waveform in [-1, 1] as the 16-bit PCM values a WAV file holds (int64 in
    [-32768, 32767]); value / 32768 is exact for what soundfile reads from 16-bit PCM."""
    return np.clip(np.round(np.asarray(wave, np.float64) * 32768.0), -32768, 32767).astype(
        np.int64)


@cache
def bin_widths_16bit(levels: int = 256) -> np.ndarray:
    """How many 16-bit values fall in each μ-law bin (int64, one per token): spreading a
    bin's probability evenly over them gives the likelihood of the 16-bit signal,
    log p16(v) = log p(token(v)) - log width[token(v)]. Every bin holds at least one value
    for levels <= 4096 at this resolution; an empty bin gets width 1 (it is never hit)."""
    values = np.arange(-32768, 32768, dtype=np.float64) / 32768.0
    widths = np.bincount(mu_law_encode(values, levels), minlength=_check_levels(levels))
    widths = np.maximum(widths, 1)
    widths.setflags(write=False)
    return widths


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3.0)
    log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, lin)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    lin = m * (200.0 / 3.0)
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
    return np.where(m >= 15.0, log, lin)


@cache
def _filterbank(rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    freqs = np.linspace(0.0, rate / 2.0, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(rate / 2.0), n_mels + 2))
    lower = (freqs[None, :] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    upper = (edges[2:, None] - freqs[None, :]) / np.diff(edges)[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]  # Slaney: equal area per filter
    out = weights.astype(np.float32)
    out.setflags(write=False)
    return out


def mel_filterbank(rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular mel filters, (n_mels, n_fft // 2 + 1) float32, 0 Hz to rate / 2 (Slaney
    scale and normalisation, as librosa's default); the one mel definition of genlab."""
    for name, v, lo in (("rate", rate, 100), ("n_fft", n_fft, 16), ("n_mels", n_mels, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ParameterError(f"{name} must be an integer >= {lo}, got {v!r}")
    return _filterbank(int(rate), int(n_fft), int(n_mels))


def log_mel(wave: np.ndarray, rate: int, *, n_mels: int = 80, n_fft: int = 1024,
            hop: int = 256) -> np.ndarray:
    """Log-mel spectrogram (frames, n_mels) float32: ln(max(M |STFT|, 1e-5)) with M the
    `mel_filterbank`, a periodic Hann window of n_fft samples and frames centred on samples
    0, hop, 2 hop, ... (the clip zero-padded by n_fft // 2 on each side), so a clip of N
    samples has 1 + N // hop frames. Deterministic: the same wave gives the same frames."""
    if isinstance(hop, bool) or not isinstance(hop, (int, np.integer)) or hop < 1:
        raise ParameterError(f"hop must be a positive integer, got {hop!r}")
    fb = mel_filterbank(rate, n_fft, n_mels)
    x = np.asarray(wave, dtype=np.float32).reshape(-1)
    padded = np.pad(x, (n_fft // 2, n_fft // 2))
    frames = 1 + x.size // hop
    need = (frames - 1) * hop + n_fft
    if padded.size < need:
        padded = np.pad(padded, (0, need - padded.size))
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    spec = np.abs(np.fft.rfft(padded[idx] * window, axis=1)).astype(np.float32)
    return np.log(np.maximum(spec @ fb.T, MEL_FLOOR)).astype(np.float32)
