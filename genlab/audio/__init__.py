"""Audio for users: the codec (reading, writing, μ-law, log-mel), the Griffin–Lim baseline
vocoder, objective distances between a reference and a reconstructed waveform (mel-cepstral
distortion, log-spectral distance), the espeak-ng spoken-digit corpus, and, loaded on first
use (they need torch), the WaveNet and text-to-speech families. Importing this package loads
neither torch nor librosa.

>>> from genlab.audio import read_audio, griffin_lim, mel_cepstral_distortion
"""

from __future__ import annotations

import importlib
from typing import Any

from genlab.audio.metrics import log_spectral_distance, mel_cepstral_distortion, power_spectrogram
from genlab.audio.vocoding import griffin_lim, mel_to_magnitude
from genlab.data.audio import (
    AudioCodec,
    Clips,
    log_mel,
    mel_filterbank,
    mu_law_decode,
    mu_law_encode,
    read_audio,
    write_wav,
)
from genlab.datasets.spoken import make_spoken_digits

_LAZY = {"WaveNet": "genlab.models.audio.wavenet", "TextToSpeech": "genlab.models.audio.tts",
         "AudioModel": "genlab.models.audio.base", "audio_report": "genlab.report.audio"}

__all__ = ["AudioCodec", "AudioModel", "Clips", "TextToSpeech", "WaveNet", "audio_report",
           "griffin_lim", "log_mel", "log_spectral_distance", "make_spoken_digits",
           "mel_cepstral_distortion", "mel_filterbank", "mel_to_magnitude", "mu_law_decode",
           "mu_law_encode", "power_spectrogram", "read_audio", "write_wav"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genlab.audio' has no attribute {name!r}")
