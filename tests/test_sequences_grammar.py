"""SMILES syntax masking during sampling (genlab.models.sequence.grammar)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genlab.data.sequences.codecs import EOS, SPECIALS, SmilesCodec
from genlab.errors import ParameterError
from genlab.models.sequence.grammar import SmilesGrammar
from genlab.sequences import Transformer

from .test_sequences_molecules import SMILES, small

pytestmark = pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")
CODEC = SmilesCodec.fit(SMILES + ["C%10CCCCCCCCC%10", "CC.O", "C=1CCC=1"])


def _grammatical(tokens: list[str]) -> bool:
    """The syntax rules the mask promises, checked on a finished token list."""
    depth, rings, last = 0, {}, "start"
    atoms, stack, bonded = 0, [0], 0  # stack[d]: the atom a new atom at depth d bonds to
    for t in tokens:
        kind = ("ring" if t.isdigit() or t.startswith("%") else "open" if t == "(" else
                "close" if t == ")" else "bond" if t in "-=#:/\\~$" else "dot" if t == "."
                else "atom")
        if last in ("start", "dot") and kind != "atom":
            return False
        if last == "bond" and kind not in ("atom", "ring"):
            return False
        if last == "open" and kind not in ("atom", "bond"):
            return False
        if last == "close" and kind == "ring":
            return False
        if kind == "close":
            depth -= 1
            stack.pop()
            if depth < 0:
                return False
        if kind == "open":
            depth += 1
            stack.append(stack[-1])
        if kind == "atom":
            atoms += 1
            bonded, stack[-1] = stack[-1], atoms
        if kind == "ring":
            if t in rings:
                if rings.pop(t) in (stack[-1], bonded):
                    return False  # a bond to itself, or a second bond to its neighbour
            else:
                rings[t] = stack[-1]
        if kind == "dot" and (depth or rings):
            return False
        last = kind
    return depth == 0 and not rings and last in ("atom", "ring", "close")


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.0, 3.0))
def test_masked_random_logits_always_give_grammatical_smiles(seed, eos_bias):
    gen = torch.Generator().manual_seed(seed)
    b, v = 16, CODEC.vocab_size
    grammar = SmilesGrammar(CODEC, b, torch.device("cpu"))
    grammar.feed(torch.empty(b, 0, dtype=torch.long))
    rows = [[] for _ in range(b)]
    done = torch.zeros(b, dtype=torch.bool)
    for _ in range(120):
        logits = torch.randn(b, v, generator=gen)
        logits[:, :len(SPECIALS)] = -float("inf")
        logits[:, EOS] = eos_bias
        logits = grammar.mask(logits)
        tok = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)[:, 0]
        tok = torch.where(done, torch.full_like(tok, EOS), tok)
        grammar.feed(tok[:, None])
        for i in range(b):
            if not done[i] and int(tok[i]) != EOS:
                rows[i].append(CODEC.tokens[int(tok[i]) - len(SPECIALS)])
        done |= tok == EOS
    for i in range(b):
        if done[i]:
            assert _grammatical(rows[i]), "".join(rows[i])


def test_grammar_follows_a_prompt():
    grammar = SmilesGrammar(CODEC, 1, torch.device("cpu"))
    grammar.feed(torch.tensor([CODEC.encode("CC(C1")]))
    logits = grammar.mask(torch.zeros(1, CODEC.vocab_size))
    assert logits[0, EOS] == -float("inf")  # a branch and a ring are open
    assert logits[0, CODEC.index[")"]] == 0.0
    grammar.feed(torch.tensor([CODEC.encode(")CC1")]))
    assert grammar.mask(torch.zeros(1, CODEC.vocab_size))[0, EOS] == 0.0


def test_model_samples_with_and_without_grammar():
    m = small(codec="smiles", epochs=3).fit(SMILES)
    masked = m.sample(40, seed=0)
    cap = m._max_new(0, {"length": None})  # samples cut by the length cap are unfinished
    assert all(_grammatical(CODEC.split(s)) for s in masked if len(CODEC.split(s)) < cap)
    free = m.sample(40, seed=0, grammar=False)
    assert free != masked  # an untrained model breaks the syntax without the mask
    conditions, options = m.parse_where({"grammar": "false"})  # what --where passes
    assert conditions == {} and options == {"grammar": False}
    assert m.sample(5, seed=1, **options) == m.sample(5, seed=1, grammar=False)
    off = Transformer(**{**m.get_params(), "grammar": False})
    assert off.get_params()["grammar"] is False


def test_grammar_option_errors():
    with pytest.raises(ParameterError, match="grammar= takes true or false"):
        Transformer().parse_where({"grammar": "maybe"})
    with pytest.raises(ParameterError, match="grammar"):
        small(codec="smiles", grammar="yes").fit(SMILES)
