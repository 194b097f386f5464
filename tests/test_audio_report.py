"""The audio report page: waveform + spectrogram images and `<audio controls>` players whose
embedded base64 WAV decodes (in Python and in headless Chromium), for a class-conditional
WaveNet, a WaveNet vocoder (scored against Griffin–Lim) and text to speech; `genlab report`
writes it for an audio model."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest

from genlab.data.audio import Clips
from genlab.report.audio import audio_report, wav_data_uri

pytestmark = pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning",
                                        "ignore:trimmed:UserWarning")
RATE = 8000
MEL = {"n_mels": 24, "n_fft": 128, "hop": 32}
TINY = {"channels": 4, "skip_channels": 4, "layers": 2, "cycle": 2, "window": 128,
        "epoch_size": 8, "epochs": 1, "seed": 0}


def _clips() -> Clips:
    t = np.arange(int(0.06 * RATE)) / RATE
    waves, labels = [], []
    for label, f in (("low", 300.0), ("high", 1500.0)):
        for amp in (0.3, 0.5):
            waves.append((amp * np.sin(2 * np.pi * f * t) * np.hanning(t.size)).astype(
                np.float32))
            labels.append(label)
    return Clips(waves, RATE, labels)


def _srcs(page: Path) -> list[str]:
    return re.findall(r'<audio controls[^>]* src="(data:audio/wav;base64,[^"]+)"',
                      page.read_text(encoding="utf-8"))


def _decode(src: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    raw = base64.b64decode(src.split(",", 1)[1], validate=True)
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    wave, rate = sf.read(io.BytesIO(raw), dtype="float32")
    return wave, rate


def test_wav_data_uri_round_trips() -> None:
    x = (0.5 * np.sin(np.arange(800) / 5.0)).astype(np.float32)
    wave, rate = _decode(wav_data_uri(x, RATE))
    assert rate == RATE and np.allclose(wave, x, atol=1 / 32768)


@pytest.fixture(scope="module")
def wavenet_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from genlab.models.audio.wavenet import WaveNet

    model = WaveNet(**TINY).fit(_clips(), conditions="label")
    return audio_report(model, tmp_path_factory.mktemp("r") / "wavenet.html", data=_clips())


def test_wavenet_page_has_players_images_and_scores(wavenet_page: Path) -> None:
    text = wavenet_page.read_text(encoding="utf-8")
    srcs = _srcs(wavenet_page)
    assert len(srcs) == 2 + 3  # one generated clip per class, then three real clips
    for src in srcs:
        wave, rate = _decode(src)
        assert rate == RATE and wave.size > 0
    assert text.count("data:image/png;base64,") == len(srcs) + 1  # + training curves
    assert 'id="bits-per-sample"' in text and "generated: high" in text
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text)


def test_vocoder_page_scores_wavenet_against_griffin_lim(tmp_path: Path) -> None:
    from genlab.models.audio.wavenet import WaveNet

    model = WaveNet(**TINY, **MEL, local="mel", cond_channels=4).fit(_clips())
    page = audio_report(model, tmp_path / "voc.html", data=_clips())
    text = page.read_text(encoding="utf-8")
    for ident in ("mcd-wavenet", "lsd-wavenet", "mcd-griffin_lim", "lsd-griffin_lim"):
        value = re.search(rf'id="{ident}" data-value="([^"]+)"', text)
        assert value and float(value.group(1)) >= 0
    assert len(_srcs(page)) == 3 * 3  # real, WaveNet, Griffin–Lim for three clips


def test_tts_page_says_its_transcripts(tmp_path: Path) -> None:
    from genlab.models.audio.tts import TextToSpeech

    model = TextToSpeech(hidden=8, layers=1, epochs=1, seed=0, **MEL).fit(_clips())
    page = audio_report(model, tmp_path / "tts.html", prompts=["low", "high"])
    assert len(_srcs(page)) == 2 and "“high”" in page.read_text(encoding="utf-8")


def test_cli_report_of_an_audio_model(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from genlab.cli import app
    from genlab.models.audio.wavenet import WaveNet

    folder = tmp_path / "clips"
    from genlab.data.audio import write_wav

    for i, (w, label) in enumerate(zip(_clips().waves, _clips().labels or [], strict=True)):
        (folder / label).mkdir(parents=True, exist_ok=True)
        write_wav(folder / label / f"{i}.wav", w, RATE)
    path = WaveNet(**TINY).fit(folder, conditions="label").save(tmp_path / "w.genlab")
    out = tmp_path / "page.html"
    res = CliRunner().invoke(app, ["report", "--model", str(path), "--real", str(folder),
                                   "-o", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert len(_srcs(out)) == 5


_PLAYERS_JS = """
const done = arguments[arguments.length - 1];
const els = Array.from(document.querySelectorAll('audio'));
Promise.all(els.map(a => new Promise(res => {
  const report = () => res({duration: a.duration, error: a.error ? a.error.code : null,
                            controls: a.controls});
  if (a.readyState >= 1) { report(); return; }
  a.addEventListener('loadedmetadata', report);
  a.addEventListener('error', report);
  a.load();
}))).then(players => Promise.all(els.map(a => fetch(a.src).then(r => r.arrayBuffer())
  .then(b => new OfflineAudioContext(1, 1, 8000).decodeAudioData(b))
  .then(buf => ({seconds: buf.duration, channels: buf.numberOfChannels}))
  .catch(e => ({error: String(e)})))).then(decoded => done({players, decoded})));
"""


@pytest.mark.browser
def test_players_work_in_chromium(wavenet_page: Path, tmp_path: Path) -> None:
    from tests.test_report import (
        CHROMEDRIVER,
        CHROMIUM,
        _missing_browser,
        assert_renders_in_chromium,
    )

    assert assert_renders_in_chromium(wavenet_page, user_data_dir=tmp_path / "p1") == 6
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        _missing_browser("chromium or chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={tmp_path}/p2"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        driver.set_script_timeout(60)
        driver.get(wavenet_page.resolve().as_uri())
        got = driver.execute_async_script(_PLAYERS_JS)
    finally:
        driver.quit()
    expected = [_decode(s)[0].size / RATE for s in _srcs(wavenet_page)]
    assert len(got["players"]) == len(expected) == 5
    for player, dec, seconds in zip(got["players"], got["decoded"], expected, strict=True):
        assert player["error"] is None and player["controls"]
        assert player["duration"] == pytest.approx(seconds, abs=2e-3)
        assert dec.get("channels") == 1 and dec["seconds"] == pytest.approx(seconds, abs=2e-3)
