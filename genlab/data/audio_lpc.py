"""Linear prediction from log-mel frames, for a WaveNet that models the excitation of an
all-pole filter rather than the waveform itself (the idea of LPCNet: Valin & Skoglund,
"LPCNet: improving neural speech synthesis through linear prediction", ICASSP 2019).

Why: a small network sampled one step at a time adds its uncertainty as white noise. When it
models the prediction residual e_t = x_t + sum_k a_k x_{t-k} and the waveform is rebuilt by
the synthesis filter 1 / A(z), that noise leaves shaped like the spectral envelope of the
frame, under the speech instead of above its quiet bands; and the network need not learn
the envelope, which the mel frames already give.

The coefficients come from the mel frames alone (never from the waveform), so training,
scoring and vocoding all use the same filter: each frame's magnitude spectrum is read back
from its mel bands (each band's mean magnitude spread over the bins it covers), squared, its
autocorrelation taken by inverse FFT and solved by Levinson–Durbin (`scipy.linalg.
solve_toeplitz`). A white-noise floor `floor_db` below the frame's peak keeps the Toeplitz
system well conditioned (digital silence in a band would otherwise make it singular), which
also makes every filter minimum phase, so the synthesis filter is stable. Sample t uses
frame t // hop, as the mel conditioning does. Analysis and synthesis are exact inverses of
each other (up to float rounding), frame boundaries included: the synthesis filter of a
frame starts from the outputs before it (`scipy.signal.lfiltic`).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_toeplitz
from scipy.signal import lfilter, lfiltic

from genlab.data.audio_features import mel_filterbank
from genlab.errors import ParameterError

__all__ = ["lpc_analysis", "lpc_from_mel", "lpc_synthesis"]


def _check_order(order: int) -> int:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not (
            1 <= order <= 64):
        raise ParameterError(f"lpc order must be an integer in [1, 64], got {order!r}")
    return int(order)


def lpc_from_mel(frames: np.ndarray, rate: int, n_fft: int, order: int, *,
                 floor_db: float = 50.0) -> np.ndarray:
    """Prediction coefficients a_1..a_order per log-mel frame, (frames, order) float64, with
    A(z) = 1 + sum_k a_k z^-k minimum phase (module docstring)."""
    order = _check_order(order)
    mel = np.exp(np.asarray(frames, dtype=np.float64))
    fb = mel_filterbank(rate, n_fft, mel.shape[1]).astype(np.float64)
    band = mel / np.maximum(fb.sum(1), 1e-12)  # each band's mean magnitude
    cover = fb.sum(0)
    mag = (band @ fb) / np.maximum(cover, 1e-12)
    if (cover == 0).any():  # bins no filter reaches (the ends): the nearest covered bin
        ok = np.flatnonzero(cover > 0)
        nearest = ok[np.abs(np.arange(cover.size)[:, None] - ok[None, :]).argmin(1)]
        mag = mag[:, nearest]
    power = mag**2
    power = np.maximum(power, power.max(1, keepdims=True) * 10 ** (-floor_db / 10))
    r = np.fft.irfft(power, n=n_fft, axis=1)[:, :order + 1]
    out = np.empty((r.shape[0], order))
    for f in range(r.shape[0]):
        out[f] = solve_toeplitz(r[f, :order], -r[f, 1:order + 1])
    return out


def _frame_of(n: int, frames: int, hop: int) -> np.ndarray:
    return np.minimum(np.arange(n) // hop, frames - 1)


def lpc_analysis(wave: np.ndarray, coeffs: np.ndarray, hop: int) -> np.ndarray:
    """The residual e_t = x_t + sum_k a_{t // hop, k} x_{t-k} (samples before the clip are
    0), float64 of the wave's length."""
    x = np.asarray(wave, dtype=np.float64).reshape(-1)
    order = coeffs.shape[1]
    past = np.lib.stride_tricks.sliding_window_view(np.pad(x, (order, 0)), order)[:x.size]
    a = coeffs[_frame_of(x.size, coeffs.shape[0], hop)]
    return x + np.einsum("tk,tk->t", past[:, ::-1], a)


def lpc_synthesis(residual: np.ndarray, coeffs: np.ndarray, hop: int) -> np.ndarray:
    """The inverse of `lpc_analysis`: x_t = e_t - sum_k a_{t // hop, k} x_{t-k}, frame by
    frame with the filter state carried from the outputs before each frame."""
    e = np.asarray(residual, dtype=np.float64).reshape(-1)
    order = coeffs.shape[1]
    x = np.zeros(e.size + order)  # x[order + t] is sample t; zeros before the clip
    for f, start in enumerate(range(0, e.size, hop)):
        stop = e.size if f >= coeffs.shape[0] - 1 else min(start + hop, e.size)
        den = np.concatenate([[1.0], coeffs[min(f, coeffs.shape[0] - 1)]])
        zi = lfiltic([1.0], den, x[start:start + order][::-1])
        x[order + start:order + stop], _ = lfilter([1.0], den, e[start:stop], zi=zi)
        if stop == e.size:
            break
    return x[order:]
