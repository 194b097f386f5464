"""Reading sequence data: text files, SMILES tables, MIDI/MusicXML and the JSB chorales.

`detect(path)` says whether a path is sequence data (what `genlab fit` dispatches on);
`read_sequences(data, codec)` returns the items and the codec kind for any accepted input.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from genlab.data.readers import TABLE_SUFFIXES, table_suffix
from genlab.data.sequences.codecs import Piece
from genlab.errors import DataError, ParameterError

__all__ = [
    "MUSIC_SUFFIXES",
    "detect",
    "items_fingerprint",
    "read_sequences",
    "read_smiles_table",
    "smiles_column",
]

MUSIC_SUFFIXES = (".mid", ".midi", ".mxl", ".musicxml", ".xml")
_suffix = table_suffix


def _columns(path: Path) -> list[str]:
    try:
        if _suffix(path) in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        return list(pd.read_csv(path, nrows=0).columns)
    except Exception:  # an unreadable table is the table reader's business, not ours
        return []


def smiles_column(columns: Sequence[Any]) -> str | None:
    """The column holding SMILES: named `smiles` (any case) or containing it."""
    names = [str(c) for c in columns]
    exact = [c for c in names if c.lower() == "smiles"]
    if exact:
        return exact[0]
    like = [c for c in names if "smiles" in c.lower()]
    return like[0] if like else None


def _is_jsb_csv_header(columns: Sequence[str]) -> bool:
    return bool(columns) and all(str(c).lower().startswith("note") for c in columns)


def _is_jsb_tgz(path: Path) -> bool:
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(".csv"):
                    f = tar.extractfile(member)
                    return f is not None and _is_jsb_csv_header(
                        f.readline().decode("utf-8", "replace").strip().split(","))
    except (tarfile.TarError, OSError):
        return False
    return False


def detect(path: Path) -> bool:
    """True for text (.txt), SMILES tables/.smi files and music (MIDI, MusicXML, a folder
    of those, the JSB chorales .tgz or a folder of its CSVs)."""
    suffix = _suffix(path)
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file()]
        if any(_suffix(p) in MUSIC_SUFFIXES for p in files):
            return True
        csvs = [p for p in files if _suffix(p) == ".csv"]
        return bool(csvs) and _is_jsb_csv_header(_columns(csvs[0]))
    if suffix in (".txt", ".smi") or suffix in MUSIC_SUFFIXES:
        return True
    if suffix in (".tgz", ".tar.gz") or path.name.lower().endswith(".tar.gz"):
        return _is_jsb_tgz(path)
    if suffix in TABLE_SUFFIXES:
        return smiles_column(_columns(path)) is not None
    return False


def kind_of_path(path: Path) -> str:
    """"char", "smiles" or "music" for an input path (see `detect`)."""
    suffix = _suffix(path)
    if suffix == ".txt":
        return "char"
    if suffix == ".smi" or suffix in TABLE_SUFFIXES:
        return "smiles"
    if path.is_dir() or suffix in MUSIC_SUFFIXES or detect(path):
        return "music"
    raise DataError(f"cannot tell which kind of sequence data {path} holds; name it .txt, "
                    ".smi or .mid, or give --data-kind text, molecules or music")


def read_smiles_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A SMILES table (.csv/.csv.gz/.parquet, or .smi with one SMILES per line) with its
    SMILES column renamed `smiles`; raises DataError without one."""
    p = Path(path)
    if _suffix(p) == ".smi":
        lines = [ln.split()[0] for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
        return pd.DataFrame({"smiles": lines})
    try:
        df = pd.read_parquet(p) if _suffix(p) == ".parquet" else pd.read_csv(p)
    except Exception as err:
        raise DataError(f"cannot read {p}: {err}".splitlines()[0]) from err
    col = smiles_column(df.columns)
    if col is None:
        raise DataError(
            f"{p} has no SMILES column (columns: {', '.join(map(str, df.columns[:8]))}); "
            "name the column holding the molecules 'smiles'"
        )
    df = df.rename(columns={col: "smiles"})
    df = df[df["smiles"].notna()].copy()
    df["smiles"] = df["smiles"].astype(str).str.strip()
    return df[df["smiles"] != ""].reset_index(drop=True)


def _jsb_pieces_from_frames(frames: list[tuple[str, pd.DataFrame]]) -> list[Piece]:
    from genlab.data.sequences.music import piece_from_steps

    return [piece_from_steps(df.to_numpy(), name=name) for name, df in frames]


def _read_jsb_tgz(path: Path, split: str | None = None) -> list[Piece]:
    frames = []
    with tarfile.open(path, "r:gz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if not (member.isfile() and member.name.endswith(".csv")):
                continue
            if split is not None and not member.name.startswith(f"{split}/"):
                continue
            f = tar.extractfile(member)
            if f is not None:
                frames.append((member.name, pd.read_csv(io.BytesIO(f.read()))))
    return _jsb_pieces_from_frames(frames)


def read_music(path: str | os.PathLike[str], *, split: str | None = None) -> list[Piece]:
    """Pieces from a MIDI/MusicXML file, a folder of them, the JSB chorales .tgz (optionally
    one `split`: train/valid/test) or a folder of its CSVs."""
    from genlab.data.sequences.music import read_score_file

    p = Path(path)
    if not p.exists():
        raise DataError(f"{p} does not exist; check the path")
    if p.is_dir():
        files = sorted(q for q in p.rglob("*") if q.is_file())
        scores = [q for q in files if _suffix(q) in MUSIC_SUFFIXES]
        if scores:
            return [read_score_file(q) for q in scores]
        csvs = [q for q in files if _suffix(q) == ".csv"]
        return _jsb_pieces_from_frames([(str(q), pd.read_csv(q)) for q in csvs])
    if _suffix(p) in MUSIC_SUFFIXES:
        return [read_score_file(p)]
    return _read_jsb_tgz(p, split)


def read_text(path: str | os.PathLike[str]) -> str:
    """A text file's contents (UTF-8); raises DataError when it is empty."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{p} is not UTF-8 text ({err.reason}); convert it to UTF-8") from err
    except OSError as err:
        raise DataError(f"cannot read {p}: {err.strerror}; check the path") from err
    if not text.strip():
        raise DataError(f"{p} is empty; give a text file with some text to learn from")
    return text


def read_sequences(data: Any, codec: str = "auto") -> tuple[list[Any], str, pd.DataFrame | None]:
    """(items, codec kind, table or None) for a path or an in-memory collection.

    A path is read by its type (see `detect`); a list of strings is text documents for
    "char" and molecules for "smiles" (the default for a list when `codec="auto"` is
    "char"); a list of `Piece`s is music. The table is the SMILES table (for conditions).
    """
    if isinstance(data, (str, os.PathLike)) and not (isinstance(data, str) and "\n" in data):
        p = Path(data)
        if not p.exists():
            raise DataError(f"{p} does not exist; check the path")
        kind = kind_of_path(p) if codec == "auto" else codec
        if kind == "char":
            return [read_text(p)], kind, None
        if kind == "smiles":
            table = read_smiles_table(p)
            return list(table["smiles"]), kind, table
        if kind == "music":
            return read_music(p), kind, None
        raise ParameterError(f"codec must be 'auto', 'char', 'smiles' or 'music', got {codec!r}")
    if not isinstance(data, (pd.DataFrame, list, tuple)):
        raise DataError(f"sequences are a file (text, SMILES, music), a SMILES table or a list "
                        f"of strings / Pieces; got {type(data).__name__}")
    if isinstance(data, pd.DataFrame):
        col = smiles_column(data.columns)
        if col is None:
            raise DataError("the table has no SMILES column; name the column 'smiles'")
        table = data.rename(columns={col: "smiles"}).reset_index(drop=True)
        return list(table["smiles"].astype(str)), "smiles", table
    items = list(data)
    if not items:
        raise DataError("no sequences given; pass a non-empty list or a file")
    if all(isinstance(x, Piece) for x in items):
        return items, "music", None
    if not all(isinstance(x, str) for x in items):
        raise DataError("sequences must be strings (text or SMILES) or Pieces (music)")
    kind = "char" if codec == "auto" else codec
    if kind == "smiles":
        return items, kind, pd.DataFrame({"smiles": items})
    return items, kind, None


def items_fingerprint(items: Sequence[Any]) -> str:
    """sha256 over the items' text (notes for music), independent of their container."""
    h = hashlib.sha256()
    for x in items:
        if isinstance(x, Piece):
            h.update(repr((x.bars, x.steps_per_bar, x.sorted_notes())).encode())
        else:
            h.update(str(x).encode("utf-8"))
        h.update(b"\x1e")
    return h.hexdigest()
