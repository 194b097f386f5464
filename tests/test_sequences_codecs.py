"""Codecs of genlab.sequences: every one round-trips (property tests) and says what is wrong."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genlab.data.sequences.codecs import (
    EOS,
    UNKNOWN,
    CharCodec,
    MusicCodec,
    Note,
    Piece,
    SmilesCodec,
    codec_from_dict,
    smiles_tokens,
)
from genlab.errors import DataError, ModelFileError, ParameterError

# -- characters ------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=200))
def test_char_codec_round_trips(text: str) -> None:
    codec = CharCodec.fit([text])
    ids = codec.encode(text)
    assert len(ids) == len(text)
    assert codec.decode(ids) == text
    again = codec_from_dict(codec.to_dict())
    assert again.decode(again.encode(text)) == text


def test_char_codec_unseen_character_is_an_error_or_marked() -> None:
    codec = CharCodec.fit(["abc"])
    with pytest.raises(ParameterError, match=r"never seen in training: 'z'"):
        codec.encode("abz")
    assert codec.encode("abz", unknown="mark")[-1] == UNKNOWN


def test_decode_stops_at_eos() -> None:
    codec = CharCodec.fit(["ab"])
    ids = codec.encode("ab") + [EOS] + codec.encode("ba")
    assert codec.decode(ids) == "ab"


# -- SMILES ----------------------------------------------------------------------------------

ATOMS = ["C", "N", "O", "S", "F", "Cl", "Br", "I", "P", "c", "n", "o", "s", "[nH]", "[C@@H]",
         "[O-]", "[N+]", "[Na+]", "[2H]", "[Si]", "B"]
BONDS = ["", "=", "#", "/", "\\", ":"]
RINGS = [str(d) for d in range(10)] + [f"%{d}" for d in range(10, 100)]


@st.composite
def smiles_like(draw: st.DrawFn) -> tuple[str, list[str]]:
    """SMILES-grammar token lists (not necessarily chemically valid) and their text."""
    tokens: list[str] = []
    for _ in range(draw(st.integers(1, 25))):
        bond = draw(st.sampled_from(BONDS))
        if bond and tokens:
            tokens.append(bond)
        tokens.append(draw(st.sampled_from(ATOMS)))
        if draw(st.booleans()):
            tokens.append(draw(st.sampled_from(RINGS)))
        if draw(st.integers(0, 5)) == 0:
            tokens += ["(", draw(st.sampled_from(ATOMS)), ")"]
    return "".join(tokens), tokens


@settings(max_examples=150, deadline=None)
@given(smiles_like())
def test_smiles_tokens_round_trip(example: tuple[str, list[str]]) -> None:
    text, tokens = example
    assert smiles_tokens(text) == tokens  # Cl, Br, [..], %nn are single tokens
    codec = SmilesCodec.fit([text])
    assert codec.decode(codec.encode(text)) == text
    again = codec_from_dict(codec.to_dict())
    assert again.decode(again.encode(text)) == text


def test_smiles_multi_character_tokens() -> None:
    assert smiles_tokens("ClC(Br)c1cc[nH]c1%12") == [
        "Cl", "C", "(", "Br", ")", "c", "1", "c", "c", "[nH]", "c", "1", "%12"]
    assert smiles_tokens("CC(=O)[O-].[Na+]") == [
        "C", "C", "(", "=", "O", ")", "[O-]", ".", "[Na+]"]


def test_smiles_outside_grammar_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="not a SMILES string"):
        smiles_tokens("hello world")


# -- music -----------------------------------------------------------------------------------


@st.composite
def pieces(draw: st.DrawFn) -> Piece:
    spb = draw(st.sampled_from([12, 16]))
    bars = draw(st.integers(1, 6))
    notes = []
    for _ in range(draw(st.integers(0, 40))):
        onset = draw(st.integers(0, bars * spb - 1))
        duration = draw(st.integers(1, min(32, bars * spb - onset)))
        notes.append(Note(onset, draw(st.integers(0, 127)), duration))
    return Piece(notes, bars, spb)


@settings(max_examples=150, deadline=None)
@given(pieces())
def test_music_events_round_trip(piece: Piece) -> None:
    codec = MusicCodec(piece.steps_per_bar)
    tokens = codec.split(piece)
    assert tokens.count("BAR") == piece.bars  # one BAR token opens each measure
    back = codec.decode(codec.encode(piece))
    assert back.bars == piece.bars
    assert sorted(back.notes) == sorted(piece.notes)
    again = codec_from_dict(codec.to_dict())
    assert sorted(again.decode(again.encode(piece)).notes) == sorted(piece.notes)


def test_music_shift_never_crosses_a_bar_line() -> None:
    codec = MusicCodec(16)
    piece = Piece([Note(0, 60, 4), Note(20, 62, 4), Note(40, 64, 8)], bars=3)
    assert codec.split(piece) == ["BAR", "NOTE_60", "DUR_4", "SHIFT_16", "BAR", "SHIFT_4",
                                  "NOTE_62", "DUR_4", "SHIFT_12", "BAR", "SHIFT_8", "NOTE_64",
                                  "DUR_8"]


def test_music_decoding_tolerates_generated_garbage() -> None:
    codec = MusicCodec(16)
    piece = codec.join(["NOTE_60", "BAR", "DUR_3", "NOTE_61", "SHIFT_16", "SHIFT_16",
                        "NOTE_70", "DUR_8"])
    assert piece.bars == 1
    # the stray DUR is ignored, NOTE_61 without DUR lasts a step, notes past the bar drop
    assert piece.notes == [Note(0, 60, 1), Note(0, 61, 1)]


def test_music_wrong_metre_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="12 sixteenths per bar but this model uses 16"):
        MusicCodec(16).split(Piece([Note(0, 60, 4)], 1, 12))


def test_unknown_codec_in_a_model_file() -> None:
    with pytest.raises(ModelFileError, match="unknown sequence codec"):
        codec_from_dict({"kind": "morse"})
