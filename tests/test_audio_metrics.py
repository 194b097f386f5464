"""Audio distances and the Griffin–Lim baseline: MCD and LSD are 0 for a signal against
itself and grow with added noise; Griffin–Lim from the mel frames of a pure tone gives back a
tone of that frequency; one-line errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genlab.audio import (
    griffin_lim,
    log_spectral_distance,
    mel_cepstral_distortion,
    power_spectrogram,
)
from genlab.data.audio_features import log_mel
from genlab.errors import DataError, ParameterError

RATE = 8000
MEL = {"n_mels": 40, "n_fft": 256, "hop": 64}


def _tone(freq: float, seconds: float = 0.5, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _speechlike(seed: int = 0) -> np.ndarray:
    """A few harmonics under a slow envelope plus a little noise: a spectrum with no holes."""
    rng = np.random.default_rng(seed)
    t = np.arange(RATE // 2) / RATE
    x = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 12))
    return (0.3 * x * np.hanning(t.size) + 0.01 * rng.normal(size=t.size)).astype(np.float32)


def test_distances_of_a_signal_with_itself_are_zero() -> None:
    x = _speechlike()
    assert mel_cepstral_distortion(x, x, RATE, **MEL) == 0.0
    assert log_spectral_distance(x, x.copy(), RATE, n_fft=256, hop=64) == 0.0


def test_distances_grow_with_added_noise() -> None:
    x = _speechlike()
    rng = np.random.default_rng(1)
    noise = rng.normal(size=x.size)
    mcd = [mel_cepstral_distortion(x, x + s * noise, RATE, **MEL) for s in (0.003, 0.03, 0.3)]
    lsd = [log_spectral_distance(x, x + s * noise, RATE, n_fft=256, hop=64)
           for s in (0.003, 0.03, 0.3)]
    assert 0 < mcd[0] < mcd[1] < mcd[2]
    assert 0 < lsd[0] < lsd[1] < lsd[2]


def test_lsd_of_a_known_gain_is_its_decibels() -> None:
    # doubling the amplitude raises every power bin by 20 log10(2) dB
    x = _speechlike()
    assert log_spectral_distance(x, 2 * x, RATE) == pytest.approx(20 * np.log10(2), abs=1e-6)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.01, 0.5))
def test_distances_are_symmetric_and_non_negative(seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    a = _speechlike(seed)
    b = a + scale * rng.normal(size=a.size).astype(np.float32)
    for f in (mel_cepstral_distortion, log_spectral_distance):
        d = f(a, b, RATE)
        assert d >= 0 and np.isfinite(d)
        assert d == pytest.approx(f(b, a, RATE), rel=1e-6, abs=1e-9)


def test_power_spectrogram_frames_match_log_mel() -> None:
    x = _speechlike()
    assert power_spectrogram(x, n_fft=256, hop=64).shape[0] == log_mel(x, RATE, **MEL).shape[0]


@pytest.mark.parametrize("freq", [440.0, 1000.0])
def test_griffin_lim_of_a_pure_tone_recovers_its_frequency(freq: float) -> None:
    x = _tone(freq)
    y = griffin_lim(log_mel(x, RATE, **MEL), RATE, n_fft=256, hop=64, length=x.size, seed=0)
    assert y.shape == x.shape and y.dtype == np.float32
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    peak = np.argmax(spec) * RATE / y.size
    # the 40 mel bands are ~100 Hz wide here: the tone comes back within a fraction of one
    assert abs(peak - freq) < 25.0
    # and it beats a random-phase start: the reconstruction is closer to the tone than noise
    noise = np.random.default_rng(0).normal(scale=0.35, size=x.size)
    assert log_spectral_distance(x, y, RATE) < log_spectral_distance(x, noise, RATE)


def test_griffin_lim_is_seeded() -> None:
    mel = log_mel(_speechlike(), RATE, **MEL)
    a, b = (griffin_lim(mel, RATE, n_fft=256, hop=64, n_iter=8, seed=3) for _ in range(2))
    assert np.array_equal(a, b)


def test_bad_input_is_one_line() -> None:
    x = _speechlike()
    with pytest.raises(DataError, match="empty"):
        mel_cepstral_distortion(np.zeros(0), x, RATE)
    with pytest.raises(DataError, match="mono"):
        log_spectral_distance(np.zeros((2, 100)), x, RATE)
    with pytest.raises(DataError, match="NaN"):
        log_spectral_distance(np.full(100, np.nan), x, RATE)
    with pytest.raises(ParameterError, match="n_coefficients"):
        mel_cepstral_distortion(x, x, RATE, n_coefficients=0)
    with pytest.raises(DataError, match=r"\(frames, n_mels\)"):
        griffin_lim(np.zeros(40), RATE, n_fft=256, hop=64)
    with pytest.raises(DataError, match="NaN"):
        griffin_lim(np.full((5, 40), np.nan), RATE, n_fft=256, hop=64)
    with pytest.raises(ParameterError, match="n_iter"):
        griffin_lim(np.zeros((5, 40)), RATE, n_fft=256, hop=64, n_iter=0)
