"""Linear prediction from mel frames (genlab.data.audio_lpc) and the WaveNet that models the
residual (`lpc=`): analysis and synthesis are exact inverses, every filter is stable, the
predictor removes what is predictable, and the lpc vocoder samples, scores and reloads."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import genlab
from genlab.data.audio import Clips, log_mel
from genlab.data.audio_lpc import lpc_analysis, lpc_from_mel, lpc_synthesis
from genlab.errors import ParameterError
from genlab.models.audio.wavenet import WaveNet

pytestmark = pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")

RATE, N_FFT, HOP, N_MELS = 4000, 128, 32, 16
TINY = {"channels": 8, "skip_channels": 8, "layers": 4, "cycle": 2, "window": 128,
        "epoch_size": 32, "epochs": 2, "batch_size": 8, "device": "cpu", "seed": 0,
        "local": "mel", "n_mels": N_MELS, "n_fft": N_FFT, "hop": HOP, "cond_channels": 4}

waves = arrays(np.float64, st.integers(1, 300),
               elements=st.floats(-1, 1, allow_nan=False, width=32))


def _coeffs(wave: np.ndarray, order: int = 8) -> np.ndarray:
    return lpc_from_mel(log_mel(wave, RATE, n_mels=N_MELS, n_fft=N_FFT, hop=HOP), RATE,
                        N_FFT, order)


@settings(max_examples=40, deadline=None)
@given(waves, st.integers(1, 12), st.integers(1, 64))
def test_synthesis_inverts_analysis(wave: np.ndarray, order: int, hop: int) -> None:
    coeffs = lpc_from_mel(log_mel(wave, RATE, n_mels=N_MELS, n_fft=N_FFT, hop=hop), RATE,
                          N_FFT, order)
    e = lpc_analysis(wave, coeffs, hop)
    assert e.shape == wave.shape and np.isfinite(e).all()
    np.testing.assert_allclose(lpc_synthesis(e, coeffs, hop), wave, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(waves)
def test_every_filter_is_minimum_phase(wave: np.ndarray) -> None:
    for a in _coeffs(wave, 12):
        assert np.abs(np.roots(np.concatenate([[1.0], a]))).max() < 1.0


def test_predictor_removes_most_of_a_resonance() -> None:
    # a decaying 440 Hz resonance is almost all predictable from its own past
    t = np.arange(2000) / RATE
    wave = 0.5 * np.sin(2 * np.pi * 440 * t) * np.exp(-t * 3)
    e = lpc_analysis(wave, _coeffs(wave), HOP)
    assert (e**2).sum() < 0.05 * (wave**2).sum()


def test_order_is_checked() -> None:
    with pytest.raises(ParameterError, match="lpc order must be an integer in"):
        lpc_from_mel(np.zeros((3, N_MELS)), RATE, N_FFT, 0)


def _clips() -> Clips:
    t = np.arange(400) / RATE
    return Clips([(0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32) for f in (200., 600.)],
                 RATE)


def test_lpc_vocoder_samples_scores_and_reloads(tmp_path) -> None:
    model = WaveNet(**TINY, lpc=8).fit(_clips())
    assert model.meta_["lpc_gain"] > 0
    mel = log_mel(_clips().waves[0], RATE, n_mels=N_MELS, n_fft=N_FFT, hop=HOP)
    a = model.vocode(mel, seed=3)
    assert a.dtype == np.float32 and a.size == mel.shape[0] * HOP and np.isfinite(a).all()
    assert np.array_equal(a, model.vocode(mel, seed=3, cache=False))
    lp8, lp16 = model.log_prob(_clips()), model.log_prob(_clips(), bits=16)
    assert np.isfinite(lp8).all() and np.all(lp8 < 0) and np.isfinite(lp16).all()
    model.save(tmp_path / "v.genlab")
    back = genlab.load(tmp_path / "v.genlab")
    assert np.array_equal(back.vocode(mel, seed=3), a)
    np.testing.assert_allclose(back.log_prob(_clips()), lp8, rtol=1e-6)


def test_lpc_needs_mel_frames() -> None:
    params = {k: v for k, v in TINY.items() if k not in ("local", "n_mels", "n_fft", "hop",
                                                         "cond_channels")}
    with pytest.raises(ParameterError, match="lpc needs local='mel'"):
        WaveNet(**params, lpc=8).fit(_clips())
