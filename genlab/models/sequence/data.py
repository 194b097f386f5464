"""What the sequence families read before training: the codec fitted to the items (text
as one stream, molecules, music cut into segments) and the molecule condition matrix."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genlab.data.sequences.codecs import (
    CharCodec,
    Codec,
    MusicCodec,
    Note,
    Piece,
    SelfiesCodec,
    SmilesCodec,
)
from genlab.errors import DataError, ParameterError

__all__ = ["condition_matrix", "is_file", "make_codec", "split_piece"]


def is_file(text: str) -> bool:
    """True when a string names an existing file (a long text is never a path)."""
    if "\n" in text or len(text) > 4096:
        return False
    try:
        return Path(text).is_file() or Path(text).is_dir()
    except OSError:
        return False


def split_piece(piece: Piece, bars: int) -> list[Piece]:
    """Cut a piece into consecutive pieces of `bars` bars (the last may be shorter)."""
    spb = piece.steps_per_bar
    out = []
    for b0 in range(0, piece.bars, bars):
        lo, hi = b0 * spb, min(piece.bars, b0 + bars) * spb
        notes = [Note(n.onset - lo, n.pitch, min(n.duration, hi - n.onset))
                 for n in piece.notes if lo <= n.onset < hi]
        if notes:
            out.append(Piece(notes, (hi - lo) // spb, spb, name=piece.name))
    return out


def _music_codec(items: list[Any], segment_bars: int) -> tuple[Codec, list[Any]]:
    if not items:
        raise DataError("no pieces of music found; give MIDI/MusicXML files or chorales")
    meters = pd.Series([p.steps_per_bar for p in items]).value_counts()
    spb = int(meters.index[0])
    kept = [p for p in items if p.steps_per_bar == spb]
    if len(kept) < len(items):
        warnings.warn(f"{len(items) - len(kept)} pieces in another metre than the most "
                      f"common ({spb} sixteenths per bar) were left out", stacklevel=5)
    segments = [s for p in kept for s in split_piece(p, segment_bars)]
    return MusicCodec(spb), segments


def make_codec(kind: str, items: list[Any], *, molecule_tokens: str = "smiles",
               segment_bars: int = 8) -> tuple[Codec, list[Any]]:
    """(codec fitted to the items, the items to train on) for a codec kind."""
    if kind == "char":
        if not any(items) or not "".join(items).strip():
            raise DataError("the text is empty; give a text file with some text to learn from")
        text = "\n".join(items)  # several documents: one stream, a newline between
        return CharCodec.fit([text]), [text]
    if kind == "smiles":
        if not items:
            raise DataError("the SMILES column is empty; give at least one molecule")
        cls = SelfiesCodec if molecule_tokens == "selfies" else SmilesCodec
        return cls.fit(items), items
    if kind == "music":
        return _music_codec(items, segment_bars)
    raise ParameterError(f"codec must be 'auto', 'char', 'smiles' or 'music', got {kind!r}")


def condition_matrix(items: list[str], table: pd.DataFrame | None,
                     names: Sequence[str]) -> np.ndarray:
    """(n, len(names)) condition values: a column of the SMILES table of that name (any
    case), else the RDKit property (qed, logp, mw, tpsa) computed from the molecule."""
    from genlab.data.sequences.molecules import PROPERTIES, properties

    lower = {str(c).lower(): c for c in (table.columns if table is not None else [])}
    missing = [n for n in names if n.lower() not in lower]
    computed = {}
    if missing:
        unknown = [n for n in missing if n.lower() not in PROPERTIES]
        if unknown:
            raise ParameterError(
                f"condition(s) {unknown} are neither columns of the SMILES table nor "
                f"RDKit properties; choose columns or {', '.join(PROPERTIES)}"
            )
        values = properties(items, [n.lower() for n in missing])
        computed = {n: values[:, j] for j, n in enumerate(missing)}
    cols = []
    for n in names:
        if n in computed:
            cols.append(computed[n])
        else:
            col = pd.to_numeric(table[lower[n.lower()]], errors="coerce")  # type: ignore[index]
            cols.append(col.to_numpy(float))
    return np.stack(cols, axis=1)
