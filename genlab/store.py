"""The `.genlab` model file: a zip of `config.json` and `weights.safetensors`, nothing else.

Loading parses JSON and raw tensors only (safetensors), so a model file can never run code.
The config records the format version, genlab version, family, hyperparameters, codec spec,
a fingerprint of the training data and provenance. Checksums catch corruption and accidental
edits; they prove nothing against a deliberate forgery (anyone can recompute them), which is
why everything in the file is also checked against a schema and a memory budget before any
model is built.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors

from genlab._atomic import atomic_path
from genlab.errors import ModelFileError, ParameterError
from genlab.store_schema import (
    CHECKSUM_NOTE,
    check_structure,
    check_version,
    max_config_items,
    one_line,
    validate_config,
)

__all__ = [
    "DEFAULT_MAX_MEMORY",
    "FORMAT_VERSION",
    "MAX_CONFIG_BYTES",
    "check_max_memory",
    "parse_memory",
    "read_model_file",
    "write_model_file",
]

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.safetensors"
_MEMBERS = {CONFIG_NAME, WEIGHTS_NAME}
DEFAULT_MAX_MEMORY = 2**30  # unpacked weights; raise with max_memory= / --max-memory
MAX_CONFIG_BYTES = 64 * 2**20
_CHUNK = 2**20
_ZIP_SLACK = 2**20  # zip headers and directory around the two members
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6,
          "mib": 2**20, "g": 2**30, "gb": 10**9, "gib": 2**30, "t": 2**40, "tb": 10**12,
          "tib": 2**40}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(config: dict[str, Any]) -> bytes:
    body = {k: v for k, v in config.items() if k != "integrity"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def parse_memory(text: str | int) -> int:
    """A memory size as bytes: an int, or text such as "2GiB", "512MB", "1.5G" (the
    `--max-memory` flag); one-line ParameterError otherwise."""
    if isinstance(text, (int, np.integer)) and not isinstance(text, bool):
        return check_max_memory(int(text))
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise ParameterError(f"memory size must be a number of bytes or like 512MB, 2GiB, "
                             f"got {text!r}")
    return check_max_memory(int(float(match.group(1)) * _UNITS[unit]))


def check_max_memory(max_memory: Any) -> int:
    """`max_memory` (bytes, None for the default of 1 GiB) as a positive int."""
    if max_memory is None:
        return DEFAULT_MAX_MEMORY
    if isinstance(max_memory, str):
        return parse_memory(max_memory)
    if isinstance(max_memory, bool) or not isinstance(max_memory, (int, np.integer)) or (
            max_memory < 2**20):
        raise ParameterError(f"max_memory must be a number of bytes of at least 1 MiB "
                             f"(or text like '2GiB'), got {max_memory!r}")
    return int(max_memory)


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def write_model_file(
    path: str | os.PathLike[str], config: dict[str, Any], tensors: dict[str, np.ndarray]
) -> Path:
    """Write a model file atomically; `config` must hold only JSON types."""
    # np.ascontiguousarray would turn a 0-d tensor (a scalar buffer) into shape (1,)
    weights = save_tensors({k: np.array(v, order="C", copy=True) for k, v in tensors.items()})
    config = dict(config, format_version=FORMAT_VERSION)
    config["integrity"] = {
        "config_sha256": _digest(_canonical(config)),
        "weights_sha256": _digest(weights),
    }
    text = json.dumps(config, indent=1, sort_keys=True, allow_nan=False)
    target = Path(path)
    with atomic_path(target) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(CONFIG_NAME, text)
            zf.writestr(WEIGHTS_NAME, weights)
    return target


def _limits(max_memory: int) -> dict[str, int]:
    return {CONFIG_NAME: max(MAX_CONFIG_BYTES, max_memory // 16), WEIGHTS_NAME: max_memory}


def _raise_budget(where: str, what: str, size: int, limit: int) -> None:
    raise ModelFileError(
        f"{where}: {what} would take {_mib(size)} unpacked, over the memory budget of "
        f"{_mib(limit)}; if you trust the file, raise the budget with max_memory= "
        "(command line: --max-memory)")


def _check_directory(zf: zipfile.ZipFile, where: str, limits: dict[str, int]) -> None:
    """The zip directory itself: exactly the two members, once each, plainly compressed,
    not encrypted, and within the budget by their declared sizes."""
    infos = zf.infolist()
    names = [i.filename for i in infos]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ModelFileError(
            f"{where} holds member(s) {twice} more than once, so other zip tools may read a "
            "different model from it; refusing to load it")
    if set(names) != _MEMBERS:
        odd = sorted(set(names) - _MEMBERS) or sorted(_MEMBERS - set(names))
        raise ModelFileError(
            f"{where} is not a valid genlab model file: it must hold exactly {CONFIG_NAME} "
            f"and {WEIGHTS_NAME}, found unexpected or missing {odd}; refusing to load it")
    for info in infos:
        if info.flag_bits & 0x1:
            raise ModelFileError(f"{where}: member {info.filename} is encrypted, which genlab "
                                 "never writes; refusing to load it")
        if info.compress_type not in _METHODS:
            raise ModelFileError(
                f"{where}: member {info.filename} uses zip compression method "
                f"{info.compress_type}; genlab reads only stored and deflate members, "
                "re-save the model with genlab")
        if info.file_size > limits[info.filename]:
            _raise_budget(where, info.filename, info.file_size, limits[info.filename])


def _read_member(zf: zipfile.ZipFile, name: str, where: str, limit: int) -> bytes:
    """A member's bytes, read in chunks and stopped at the budget whatever the directory
    claims (zipfile trusts the declared size; a lying one must not get further)."""
    buf = bytearray()
    with zf.open(name) as fh:
        while chunk := fh.read(_CHUNK):
            buf += chunk
            if len(buf) > limit:
                _raise_budget(where, name, len(buf), limit)
    return bytes(buf)


def _entry_count(path: Path) -> int:
    """Entries the zip's end record declares, read before zipfile parses every entry of a
    directory that could list millions."""
    with path.open("rb") as fh:
        end = zipfile._EndRecData(fh)  # type: ignore[attr-defined]
    return -1 if not end else int(end[4])  # _ECD_ENTRIES_TOTAL


def _open_members(p: Path, where: str, max_memory: int) -> tuple[bytes, bytes]:
    if not p.is_file():
        raise ModelFileError(f"{where} is not a regular file; give the path of a .genlab file")
    limits = _limits(max_memory)
    size = p.stat().st_size
    if size > sum(limits.values()) + _ZIP_SLACK:
        _raise_budget(where, "the model file", size, sum(limits.values()))
    if not zipfile.is_zipfile(p):
        raise ModelFileError(
            f"{where} is not a genlab model file (not a zip archive); create one with "
            "`genlab fit` or model.save()")
    try:
        entries = _entry_count(p)
        if entries > 2 * len(_MEMBERS):
            raise ModelFileError(
                f"{where} is not a valid genlab model file: its zip directory lists {entries} "
                f"members, a model file holds {CONFIG_NAME} and {WEIGHTS_NAME} only")
        with zipfile.ZipFile(p) as zf:
            _check_directory(zf, where, limits)
            raw_config = _read_member(zf, CONFIG_NAME, where, limits[CONFIG_NAME])
            weights = _read_member(zf, WEIGHTS_NAME, where, limits[WEIGHTS_NAME])
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError,
            NotImplementedError, ValueError, OverflowError) as err:
        if isinstance(err, ModelFileError):
            raise
        raise ModelFileError(f"{where} is a corrupt model file ({one_line(err)}); get a fresh "
                             "copy or re-save the model") from err
    return raw_config, weights


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return out


def _not_finite(token: str) -> None:
    raise ValueError(f"it holds {token}, which genlab never writes")


def _parse_config(raw: bytes, where: str, max_memory: int) -> Any:
    items = raw.count(b",") + raw.count(b"[") + raw.count(b"{")
    if items > max_config_items(max_memory):
        raise ModelFileError(
            f"{where}: {CONFIG_NAME} holds about {items:,} values, more than the "
            f"{max_config_items(max_memory):,} the memory budget allows; if you trust the "
            "file, raise it with max_memory= (command line: --max-memory)")
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates,
                          parse_constant=_not_finite)
    except _DuplicateKey as err:
        raise ModelFileError(
            f"{where}: {CONFIG_NAME} holds the key {err.args[0]!r} more than once, so other "
            "JSON readers may see a different config; refusing to load it") from None
    except RecursionError:
        raise ModelFileError(f"{where}: {CONFIG_NAME} is nested too deeply; the file is "
                             "damaged or was not written by genlab") from None
    except (UnicodeDecodeError, ValueError) as err:
        raise ModelFileError(f"{where} has an unreadable {CONFIG_NAME}: {one_line(err)}") from err


def _check_integrity(config: dict[str, Any], weights: bytes, where: str) -> None:
    integrity = config["integrity"]
    if not isinstance(integrity, dict) or integrity.get("config_sha256") != _digest(
            _canonical(config)):
        raise ModelFileError(f"{where} has a config that was changed after saving (checksum "
                             f"mismatch); {CHECKSUM_NOTE}")
    if integrity.get("weights_sha256") != _digest(weights):
        raise ModelFileError(f"{where} has weights that were changed after saving (checksum "
                             f"mismatch); {CHECKSUM_NOTE}")


def read_model_file(
    path: str | os.PathLike[str], *, max_memory: int | str | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and validate a model file within `max_memory` bytes of unpacked weights
    (default 1 GiB); every problem is a one-line ModelFileError."""
    budget = check_max_memory(max_memory)
    if not isinstance(path, (str, os.PathLike)):
        raise ModelFileError(f"a model file is given by its path, got {type(path).__name__}; "
                             "pass the .genlab file's path")
    p = Path(path)
    where = repr(str(p))
    if not p.exists():
        raise ModelFileError(f"model file not found: {str(p)!r}; check the path")
    raw_config, weights = _open_members(p, where, budget)
    config = _parse_config(raw_config, where, budget)
    check_structure(config, where)
    check_version(config, where, FORMAT_VERSION)
    _check_integrity(config, weights, where)
    validate_config(config, where)
    try:
        tensors = load_tensors(weights)
    except (SafetensorError, ValueError, TypeError, OverflowError) as err:
        raise ModelFileError(f"{where} has unreadable weights: {one_line(err)}") from err
    return config, tensors
