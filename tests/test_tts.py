"""Text to speech (audio family "tts"): the length regulator and the uniform alignment, a
tiny model that learns which sound each character makes, the vocoder inside the model file,
the command line, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import genlab
from genlab.data.audio import Clips, write_wav
from genlab.errors import DataError, ParameterError, UnsupportedOperation
from genlab.models.audio.tts import TextToSpeech, uniform_durations
from genlab.nets.tts import regulate_length

pytestmark = pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning",
                                        "ignore:trimmed:UserWarning")
RATE = 8000
TONE = {"a": 400.0, "b": 2400.0}  # each "letter" is a tone: what is said is easy to check
MEL = {"n_mels": 24, "n_fft": 128, "hop": 32}
SMALL = {**MEL, "hidden": 32, "layers": 1, "batch_size": 8, "seed": 0, "lr": 3e-3}


def _say(word: str, rng: np.random.Generator) -> np.ndarray:
    per = int(RATE * rng.uniform(0.12, 0.16))
    t = np.arange(per) / RATE
    parts = [np.sin(2 * np.pi * TONE[c] * t) * np.hanning(per) for c in word]
    return (rng.uniform(0.4, 0.8) * np.concatenate(parts)).astype(np.float32)


def _clips(copies: int = 8, seed: int = 0) -> Clips:
    rng = np.random.default_rng(seed)
    words = ["ab", "ba", "a", "b"] * copies
    return Clips([_say(w, rng) for w in words], RATE, words)


@pytest.fixture(scope="module")
def fitted() -> TextToSpeech:
    return TextToSpeech(**SMALL, epochs=400, max_steps=250, val_fraction=0.0).fit(_clips())


def test_uniform_durations_cover_every_frame() -> None:
    d = uniform_durations(3, 4, 16, 20)
    assert d.tolist() == [4, 4, 4, 4, 4] and d.sum() == 20
    d = uniform_durations(5, 2, 9, 12)
    assert d[0] == 2 and d[-1] == 3 and d.sum() == 12 and (d[1:-1] >= 1).all()


def test_regulate_length_repeats_states_in_order() -> None:
    states = torch.arange(6, dtype=torch.float32).reshape(1, 3, 2)
    frames, mask = regulate_length(states, torch.tensor([[2, 0, 3]]))
    assert frames.shape == (1, 5, 3) and mask.tolist() == [[True] * 5]
    assert frames[0, :, 0].tolist() == [0, 0, 4, 4, 4]  # the empty symbol is skipped
    rel = frames[0, :, 2].tolist()
    assert rel[0] < rel[1] and rel[2] < rel[3] < rel[4] <= 1.0
    padded, mask = regulate_length(states, torch.tensor([[1, 1, 1]]), max_frames=5)
    assert mask[0].tolist() == [True, True, True, False, False]
    assert padded[0, 3:].abs().sum() == 0


def _band_energy(mel: np.ndarray, freq: float) -> np.ndarray:
    from genlab.data.audio_features import mel_filterbank

    fb = mel_filterbank(RATE, MEL["n_fft"], MEL["n_mels"])
    band = int(np.argmax(fb[:, int(round(freq / RATE * MEL["n_fft"]))]))
    return mel[:, band]


def test_learns_which_sound_each_character_makes(fitted: TextToSpeech) -> None:
    for word in ("ab", "ba"):
        mel = fitted.text_to_mel(word)
        half = len(mel) // 2
        first, second = TONE[word[0]], TONE[word[1]]
        # the first letter's tone is louder in the first half, the second's in the second
        assert _band_energy(mel[:half], first).mean() > _band_energy(mel[half:], first).mean()
        assert _band_energy(mel[half:], second).mean() > _band_energy(mel[:half], second).mean()
    # predicted length: two letters last about twice as long as one
    assert 1.5 < len(fitted.text_to_mel("ab")) / len(fitted.text_to_mel("a")) < 2.6


def test_griffin_lim_speech_sounds_like_the_text(fitted: TextToSpeech) -> None:
    wave = fitted.sample(1, prompt="b", seed=0)[0]
    assert wave.dtype == np.float32 and np.abs(wave).max() <= 1.0
    spec = np.abs(np.fft.rfft(wave))
    assert abs(np.argmax(spec) * RATE / (2 * (spec.size - 1)) - TONE["b"]) < 150


def test_same_seed_same_speech_and_save_load(fitted: TextToSpeech, tmp_path: Path) -> None:
    a = fitted.sample(2, prompt="ab", seed=5)
    b = fitted.sample(2, prompt="ab", seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert a.attrs["rate"] == RATE and a.attrs["provenance"]["options"]["prompt"] == "ab"
    back = genlab.load(fitted.save(tmp_path / "tts.genlab"))
    assert isinstance(back, TextToSpeech) and back.vocoder_ is None
    c = back.sample(2, prompt="ab", seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("lpc", [0, 6])
def test_wavenet_vocoder_travels_in_the_model_file(tmp_path: Path, lpc: int) -> None:
    from genlab.models.audio.wavenet import WaveNet

    clips = _clips(copies=2)
    voc = WaveNet(local="mel", channels=4, skip_channels=4, layers=2, cycle=2, window=128,
                  epoch_size=8, epochs=1, seed=0, cond_channels=4, lpc=lpc, **MEL).fit(clips)
    tts = TextToSpeech(hidden=8, layers=1, epochs=1, seed=0).fit(clips, vocoder=voc)
    assert (tts.codec_.n_mels, tts.codec_.hop, tts.codec_.rate) == (24, 32, RATE)
    path = tts.save(tmp_path / "tts.genlab")
    back = genlab.load(path)
    assert back.vocoder_ is not None and back.vocoder_.family == "wavenet"
    a, b = (m.sample(1, prompt="ab", seed=1, seconds=0.05)[0] for m in (tts, back))
    assert np.array_equal(a, b) and a.size == round(0.05 * RATE / 32) * 32
    gl = back.sample(1, prompt="ab", seed=1, vocoder="griffin_lim", seconds=0.05)[0]
    assert not np.array_equal(a, gl)


def test_cli_sample_prompt_writes_wav(fitted: TextToSpeech, tmp_path: Path) -> None:
    import soundfile as sf
    from typer.testing import CliRunner

    from genlab.cli import app

    path = fitted.save(tmp_path / "tts.genlab")
    out = tmp_path / "ab.wav"
    res = CliRunner().invoke(app, ["sample", str(path), "--prompt", "ab", "-n", "1", "-o",
                                   str(out), "--seed", "0", "--quiet"])
    assert res.exit_code == 0, res.output
    wave, rate = sf.read(out, dtype="float32")
    assert rate == RATE and wave.size == fitted.sample(1, prompt="ab", seed=0)[0].size
    res = CliRunner().invoke(app, ["sample", str(path), "--prompt", "xyz", "-n", "1", "-o",
                                   str(tmp_path / "x.wav"), "--quiet"])
    assert res.exit_code == 2 and "never occur in the training transcripts" in res.output
    assert "Traceback" not in res.output


def test_table_with_path_and_text_columns(tmp_path: Path) -> None:
    clips = _clips(copies=1)
    rows = []
    for i, (w, t) in enumerate(zip(clips.waves, clips.labels or [], strict=True)):
        write_wav(tmp_path / f"c{i}.wav", w, RATE)
        rows.append({"path": f"c{i}.wav", "said": t})
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    m = TextToSpeech(hidden=8, layers=1, epochs=1, seed=0, **MEL).fit(
        tmp_path / "t.csv", text_column="said")
    assert m.meta_["texts"] == ["a", "ab", "b", "ba"] and m.n_rows_ == 4


def test_bad_input_is_one_line(fitted: TextToSpeech) -> None:
    cases = [
        (lambda: fitted.sample(1, prompt="abc"), ParameterError, "'c'"),
        (lambda: fitted.sample(1), ParameterError, "prompt="),
        (lambda: fitted.sample(1, prompt=""), ParameterError, "empty"),
        (lambda: fitted.sample(1, prompt="a", vocoder="wavenet"), ParameterError,
         "without a WaveNet vocoder"),
        (lambda: fitted.sample(1, prompt="a", conditions={"label": "a"}), ParameterError,
         "not conditions"),
        (lambda: fitted.log_prob(_clips(1)), UnsupportedOperation, "no likelihood"),
        (lambda: TextToSpeech(**MEL).fit(Clips(_clips(1).waves, RATE)), DataError,
         "transcript"),
        (lambda: TextToSpeech(**MEL).fit(_clips(1), conditions="label"), ParameterError,
         "text alone"),
        (lambda: TextToSpeech(**MEL).fit(_clips(1), vocoder=fitted), ParameterError,
         "fitted WaveNet"),
    ]
    for call, kind, match in cases:
        with pytest.raises(kind, match=match) as err:
            call()
        assert "\n" not in str(err.value)


def test_cli_fit_with_a_vocoder_file(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from genlab.cli import app
    from genlab.models.audio.wavenet import WaveNet

    clips = _clips(copies=1)
    folder = tmp_path / "words"
    for i, (w, t) in enumerate(zip(clips.waves, clips.labels or [], strict=True)):
        (folder / t).mkdir(parents=True, exist_ok=True)
        write_wav(folder / t / f"{i}.wav", w, RATE)
    voc = WaveNet(local="mel", channels=4, skip_channels=4, layers=2, cycle=2, window=128,
                  epoch_size=8, epochs=1, seed=0, cond_channels=4, **MEL).fit(clips)
    voc_path = voc.save(tmp_path / "voc.genlab")
    out = tmp_path / "tts.genlab"
    res = CliRunner().invoke(app, ["fit", str(folder), "--model", "tts", "-p", "hidden=8",
                                   "-p", "epochs=1", "-p", f"vocoder={voc_path}", "-o", str(out),
                                   "--quiet"])
    assert res.exit_code == 0, res.output
    back = genlab.load(out)
    assert back.family == "tts" and back.vocoder_ is not None
    assert back.codec_.hop == 32 and back.meta_["texts"] == ["a", "ab", "b", "ba"]
    res = CliRunner().invoke(app, ["fit", str(folder), "--model", "tts", "-p",
                                   f"vocoder={out}", "-o", str(tmp_path / "x.genlab")])
    assert res.exit_code == 2 and "fitted WaveNet" in res.output
