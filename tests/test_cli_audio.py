"""The command line on audio: fit a folder of clips, sample WAV files (with provenance in
their INFO chunk), score clips; bad audio input is one line with exit code 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from genlab.cli import app
from genlab.data.audio import write_wav

runner = CliRunner()
RATE = 4000
TINY = ["-p", "channels=4", "-p", "skip_channels=4", "-p", "layers=2", "-p", "cycle=2",
        "-p", "window=64", "-p", "epoch_size=16", "-p", "epochs=1", "-p", "batch_size=8",
        "-p", "device=cpu", "--seed", "0"]


def run(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def tone(freq: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(rate // 10) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t + 0.3)).astype(np.float32)


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    for label, freq in (("3", 200.0), ("7", 700.0)):
        (tmp_path / "clips" / label).mkdir(parents=True)
        for i in range(2):
            write_wav(tmp_path / "clips" / label / f"{i}.wav", tone(freq + 20 * i), RATE)
    return tmp_path / "clips"


def test_fit_sample_score_with_labels(tmp_path: Path, clips: Path) -> None:
    model = tmp_path / "m.genlab"
    code, text = run("fit", clips, "--model", "wavenet", "-o", model, "-c", "label", *TINY)
    assert code == 0, text
    assert "fitted WaveNet on 4 items" in text
    out = tmp_path / "out"
    code, text = run("sample", model, "-n", "3", "-o", out, "--where", "label=7",
                     "--where", "seconds=0.02", "--seed", "1")
    assert code == 0, text
    files = sorted(out.iterdir())
    assert [p.name for p in files] == [f"sample_0000{i}_7.wav" for i in range(3)]
    wave, rate = sf.read(files[0], dtype="float32")
    assert rate == RATE and wave.size == 80 and sf.info(str(files[0])).subtype == "PCM_16"
    code, text = run("provenance", files[0])
    assert code == 0 and "WAV LIST/INFO comment" in text and "wavenet (audio)" in text
    code, text = run("score", model, clips)
    assert code == 0 and "4 rows scored (exact log-likelihood)" in text, text
    code, text = run("sample", model, "-n", "2", "-o", tmp_path / "both.wav", "--seed", "2",
                     "--where", "seconds=0.02")
    assert code == 0 and "2 clips one after another" in text, text
    assert sf.info(str(tmp_path / "both.wav")).frames == 80 * 2 + RATE // 4
    # without -n, a single .wav holds one clip (not the 1000 rows a table would get)
    code, text = run("sample", model, "-o", tmp_path / "one.wav", "--where", "seconds=0.02")
    assert code == 0 and "1 clip (" in text, text


def test_data_kind_audio_and_rate(tmp_path: Path) -> None:
    (tmp_path / "mixed").mkdir()
    write_wav(tmp_path / "mixed" / "a.wav", tone(300, 4000), 4000)
    write_wav(tmp_path / "mixed" / "b.wav", tone(300, 8000), 8000)
    code, text = run("fit", tmp_path / "mixed", "-o", tmp_path / "m.genlab", *TINY)
    assert code == 2 and len(text.strip().splitlines()) == 1 and "Traceback" not in text
    assert "mixes sample rates" in text and "--rate" in text
    code, text = run("fit", tmp_path / "mixed", "-o", tmp_path / "m.genlab", "--rate", "4000",
                     "--data-kind", "audio", *TINY)
    assert code == 0, text


@pytest.mark.parametrize(("make", "phrase"), [
    (lambda p: p.write_text("not audio"), "is not an audio file"),
    (lambda p: p.write_bytes(b"RIFF\x00\x00"), "cannot read"),
], ids=["not-audio", "corrupt"])
def test_bad_audio_file_is_one_line(tmp_path: Path, make: object, phrase: str) -> None:
    path = tmp_path / ("x.txt" if phrase.startswith("is not") else "x.wav")
    make(path)  # type: ignore[operator]
    code, text = run("fit", path, "--data-kind", "audio", "-o", tmp_path / "m.genlab", *TINY)
    assert code == 2 and phrase in text and "Traceback" not in text
    assert len(text.strip().splitlines()) == 1, text


def test_vocoder_model_refuses_plain_sampling(tmp_path: Path, clips: Path) -> None:
    model = tmp_path / "v.genlab"
    code, text = run("fit", clips, "-o", model, "-p", "local=mel", "-p", "n_mels=8",
                     "-p", "n_fft=128", "-p", "hop=32", *TINY)
    assert code == 0, text
    code, text = run("sample", model, "-n", "1", "-o", tmp_path / "x.wav")
    assert code == 2 and "call vocode" in text and "Traceback" not in text
