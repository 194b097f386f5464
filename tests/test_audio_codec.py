"""The audio codec: μ-law tokens, 16-bit bins, log-mel frames, reading clips (files, folders,
tables; rates, channels, clipping, silence), writing WAV with provenance, and one-line errors
for bad input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from genlab.data.audio import (
    AudioCodec,
    Clips,
    bin_widths_16bit,
    is_audio_input,
    log_mel,
    mel_filterbank,
    mu_law_decode,
    mu_law_encode,
    quantize_16bit,
    read_audio,
    write_wav,
)
from genlab.data.detect import detect_kind
from genlab.errors import DataError, ParameterError
from genlab.provenance_files import read_provenance, wav_info

RATE = 8000


def tone(freq: float, seconds: float = 0.1, rate: int = RATE, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t + 0.3)).astype(np.float32)


def one_line_error(call: object, phrase: str) -> str:
    with pytest.raises(DataError, match=phrase) as info:
        call()  # type: ignore[operator]
    assert "\n" not in str(info.value)
    return str(info.value)


# -- μ-law -------------------------------------------------------------------------------
waves = arrays(np.float64, st.integers(1, 200), elements=st.floats(-1.0, 1.0))


@settings(max_examples=60, deadline=None)
@given(waves, st.sampled_from([16, 256, 1024]))
def test_mu_law_round_trip_error_bound_and_range(x: np.ndarray, levels: int) -> None:
    tokens = mu_law_encode(x, levels)
    assert tokens.dtype == np.int64 and tokens.min() >= 0 and tokens.max() < levels
    back = mu_law_decode(tokens, levels)
    assert back.dtype == np.float32 and np.all(np.abs(back) <= 1.0)
    mu = levels - 1
    # half a companded step 1/mu, through the slope ln(1+mu)(1+mu|x|)/mu of the expansion
    bound = np.log1p(mu) * (1 + mu * np.abs(x)) / mu**2 * (1 + mu) ** (1 / mu) + 1e-6
    assert np.all(np.abs(back - x) <= bound)
    assert np.array_equal(mu_law_encode(back, levels), tokens)  # decode lands in its own bin


@settings(max_examples=40, deadline=None)
@given(waves)
def test_mu_law_is_monotone(x: np.ndarray) -> None:
    order = np.argsort(x, kind="stable")
    assert np.all(np.diff(mu_law_encode(x[order])) >= 0)
    assert np.all(np.diff(mu_law_decode(np.arange(256))) > 0)


def test_mu_law_fixed_points_and_bad_levels() -> None:
    assert mu_law_encode(np.array([-1.0, 0.0, 1.0])).tolist() == [0, 128, 255]
    assert mu_law_encode(np.array([-5.0, 5.0])).tolist() == [0, 255]  # clipped
    with pytest.raises(ParameterError, match="levels"):
        mu_law_encode(np.zeros(3), levels=1)
    with pytest.raises(ParameterError, match="tokens must lie"):
        mu_law_decode(np.array([256]))


def test_16bit_bins_cover_every_value_once() -> None:
    widths = bin_widths_16bit(256)
    assert widths.sum() == 65536 and widths.min() >= 1
    # companding: bins are narrow near silence and wide near full scale
    assert widths[128] < 10 < 500 < widths[0]
    codec = AudioCodec(RATE)
    x = tone(440)
    assert np.array_equal(codec.tokens(x), mu_law_encode(quantize_16bit(x) / 32768.0))


# -- log-mel ------------------------------------------------------------------------------
def test_mel_filterbank_shape_and_coverage() -> None:
    fb = mel_filterbank(16000, 1024, 80)
    assert fb.shape == (80, 513) and fb.dtype == np.float32
    assert np.all(fb >= 0) and np.all(fb.sum(axis=1) > 0)  # no empty filter
    peaks = fb.argmax(axis=1)
    assert np.all(np.diff(peaks) >= 0)  # filters rise in frequency


def test_log_mel_frames_deterministic_and_pitch_moves_energy() -> None:
    low, high = tone(300), tone(2000)
    a = log_mel(low, RATE, n_mels=32, n_fft=256, hop=64)
    assert a.shape == (1 + low.size // 64, 32) and a.dtype == np.float32
    assert np.array_equal(a, log_mel(low, RATE, n_mels=32, n_fft=256, hop=64))
    b = log_mel(high, RATE, n_mels=32, n_fft=256, hop=64)
    assert a.mean(axis=0).argmax() < b.mean(axis=0).argmax()
    silent = log_mel(np.zeros(640, np.float32), RATE, n_mels=32, n_fft=256, hop=64)
    assert np.allclose(silent, np.log(1e-5))


# -- reading ------------------------------------------------------------------------------
@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for label, freq in (("lo", 300.0), ("hi", 1200.0)):
        (tmp_path / "clips" / label).mkdir(parents=True)
        for i in range(2):
            write_wav(tmp_path / "clips" / label / f"{i}.wav", tone(freq + 10 * i), RATE)
    return tmp_path / "clips"


def test_folder_with_class_subfolders_gives_labels(folder: Path) -> None:
    clips = read_audio(folder, trim_db=None)
    assert len(clips) == 4 and clips.rate == RATE
    assert clips.labels == ["hi", "hi", "lo", "lo"]
    assert all(w.dtype == np.float32 and w.size == 800 for w in clips.waves)
    assert np.max(np.abs(clips.waves[2] - tone(300))) < 1 / 32768 + 1e-6  # 16-bit exact
    assert is_audio_input(folder) and detect_kind(folder)[0] == "audio"
    assert detect_kind(folder / "lo" / "0.wav")[0] == "audio"


def test_table_of_paths_with_labels(folder: Path) -> None:
    table = folder.parent / "clips.csv"
    pd.DataFrame({"path": ["lo/0.wav", "hi/1.wav"], "word": ["a", "b"]}).to_csv(
        table, index=False)
    (folder.parent / "lo").symlink_to(folder / "lo")
    (folder.parent / "hi").symlink_to(folder / "hi")
    clips = read_audio(table, label_column="word", trim_db=None)
    assert clips.labels == ["a", "b"] and len(clips) == 2
    one_line_error(lambda: read_audio(table, label_column="nope"), "no label column 'nope'")
    pd.DataFrame({"file": ["hi/0.wav"], "label": ["x"]}).to_csv(table, index=False)
    assert read_audio(table, trim_db=None).labels == ["x"]  # a `label` column by default
    pd.DataFrame({"n": [1]}).to_csv(table, index=False)
    one_line_error(lambda: read_audio(table), "has no column of audio paths")


def test_resampling_mixed_rates_with_rate(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", tone(300, rate=8000), 8000)
    write_wav(tmp_path / "b.wav", tone(300, rate=16000), 16000)
    clips = read_audio(tmp_path, rate=16000, trim_db=None)
    assert clips.rate == 16000 and [w.size for w in clips.waves] == [1600, 1600]
    # soxr keeps the tone: both clips agree away from the edges
    assert np.max(np.abs(clips.waves[0][200:-200] - clips.waves[1][200:-200])) < 0.01


def test_stereo_is_averaged_and_stated(tmp_path: Path) -> None:
    left, right = tone(300), tone(300) * 0.5
    sf.write(tmp_path / "s.wav", np.stack([left, right], axis=1), RATE, subtype="FLOAT")
    with pytest.warns(UserWarning, match="mixed to mono by averaging"):
        clips = read_audio(tmp_path / "s.wav", trim_db=None)
    assert np.allclose(clips.waves[0], (left + right) / 2, atol=1e-6)


def test_clipping_is_stated(tmp_path: Path) -> None:
    write_wav(tmp_path / "c.wav", np.clip(tone(300, amp=3.0), -1, 1), RATE)
    with pytest.warns(UserWarning, match="look clipped"):
        read_audio(tmp_path / "c.wav", trim_db=None)


def test_silence_is_trimmed_and_stated_and_can_be_kept(tmp_path: Path) -> None:
    padded = np.concatenate([np.zeros(400, np.float32), tone(300), np.zeros(200, np.float32)])
    write_wav(tmp_path / "p.wav", padded, RATE)
    with pytest.warns(UserWarning, match=r"below -40 dB of each clip's peak"):
        trimmed = read_audio(tmp_path / "p.wav")
    assert 790 <= trimmed.waves[0].size <= 800
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = read_audio(tmp_path / "p.wav", trim_db=None)
    assert kept.waves[0].size == padded.size


def test_clips_in_memory_are_resampled_only() -> None:
    clips = Clips([tone(300)], RATE, ["x"])
    assert read_audio(clips) is clips
    up = read_audio(clips, rate=16000)
    assert up.rate == 16000 and up.waves[0].size == 1600 and up.labels == ["x"]


# -- bad input: one line each ----------------------------------------------------------------
def test_non_audio_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    one_line_error(lambda: read_audio(path), "is not an audio file; genlab reads .wav")


def test_empty_clip(tmp_path: Path) -> None:
    write_wav(tmp_path / "e.wav", np.zeros(0, np.float32), RATE)
    one_line_error(lambda: read_audio(tmp_path / "e.wav"), r"is an empty clip \(0 samples\)")


def test_silent_clip_with_trimming(tmp_path: Path) -> None:
    write_wav(tmp_path / "z.wav", np.zeros(100, np.float32), RATE)
    one_line_error(lambda: read_audio(tmp_path / "z.wav"), "is silent")
    assert read_audio(tmp_path / "z.wav", trim_db=None).waves[0].size == 100


def test_mixed_rates_without_rate(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", tone(300, rate=8000), 8000)
    write_wav(tmp_path / "b.wav", tone(300, rate=16000), 16000)
    message = one_line_error(lambda: read_audio(tmp_path), "mixes sample rates")
    assert "8000 Hz, 16000 Hz" in message and "--rate" in message and "rate=" in message


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_header(tmp_path: Path, damage: str) -> None:
    good = tmp_path / "good.wav"
    write_wav(good, tone(300), RATE)
    bad = tmp_path / "bad.wav"
    data = good.read_bytes()
    bad.write_bytes(data[:20] if damage == "truncated" else b"RIFF" + bytes(range(40)) * 5)
    one_line_error(lambda: read_audio(bad), "cannot read .* as audio .*damaged or not WAV")


def test_folder_without_audio(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    one_line_error(lambda: read_audio(tmp_path / "empty"), "holds no audio clips")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.csv").write_text("a\n1\n")
    one_line_error(lambda: read_audio(tmp_path / "other"), "holds a non-audio file 'x.csv'")
    assert not is_audio_input(tmp_path / "empty")


def test_missing_path_and_bad_rate(tmp_path: Path) -> None:
    one_line_error(lambda: read_audio(tmp_path / "nope.wav"), "no such file or folder")
    with pytest.raises(ParameterError, match="rate must be"):
        read_audio(tmp_path, rate=5)


# -- writing ------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(arrays(np.float32, st.integers(1, 300), elements=st.floats(-1.0, 1.0, width=32)),
       st.sampled_from([8000, 22050, 44100]))
def test_write_wav_round_trips_at_16_bits(x: np.ndarray, rate: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.wav"
        write_wav(path, x, rate, info={"title": "t"})
        back, r = sf.read(path, dtype="float32")
        assert r == rate and back.shape == x.shape
        assert np.array_equal(quantize_16bit(back), quantize_16bit(x))
        assert sf.info(str(path)).subtype == "PCM_16"
        assert [p.name for p in Path(tmp).iterdir()] == ["x.wav"]  # no temporary file left


def test_write_wav_refuses_unknown_info_key(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="not LIST/INFO fields"):
        write_wav(tmp_path / "x.wav", tone(300), RATE, info={"bogus": "1"})


@pytest.mark.parametrize("size", [10, 5000])
def test_provenance_in_wav_info_round_trips(tmp_path: Path, size: int) -> None:
    prov = {"generator": "genlab test", "seed": 3, "params": {"note": "é" * size}}
    path = tmp_path / "p.wav"
    write_wav(path, tone(300), RATE, info=wav_info(prov))
    found, where = read_provenance(path)
    assert found == json.loads(json.dumps(prov)) and where == "WAV LIST/INFO comment"
