"""Provenance inside the output file, where the format has room for it: Parquet schema
metadata (pyarrow), PNG iTXt chunks (Pillow), a MIDI text meta event in the conductor
track (music21), the comment of a WAV file's LIST/INFO chunk (soundfile). CSV, plain text
and MusicXML keep only the JSON sidecar
(`genlab.provenance.sidecar_path`), which is written for every format, so older readers
still find it. `read_provenance` finds either; `model_id` names the model an output came
from without needing the model file.

The provenance is stored as JSON under the key `genlab.provenance`; what goes in comes out
equal (`json.loads(json.dumps(p)) == p` for any JSON object).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from genlab._atomic import atomic_path
from genlab.errors import DataError

__all__ = ["EMBEDDING_SUFFIXES", "KEY", "embeds", "model_id", "png_info", "privacy_of",
           "read_embedded", "read_provenance", "wav_info", "write_midi", "write_parquet"]

KEY = "genlab.provenance"
_MIDI_PREFIX = KEY.encode() + b":"
EMBEDDING_SUFFIXES = (".parquet", ".pq", ".png", ".mid", ".midi", ".wav")
_WAV_PREFIX, _WAV_ZIP = KEY + ":", KEY + ":zlib:"
_WAV_MAX = 2045  # characters libsndfile keeps of one INFO string


def _dump(provenance: dict[str, Any]) -> str:
    return json.dumps(provenance, sort_keys=True, default=str, ensure_ascii=False)


def _load(text: str | bytes, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{where}: its genlab provenance is not valid JSON ({err}); the file "
                        "was damaged or edited") from None
    if not isinstance(value, dict):
        raise DataError(f"{where}: its genlab provenance is not a JSON object; the file was "
                        "damaged or edited")
    return value


def model_id(family: str, fingerprint: str, created_at: str) -> str:
    """A short id of one fitted model: the same family, training data and fit time give the
    same id, so an output's provenance names its model without the model file."""
    digest = hashlib.sha256(f"{family}\n{fingerprint}\n{created_at}".encode()).hexdigest()
    return digest[:16]


def privacy_of(record: Any) -> dict[str, Any]:
    """The differential-privacy figures (`epsilon`, `delta`, and whatever sits beside them)
    recorded in a provenance or model config: at the top level or one level down (e.g.
    under "privacy"); empty for a model fitted without differential privacy."""
    if not isinstance(record, dict):
        return {}
    if record.get("epsilon") is not None:
        return {k: record[k] for k in ("epsilon", "delta") if record.get(k) is not None}
    for value in record.values():
        if isinstance(value, dict) and value.get("epsilon") is not None:
            return {k: v for k, v in value.items() if isinstance(v, str | int | float)}
    return {}


def embeds(path: str | os.PathLike[str]) -> bool:
    """Whether genlab writes the provenance into a file of this extension itself."""
    return Path(path).suffix.lower() in EMBEDDING_SUFFIXES


# -- writing ----------------------------------------------------------------------------------
def write_parquet(df: Any, path: str | os.PathLike[str], provenance: dict[str, Any]) -> Path:
    """Write a DataFrame as Parquet (as `DataFrame.to_parquet(index=False)` does) with the
    provenance in the schema metadata, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[KEY.encode()] = _dump(provenance).encode("utf-8")
    table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def png_info(provenance: dict[str, Any] | None) -> Any:
    """Pillow's `PngInfo` holding the provenance as a compressed iTXt chunk (None: none)."""
    if not provenance:
        return None
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt(KEY, _dump(provenance), zip=True)
    return info


def wav_info(provenance: dict[str, Any] | None) -> dict[str, str] | None:
    """The LIST/INFO fields of a WAV holding the provenance (`genlab.data.audio.write_wav`):
    `comment` is the prefixed JSON, or zlib + base64 of it when the JSON is longer than
    libsndfile keeps (2,045 characters); None when there is no provenance or even that is
    too long (the sidecar alone then holds it)."""
    if not provenance:
        return None
    import base64
    import zlib

    text = _WAV_PREFIX + _dump(provenance)
    if len(text) > _WAV_MAX:
        packed = base64.b64encode(zlib.compress(text[len(_WAV_PREFIX):].encode(), 9))
        text = _WAV_ZIP + packed.decode("ascii")
    if len(text) > _WAV_MAX:
        return None
    return {"comment": text, "software": provenance.get("generator", "genlab")}


def write_midi(score: Any, path: str | os.PathLike[str],
               provenance: dict[str, Any] | None) -> Path:
    """Write a music21 score as MIDI with the provenance as a text meta event at time 0 of
    the first track (players ignore text events), atomically."""
    from music21.midi import DeltaTime, MetaEvents, MidiEvent, translate

    midi = translate.streamToMidiFile(score)
    if provenance:
        track = midi.tracks[0]
        event = MidiEvent(track, type=MetaEvents.TEXT_EVENT)
        event.data = _MIDI_PREFIX + _dump(provenance).encode("utf-8")
        track.events[0:0] = [DeltaTime(track, time=0), event]
    with atomic_path(path) as tmp:
        midi.open(str(tmp), "wb")
        try:
            midi.write()
        finally:
            midi.close()
    return Path(path)


# -- reading ----------------------------------------------------------------------------------
def _from_parquet(path: Path) -> str | bytes | None:
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise DataError(f"cannot read {str(path)!r} as Parquet ({str(err).splitlines()[0]}); "
                        "is it a genlab output?") from None
    return meta.get(KEY.encode())


def _from_png(path: Path) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            text = dict(getattr(img, "text", {}) or {})
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"cannot read {str(path)!r} as a PNG ({err}); is it a genlab "
                        "output?") from None
    return text.get(KEY)


def _from_midi(path: Path) -> bytes | None:
    from music21.midi import MetaEvents, MidiException, MidiFile

    midi = MidiFile()
    try:
        midi.open(str(path))
        try:
            midi.read()
        finally:
            midi.close()
    except (MidiException, OSError, ValueError, IndexError) as err:
        raise DataError(f"cannot read {str(path)!r} as MIDI ({err}); is it a genlab "
                        "output?") from None
    for track in midi.tracks:
        for event in track.events:
            data = getattr(event, "data", None)
            if getattr(event, "type", None) == MetaEvents.TEXT_EVENT and isinstance(
                    data, bytes) and data.startswith(_MIDI_PREFIX):
                return data[len(_MIDI_PREFIX):]
    return None


def _from_wav(path: Path) -> str | bytes | None:
    import base64
    import binascii
    import zlib

    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            text = f.comment or ""
    except (sf.LibsndfileError, RuntimeError, ValueError) as err:
        raise DataError(f"cannot read {str(path)!r} as a WAV ({' '.join(str(err).split())}); "
                        "is it a genlab output?") from None
    if text.startswith(_WAV_ZIP):
        try:
            return zlib.decompress(base64.b64decode(text[len(_WAV_ZIP):], validate=True))
        except (binascii.Error, zlib.error, ValueError):
            raise DataError(f"{str(path)!r}: its genlab provenance is not valid compressed "
                            "JSON; the file was damaged or edited") from None
    return text[len(_WAV_PREFIX):] if text.startswith(_WAV_PREFIX) else None


_READERS = {".parquet": _from_parquet, ".pq": _from_parquet, ".png": _from_png,
            ".mid": _from_midi, ".midi": _from_midi, ".wav": _from_wav}
_WHERE = {".parquet": "Parquet schema metadata", ".pq": "Parquet schema metadata",
          ".png": "PNG text chunk", ".mid": "MIDI text event", ".midi": "MIDI text event",
          ".wav": "WAV LIST/INFO comment"}


def read_embedded(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The provenance written inside `path` (Parquet, PNG, MIDI, WAV), or None when it has none
    or its format holds none."""
    p = Path(path)
    reader = _READERS.get(p.suffix.lower())
    if reader is None:
        return None
    raw = reader(p)
    return None if raw is None else _load(raw, repr(str(p)))


def read_provenance(path: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """The provenance of a genlab output and where it was found ("PNG text chunk",
    "sidecar <name>"): inside the file first, else its sidecar; a sidecar itself may be
    given. One-line DataError when there is none."""
    from genlab.provenance import sidecar_path

    p = Path(path)
    if not p.exists():
        raise DataError(f"no such file or folder: {str(p)!r}; check the path")
    if p.is_file() and p.name.endswith(".provenance.json"):
        return _load(p.read_bytes(), repr(str(p))), f"sidecar {p.name}"
    if p.is_file() and (found := read_embedded(p)) is not None:
        return found, _WHERE[p.suffix.lower()]
    side = sidecar_path(p)
    if side.is_file():
        return _load(side.read_bytes(), repr(str(side))), f"sidecar {side.name}"
    inside = "none inside it and " if embeds(p) else ""
    raise DataError(f"no genlab provenance found for {str(p)!r}: {inside}no sidecar "
                    f"{side.name} beside it; it is not a genlab output, or its sidecar was "
                    "moved away from it")
