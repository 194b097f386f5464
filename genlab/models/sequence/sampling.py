"""What sampling a sequence model needs besides the network: the sample options and their
defaults, molecule conditions (from `conditions=` or `--where` text) and one decoding
thread."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from genlab.errors import ParameterError
from genlab.params import ParamSpec

__all__ = ["MAX_TOKENS_PER_BAR", "SAMPLE_OPTIONS", "cond_for_sampling",
           "condition_from_text", "text_watermark"]

MAX_TOKENS_PER_BAR = 160  # a bar is closed after this many events; a chorale bar has ~60

# the keyword options of `sample` (None: the model's default, e.g. its `sample_length`)
SAMPLE_OPTIONS: dict[str, ParamSpec] = {
    "prompt": ("str?",),
    "length": ("int?", 1, 10**7),
    "bars": ("int?", 1, 4096),
    "temperature": ("float?", 0.0, 100.0),
    "top_k": ("int?", 1, 10**7),
    "top_p": ("float?", 1e-9, 1.0),
    "grammar": ("bool",),
    "use_cache": ("bool",),
    "batch_size": ("int", 1, 10**7),
    "watermark": ("bool",),  # text: the green-list watermark (genlab.watermark_text)
}
# option kinds `genlab.params.check_param` does not know: `check_text_options` checks them


def condition_from_text(name: str, text: str) -> float | tuple[float, float]:
    """A molecule condition written on the command line: "0.8" or a range "0.8..0.9"."""
    lo, sep, hi = text.partition("..")
    try:
        return (float(lo), float(hi)) if sep else float(text)
    except ValueError:
        raise ParameterError(
            f"--where {name}= needs a number or a range low..high, got {text!r}") from None


def _condition_value(key: str, value: Any) -> float | tuple[float, float]:
    """A condition given in Python: a number or a (low, high) pair, as floats."""
    def number(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ParameterError(f"condition {key} needs a number or a (low, high) pair, "
                                 f"got {value!r}")
        return float(v)

    if isinstance(value, str):
        return condition_from_text(key, value)
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ParameterError(f"condition {key} needs a number or a (low, high) pair, "
                                 f"got {value!r}")
        return number(value[0]), number(value[1])
    return number(value)


def cond_for_sampling(names: Sequence[str], bank: np.ndarray | None, n: int,
                      conds: dict[str, Any], rng: np.random.Generator) -> np.ndarray | None:
    """(n, len(names)) condition rows drawn from the training molecules' `bank`: in the
    given ranges, with given values fixed; None for a model without conditions."""
    if not names:
        if conds:
            raise ParameterError(
                f"this model was fitted without conditions, so --where {next(iter(conds))} "
                "cannot apply; refit with --condition"
            )
        return None
    assert bank is not None
    lower = {name.lower(): j for j, name in enumerate(names)}
    unknown = [k for k in conds if k.lower() not in lower]
    if unknown:
        raise ParameterError(f"unknown condition(s) {unknown}; this model conditions on "
                             f"{list(names)}")
    ok = np.ones(len(bank), bool)
    points = {}
    for key, given in conds.items():
        j, value = lower[key.lower()], _condition_value(key, given)
        if isinstance(value, tuple):
            lo, hi = value
            ok &= (bank[:, j] >= lo) & (bank[:, j] <= hi)
            if not ok.any():
                raise ParameterError(
                    f"no training molecule has {key} in [{lo}, {hi}] (with the other "
                    "conditions); widen the range"
                )
        else:
            points[j] = value
    rows = bank[rng.choice(np.flatnonzero(ok), n, replace=True)].copy()
    for j, v in points.items():
        rows[:, j] = v
    return rows


def text_watermark(model: Any, rows: int, opts: dict[str, Any]) -> Any:
    """The green-list watermark for `rows` text samples (`genlab.watermark_text`), keyed on
    the model (`text_key`); None for molecules and music, or with `watermark=False`. The record for
    the samples' provenance is left in `model._watermark_info`."""
    from genlab.data.sequences.codecs import BOS, SPECIALS, CharCodec

    if not isinstance(model.codec_, CharCodec) or opts.get("watermark") is False:
        return None
    from genlab import watermark_text

    key = watermark_text.text_key(model.family, model.fingerprint_, model.seed_)
    model._watermark_info = watermark_text.record(key)
    return watermark_text.GreenList(key, model.codec_.tokens, len(SPECIALS), BOS, rows,
                                    model.device_)
