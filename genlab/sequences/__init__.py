"""Sequences: text, molecules (SMILES) and music with autoregressive transformers, LSTMs
and sequence VAEs. This facade only re-exports the public names; importing
`genlab.models.sequence` registers the families.

    >>> from genlab.sequences import Transformer
    >>> m = Transformer(max_minutes=5).fit("corpus.txt")          # doctest: +SKIP
    >>> m.sample(3, prompt="ROMEO:")                                # doctest: +SKIP

Families (`modality="sequence"`): `autoregressive` (`Transformer`, the default), `lstm`
(`LSTM`) and `vae` (`SequenceVAE`). The kind of data is detected from the input: a `.txt`
file is text, a table with a SMILES column (or a `.smi` file) is molecules, MIDI/MusicXML
files, folders of them and the JSB chorales are music.
"""

from genlab.data.sequences.codecs import (
    CharCodec,
    MusicCodec,
    Note,
    Piece,
    SmilesCodec,
    smiles_tokens,
)
from genlab.data.sequences.music import piece_to_score, read_score_file, write_piece
from genlab.data.sequences.readers import detect, read_music, read_sequences
from genlab.models.sequence import LSTM, SequenceModel, SequenceVAE, Transformer

__all__ = [
    "LSTM",
    "CharCodec",
    "MusicCodec",
    "Note",
    "Piece",
    "SequenceModel",
    "SequenceVAE",
    "SmilesCodec",
    "Transformer",
    "detect",
    "piece_to_score",
    "read_music",
    "read_score_file",
    "read_sequences",
    "smiles_tokens",
    "write_piece",
]
