"""Checks every command runs on its paths before any work: inputs are regular files (or
folders), outputs have the command's extension, are none of the command's inputs, sit in a
writable folder that exists (or `--mkdir`), and replace only a file of their own kind.

Kept light: no numpy or pandas here, so the checks cost nothing before `--help`.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from genlab.errors import DataError, ParameterError

__all__ = [
    "HTML_SUFFIXES",
    "MODEL_SUFFIXES",
    "MakeDirs",
    "MaxBytes",
    "MaxColumns",
    "MaxMemory",
    "read_limits",
    "check_input",
    "check_output",
    "check_outputs_differ",
    "format_bytes",
    "parse_bytes",
    "suffix_of",
]

MODEL_SUFFIXES = (".genlab",)
HTML_SUFFIXES = (".html", ".htm")
# what an existing file of each kind starts with: anything else is not ours to replace
_MAGIC = {".genlab": b"PK\x03\x04", ".parquet": b"PAR1", ".pq": b"PAR1", ".csv.gz": b"\x1f\x8b",
          ".png": b"\x89PNG"}
_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 2**10, "m": 1e6, "mb": 1e6, "mib": 2**20,
          "g": 1e9, "gb": 1e9, "gib": 2**30, "t": 1e12, "tb": 1e12, "tib": 2**40}

MakeDirs = Annotated[bool, typer.Option(
    "--mkdir", help="Create the output's folder when it does not exist.")]
MaxMemory = Annotated[str | None, typer.Option(
    "--max-memory", help="Memory budget, e.g. 8GB: a model file unpacking to more, or "
                         "sampling estimated above it, is refused.")]
MaxBytes = Annotated[str | None, typer.Option(
    "--max-bytes", help="Largest table to read, e.g. 8GB (default: the reader's, 2 GiB).")]
MaxColumns = Annotated[int | None, typer.Option(
    "--max-columns", help="Most columns a table may have (default: the reader's, 2000).")]


def suffix_of(path: Path) -> str:
    """The extension of `path` in lower case, ".csv.gz" counted as one."""
    name = path.name.lower()
    return ".csv.gz" if name.endswith(".csv.gz") else path.suffix.lower()


def parse_bytes(text: str, what: str = "--max-memory") -> int:
    """`8GB`, `512MiB`, `2e9` as a number of bytes; one-line error otherwise."""
    found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)\s*", text.lower())
    if found is None or found.group(2) not in _UNITS or float(found.group(1)) <= 0:
        raise ParameterError(f"{what} must be a size such as 8GB or 512MB, got {text!r}")
    return int(float(found.group(1)) * _UNITS[found.group(2)])


def read_limits(max_bytes: str | None, max_columns: int | None) -> dict[str, int]:
    """The table reader's budgets the user raised (`read_table(**limits)`); empty: defaults."""
    limits: dict[str, int] = {}
    if max_bytes is not None:
        limits["max_bytes"] = parse_bytes(max_bytes, "--max-bytes")
    if max_columns is not None:
        if max_columns < 1:
            raise ParameterError(f"--max-columns must be a positive integer, got {max_columns}")
        limits["max_columns"] = max_columns
    return limits


def format_bytes(n: float) -> str:
    """A byte count for people: 1.5 GB, 170.5 TB."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def check_input(path: Path | None, what: str = "input", *, folder_ok: bool = True) -> None:
    """Refuse an input that exists but cannot be read as data: a device, a pipe or a socket
    (`/dev/zero` would be read for ever), a folder where a file is needed, or a file the
    user may not read. A missing path is left to the reader, which names it."""
    if path is None:
        return
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as error:  # e.g. a parent that is a file, or no permission on a folder
        raise DataError(f"cannot open {what} {str(path)!r}: {error.strerror}; check the path")\
            from None
    if stat.S_ISDIR(mode):
        if not folder_ok:
            raise DataError(f"{what} {str(path)!r} is a folder; give a file")
        return
    if not stat.S_ISREG(mode):
        raise DataError(f"{what} {str(path)!r} is not a regular file (a device, pipe or "
                        "socket); give a file")
    if not os.access(path, os.R_OK):
        raise DataError(f"permission denied reading {what} {str(path)!r}; check its "
                        "permissions (chmod +r) or copy it somewhere readable")


def _same(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _inside(path: Path, folder: Path) -> bool:
    return folder.is_dir() and path.resolve().is_relative_to(folder.resolve())


def _check_not_input(path: Path, inputs: Iterable[Path | None], what: str) -> None:
    for given in inputs:
        if given is None:
            continue
        if _same(path, given):
            raise ParameterError(f"{what} {str(path)!r} is also an input of this command "
                                 f"({str(given)!r}); writing it would destroy the input; "
                                 "choose another output path")
        if _inside(path, given):
            raise ParameterError(f"{what} {str(path)!r} is inside the input folder "
                                 f"{str(given)!r}; writing there would change the input; "
                                 "choose a path outside it")


def _check_folder(path: Path, what: str, mkdir: bool) -> None:
    """The output's folder exists (or is made with --mkdir), is a folder, and is writable."""
    folder = path.absolute().parent
    found = folder
    while not os.path.lexists(found) and found != found.parent:
        found = found.parent
    if not found.is_dir():
        raise ParameterError(f"cannot write {what} {str(path)!r}: {str(found)!r} is a file, "
                             "not a folder; fix the path")
    if found != folder:
        if not mkdir:
            raise ParameterError(f"folder {str(path.parent)!r} does not exist; create it or "
                                 "pass --mkdir")
        folder.mkdir(parents=True)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ParameterError(f"cannot write in folder {str(path.parent)!r} (read-only or no "
                             "permission); choose a writable folder")


def _check_existing(path: Path, what: str, folder_ok: bool) -> None:
    """An existing output is replaced only if it is a file of the kind being written."""
    if not os.path.lexists(path):
        return
    if path.is_dir():
        if folder_ok and not path.suffix:
            return
        raise ParameterError(f"{what} {str(path)!r} is a folder; give a file path")
    if not path.is_file():
        raise ParameterError(f"{what} {str(path)!r} exists and is not a regular file (a "
                             "device, pipe or socket); give a file path")
    magic = _MAGIC.get(suffix_of(path))
    if magic is not None and path.stat().st_size > 0:
        with path.open("rb") as handle:
            head = handle.read(len(magic))
        if head != magic:
            raise ParameterError(f"{what} {str(path)!r} exists and is not a {suffix_of(path)} "
                                 "file; genlab replaces only its own kind of file; move it or "
                                 "choose another path")


def check_output(path: Path | None, *, inputs: Sequence[Path | None] = (),
                 suffixes: Sequence[str] | None = None, what: str = "output",
                 mkdir: bool = False, folder_ok: bool = False) -> None:
    """Refuse an output path before any work (see the module docstring). `suffixes`: the
    extensions the command writes (None: the writer decides, but never a model file);
    `folder_ok`: a path without extension may be a folder of outputs."""
    if path is None:
        return
    suffix = suffix_of(path)
    if suffixes is not None and suffix not in suffixes and not (folder_ok and not suffix):
        raise ParameterError(f"unsupported output extension {path.suffix or '(none)'!r} for "
                             f"{what} {str(path)!r}; this command writes "
                             f"{', '.join(suffixes)}")
    if suffixes is None and suffix in MODEL_SUFFIXES:
        raise ParameterError(f"{what} {str(path)!r} ends in .genlab, the extension of model "
                             "files; this command does not write one; choose another path")
    _check_not_input(path, inputs, what)
    sidecar = path.with_name(path.name + ".provenance.json")  # genlab.provenance's rule
    _check_not_input(sidecar, inputs, f"{what}'s provenance file")
    _check_existing(path, what, folder_ok)
    _check_folder(path, what, mkdir)


def check_outputs_differ(*paths: Path | None) -> None:
    """Two outputs of one command on the same path would overwrite each other: refuse."""
    given = [p for p in paths if p is not None]
    for i, a in enumerate(given):
        for b in given[i + 1:]:
            if _same(a, b):
                raise ParameterError(f"two outputs of this command are the same file "
                                     f"{str(a)!r}; give each its own path")


def load_model(model_file: Path, max_memory: str | None = None) -> Any:
    """The model in `model_file`, loaded within the `--max-memory` budget (if given)."""
    from genlab.models.registry import load

    return load(model_file, max_memory=parse_bytes(max_memory) if max_memory else None)


def model_for_data(model_file: Path, data: Path, output: Path | None, *, what: str,
                   mkdir: bool, max_memory: str | None) -> Any:
    """The first steps of a command applying a model file to data and writing a table:
    both inputs exist, the output is a table path safe to write, then the model."""
    from genlab.data.readers import TABLE_SUFFIXES

    check_input(model_file, "model file", folder_ok=False)
    check_input(data, "data")
    check_output(output, inputs=[model_file, data], suffixes=TABLE_SUFFIXES, what=what,
                 mkdir=mkdir)
    return load_model(model_file, max_memory)

