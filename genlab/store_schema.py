"""The schema of a model file's `config.json`, checked before any model is built.

Two layers: `check_structure` bounds the whole tree (nesting depth, string, list and
mapping sizes, number ranges) without recursion, and `validate_config` checks the type
and range of every key `Model.save` writes. A family's own params and codec keep their
own validation (`_validate_params`, `_codec_from_dict`); this module makes sure they are
handed the JSON types they expect.
"""

from __future__ import annotations

import math
import re
from typing import Any

from genlab.errors import ModelFileError

__all__ = ["CHECKSUM_NOTE", "check_structure", "check_version", "max_config_items",
           "one_line", "validate_config"]

CHECKSUM_NOTE = ("the checksums catch corruption and accidental edits, not a deliberate "
                 "forgery (anyone can recompute them); get a fresh copy or re-save the model")
MAX_DEPTH = 32
MAX_STRING = 2**20
MAX_LIST = 2_000_000
MAX_KEYS = 100_000
MAX_KEY = 256
MAX_INT = 2**64
REQUIRED = ("format_version", "genlab_version", "family", "params", "codec", "integrity")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DAMAGED = "the file is damaged or was edited"


def one_line(err: BaseException | str, limit: int = 300) -> str:
    """An exception's message on one line, shortened to `limit` characters."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def max_config_items(max_memory: int) -> int:
    """JSON values a config may hold: parsed, each costs up to ~100 bytes of Python objects,
    so the default budget (1 GiB) allows 2 million."""
    return max(MAX_LIST, max_memory // 512)


def _show(value: Any) -> str:
    kind = type(value).__name__
    text = one_line(repr(value), 60)
    return f"{kind} {text}" if not isinstance(value, (dict, list)) else kind


def _refuse(where: str, path: str, expected: str, value: Any) -> ModelFileError:
    return ModelFileError(f"{where} has an invalid config.json: {path} must be {expected}, "
                          f"got {_show(value)}; {_DAMAGED}")


def check_structure(config: Any, where: str) -> None:
    """Bound the parsed JSON tree: depth, sizes, finite numbers, int range (iteratively,
    so no input can raise RecursionError)."""
    stack: list[tuple[Any, str, int]] = [(config, "config", 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ModelFileError(f"{where} has an invalid config.json: {path} is nested more "
                                 f"than {MAX_DEPTH} levels deep; {_DAMAGED}")
        if isinstance(node, dict):
            if len(node) > MAX_KEYS:
                raise _refuse(where, path, f"a mapping of at most {MAX_KEYS:,} keys", node)
            for key, value in node.items():
                if len(key) > MAX_KEY:
                    raise _refuse(where, path, f"keyed by names of at most {MAX_KEY} "
                                  "characters", key)
                stack.append((value, f"{path}.{one_line(key, 40)}", depth + 1))
        elif isinstance(node, list):
            if len(node) > MAX_LIST:
                raise _refuse(where, path, f"a list of at most {MAX_LIST:,} items", node)
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(node))
        elif isinstance(node, str):
            if len(node) > MAX_STRING:
                raise _refuse(where, path, f"a string of at most {MAX_STRING:,} characters",
                              node[:20])
        elif isinstance(node, float) and not math.isfinite(node):
            raise _refuse(where, path, "a finite number", node)
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) >= MAX_INT:
            raise _refuse(where, path, "an integer of at most 64 bits", node)


def check_version(config: Any, where: str, newest: int) -> None:
    """A mapping with the required keys and a format version this genlab reads."""
    if not isinstance(config, dict):
        raise _refuse(where, "the config", "a JSON object", config)
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ModelFileError(f"{where} has a config without required keys {missing}; "
                             f"{_DAMAGED}")
    version = config["format_version"]
    if not _is_int(version):
        raise _refuse(where, "format_version", "an integer", version)
    if not 1 <= version <= newest:
        raise ModelFileError(
            f"{where} has format version {version!r}, but this genlab reads versions 1 to "
            f"{newest}; upgrade genlab to load it")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# a field: (test, what it must be); None passes where the writer may write None
def _text(n: int, null: bool = False) -> tuple[Any, str]:
    def test(v: Any) -> bool:
        return (null and v is None) or (isinstance(v, str) and len(v) <= n)
    return test, f"a string of at most {n} characters" + (" or null" if null else "")


def _int_in(lo: int, hi: int, null: bool = False) -> tuple[Any, str]:
    def test(v: Any) -> bool:
        return (null and v is None) or (_is_int(v) and lo <= v <= hi)
    return test, f"an integer in [{lo}, {hi}]" + (" or null" if null else "")


def _mapping() -> tuple[Any, str]:
    return (lambda v: isinstance(v, dict)), "a JSON object"


_NONNEG = ((lambda v: _is_num(v) and v >= 0), "a number of at least 0")
_SHA = ((lambda v: isinstance(v, str) and bool(_HEX64.fullmatch(v))),
        "a sha256 checksum (64 hex digits)")
TOP: dict[str, tuple[Any, str]] = {
    "format_version": _int_in(1, 2**31),
    "genlab_version": _text(64),
    "modality": _text(32),
    "family": _text(64),
    "params": _mapping(),
    "codec": _mapping(),
    "conditions": ((lambda v: isinstance(v, list) and len(v) <= 10_000 and all(
        isinstance(c, str) and len(c) <= 1024 for c in v)),
        "a list of at most 10,000 names (strings)"),
    "fitted": _mapping(),
    "history": ((lambda v: isinstance(v, list)), "a list of per-epoch records"),
    "training": _mapping(),
    "provenance": _mapping(),
    "integrity": _mapping(),
}
NESTED: dict[str, dict[str, tuple[Any, str]]] = {
    "training": {"rows": _int_in(0, 2**53), "fingerprint": _text(256),
                 "stopped_by": _text(64, null=True), "steps": _int_in(0, 2**53, null=True)},
    "provenance": {"created_at": _text(64), "fit_seconds": _NONNEG,
                   "seed": _int_in(0, MAX_INT - 1, null=True),
                   "owner": _text(1024, null=True), "licence": _text(1024, null=True)},
    "integrity": {"config_sha256": _SHA, "weights_sha256": _SHA},
}
_RECORD = ((lambda v: isinstance(v, dict) and len(v) <= 64 and all(
    v is None or _is_num(x) for x in v.values())),
    "a mapping of at most 64 names to numbers")


def validate_config(config: dict[str, Any], where: str) -> None:
    """Type and range of every key `Model.save` writes; unknown keys are refused."""
    unknown = sorted(set(config) - set(TOP))
    if unknown:
        raise ModelFileError(f"{where} has an invalid config.json: unknown key(s) "
                             f"{[one_line(k, 40) for k in unknown[:5]]}; {_DAMAGED} (or was "
                             "written by a newer genlab: upgrade it)")
    for key, (test, expected) in TOP.items():
        if key in config and not test(config[key]):
            raise _refuse(where, key, expected, config[key])
    for key, fields in NESTED.items():
        section = config.get(key, {})
        extra = sorted(set(section) - set(fields))
        if extra:
            raise ModelFileError(f"{where} has an invalid config.json: {key} has unknown "
                                 f"key(s) {[one_line(k, 40) for k in extra[:5]]}; {_DAMAGED}")
        for name, (test, expected) in fields.items():
            if name in section and not test(section[name]):
                raise _refuse(where, f"{key}.{name}", expected, section[name])
    for i, record in enumerate(config.get("history", [])):
        if not _RECORD[0](record):
            raise _refuse(where, f"history[{i}]", _RECORD[1], record)
    if not all(isinstance(k, str) for k in config["params"]):  # JSON keys are, but be sure
        raise _refuse(where, "params", "keyed by parameter names", config["params"])
