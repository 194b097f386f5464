"""The `.genlab` model file: a zip of `config.json` and `weights.safetensors`, nothing else.

Loading parses JSON and raw tensors only (safetensors), so a model file can never run code.
The config records the format version, genlab version, family, hyperparameters, codec spec,
a fingerprint of the training data and provenance; checksums catch tampering and corruption.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors

from genlab._atomic import atomic_path
from genlab.errors import ModelFileError

__all__ = ["FORMAT_VERSION", "read_model_file", "write_model_file"]

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.safetensors"
_MEMBERS = {CONFIG_NAME, WEIGHTS_NAME}
_MAX_CONFIG_BYTES = 64 * 2**20
_REQUIRED = ("format_version", "genlab_version", "family", "params", "codec", "integrity")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(config: dict[str, Any]) -> bytes:
    body = {k: v for k, v in config.items() if k != "integrity"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


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


def read_model_file(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and validate a model file; every problem is a one-line ModelFileError."""
    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"model file not found: {str(p)!r}; check the path")
    where = repr(str(p))
    if not zipfile.is_zipfile(p):
        raise ModelFileError(
            f"{where} is not a genlab model file (not a zip archive); create one with "
            "`genlab fit` or model.save()"
        )
    try:
        with zipfile.ZipFile(p) as zf:
            names = set(zf.namelist())
            if names != _MEMBERS:
                odd = sorted(names - _MEMBERS) or sorted(_MEMBERS - names)
                raise ModelFileError(
                    f"{where} is not a valid genlab model file: it must hold exactly "
                    f"{CONFIG_NAME} and {WEIGHTS_NAME}, found unexpected or missing {odd}; "
                    "refusing to load it"
                )
            if zf.getinfo(CONFIG_NAME).file_size > _MAX_CONFIG_BYTES:
                raise ModelFileError(f"{where} has an oversized {CONFIG_NAME}; refusing to load it")
            raw_config = zf.read(CONFIG_NAME)
            weights = zf.read(WEIGHTS_NAME)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ModelFileError(f"{where} is a corrupt model file: {err}") from err
    try:
        config = json.loads(raw_config.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{where} has an unreadable {CONFIG_NAME}: {err}") from err
    if not isinstance(config, dict) or any(k not in config for k in _REQUIRED):
        missing = [k for k in _REQUIRED if not isinstance(config, dict) or k not in config]
        raise ModelFileError(f"{where} has a config without required keys {missing}")
    version = config["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ModelFileError(
            f"{where} has format version {version!r}, but this genlab reads versions 1 to "
            f"{FORMAT_VERSION}; upgrade genlab to load it"
        )
    integrity = config["integrity"]
    try:
        config_sha256 = _digest(_canonical(config))
    except ValueError:  # NaN or Infinity: json.loads accepts them, but save never writes them
        config_sha256 = None
    if (
        config_sha256 is None
        or not isinstance(integrity, dict)
        or integrity.get("config_sha256") != config_sha256
    ):
        raise ModelFileError(
            f"{where} has a config that was changed after saving (checksum mismatch); "
            "refusing to load a tampered model file"
        )
    if integrity.get("weights_sha256") != _digest(weights):
        raise ModelFileError(
            f"{where} has weights that were changed after saving (checksum mismatch); "
            "refusing to load a tampered model file"
        )
    try:
        tensors = load_tensors(weights)
    except (SafetensorError, ValueError) as err:
        raise ModelFileError(f"{where} has unreadable weights: {err}") from err
    return config, tensors
