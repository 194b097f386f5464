"""Writing sampled sequences (what `genlab.data.writers` calls for modality "sequence"):
text to .txt (samples separated by a line of '='), molecules to .csv/.parquet (column
`smiles`, plus the conditions used) or .smi/.txt (one per line), music to .mid/.midi/
.musicxml/.xml (several samples: numbered files) or to a folder. Every file is written
atomically; the provenance sidecar is the caller's, the provenance inside MIDI and Parquet
files is written here (`genlab.provenance_files`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from genlab._atomic import atomic_path
from genlab.data.sequences.codecs import Piece
from genlab.errors import ParameterError

__all__ = ["TEXT_SEPARATOR", "write_sequence_samples"]

TEXT_SEPARATOR = "\n" + "=" * 40 + "\n"
_MUSIC_FILES = (".mid", ".midi", ".musicxml", ".xml")
_MOLECULE_SUFFIXES = (".csv", ".parquet", ".smi")


def _kind_of(items: list[Any], attrs: dict[str, Any], path: Path) -> str:
    """The codec kind recorded by `sample`, else read from the items and the path."""
    if attrs.get("kind") in ("char", "smiles", "music"):
        return str(attrs["kind"])
    if all(isinstance(x, Piece) for x in items):
        return "music"
    name = path.name.lower()
    return "smiles" if path.suffix.lower() in _MOLECULE_SUFFIXES or name.endswith(
        ".csv.gz") else "char"


def _write_music(items: list[Any], out: Path, prov: dict[str, Any] | None) -> tuple[Path, str]:
    from genlab.data.sequences.music import piece_to_score, write_piece
    from genlab.provenance_files import write_midi

    suffix = out.suffix.lower()
    n = len(items)
    if suffix == ".mxl":
        raise ParameterError("write music as .mid, .midi, .musicxml or .xml")
    if suffix in _MUSIC_FILES:
        paths = [out] if n == 1 else [out.with_name(f"{out.stem}-{i + 1:03d}{out.suffix}")
                                      for i in range(n)]
    elif suffix == "":
        paths = [out / f"sample-{i + 1:03d}.mid" for i in range(n)]
    else:
        raise ParameterError(f"unsupported output {out.name!r} for music; use a .mid or "
                             ".musicxml file, or a folder")
    written = [write_midi(piece_to_score(piece), path, prov)
               if prov and path.suffix.lower() in (".mid", ".midi") else write_piece(piece, path)
               for piece, path in zip(items, paths, strict=True)]
    return (written[0] if len(written) == 1 else out), f"{n} pieces of {items[0].bars} bars"


def _write_molecules(items: list[Any], out: Path, attrs: dict[str, Any]) -> tuple[Path, str]:
    suffix = out.suffix.lower()
    if suffix in (".csv", ".parquet") or out.name.lower().endswith(".csv.gz"):
        from genlab.data.readers import write_table

        df = pd.DataFrame({"smiles": [str(s) for s in items]})
        targets = attrs.get("targets")
        if targets is not None:
            for j, name in enumerate(attrs.get("condition_names") or []):
                df[f"target_{name}"] = [row[j] for row in targets]
        if attrs.get("provenance") and suffix == ".parquet":
            from genlab.provenance_files import write_parquet

            write_parquet(df, out, attrs["provenance"])
        else:
            write_table(df, out)
    elif suffix in (".smi", ".txt"):
        with atomic_path(out) as tmp:
            tmp.write_text("".join(f"{s}\n" for s in items), encoding="utf-8")
    else:
        raise ParameterError(f"unsupported output {out.name!r} for molecules; use .csv, "
                             ".parquet, .smi or .txt")
    return out, f"{len(items)} SMILES"


def _write_text(items: list[Any], out: Path) -> tuple[Path, str]:
    if out.suffix.lower() not in (".txt", ".md", ""):
        raise ParameterError(f"unsupported output {out.name!r} for text; use a .txt file")
    with atomic_path(out) as tmp:
        tmp.write_text(TEXT_SEPARATOR.join(str(s) for s in items) + "\n", encoding="utf-8")
    return out, f"{len(items)} text samples"


def write_sequence_samples(samples: Any, path: Path) -> tuple[Path, str]:
    """Write what a sequence model's `sample` returned to `path` (format by extension, see
    the module docstring); returns (the path written, what was written)."""
    items = list(samples)
    if not items:
        raise ParameterError("there are no samples to write; sample at least one")
    attrs = dict(getattr(samples, "attrs", None) or {})
    out = Path(path)
    kind = _kind_of(items, attrs, out)
    if kind == "music":
        return _write_music(items, out, attrs.get("provenance"))
    if kind == "smiles":
        return _write_molecules(items, out, attrs)
    return _write_text(items, out)
