"""The audio codec: reading WAV / FLAC / OGG clips (soundfile) from a file, a folder (class
sub-folders give labels, as for images) or a table with a path column, resampling them to
one rate (soxr), and writing WAV files (16-bit PCM) atomically.

What reading does to the clips, each stated in a one-line warning when it happens:

- several channels are mixed to mono by averaging them;
- a clip with samples at full scale (|x| >= 0.999 for at least 0.1 % of it) is said to be
  clipped (it is kept as it is; the model then learns the clipping);
- leading and trailing silence is trimmed: samples before the first and after the last one
  above `trim_db` dB below the clip's peak (default 40 dB; `trim_db=None` keeps them).

The features (μ-law tokens, log-mel frames) live in `genlab.data.audio_features` and are
re-exported here.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genlab._atomic import atomic_path
from genlab.data.audio_features import (
    MEL_DEFAULTS,
    bin_widths_16bit,
    log_mel,
    mel_filterbank,
    mu_law_decode,
    mu_law_encode,
    quantize_16bit,
)
from genlab.errors import DataError, ParameterError

__all__ = ["AUDIO_EXTENSIONS", "MEL_DEFAULTS", "TRIM_DB", "AudioCodec", "Clips",
           "bin_widths_16bit", "is_audio_input", "log_mel", "mel_filterbank", "mu_law_decode",
           "mu_law_encode", "quantize_16bit", "read_audio", "write_wav"]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
TRIM_DB = 40.0
_CLIPPED_SHARE = 0.001
_PATH_COLUMNS = ("path", "file", "filename", "audio")
# the keys of a WAV's LIST/INFO chunk that soundfile writes (INAM, ICMT, ISFT, ...)
INFO_KEYS = ("title", "copyright", "software", "artist", "comment", "date", "album",
             "license", "tracknumber", "genre")


@dataclass
class Clips:
    """Audio clips at one rate: float32 mono waveforms in [-1, 1], optional class labels
    (one name per clip) and a name per clip (its file, for messages)."""

    waves: list[np.ndarray]
    rate: int
    labels: list[str] | None = None
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.names:
            self.names = [f"clip {i}" for i in range(len(self.waves))]

    def __len__(self) -> int:
        return len(self.waves)

    @property
    def seconds(self) -> float:
        """Total duration of the clips."""
        return sum(w.size for w in self.waves) / float(self.rate)


@dataclass
class AudioCodec:
    """The audio format a model was fitted on: rate, μ-law levels, log-mel settings (used
    when the model conditions on mel frames), class names and the trimming threshold."""

    rate: int
    levels: int = 256
    n_mels: int = MEL_DEFAULTS["n_mels"]
    n_fft: int = MEL_DEFAULTS["n_fft"]
    hop: int = MEL_DEFAULTS["hop"]
    classes: list[str] | None = None
    conditional: bool = False
    mel: bool = False
    trim_db: float | None = TRIM_DB

    def tokens(self, wave: np.ndarray) -> np.ndarray:
        """μ-law tokens of the 16-bit version of `wave`, so 16-bit scoring is exact."""
        return mu_law_encode(quantize_16bit(wave) / 32768.0, self.levels)

    def mel_of(self, wave: np.ndarray) -> np.ndarray:
        """Log-mel frames of `wave` with this codec's settings, (frames, n_mels)."""
        return log_mel(wave, self.rate, n_mels=self.n_mels, n_fft=self.n_fft, hop=self.hop)

    def to_dict(self) -> dict[str, Any]:
        """As JSON types."""
        return {"rate": self.rate, "levels": self.levels, "n_mels": self.n_mels,
                "n_fft": self.n_fft, "hop": self.hop, "classes": self.classes,
                "conditional": self.conditional, "mel": self.mel, "trim_db": self.trim_db}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AudioCodec:
        """Inverse of `to_dict`; one-line error for values out of range (a damaged file)."""
        ints = {k: int(d[k]) for k in ("rate", "levels", "n_mels", "n_fft", "hop")}
        bounds = {"rate": (100, 768_000), "levels": (2, 65536), "n_mels": (1, 512),
                  "n_fft": (16, 65536), "hop": (1, 65536)}
        for k, (lo, hi) in bounds.items():
            if not lo <= ints[k] <= hi:
                raise ValueError(f"audio codec {k}={ints[k]} is outside [{lo}, {hi}]")
        classes = d.get("classes")
        trim = d.get("trim_db")
        return cls(**ints, classes=None if classes is None else [str(c) for c in classes],
                   conditional=bool(d.get("conditional", False)), mel=bool(d.get("mel", False)),
                   trim_db=None if trim is None else float(trim))


# -- detection ------------------------------------------------------------------------------
def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def is_audio_input(path: str | os.PathLike[str]) -> bool:
    """True when `path` is an audio file or a folder of them (directly or in class
    sub-folders): the modality detector's test, from names only (no file is opened)."""
    p = Path(path)
    if p.is_dir():
        try:
            return bool(_audio_files(p)) or any(c.is_dir() and _audio_files(c)
                                                for c in p.iterdir())
        except OSError:
            return False
    return p.suffix.lower() in AUDIO_EXTENSIONS


# -- reading --------------------------------------------------------------------------------
def _read_file(path: Path) -> tuple[np.ndarray, int, int]:
    """One file -> (float32 frames x channels, rate, channels); one-line errors."""
    import soundfile as sf

    if path.suffix.lower() not in AUDIO_EXTENSIONS:
        raise DataError(f"{str(path)!r} is not an audio file; genlab reads "
                        f"{', '.join(AUDIO_EXTENSIONS)} (give one, or a folder of them)")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise DataError(f"cannot read {str(path)!r} as audio ({reason}); the file is damaged "
                        f"or not WAV/FLAC/OGG") from None
    if data.shape[0] == 0:
        raise DataError(f"{str(path)!r} is an empty clip (0 samples); remove it")
    return data, int(rate), int(data.shape[1])


def _trim(wave: np.ndarray, trim_db: float | None, name: str) -> tuple[np.ndarray, int]:
    """`wave` without leading / trailing samples below `trim_db` under its peak, and how
    many samples went."""
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    if trim_db is None:
        return wave, 0
    if peak == 0.0:
        raise DataError(f"{name!r} is silent (every sample is 0); remove it, or pass "
                        "trim_db=None (--param trim_db=null) to keep silent clips")
    loud = np.flatnonzero(np.abs(wave) > peak * 10.0 ** (-trim_db / 20.0))
    if loud.size == 0:  # only the peak itself (a single click): keep it
        return wave, 0
    kept = wave[loud[0]:loud[-1] + 1]
    return kept, wave.size - kept.size


def _resample(wave: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return wave
    import soxr

    return np.asarray(soxr.resample(wave, rate, target, quality="HQ"), dtype=np.float32)


def _finish(raw: list[tuple[str, np.ndarray, int, int]], labels: list[str] | None,
            rate: int | None, trim_db: float | None, where: str) -> Clips:
    """Mono, one rate, clipping stated, silence trimmed: the clips `read_audio` returns."""
    if not raw:
        raise DataError(f"{where} holds no audio clips ({', '.join(AUDIO_EXTENSIONS)}); point "
                        "to an audio file, a folder of them or a table of paths")
    rates = sorted({r for _, _, r, _ in raw})
    if rate is None and len(rates) > 1:
        raise DataError(f"{where} mixes sample rates ({', '.join(f'{r} Hz' for r in rates)}); "
                        f"pass rate= (command line: --rate, e.g. --rate {rates[-1]}) to "
                        "resample every clip to one rate")
    target = int(rate) if rate is not None else rates[0]
    waves, stereo, clipped, trimmed = [], 0, 0, 0
    for name, data, r, channels in raw:
        wave = data.mean(axis=1, dtype=np.float32) if channels > 1 else data[:, 0]
        stereo += channels > 1
        wave = np.clip(wave, -1.0, 1.0)
        clipped += float(np.mean(np.abs(wave) >= 0.999)) >= _CLIPPED_SHARE
        wave, cut = _trim(_resample(wave, r, target), trim_db, name)
        trimmed += cut
        waves.append(np.ascontiguousarray(wave, dtype=np.float32))
    if stereo:
        warnings.warn(f"{stereo} of {len(raw)} clips have several channels: mixed to mono by "
                      "averaging them", stacklevel=3)
    if clipped:
        warnings.warn(f"{clipped} of {len(raw)} clips look clipped (at least "
                      f"{_CLIPPED_SHARE:.1%} of their samples at full scale); kept as they "
                      "are, so a model learns the clipping", stacklevel=3)
    if trimmed:
        warnings.warn(f"trimmed {trimmed:,} samples ({trimmed / target:.2f} s) of leading / "
                      f"trailing silence (below "
                      f"-{trim_db:g} dB of each clip's peak); trim_db=None keeps it",
                      stacklevel=3)
    return Clips(waves, target, labels, [n for n, _, _, _ in raw])


def _folder(folder: Path) -> tuple[list[Path], list[str] | None]:
    entries = [p for p in sorted(folder.iterdir()) if not p.name.startswith(".")]
    files = [p for p in entries if p.is_file()]
    others = [p for p in files if p.suffix.lower() not in AUDIO_EXTENSIONS
              and not p.name.endswith(".provenance.json")]
    if others:
        raise DataError(f"{str(folder)!r} holds a non-audio file {others[0].name!r}; genlab "
                        f"reads {', '.join(AUDIO_EXTENSIONS)} files (move other files out)")
    audio = _audio_files(folder)
    classes = [d for d in entries if d.is_dir() and _audio_files(d)]
    if audio and classes:
        raise DataError(f"{str(folder)!r} mixes clips and class sub-folders; put every clip "
                        "in a class sub-folder, or none")
    if audio:
        return audio, None
    paths, labels = [], []
    for sub in classes:
        paths += _audio_files(sub)
        labels += [sub.name] * len(_audio_files(sub))
    return paths, labels


def _table(path: Path, label_column: str | None) -> tuple[list[Path], list[str] | None]:
    import pandas as pd

    from genlab.data.readers import read_table

    df = read_table(path)
    named = [c for c in df.columns if str(c).lower() in _PATH_COLUMNS]
    found = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])
             and df[c].astype(str).str.lower().str.endswith(AUDIO_EXTENSIONS).all()]
    column = (named or found or [None])[0]
    if column is None:
        raise DataError(f"{str(path)!r} has no column of audio paths; name it 'path' (values "
                        f"ending in {', '.join(AUDIO_EXTENSIONS)})")
    if label_column is None and "label" in df.columns:
        label_column = "label"  # as a class sub-folder would
    if label_column is not None and label_column not in df.columns:
        raise DataError(f"{str(path)!r} has no label column {label_column!r}; its columns: "
                        f"{', '.join(map(str, df.columns))}")
    paths = [Path(str(v)) if Path(str(v)).is_absolute() else path.parent / str(v)
             for v in df[column]]
    labels = None if label_column is None else [str(v) for v in df[label_column]]
    return paths, labels


def read_audio(source: Any, *, rate: int | None = None, trim_db: float | None = TRIM_DB,
               label_column: str | None = None) -> Clips:
    """Clips from an audio file, a folder of them (class sub-folders give labels), a
    CSV/Parquet table with a path column (`path`, or the column of audio file names; paths
    relative to the table's folder) and labels from `label_column` (default: a `label`
    column if there is one), or `Clips` in memory (only
    resampled). `rate` resamples every clip to it (soxr, high quality); without it the clips
    must share one rate. See the module docstring for mono, clipping and trimming."""
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, np.integer))
                             or not 100 <= rate <= 768_000):
        raise ParameterError(f"rate must be an integer number of Hz in [100, 768000], got "
                             f"{rate!r}")
    if isinstance(source, Clips):
        if rate is None or rate == source.rate:
            return source
        return Clips([_resample(w, source.rate, int(rate)) for w in source.waves], int(rate),
                     source.labels, list(source.names))
    if not isinstance(source, (str, os.PathLike)):
        raise DataError(f"audio is a file, a folder of clips, a table of paths or Clips, not "
                        f"a {type(source).__name__}")
    path = Path(source)
    if not path.exists():
        raise DataError(f"no such file or folder: {str(path)!r}; check the path")
    labels: list[str] | None = None
    if path.is_dir():
        paths, labels = _folder(path)
    elif path.suffix.lower() in (".csv", ".parquet", ".pq") or path.name.endswith(".csv.gz"):
        paths, labels = _table(path, label_column)
    else:
        paths = [path]
    raw = [(str(p), *_read_file(p)) for p in paths]
    return _finish(raw, labels, rate, trim_db, repr(str(path)))


# -- writing --------------------------------------------------------------------------------
def write_wav(path: str | os.PathLike[str], wave: np.ndarray, rate: int, *,
              info: dict[str, str] | None = None) -> None:
    """Write a mono waveform in [-1, 1] (clipped) as a 16-bit PCM WAV file, atomically, so
    that reading it back gives `quantize_16bit(wave) / 32768` exactly;
    `info` fills the LIST/INFO chunk (keys: title, comment, software, artist, date, ...;
    each value at most 2,045 characters, libsndfile's limit)."""
    import soundfile as sf

    bad = sorted(set(info or {}) - set(INFO_KEYS))
    if bad:
        raise ParameterError(f"WAV info keys {bad} are not LIST/INFO fields; use "
                             f"{', '.join(INFO_KEYS)}")
    # integers written as they are: libsndfile scales floats by 32767 on writing but reads
    # 16-bit values back as value / 32768, so a float round trip would drift by one step
    x = quantize_16bit(np.asarray(wave, dtype=np.float32).reshape(-1)).astype(np.int16)
    with atomic_path(path) as tmp, sf.SoundFile(str(tmp), "w", int(rate), 1, "PCM_16",
                                                format="WAV") as f:
        for key, value in (info or {}).items():
            setattr(f, key, str(value))
        f.write(x)
