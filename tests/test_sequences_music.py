"""Music: chorales from music21's bundled corpus, MIDI out with the requested bars, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from genlab.cli import app
from genlab.data.detect import detect_kind
from genlab.data.sequences.music import (
    histogram_distances,
    interval_histogram,
    piece_from_steps,
    read_score_file,
)
from genlab.errors import DataError, ParameterError
from genlab.report.sequences import sequence_report
from genlab.sequences import Note, Piece, SequenceVAE, Transformer, read_music, write_piece

from .conftest import real_data
from .test_report import assert_renders_in_chromium

pytestmark = pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")
runner = CliRunner()


def corpus_files(n: int) -> list[Path]:
    from music21 import corpus

    return sorted(Path(p) for p in corpus.getComposer("bach") if str(p).endswith(".mxl"))[:n]


@pytest.fixture(scope="module")
def chorales() -> list[Piece]:
    return [read_score_file(p) for p in corpus_files(3)]


@pytest.fixture(scope="module")
def music_model(chorales: list[Piece]) -> Transformer:
    return Transformer(layers=1, d_model=16, heads=2, context=160, segment_bars=2, epochs=3,
                       sample_bars=2,
                       batch_size=8, lr=5e-3, warmup_steps=5, seed=0).fit(chorales)


def measures(path: Path) -> int:
    from music21 import converter

    score = converter.parse(str(path))
    return max(len(part.getElementsByClass("Measure")) for part in score.parts)


def test_chorale_from_the_corpus(chorales: list[Piece]) -> None:
    piece = chorales[0]
    assert piece.steps_per_bar in (12, 16) and piece.bars >= 8
    assert len({n.pitch for n in piece.notes}) > 10  # four voices of a real chorale


def test_piece_survives_midi(tmp_path: Path) -> None:
    piece = Piece([Note(0, 60, 4), Note(0, 64, 8), Note(4, 62, 4), Note(8, 67, 8),
                   Note(16, 72, 16)], bars=2)
    path = write_piece(piece, tmp_path / "p.mid")
    back = read_score_file(path)
    assert back.bars == 2 and sorted(back.notes) == sorted(piece.notes)
    assert measures(path) == 2


def test_samples_hold_the_requested_bars(music_model: Transformer, tmp_path: Path) -> None:
    pieces = music_model.sample(2, bars=3, seed=0, top_k=20)
    assert [p.bars for p in pieces] == [3, 3]
    # the last bar sounds: MIDI cannot hold trailing silence, so it could not keep 3 bars
    assert all(any(n.onset >= 2 * p.steps_per_bar for n in p.notes) for p in pieces)
    for i, piece in enumerate(pieces):
        path = write_piece(piece, tmp_path / f"s{i}.mid")
        assert measures(path) == 3  # opens in music21 with the requested number of bars
    assert music_model.sample(2, bars=3, seed=0, top_k=20) == pieces
    lp = music_model.log_prob(pieces)
    assert lp[0] == pytest.approx(music_model.token_log_prob(pieces[0]).sum(), rel=1e-5)
    with pytest.raises(ParameterError, match="not to music"):
        music_model.sample(1, prompt="C4")


def test_cli_music_folder(tmp_path: Path) -> None:
    folder = tmp_path / "chorales"
    folder.mkdir()
    for p in corpus_files(2):
        shutil.copy(p, folder / p.name)
    assert detect_kind(folder) == ("sequence", {})
    model = tmp_path / "m.genlab"
    result = runner.invoke(app, ["fit", str(folder), "-o", str(model), "--seed", "0",
                                 "-p", "layers=1", "-p", "d_model=16", "-p", "heads=2",
                                 "-p", "epochs=1", "-p", "segment_bars=2", "-p", "context=160"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    result = runner.invoke(app, ["sample", str(model), "-n", "2", "-o", str(out),
                                 "--where", "bars=2", "--seed", "0"])
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.mid"))
    assert len(files) == 2 and all(measures(f) == 2 for f in files)
    song = tmp_path / "song.mid"
    result = runner.invoke(app, ["sample", str(model), "-n", "1", "-o", str(song), "--where",
                                 "bars=2"])
    assert result.exit_code == 0 and measures(song) == 2
    assert (tmp_path / "song.mid.provenance.json").exists()


def test_unparseable_midi_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"this is not a MIDI file at all")
    with pytest.raises(DataError, match=r"bad\.mid is not a readable MIDI file .*export it"):
        read_music(bad)
    result = runner.invoke(app, ["fit", str(bad), "-o", str(tmp_path / "m.genlab")])
    assert result.exit_code == 2 and "not a readable MIDI file" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_histograms() -> None:
    a = piece_from_steps(np.array([[60, 55], [62, 55], [64, 55], [64, 0]]))
    assert a.notes == sorted(a.notes) or len(a.notes) == 4
    assert histogram_distances([a], [a]) == {"pitch_class_tvd": 0.0, "interval_tvd": 0.0,
                                             "duration_tvd": 0.0}
    h = interval_histogram([a])
    assert h[12 + 2] == pytest.approx(1.0)  # 60 -> 62 -> 64: two whole steps


def test_vae_on_music_and_report(chorales: list[Piece], music_model: Transformer,
                                 tmp_path: Path) -> None:
    vae = SequenceVAE(hidden=16, latent=4, segment_bars=2, sample_bars=2, context=160, epochs=1,
                      batch_size=8, seed=0).fit(chorales)
    a, b = vae.interpolate(chorales[0], chorales[1], steps=3)[::2]
    assert isinstance(a, Piece) and a.bars == 2 and b.bars == 2
    folder = tmp_path / "real"
    folder.mkdir()
    shutil.copy(corpus_files(1)[0], folder)
    path = sequence_report(music_model, tmp_path / "music.html", data=folder)
    assert "pitch_class_tvd" in path.read_text(encoding="utf-8")
    assert assert_renders_in_chromium(path) >= 6  # 3 piano rolls and 3 histograms


def test_jsb_chorales_archive() -> None:
    path = real_data("jsb_chorales", "jsb_chorales.tgz")
    assert detect_kind(path)[0] == "sequence"
    pieces = read_music(path)
    assert len(pieces) == 382 and all(p.steps_per_bar == 16 for p in pieces)
