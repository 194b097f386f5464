"""Griffin–Lim: the classical baseline that turns mel frames back into a waveform without a
trained model, on genlab's one mel definition.

The mel frames (`log_mel`: ln of the Slaney-filtered STFT magnitude, Hann window of n_fft,
frames centred on multiples of hop) are first mapped back to a linear-frequency magnitude by
non-negative least squares against the same `mel_filterbank` (`librosa.util.nnls`), then the
phase is recovered by librosa's fast Griffin–Lim (Griffin & Lim, IEEE Trans. ASSP 32(2),
1984; with the momentum of Perraudin, Balazs & Søndergaard, WASPAA 2013). librosa is used
because it is the maintained implementation of both steps; only its STFT conventions are
matched here, its own mel filters are not used. It is imported on first call, so genlab
works without it until Griffin–Lim is asked for (pip install librosa, or the audio extra).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from genlab.data.audio_features import MEL_DEFAULTS, mel_filterbank
from genlab.errors import DataError, ParameterError

__all__ = ["griffin_lim", "mel_to_magnitude"]


def _librosa() -> Any:
    try:
        import librosa
    except ImportError:
        raise ParameterError("griffin_lim needs librosa: pip install librosa "
                             "(or pip install 'genlab[audio]')") from None
    return librosa


def _check_mel(mel: object) -> np.ndarray:
    m = np.asarray(mel, dtype=np.float64)
    if m.ndim != 2 or 0 in m.shape:
        raise DataError(f"mel must be log-mel frames of shape (frames, n_mels) as log_mel "
                        f"makes them, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise DataError("mel holds NaN or infinite values")
    return m


def mel_to_magnitude(mel: np.ndarray, rate: int, *, n_fft: int = MEL_DEFAULTS["n_fft"]
                     ) -> np.ndarray:
    """Linear STFT magnitude (n_fft // 2 + 1, frames) whose mel projection best matches
    exp(`mel`) in least squares with non-negative values (the inverse of `log_mel`'s
    filterbank step; exact where the filters overlap enough, smooth where they do not)."""
    librosa = _librosa()
    m = _check_mel(mel)
    fb = mel_filterbank(rate, n_fft, m.shape[1])
    return librosa.util.nnls(fb.astype(np.float64), np.exp(m).T)


def griffin_lim(mel: np.ndarray, rate: int, *, n_fft: int = MEL_DEFAULTS["n_fft"],
                hop: int = MEL_DEFAULTS["hop"], n_iter: int = 64, length: int | None = None,
                seed: int = 0) -> np.ndarray:
    """A float32 waveform in [-1, 1] from log-mel frames (frames, n_mels) made by `log_mel`
    with the same rate, n_fft and hop: mel -> magnitude (`mel_to_magnitude`), then `n_iter`
    rounds of fast Griffin–Lim from a random phase drawn with `seed`. `length` trims or pads
    the result to that many samples (default (frames - 1) * hop)."""
    for name, v, lo in (("n_iter", n_iter, 1), ("hop", hop, 1), ("n_fft", n_fft, 16)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ParameterError(f"{name} must be an integer >= {lo}, got {v!r}")
    if length is not None and (isinstance(length, bool) or not isinstance(
            length, (int, np.integer)) or length < 1):
        raise ParameterError(f"length must be a positive integer, got {length!r}")
    librosa = _librosa()
    magnitude = mel_to_magnitude(mel, rate, n_fft=n_fft)
    frames = magnitude.shape[1]
    with warnings.catch_warnings():  # a clip shorter than one window is still inverted
        warnings.filterwarnings("ignore", message=r"n_fft=\d+ is too large")
        wave = _run_griffin_lim(librosa, magnitude, n_iter, hop, n_fft, length, frames, seed)
    return np.clip(wave, -1.0, 1.0).astype(np.float32)


def _run_griffin_lim(librosa: Any, magnitude: np.ndarray, n_iter: int, hop: int, n_fft: int,
                     length: int | None, frames: int, seed: int) -> np.ndarray:
    return librosa.griffinlim(
        magnitude, n_iter=int(n_iter), hop_length=int(hop), win_length=int(n_fft),
        n_fft=int(n_fft), window="hann", center=True, pad_mode="constant",
        length=int(length) if length is not None else max(1, (frames - 1) * int(hop)),
        momentum=0.99, init="random", random_state=np.random.default_rng(seed))
