"""Writing audio samples: a `.wav` path is one file (several samples one after another, with
a quarter second of silence between them), a path without extension a folder of WAV files
(`sample_00000_<class>.wav`). Every file carries the samples' provenance in its LIST/INFO
comment (`genlab.provenance_files.wav_info`), besides the JSON sidecar of the target."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from genlab.data.audio import write_wav
from genlab.errors import ParameterError

__all__ = ["GAP_SECONDS", "write_audio_samples"]

GAP_SECONDS = 0.25


def _tags(samples: Any, n: int) -> list[str]:
    attrs = getattr(samples, "attrs", None) or {}
    labels, classes = attrs.get("labels"), attrs.get("classes")
    if labels is None or len(labels) != n:
        return [""] * n
    names = [classes[int(k)] if classes else str(k) for k in labels]
    return ["_" + re.sub(r"[^A-Za-z0-9._-]", "_", str(v)) for v in names]


def write_audio_samples(samples: Any, path: Path) -> tuple[Path, str]:
    """Write a list of float32 waveforms (what an audio model's `sample` returns, with
    `attrs["rate"]`) as WAV; returns (target, summary)."""
    from genlab.provenance import provenance_of
    from genlab.provenance_files import wav_info

    attrs = getattr(samples, "attrs", None) or {}
    rate = attrs.get("rate")
    if not rate:
        raise ParameterError("these samples carry no sample rate (attrs['rate']); write "
                             "samples an audio model's sample() returned")
    waves = [np.asarray(w, dtype=np.float32).reshape(-1) for w in samples]
    info = wav_info(provenance_of(samples))
    out = Path(path)
    if out.suffix.lower() == ".wav":
        gap = np.zeros(int(round(GAP_SECONDS * rate)), np.float32)
        joined = np.concatenate([p for w in waves for p in (w, gap)][:-1] or [gap[:0]])
        write_wav(out, joined, int(rate), info=info)
        what = "1 clip" if len(waves) == 1 else f"{len(waves)} clips one after another"
        return out, f"{what} ({joined.size / rate:.2f} s at {rate} Hz)"
    if out.suffix:
        raise ParameterError(f"unsupported output {str(out)!r} for audio; give a .wav file "
                             "(the clips one after another) or a folder name (one WAV each)")
    if out.exists() and not out.is_dir():
        raise ParameterError(f"{str(out)!r} exists and is not a folder; give a new folder name")
    out.mkdir(parents=True, exist_ok=True)
    for i, (wave, tag) in enumerate(zip(waves, _tags(samples, len(waves)), strict=True)):
        write_wav(out / f"sample_{i:05d}{tag}.wav", wave, int(rate), info=info)
    return out, f"{len(waves)} WAV files at {rate} Hz"
