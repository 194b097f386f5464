"""SMILES syntax during sampling: tokens that would break the string's grammar are masked.

A language model samples SMILES one token at a time; most strings an undertrained model
gets wrong are syntax errors that a few counters catch: a ')' with no open branch, an end
with a branch or ring bond still open, a ring-bond digit or a branch after nothing, two
bonds in a row, a ring bond closing on its own atom or on the atom it is already bonded to
("C11", "CC1C1"). `SmilesGrammar` tracks, per sampled row, the branch depth, the open ring
bonds (and the atoms they opened on), the kind of the last token, and sets the logits of
the tokens that cannot come next to -inf, so the model's distribution is renormalised over
the grammatical tokens (constrained decoding, as grammar-constrained sampling of language
models). Chemistry is not checked: a valence or aromaticity error still makes an invalid
molecule, so validity still measures what the model learnt.

`log_prob` scores the model itself (unconstrained); samples drawn with the grammar come
from the model conditioned on being grammatical.
"""

from __future__ import annotations

import math

import torch

from genlab.data.sequences.codecs import EOS, SPECIALS, SmilesCodec

__all__ = ["SmilesGrammar"]

_MAX_DEPTH = 64  # deeper branches share the last slot (no molecule gets near it)
# kinds of token (and of "what came last")
START, ATOM, BOND, OPEN, CLOSE, RING, DOT, OTHER, END = range(9)
_BONDS = {"-", "=", "#", ":", "/", "\\", "~", "$"}
_ORGANIC = {"B", "Br", "C", "Cl", "N", "O", "S", "P", "F", "I", "b", "c", "n", "o", "s", "p", "*"}
# what may follow each kind (EOS, ')' and '.' also need the counters, see `mask`)
_FOLLOWS = {
    START: {ATOM},
    ATOM: {ATOM, BOND, OPEN, CLOSE, RING, DOT, OTHER, END},
    BOND: {ATOM, RING},
    OPEN: {ATOM, BOND},
    CLOSE: {ATOM, BOND, OPEN, CLOSE, DOT, END},
    RING: {ATOM, BOND, OPEN, CLOSE, RING, DOT, END},
    DOT: {ATOM},
    OTHER: {ATOM, BOND, OPEN, CLOSE, RING, DOT, END},
}


def _kind(token: str) -> int:
    if token.startswith("[") or token in _ORGANIC:
        return ATOM
    if token in _BONDS:
        return BOND
    if token == "(":
        return OPEN
    if token == ")":
        return CLOSE
    if token.isdigit() or token.startswith("%"):
        return RING
    if token == ".":
        return DOT
    return OTHER


class SmilesGrammar:
    """Per-row grammar state for a batch being sampled (see the module docstring)."""

    def __init__(self, codec: SmilesCodec, batch: int, device: torch.device) -> None:
        vocab = codec.vocab_size
        kinds = [END if i == EOS else OTHER for i in range(len(SPECIALS))]
        kinds += [_kind(t) for t in codec.tokens]
        rings = sorted({t for t in codec.tokens if _kind(t) == RING})
        ring_of = [-1] * len(SPECIALS) + [rings.index(t) if t in rings else -1
                                          for t in codec.tokens]
        self.kind_of = torch.tensor(kinds, dtype=torch.long, device=device)
        self.ring_of = torch.tensor(ring_of, dtype=torch.long, device=device)
        # allowed[last kind, token id]: the static rule as an additive 0 / -inf table
        table = torch.full((len(_FOLLOWS) + 1, vocab), -math.inf, device=device)
        for last, nxt in _FOLLOWS.items():
            for i, k in enumerate(kinds):
                if k in nxt and i >= len(SPECIALS) or (k == END and END in nxt):
                    table[last, i] = 0.0
        table[END] = 0.0  # finished rows are padded by `generate`; nothing to constrain
        self.table = table
        self.is_close = self.kind_of == CLOSE
        self.ends = (self.kind_of == END) | (self.kind_of == DOT)
        self.depth = torch.zeros(batch, dtype=torch.long, device=device)
        self.open_rings = torch.zeros(batch, max(1, len(rings)), dtype=torch.bool, device=device)
        self.last = torch.full((batch,), START, dtype=torch.long, device=device)
        # atoms are numbered 1, 2, ... per row; `at_depth[d]` is the atom a new atom at
        # branch depth d bonds to, `bonded` the one the current atom bonded to, and
        # `opened_at[r]` the atom ring bond r opened on (a closure may not return there)
        self.atoms = torch.zeros(batch, dtype=torch.long, device=device)
        self.at_depth = torch.zeros(batch, _MAX_DEPTH + 1, dtype=torch.long, device=device)
        self.bonded = torch.zeros(batch, dtype=torch.long, device=device)
        self.opened_at = torch.zeros(batch, max(1, len(rings)), dtype=torch.long, device=device)
        self.ring_token = torch.zeros(max(1, len(rings)), vocab, device=device)
        for i, r in enumerate(ring_of):
            if r >= 0:
                self.ring_token[r, i] = 1.0
        self.arange = torch.arange(batch, device=device)

    def feed(self, tokens: torch.Tensor) -> None:
        """Advance the state over tokens (B, L): a prompt, or the token just sampled (B, 1)."""
        for j in range(tokens.shape[1]):
            tok = tokens[:, j].clamp(min=0)
            kind = self.kind_of[tok]
            d = self.depth.clamp(max=_MAX_DEPTH)
            here = self.at_depth[self.arange, d]
            atom = kind == ATOM
            self.atoms = self.atoms + atom.long()
            self.bonded = torch.where(atom, here, self.bonded)
            self.at_depth[self.arange, d] = torch.where(atom, self.atoms, here)
            opening = kind == OPEN  # the branch's first atom bonds to the atom before '('
            d1 = (d + 1).clamp(max=_MAX_DEPTH)
            self.at_depth[self.arange, d1] = torch.where(
                opening, here, self.at_depth[self.arange, d1])
            self.depth = self.depth + opening.long() - (kind == CLOSE).long()
            ring = self.ring_of[tok]
            rows = torch.nonzero(ring >= 0).flatten()
            if rows.numel():
                r = ring[rows]
                self.open_rings[rows, r] ^= True
                self.opened_at[rows, r] = here[rows]  # the current atom, also after ')'
            self.last = torch.where(kind == OTHER, self.last, kind)

    def mask(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits (B, V) with the tokens that would break the grammar set to -inf."""
        logits = logits + self.table[self.last]
        balanced = (self.depth == 0) & ~self.open_rings.any(dim=1)
        # ')' needs an open branch; the end (and '.') needs no open branch or ring bond
        logits = logits.masked_fill((self.depth == 0)[:, None] & self.is_close, -math.inf)
        logits = logits.masked_fill(~balanced[:, None] & self.ends, -math.inf)
        # closing ring r here would bond the current atom to itself or bond it twice
        atom = self.at_depth[self.arange, self.depth.clamp(max=_MAX_DEPTH)]
        clash = self.open_rings & ((self.opened_at == atom[:, None])
                                   | (self.opened_at == self.bonded[:, None]))
        return logits.masked_fill((clash.float() @ self.ring_token) > 0, -math.inf)
