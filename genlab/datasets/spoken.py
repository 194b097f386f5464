"""A spoken-word corpus built on this machine with Debian's `espeak-ng` speech synthesiser.

No speech corpus is downloaded: `make_spoken_digits` asks `espeak-ng` to say each word in
several voices, speeds and pitches and writes one 16-bit mono WAV per utterance into a class
sub-folder per word (`FOLDER/seven/en-us_s150_p50.wav`), the layout `read_audio` reads with
the words as labels (and, for text-to-speech, as transcripts).

It is **formant-synthesised speech** (espeak-ng's rule-based formant synthesiser), not
recordings of people: clean, with no room, microphone or speaker variety, and far easier than
real speech. Results on it say how a model does on that, not on human voices; bring your own
recordings for those.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genlab._progress import task
from genlab.errors import DataError, ParameterError

__all__ = ["DIGITS", "VOICES", "make_spoken_digits", "voice_of"]

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# espeak-ng's English voices and voice variants (+m3, +f2, ...) that ship in Debian's package
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
          "en-us+f2", "en-gb+f3", "en-us+m3", "en-gb+m5", "en-us+f4", "en-gb-x-rp+m2")
_ESPEAK_RATE = 22050  # espeak-ng writes 22.05 kHz 16-bit mono
_TIMEOUT_S = 30


def _espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise DataError("espeak-ng is not installed; the spoken corpus is synthesised with it: "
                        "apt-get install espeak-ng")
    return exe


def _installed_voices(exe: str) -> tuple[set[str], set[str]]:
    """Languages and voice variants espeak-ng has (it falls back silently on unknown ones)."""
    def column(args: list[str], index: int) -> list[str]:
        done = subprocess.run([exe, *args], capture_output=True, text=True,
                              timeout=_TIMEOUT_S, check=False)
        rows = [line.split() for line in done.stdout.splitlines()[1:]]
        return [r[index] for r in rows if len(r) > index]

    variants = {f.rsplit("/", 1)[-1] for f in column(["--voices=variant"], 4)}
    return set(column(["--voices"], 1)), variants


def _check_voices(exe: str, voices: Sequence[str]) -> list[str]:
    out = list(voices)
    if not out or any(not isinstance(v, str) or not v or "_s" in v for v in out):
        raise ParameterError(f"voices must be espeak-ng voice names without '_s', got {voices!r}")
    languages, variants = _installed_voices(exe)
    for v in out:
        language, _, variant = v.partition("+")
        if language not in languages or (variant and variant not in variants):
            raise DataError(f"espeak-ng has no voice {v!r}; use a language of `espeak-ng "
                            "--voices`, optionally with a variant of `espeak-ng "
                            "--voices=variant` (e.g. en-us+f3)")
    return out


def voice_of(name: str) -> str:
    """The voice of a corpus file name (`en-us+f2_s150_p50.wav` -> `en-us+f2`), for splits
    by voice."""
    return Path(name).name.rsplit("_s", 1)[0]


def _check_ints(name: str, values: Sequence[int], low: int, high: int) -> list[int]:
    out = list(values)
    if not out or any(isinstance(v, bool) or not isinstance(v, (int, np.integer))
                      or not low <= v <= high for v in out):
        raise ParameterError(f"{name} must be a non-empty list of integers in [{low}, {high}], "
                             f"got {values!r}")
    return [int(v) for v in out]


def _check_words(words: Sequence[str]) -> list[str]:
    out = list(words)
    if not out or any(not isinstance(w, str) or not w.strip() or "/" in w or w.startswith(".")
                      for w in out) or len(set(out)) != len(out):
        raise ParameterError("words must be distinct non-empty strings usable as folder names "
                             f"(no '/', not starting with '.'), got {words!r}")
    return out


def _say(exe: str, voice: str, speed: int, pitch: int, word: str,
         scratch: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    out = scratch / "say.wav"
    cmd = [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), "--", word]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    if done.returncode != 0 or not out.exists():
        reason = (done.stderr or done.stdout).strip().splitlines()
        raise DataError(f"espeak-ng could not say {word!r} with voice {voice!r}: "
                        f"{reason[0] if reason else 'exit ' + str(done.returncode)}; "
                        "see `espeak-ng --voices=en` for the voices installed")
    wave, rate = sf.read(out, dtype="float32", always_2d=True)
    return wave.mean(axis=1), int(rate)


def _resample(wave: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return wave
    import soxr  # the maintained high-quality resampler the audio codec also uses

    return np.asarray(soxr.resample(wave, rate, target, quality="HQ"), dtype=np.float32)


def _trim(wave: np.ndarray, rate: int, level: float = 1e-3) -> np.ndarray:
    """Cut the leading and trailing silence espeak-ng pads with, keeping 20 ms around."""
    loud = np.flatnonzero(np.abs(wave) > level)
    if loud.size == 0:
        return wave
    pad = rate // 50
    return wave[max(0, loud[0] - pad):loud[-1] + pad + 1]


def make_spoken_digits(
    folder: str | os.PathLike[str],
    *,
    words: Sequence[str] = DIGITS,
    voices: Sequence[str] = VOICES,
    speeds: Sequence[int] = (130, 175),
    pitches: Sequence[int] = (35, 65),
    rate: int = 16000,
    seed: int = 0,
) -> Path:
    """Synthesise each word in every voice x speed x pitch with espeak-ng into `folder`.

    Writes `folder/WORD/VOICE_sSPEED_pPITCH.wav` (16-bit mono PCM at `rate` Hz, resampled
    with soxr from espeak-ng's 22.05 kHz, silence at both ends trimmed, peak-normalised to a
    level drawn per clip from 0.5-0.9 with `seed` so loudness varies). This is
    formant-synthesised speech, not human recordings (see the module docstring). Files already
    there are rewritten; returns `folder`. Needs `espeak-ng` (apt-get install espeak-ng)."""
    import soundfile as sf

    from genlab._atomic import atomic_path

    exe = _espeak()
    words = _check_words(words)
    speeds = _check_ints("speeds", speeds, 80, 450)
    pitches = _check_ints("pitches", pitches, 0, 99)
    (rate,) = _check_ints("rate", [rate], 4000, 48000)
    voices = _check_voices(exe, voices)
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"{str(out)!r} is a file; give a folder for the corpus")
    rng = np.random.default_rng(seed)
    combos = list(itertools.product(words, voices, speeds, pitches))
    with tempfile.TemporaryDirectory() as scratch, task("synthesising speech",
                                                         len(combos)) as advance:
        for word, voice, speed, pitch in combos:
            wave, got = _say(exe, voice, speed, pitch, word, Path(scratch))
            wave = _trim(_resample(wave, got, rate), rate)
            peak = float(np.max(np.abs(wave))) if wave.size else 0.0
            if peak == 0.0:
                raise DataError(f"espeak-ng produced silence for {word!r} with voice {voice!r}")
            wave = (wave * (rng.uniform(0.5, 0.9) / peak)).astype(np.float32)
            target = out / word / f"{voice}_s{speed}_p{pitch}.wav"
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as tmp:
                sf.write(tmp, wave, rate, subtype="PCM_16", format="WAV")
            advance()
    return out
