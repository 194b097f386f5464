"""Codecs: turn texts, SMILES strings and pieces of music into token ids and back.

Every codec reserves three ids: 0 = PAD (padding, never predicted), 1 = BOS (start of a
sequence, never predicted), 2 = EOS (end of an item). Its own tokens follow. A codec is
stored as JSON in the model file (`to_dict` / `codec_from_dict`), never pickled.

- `CharCodec`: one token per character seen in training.
- `SmilesCodec`: the SMILES grammar's tokens (Schwaller et al. 2018's regular expression):
  two-letter atoms (Cl, Br), bracket atoms ([nH], [C@@H], [O-]) and two-digit ring bonds
  (%10) are single tokens, so the model never has to learn to spell them.
- `SelfiesCodec`: molecules as SELFIES tokens (Krenn et al. 2020, the `selfies` package):
  items stay SMILES strings; every token string decodes to a valid molecule, so a model
  over them cannot produce invalid chemistry (`molecule_tokens="selfies"`).
- `MusicCodec`: notes on a 16th-note grid as events: BAR (start of a measure), NOTE_p
  (a note of MIDI pitch p starts now), DUR_d (it lasts d sixteenths), SHIFT_d (time
  moves on d sixteenths, never across a bar line). Pieces are `Piece`s; reading and
  writing MIDI/MusicXML is in `genlab.data.sequences.music`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from genlab.errors import DataError, ModelFileError, ParameterError

__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "CharCodec",
    "Codec",
    "MusicCodec",
    "Note",
    "Piece",
    "SelfiesCodec",
    "SmilesCodec",
    "codec_from_dict",
    "smiles_tokens",
]

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<bos>", "<eos>")
UNKNOWN = -1  # id of a token the codec never saw (scored as impossible, see Codec.encode)


class Codec:
    """Token vocabulary shared by the codecs: specials first, then `tokens`."""

    kind = ""
    stream = False  # True: one long text modelled in windows; False: items with an EOS

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens = list(tokens)
        self.index = {t: i + len(SPECIALS) for i, t in enumerate(self.tokens)}

    @property
    def vocab_size(self) -> int:
        """Number of ids, specials included."""
        return len(SPECIALS) + len(self.tokens)

    def split(self, item: Any) -> list[str]:
        """The item as a list of token strings."""
        raise NotImplementedError

    def join(self, tokens: list[str]) -> Any:
        """Token strings back to an item."""
        raise NotImplementedError

    def encode(self, item: Any, *, unknown: str = "error") -> list[int]:
        """Token ids of an item (no BOS/EOS). A token never seen in training raises a
        ParameterError with `unknown="error"`, or becomes `UNKNOWN` with `unknown="mark"`."""
        ids = [self.index.get(t, UNKNOWN) for t in self.split(item)]
        if unknown == "error" and UNKNOWN in ids:
            unseen = sorted({t for t in self.split(item) if t not in self.index})
            raise ParameterError(
                f"{self.kind} input has token(s) never seen in training: "
                f"{', '.join(map(repr, unseen[:10]))}; remove them or refit on data that has them"
            )
        return ids

    def decode(self, ids: Iterable[int]) -> Any:
        """Ids back to an item; specials are dropped, decoding stops at EOS."""
        out: list[str] = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i >= len(SPECIALS):
                out.append(self.tokens[i - len(SPECIALS)])
        return self.join(out)

    def to_dict(self) -> dict[str, Any]:
        """The codec as JSON types."""
        return {"kind": self.kind, "tokens": self.tokens}


class CharCodec(Codec):
    """Characters as tokens; texts are modelled as one stream."""

    kind = "char"
    stream = True

    @classmethod
    def fit(cls, texts: Iterable[str]) -> CharCodec:
        """Vocabulary of the characters that occur in `texts` (sorted, so it is reproducible)."""
        chars: set[str] = set()
        for t in texts:
            chars.update(t)
        return cls(sorted(chars))

    def split(self, item: str) -> list[str]:
        return list(item)

    def join(self, tokens: list[str]) -> str:
        return "".join(tokens)


# Schwaller et al. 2018 (Molecular Transformer); bracket atoms and %nn ring bonds are atomic.
_SMILES_RE = re.compile(
    r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|/|:|~|@|\?|>|\*|\$|%[0-9]{2}|[0-9])"
)


def smiles_tokens(smiles: str) -> list[str]:
    """Split a SMILES string into tokens; raises DataError if characters are left over."""
    tokens = _SMILES_RE.findall(smiles)
    if "".join(tokens) != smiles:
        raise DataError(
            f"{smiles!r} is not a SMILES string (characters outside the SMILES grammar); "
            "check the SMILES column"
        )
    return tokens


class SmilesCodec(Codec):
    """SMILES tokens; each molecule is one item ending with EOS."""

    kind = "smiles"

    @classmethod
    def fit(cls, smiles: Iterable[str]) -> SmilesCodec:
        """Vocabulary of the tokens that occur in `smiles`."""
        seen: set[str] = set()
        for s in smiles:
            seen.update(smiles_tokens(s))
        return cls(sorted(seen))

    def split(self, item: str) -> list[str]:
        return smiles_tokens(item)

    def join(self, tokens: list[str]) -> str:
        return "".join(tokens)


def _selfies() -> Any:
    try:
        import selfies
    except ImportError:  # pragma: no cover - the molecules extra installs it
        raise ParameterError("molecule_tokens='selfies' needs the selfies package: "
                             "pip install 'genlab[molecules]'") from None
    return selfies


class SelfiesCodec(SmilesCodec):
    """SELFIES tokens for molecules given (and returned) as SMILES strings.

    Any sequence of SELFIES tokens decodes to a valid molecule (the grammar builds the
    graph and never exceeds a valence), so sampled strings are always valid; what the
    model learns shows in uniqueness, novelty and the property distributions instead.
    Decoded molecules are written as canonical SMILES (RDKit, when installed)."""

    alphabet = "selfies"

    def __init__(self, tokens: Sequence[str]) -> None:
        super().__init__(tokens)
        self._cache: dict[str, list[str]] = {}  # fit and encode see the same molecules

    @classmethod
    def fit(cls, smiles: Iterable[str]) -> SelfiesCodec:
        """Alphabet of the SELFIES tokens of `smiles`."""
        codec = cls([])
        seen: set[str] = set()
        for s in smiles:
            seen.update(codec.split(s))
        fitted = cls(sorted(seen))
        fitted._cache = codec._cache
        return fitted

    def split(self, item: str) -> list[str]:
        tokens = self._cache.get(item)
        if tokens is None:
            sf = _selfies()
            try:
                tokens = list(sf.split_selfies(sf.encoder(item, strict=True)))
            except Exception as err:  # selfies raises EncoderError with a long message
                reason = str(err).splitlines()[0] if str(err) else type(err).__name__
                raise DataError(f"{item!r} cannot be written as SELFIES ({reason}); drop it "
                                "or use molecule_tokens='smiles'") from None
            if len(self._cache) < 2_000_000:
                self._cache[item] = tokens
        return tokens

    def join(self, tokens: list[str]) -> str:
        smiles = _selfies().decoder("".join(tokens)) or ""
        try:
            from genlab.data.sequences.molecules import canonical

            return canonical([smiles])[0] or smiles
        except ImportError:  # pragma: no cover - rdkit comes with the same extra
            return smiles

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "alphabet": self.alphabet}


@dataclass(frozen=True, order=True)
class Note:
    """A note on the 16th-note grid: onset and duration in sixteenths, MIDI pitch."""

    onset: int
    pitch: int
    duration: int


@dataclass
class Piece:
    """Notes of a piece (any number of voices), `bars` measures of `steps_per_bar`
    sixteenths each (16 = 4/4, 12 = 3/4)."""

    notes: list[Note]
    bars: int
    steps_per_bar: int = 16
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def sorted_notes(self) -> list[Note]:
        """Notes in event order: by onset, higher pitch first, then duration."""
        return sorted(self.notes, key=lambda n: (n.onset, -n.pitch, n.duration))


class MusicCodec(Codec):
    """Notes as BAR / NOTE_p / DUR_d / SHIFT_d events on a 16th grid (a fixed vocabulary).

    Encoding then decoding gives back the same notes and bar count for any piece whose
    durations are 1..`max_duration` sixteenths and whose notes lie inside its bars.
    """

    kind = "music"

    def __init__(self, steps_per_bar: int = 16, max_duration: int = 32) -> None:
        if steps_per_bar < 1 or max_duration < 1:
            raise ParameterError("steps_per_bar and max_duration must be at least 1")
        self.steps_per_bar = int(steps_per_bar)
        self.max_duration = int(max_duration)
        tokens = (["BAR"] + [f"NOTE_{p}" for p in range(128)]
                  + [f"DUR_{d}" for d in range(1, self.max_duration + 1)]
                  + [f"SHIFT_{d}" for d in range(1, self.steps_per_bar + 1)])
        super().__init__(tokens)
        self.bar_id = self.index["BAR"]

    def split(self, item: Piece) -> list[str]:
        spb = self.steps_per_bar
        if item.steps_per_bar != spb:
            raise DataError(
                f"piece {item.name or ''!s} has {item.steps_per_bar} sixteenths per bar but this "
                f"model uses {spb}; give pieces in the same metre"
            )
        out = ["BAR"]
        t, bar = 0, 0

        def advance(to: int) -> None:
            nonlocal t, bar
            while t < to:
                next_bar = (bar + 1) * spb
                if to >= next_bar:
                    if next_bar > t:
                        out.append(f"SHIFT_{next_bar - t}")
                    out.append("BAR")
                    t, bar = next_bar, bar + 1
                else:
                    out.append(f"SHIFT_{to - t}")
                    t = to

        for note in item.sorted_notes():
            if not 0 <= note.onset < note.onset + note.duration <= item.bars * spb:
                raise DataError(f"note {note} lies outside the piece's {item.bars} bars")
            if not 1 <= note.duration <= self.max_duration or not 0 <= note.pitch < 128:
                raise DataError(f"note {note} has a duration or pitch out of range")
            advance(note.onset)
            out += [f"NOTE_{note.pitch}", f"DUR_{note.duration}"]
        advance((item.bars - 1) * spb)
        return out

    def join(self, tokens: list[str]) -> Piece:
        """Events back to a piece; tolerant of what a model may generate (a NOTE without
        DUR lasts one step, a SHIFT stops at the bar line, notes past the last bar drop)."""
        spb = self.steps_per_bar
        notes: list[Note] = []
        bars, t = 0, 0
        pending: int | None = None
        for tok in tokens:
            kind, _, value = tok.partition("_")
            if kind != "DUR" and pending is not None:
                notes.append(Note(t, pending, 1))
                pending = None
            if kind == "BAR":
                bars += 1
                t = (bars - 1) * spb
            elif kind == "SHIFT":
                t = min(t + int(value), max(bars, 1) * spb)
            elif kind == "NOTE":
                pending = int(value)
            elif kind == "DUR" and pending is not None:
                notes.append(Note(t, pending, int(value)))
                pending = None
        if pending is not None:
            notes.append(Note(t, pending, 1))
        bars = max(bars, 1)
        end = bars * spb
        kept = [Note(n.onset, n.pitch, min(n.duration, end - n.onset))
                for n in notes if n.onset < end]
        return Piece(kept, bars, spb)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "steps_per_bar": self.steps_per_bar,
                "max_duration": self.max_duration}


def codec_from_dict(data: dict[str, Any]) -> Codec:
    """Rebuild a codec from `Codec.to_dict()`."""
    kind = data.get("kind")
    if kind == "char":
        return CharCodec([str(t) for t in data["tokens"]])
    if kind == "smiles":
        cls = SelfiesCodec if data.get("alphabet") == "selfies" else SmilesCodec
        return cls([str(t) for t in data["tokens"]])
    if kind == "music":
        return MusicCodec(int(data["steps_per_bar"]), int(data["max_duration"]))
    raise ModelFileError(f"unknown sequence codec {kind!r}; upgrade genlab or check the file")
