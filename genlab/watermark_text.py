"""A statistical watermark on generated text: green-list tokens (Kirchenbauer et al. 2023,
"A Watermark for Large Language Models"), detected by a one-proportion z-test.

At each step of sampling, the context (the previous `CONTEXT` characters) and a key
(`text_key`: a hash of the model's family, training fingerprint and seed) split the
vocabulary into a green part (each next character independently with probability `GAMMA`)
and a red one; `DELTA` is added to the green logits before the softmax. The text reads much
the same, but holds more green (context, character) pairs than chance: over T scored pairs,
with s green,

    z = (s - GAMMA T) / sqrt(T GAMMA (1 - GAMMA)),  p = 1 - Phi(z)  (one-sided).

Each distinct pair is scored once (Kirchenbauer et al. § 7 on repeated n-grams): a text
that repeats a phrase would otherwise count the same coin many times. Green membership is a
keyed hash of the pair alone (blake2b of key and context, then splitmix64 with the
character's code point), so detection needs the key, not the model. `FOUND_AT` z = 4 is
their threshold (one-sided p of about 3e-5 per text).

Departures, measured in benchmarks/text_watermark.py: their experiments seed by the one
previous token of a 50,000-token vocabulary; with one character per token a single previous
character gives only ~65 contexts, whose few common pairs ("e ", "th") then carry the same
colour in every text, and z on unmarked text was far from standard normal for a fixed key
(mean -1.7, sd 0.7 over 100 texts). Four characters of context make most pairs of a text
distinct across the key's split, at the price of a mark that a few edits per word break.
The key is not the model id itself: that holds the fit time, and two fits of the same data
with the same seed must sample the same text.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from genlab.errors import ParameterError

__all__ = ["CONTEXT", "DELTA", "FOUND_AT", "GAMMA", "Detection", "GreenList", "detect", "is_green",
           "record", "text_key"]

GAMMA = 0.25  # share of green next characters
DELTA = 2.0  # added to green logits
CONTEXT = 4  # previous characters that seed the split
FOUND_AT = 4.0  # z above which a text is called watermarked
KEY_OF = "sha256 of family, training fingerprint and seed (text_key)"
SCHEME = "green-list (Kirchenbauer et al. 2023), seeded by the previous 4 characters"


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise ParameterError(f"a text watermark key must be a non-empty string (e.g. the "
                             f"16-hex-digit model id), got {key!r}")
    return key


def _context_seed(key: str, context: str) -> np.uint64:
    h = hashlib.blake2b(f"{key}\x00{context}".encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(h, "big"))


def _green(seed: np.uint64, codes: np.ndarray, gamma: float) -> np.ndarray:
    """Green flags of the characters with code points `codes` after a context's seed: the
    splitmix64 finaliser of seed ^ code, uniform on [0, 1), below gamma."""
    with np.errstate(over="ignore"):
        z = seed ^ (codes.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / 2.0**53 < gamma


def is_green(key: str, context: str, token: str, gamma: float = GAMMA) -> bool:
    """Whether the character `token` after `context` (the text before it; its last
    `CONTEXT` characters count) is green under `key`."""
    seed = _context_seed(_check_key(key), context[-CONTEXT:] if CONTEXT else "")
    return bool(_green(seed, np.array([ord(token)]), gamma)[0])


def text_key(family: str, fingerprint: str, seed: Any) -> str:
    """The watermark key of a model: 16 hex digits of the sha256 of its family, training-data
    fingerprint and fit seed (the model id's parts, with the seed for the fit time, so the
    same data and seed give the same text)."""
    return hashlib.sha256(f"{family}\n{fingerprint}\n{seed}".encode()).hexdigest()[:16]


def record(key: str, gamma: float = GAMMA, delta: float | None = None) -> dict[str, Any]:
    """What a text sample's provenance says about its watermark."""
    return {"method": SCHEME, "key": KEY_OF, "key_id": key, "gamma": gamma,
            "delta": DELTA if delta is None else delta, "context": CONTEXT}


class GreenList:
    """The sampler's side: `feed(ids)` then `mask(logits)` adds DELTA to the green ids
    after each row's context (the interface of `genlab.nets.sequence.generate`'s
    `grammar`). Each context's row of offsets is computed once and cached."""

    def __init__(self, key: str, tokens: list[str], n_specials: int, bos: int, rows: int,
                 device: Any, gamma: float = GAMMA, delta: float | None = None) -> None:
        self.key, self.gamma = _check_key(key), gamma
        self.delta = DELTA if delta is None else delta
        self.n_specials, self.device = n_specials, device
        self.tokens = tokens
        self.codes = np.array([ord(t) for t in tokens], np.int64)
        self.contexts = [""] * rows
        self._rows: dict[str, Any] = {}

    def _row(self, context: str) -> Any:
        row = self._rows.get(context)
        if row is None:
            import torch

            out = np.zeros(self.n_specials + len(self.tokens), np.float32)
            out[self.n_specials:] = self.delta * _green(_context_seed(self.key, context),
                                                        self.codes, self.gamma)
            row = self._rows[context] = torch.as_tensor(out, device=self.device)
        return row

    def feed(self, ids: Any) -> None:
        """Extend each row's context by the characters of `ids` (specials add nothing)."""
        for r, row in enumerate(ids.tolist()):
            text = "".join(self.tokens[i - self.n_specials] for i in row
                           if i >= self.n_specials)
            self.contexts[r] = (self.contexts[r] + text)[-CONTEXT:] if CONTEXT else ""

    def mask(self, logits: Any) -> Any:
        """Logits with DELTA added to each row's green ids."""
        import torch

        return logits + torch.stack([self._row(c) for c in self.contexts])


@dataclass
class Detection:
    """The z-test on one text: pairs scored, green pairs, z, one-sided p, the verdict."""

    pairs: int
    green: int
    z: float
    p: float
    gamma: float

    @property
    def found(self) -> bool:
        """Whether z clears `FOUND_AT`."""
        return self.z >= FOUND_AT

    def line(self) -> str:
        """One line for the command line."""
        if not self.pairs:
            return "text watermark: not checked (no character pairs to score)"
        verdict = "found" if self.found else "not found"
        return (f"text watermark: {verdict} (z = {self.z:.2f}, p = {self.p:.2g}; "
                f"{self.green} of {self.pairs} distinct (context, character) pairs green, "
                f"{self.gamma:g} expected by chance; found at z >= {FOUND_AT:g})")


def detect(text: str | list[str], key: str, gamma: float = GAMMA) -> Detection:
    """The z-test of `text` (or of several texts together: the samples of one file) for the
    watermark of `key`, each distinct (context, character) pair once."""
    from scipy.special import ndtr

    key = _check_key(key)
    texts = [text] if isinstance(text, str) else text
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise ParameterError(f"text to check must be a string or a list of strings, got "
                             f"{type(text).__name__}")
    pairs = {(t[max(0, i - CONTEXT):i], t[i]) for t in texts for i in range(1, len(t))}
    by_context: dict[str, list[int]] = {}
    for context, char in pairs:
        by_context.setdefault(context, []).append(ord(char))
    green = sum(int(_green(_context_seed(key, c), np.array(codes), gamma).sum())
                for c, codes in by_context.items())
    t = len(pairs)
    if not t:
        return Detection(0, 0, 0.0, 1.0, gamma)
    z = (green - gamma * t) / math.sqrt(t * gamma * (1 - gamma))
    return Detection(t, green, float(z), float(1 - ndtr(z)), gamma)
