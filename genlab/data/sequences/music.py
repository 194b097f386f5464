"""Music in and out: music21 scores and JSB step arrays to `Piece`s, `Piece`s to MIDI or
MusicXML, and the statistics music generation is judged by (pitch-class, interval and
duration histograms) plus piano-roll plots.

Time is quantised to sixteenth notes (4 steps per quarter), which holds every note value
in the Bach chorales except rare 32nds and triplets (rounded to the nearest step).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genlab.data.sequences.codecs import Note, Piece
from genlab.errors import DataError

__all__ = [
    "duration_histogram",
    "histogram_distances",
    "interval_histogram",
    "piano_roll_figure",
    "piece_from_score",
    "piece_from_steps",
    "piece_to_score",
    "pitch_class_histogram",
    "read_score_file",
    "write_piece",
]

STEPS_PER_QUARTER = 4
MAX_INTERVAL = 12


def piece_from_steps(steps: np.ndarray, *, steps_per_bar: int = 16, name: str = "",
                     max_duration: int = 32) -> Piece:
    """A piece from a (time steps, voices) array of MIDI pitches on a 16th grid (0 = rest),
    the JSB chorales format; a held pitch is one note (split at `max_duration`)."""
    steps = np.asarray(steps, dtype=int)
    notes: list[Note] = []
    for v in range(steps.shape[1]):
        col = steps[:, v]
        t = 0
        while t < len(col):
            pitch, start = int(col[t]), t
            while t < len(col) and col[t] == pitch:
                t += 1
            if pitch > 0:
                for s in range(start, t, max_duration):  # very long notes: repeated
                    notes.append(Note(s, pitch, min(max_duration, t - s)))
    bars = max(1, -(-len(steps) // steps_per_bar))
    return Piece(notes, bars, steps_per_bar, name=name)


def piece_from_score(score: Any, *, name: str = "", max_duration: int = 32) -> Piece:
    """A piece from a music21 stream (all parts; ties merged; chords split into notes)."""
    from music21 import meter

    score = score.stripTies()
    sigs = list(score.recurse().getElementsByClass(meter.TimeSignature))
    bar_quarters = float(sigs[0].barDuration.quarterLength) if sigs else 4.0
    spb = max(1, round(bar_quarters * STEPS_PER_QUARTER))
    # a pickup measure: shift so that bar lines fall on multiples of steps_per_bar
    shift = 0
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    measures = list(parts[0].getElementsByClass("Measure"))
    if measures and measures[0].paddingLeft:
        shift = round(float(measures[0].paddingLeft) * STEPS_PER_QUARTER)
    notes: list[Note] = []
    for part in parts:
        for el in part.flatten().notes:
            onset = round(float(el.offset) * STEPS_PER_QUARTER) + shift
            dur = max(1, round(float(el.quarterLength) * STEPS_PER_QUARTER))
            for pitch in el.pitches:
                for s in range(onset, onset + dur, max_duration):
                    notes.append(Note(s, int(pitch.midi), min(max_duration, onset + dur - s)))
    if not notes:
        raise DataError(f"{name or 'the score'} holds no notes; give music with notes")
    end = max(n.onset + n.duration for n in notes)
    return Piece(notes, max(1, -(-end // spb)), spb, name=name)


def read_score_file(path: str | os.PathLike[str]) -> Piece:
    """A piece from a MIDI or MusicXML file; raises DataError if music21 cannot read it."""
    from music21 import converter

    p = Path(path)
    try:
        score = converter.parse(str(p))
    except Exception as err:  # music21 raises many types for bad files
        kind = "MIDI" if p.suffix.lower() in (".mid", ".midi") else "MusicXML"
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise DataError(
            f"{p} is not a readable {kind} file ({reason}); check the file or export it again"
        ) from err
    return piece_from_score(score, name=p.name)


def _voices(piece: Piece) -> list[list[Note]]:
    # greedy voice assignment, higher pitches first: a note joins the first voice that
    # is free at its onset, so every voice is monophonic and writes as plain notes/rests
    voices: list[list[Note]] = []
    ends: list[int] = []
    for note in piece.sorted_notes():
        for i, end in enumerate(ends):
            if end <= note.onset:
                voices[i].append(note)
                ends[i] = note.onset + note.duration
                break
        else:
            voices.append([note])
            ends.append(note.onset + note.duration)
    return voices or [[]]


def piece_to_score(piece: Piece, *, tempo: float = 80.0) -> Any:
    """A music21 Score of `piece.bars` full measures, one part per voice."""
    from music21 import meter, note, stream
    from music21 import tempo as m21tempo

    q = STEPS_PER_QUARTER
    total = piece.bars * piece.steps_per_bar
    score = stream.Score()
    for i, voice in enumerate(_voices(piece)):
        part = stream.Part(id=f"voice{i + 1}")
        part.insert(0, meter.TimeSignature(_time_signature(piece.steps_per_bar)))
        if i == 0:
            part.insert(0, m21tempo.MetronomeMark(number=tempo))
        t = 0
        for n in voice:
            if n.onset > t:
                part.append(note.Rest(quarterLength=(n.onset - t) / q))
            el = note.Note(n.pitch, quarterLength=n.duration / q)
            part.append(el)
            t = n.onset + n.duration
        if t < total:
            part.append(note.Rest(quarterLength=(total - t) / q))
        score.insert(0, part.makeMeasures())
    return score


def _time_signature(steps_per_bar: int) -> str:
    if steps_per_bar % 4 == 0:
        return f"{steps_per_bar // 4}/4"
    return f"{steps_per_bar}/16"


def write_piece(piece: Piece, path: str | os.PathLike[str]) -> Path:
    """Write a piece as MIDI (.mid/.midi) or MusicXML (.musicxml/.xml/.mxl), atomically."""
    from genlab._atomic import atomic_path

    p = Path(path)
    fmt = "midi" if p.suffix.lower() in (".mid", ".midi") else "musicxml"
    score = piece_to_score(piece)
    with atomic_path(p) as tmp:
        written = Path(score.write(fmt, fp=str(tmp.with_suffix(p.suffix))))
        os.replace(written, tmp)
    return p


# -- statistics -------------------------------------------------------------------------------
def pitch_class_histogram(pieces: Sequence[Piece]) -> np.ndarray:
    """Share of notes in each of the 12 pitch classes (C = 0)."""
    counts = np.zeros(12)
    for piece in pieces:
        for n in piece.notes:
            counts[n.pitch % 12] += 1
    return counts / max(counts.sum(), 1)


def interval_histogram(pieces: Sequence[Piece]) -> np.ndarray:
    """Share of melodic intervals -12..+12 semitones (clipped) between consecutive notes
    of each voice (voices as written by `piece_to_score`)."""
    counts = np.zeros(2 * MAX_INTERVAL + 1)
    for piece in pieces:
        for voice in _voices(piece):
            pitches = np.array([n.pitch for n in voice])
            if pitches.size > 1:
                d = np.clip(np.diff(pitches), -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL
                counts += np.bincount(d, minlength=counts.size)
    return counts / max(counts.sum(), 1)


def duration_histogram(pieces: Sequence[Piece], max_duration: int = 32) -> np.ndarray:
    """Share of note durations 1..max_duration sixteenths."""
    counts = np.zeros(max_duration)
    for piece in pieces:
        for n in piece.notes:
            counts[min(n.duration, max_duration) - 1] += 1
    return counts / max(counts.sum(), 1)


def histogram_distances(real: Sequence[Piece], generated: Sequence[Piece]) -> dict[str, float]:
    """Total-variation distances (0 = same, 1 = disjoint) between real and generated
    pitch-class, interval and duration histograms."""
    out = {}
    for key, fn in (("pitch_class", pitch_class_histogram), ("interval", interval_histogram),
                    ("duration", duration_histogram)):
        out[f"{key}_tvd"] = float(0.5 * np.abs(fn(real) - fn(generated)).sum())
    return out


def piano_roll_figure(piece: Piece, *, title: str = "") -> Any:
    """A matplotlib Figure of the piece as a piano roll (time in bars, MIDI pitch)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 2.6), dpi=90, layout="constrained")
    ax = fig.add_subplot()
    spb = piece.steps_per_bar
    for n in piece.notes:
        ax.broken_barh([(n.onset / spb, n.duration / spb)], (n.pitch - 0.4, 0.8),
                       facecolors="#1f77b4")
    for b in range(piece.bars + 1):
        ax.axvline(b, color="#d9dee7", lw=0.6, zorder=0)
    pitches = [n.pitch for n in piece.notes] or [60]
    ax.set_ylim(min(pitches) - 2, max(pitches) + 2)
    ax.set_xlim(0, piece.bars)
    ax.set_xlabel("bar")
    ax.set_ylabel("MIDI pitch")
    if title:
        ax.set_title(title, fontsize=10)
    return fig
