"""The espeak-ng spoken-word corpus: class sub-folders of 16-bit WAV files that the audio
codec reads with the words as labels; deterministic; one-line errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from genlab.datasets import spoken
from genlab.datasets.spoken import make_spoken_digits, voice_of
from genlab.errors import DataError, ParameterError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng)")
TINY = {"words": ("seven", "two"), "voices": ("en-us", "en-gb+f3"), "speeds": (160,),
        "pitches": (50,), "rate": 8000}


@needs_espeak
def test_corpus_layout_and_reading(tmp_path: Path) -> None:
    import soundfile as sf

    from genlab.data.audio import read_audio

    out = make_spoken_digits(tmp_path / "digits", **TINY)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav"))
    assert files == ["seven/en-gb+f3_s160_p50.wav", "seven/en-us_s160_p50.wav",
                     "two/en-gb+f3_s160_p50.wav", "two/en-us_s160_p50.wav"]
    info = sf.info(str(out / files[0]))
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    clips = read_audio(out, trim_db=None)
    assert sorted(clips.labels or []) == ["seven", "seven", "two", "two"]
    for w in clips.waves:
        # a spoken digit: a few tenths of a second, normalised to a peak in [0.5, 0.9]
        assert 0.15 < w.size / clips.rate < 1.5
        assert 0.5 - 1e-3 <= np.abs(w).max() <= 0.9 + 1e-3
    assert {voice_of(n) for n in clips.names} == {"en-us", "en-gb+f3"}


@needs_espeak
def test_corpus_is_deterministic(tmp_path: Path) -> None:
    a = make_spoken_digits(tmp_path / "a", **TINY)
    b = make_spoken_digits(tmp_path / "b", **TINY)
    for p in a.rglob("*.wav"):
        assert p.read_bytes() == (b / p.relative_to(a)).read_bytes()


def test_missing_espeak_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(spoken.shutil, "which", lambda name: None)
    with pytest.raises(DataError, match="apt-get install espeak-ng") as err:
        make_spoken_digits(tmp_path / "x", **TINY)
    assert "\n" not in str(err.value)


@needs_espeak
@pytest.mark.parametrize(("kw", "match"), [
    ({"words": ()}, "words"), ({"words": ("a/b",)}, "words"), ({"words": ("one", "one")}, "words"),
    ({"speeds": (10,)}, "speeds"), ({"pitches": (120,)}, "pitches"), ({"rate": 100}, "rate"),
    ({"voices": ()}, "voices"),
])
def test_bad_parameters_are_one_line(tmp_path: Path, kw: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        make_spoken_digits(tmp_path / "x", **{**TINY, **kw})


@needs_espeak
def test_unknown_voice_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no-such-voice"):
        make_spoken_digits(tmp_path / "x", **{**TINY, "voices": ("no-such-voice",)})


@needs_espeak
def test_a_file_is_not_a_folder(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(ParameterError, match="is a file"):
        make_spoken_digits(target, **TINY)
