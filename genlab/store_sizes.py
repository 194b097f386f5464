"""Sizes a model file's codec asks for, bounded before the modality builds anything.

A codec with valid checksums can still ask for anything (a 20000 x 20000 image, a
vocabulary of a billion tokens); the model would then allocate it at load or at the first
sample. Each check here bounds what the codec implies by the memory budget and by the
tensors actually present in the file, using only the JSON (no modality is imported).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from genlab.errors import ModelFileError

__all__ = ["MAX_IMAGE_SIDE", "check_sizes"]

MAX_IMAGE_SIDE = 4096  # the bound of the image families' `size=` parameter
_SPECIALS = 3  # <pad>, <bos>, <eos>
_MUSIC_FIXED = 1 + 128  # BAR and the 128 MIDI pitches


def _bad(where: str, what: str) -> ModelFileError:
    return ModelFileError(f"{where} has an invalid codec: {what}; the file is damaged or "
                          "was edited")


def _int(v: Any, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _budget(where: str, what: str, need: int, budget: int) -> ModelFileError:
    return ModelFileError(
        f"{where}: {what} needs {need / 2**20:,.1f} MiB, over the memory budget of "
        f"{budget / 2**20:,.1f} MiB; if you trust the file, raise it with max_memory= "
        "(command line: --max-memory)")


def _image(codec: dict[str, Any], meta: dict[str, Any], where: str, budget: int) -> None:
    h, w, c = codec.get("height"), codec.get("width"), codec.get("channels")
    if not (_int(h, 1, MAX_IMAGE_SIDE) and _int(w, 1, MAX_IMAGE_SIDE) and _int(c, 1, 4)):
        raise _bad(where, f"image size {h!r} x {w!r} x {c!r} must be integers of 1 to "
                          f"{MAX_IMAGE_SIDE} pixels and 1 to 4 channels")
    need = h * w * c * 4  # one image as float32, the least any family holds
    if need > budget:
        raise _budget(where, f"one {h} x {w} x {c} image", need, budget)
    classes = codec.get("classes")
    if classes is not None and not (isinstance(classes, list) and len(classes) <= 65536
                                    and all(isinstance(k, str) for k in classes)):
        raise _bad(where, "classes must be a list of at most 65,536 names")
    if not isinstance(codec.get("conditional", False), bool):
        raise _bad(where, "conditional must be true or false")
    for key, value in (("h", h), ("w", w), ("c", c)):
        if key in meta and meta[key] != value:
            raise _bad(where, f"the network was saved for {key}={meta[key]!r} but the codec "
                              f"says {value!r}")
    k = len(classes or []) if codec.get("conditional") else 0
    if "k" in meta and meta["k"] != k:
        raise _bad(where, f"the network was saved for {meta['k']!r} classes, the codec has {k}")


def _sequence(codec: dict[str, Any], where: str, present: int) -> None:
    kind = codec.get("kind")
    if kind == "music":
        spb, dur = codec.get("steps_per_bar"), codec.get("max_duration")
        if not (_int(spb, 1, 1024) and _int(dur, 1, 4096)):
            raise _bad(where, f"steps_per_bar {spb!r} and max_duration {dur!r} must be "
                              "integers of 1 to 1024 and 1 to 4096")
        vocab = _SPECIALS + _MUSIC_FIXED + spb + dur
    elif kind in ("char", "smiles"):
        tokens = codec.get("tokens")
        if not (isinstance(tokens, list) and all(isinstance(t, str) and 0 < len(t) <= 64
                                                 for t in tokens)):
            raise _bad(where, "tokens must be a list of strings of 1 to 64 characters")
        if len(set(tokens)) != len(tokens):
            raise _bad(where, "tokens must not repeat")
        vocab = _SPECIALS + len(tokens)
    else:
        return  # the codec's own loader names the unknown kind
    # every token has at least one weight of its own (an embedding row, an output logit)
    if vocab > present:
        raise _bad(where, f"a vocabulary of {vocab:,} tokens needs more weights than the "
                          f"{present:,} the file holds")


def _series(codec: dict[str, Any], where: str, tensors: dict[str, np.ndarray]) -> None:
    periods, spans = codec.get("periods"), codec.get("time_periods")
    tail = tensors.get("tail")
    window = tail.size if tail is not None else 0
    if not (isinstance(periods, list) and all(_int(p, 2, max(window, 2)) for p in periods)):
        raise _bad(where, f"periods must be integers from 2 to the {window} saved values of "
                          "history")
    if not (isinstance(spans, list) and all(
            isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0 for s in spans)):
        raise _bad(where, "time_periods must be a list of positive numbers of seconds")
    for key in ("center", "scale"):
        v = codec.get(key)
        if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)):
            raise _bad(where, f"{key} must be a finite number")
    if codec["scale"] <= 0:
        raise _bad(where, "scale must be positive")
    for key in ("time", "value", "last_time"):
        if codec.get(key) is not None and not isinstance(codec.get(key), str):
            raise _bad(where, f"{key} must be a name (string) or null")
    step = codec.get("step_seconds")
    if step is not None and not (isinstance(step, (int, float)) and not isinstance(step, bool)
                                 and step >= 0):
        raise _bad(where, "step_seconds must be a number of at least 0 or null")


def check_sizes(modality: str, config: dict[str, Any], tensors: dict[str, np.ndarray],
                where: str, budget: int) -> None:
    """Refuse a codec whose sizes exceed the budget or the tensors present (one line)."""
    total = sum(int(t.nbytes) for t in tensors.values())
    if total > budget:
        raise _budget(where, "the weights", total, budget)
    codec, meta = config["codec"], config.get("fitted") or {}
    if modality == "image":
        _image(codec, meta, where, budget)
    elif modality == "sequence":
        _sequence(codec, where, sum(int(t.size) for t in tensors.values()))
    elif modality == "series":
        _series(codec, where, tensors)
