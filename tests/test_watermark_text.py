"""The green-list text watermark: the hash, the sampler's logits, detection, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import genlab
from genlab import watermark_text as wt
from genlab.cli import app
from genlab.errors import ParameterError
from genlab.models.sequence.transformer import Transformer

pytestmark = pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")
runner = CliRunner()
CORPUS = ("Shall I compare thee to a summer's day? Thou art more lovely and more temperate: "
          "rough winds do shake the darling buds of May, and summer's lease hath all too "
          "short a date. ") * 6
PROSE = ["It is a truth universally acknowledged, that a single man in possession of a good "
         "fortune, must be in want of a wife.",
         "Call me Ishmael. Some years ago, never mind how long precisely, having little or no "
         "money in my purse, I thought I would sail about a little.",
         "It was the best of times, it was the worst of times, it was the age of wisdom, it "
         "was the age of foolishness, it was the epoch of belief.",
         "In a hole in the ground there lived a hobbit. Not a nasty, dirty, wet hole, filled "
         "with the ends of worms and an oozy smell."]


@pytest.fixture(scope="module")
def model() -> Transformer:
    return Transformer(layers=1, d_model=16, heads=2, context=32, max_steps=10, epochs=2,
                       seed=0).fit([CORPUS])


def _key(m: Transformer) -> str:
    return wt.text_key(m.family, m.fingerprint_, m.seed_)


def test_green_share_is_gamma_and_keyed() -> None:
    chars = [chr(c) for c in range(32, 127)]
    contexts = ["", "a", "the ", "xyzw", "ing "] + [f"{a}{b}" for a in "abc" for b in "xyz"]
    green = np.array([[wt.is_green("k", c, t) for t in chars] for c in contexts])
    assert green.mean() == pytest.approx(wt.GAMMA, abs=0.03)  # 1,330 pairs
    other = np.array([[wt.is_green("other", c, t) for t in chars] for c in contexts])
    assert (green != other).mean() > 0.25  # another key, another split
    # only the last CONTEXT characters count
    assert wt.is_green("k", "xx" + "the ", "a") == wt.is_green("k", "the ", "a")


def test_sampler_adds_delta_to_green_logits_after_the_context() -> None:
    tokens = list("abcdefgh")
    g = wt.GreenList("key", tokens, 3, 1, rows=2, device="cpu")
    g.feed(torch.tensor([[3, 4, 5, 6, 7], [1, 1, 1, 1, 1]]))  # "abcde", and BOS only
    out = g.mask(torch.zeros(2, 11))
    for row, context in ((0, "abcde"), (1, "")):
        expected = [wt.DELTA if wt.is_green("key", context, t) else 0.0 for t in tokens]
        assert out[row, 3:].tolist() == expected
        assert out[row, :3].tolist() == [0.0, 0.0, 0.0]  # specials untouched
    assert g.contexts == ["bcde", ""]


def test_watermarked_samples_are_detected_plain_ones_are_not(model: Transformer) -> None:
    key = _key(model)
    marked = model.sample(6, length=200, seed=1)
    assert marked.attrs["provenance"]["watermark"]["key_id"] == key
    plain = model.sample(6, length=200, seed=1, watermark=False)
    assert "watermark" not in plain.attrs["provenance"]
    z_marked = [wt.detect(t, key).z for t in marked]
    z_plain = [wt.detect(t, key).z for t in plain]
    assert min(z_marked) > wt.FOUND_AT
    # unmarked text: z is about standard normal, so its mean over 6 texts is within 1.5
    assert abs(np.mean(z_plain)) < 1.5 and max(z_plain) < wt.FOUND_AT
    z_prose = [wt.detect(t, key).z for t in PROSE]
    assert abs(np.mean(z_prose)) < 1.5 and max(z_prose) < wt.FOUND_AT


def test_same_seed_same_watermarked_text(model: Transformer) -> None:
    a = model.sample(2, length=50, seed=7)
    assert list(a) == list(model.sample(2, length=50, seed=7))
    refit = Transformer(**model.get_params()).fit([CORPUS])  # a later fit, the same key
    assert _key(refit) == _key(model) and list(refit.sample(2, length=50, seed=7)) == list(a)
    assert list(a) != list(model.sample(2, length=50, seed=7, watermark=False))


def test_z_formula_and_degenerate_inputs() -> None:
    text = "abcabcabcabc"
    d = wt.detect(text, "k")
    pairs = {(text[max(0, i - wt.CONTEXT):i], text[i]) for i in range(1, len(text))}
    assert d.pairs == len(pairs) < len(text) - 1  # repeated pairs count once
    green = sum(wt.is_green("k", c, t) for c, t in pairs)
    assert d.green == green
    t = d.pairs
    assert d.z == pytest.approx((green - 0.25 * t) / np.sqrt(t * 0.25 * 0.75))
    assert wt.detect("a", "k").pairs == 0 and "not checked" in wt.detect("a", "k").line()
    with pytest.raises(ParameterError, match="non-empty string"):
        wt.detect("abc", "")
    with pytest.raises(ParameterError, match="string or a list of strings"):
        wt.detect(3, "k")  # type: ignore[arg-type]


def test_cli_sample_and_provenance(model: Transformer, tmp_path: Path) -> None:
    path = tmp_path / "m.genlab"
    model.save(path)
    marked, plain = tmp_path / "marked.txt", tmp_path / "plain.txt"
    for out, extra in ((marked, []), (plain, ["--no-watermark"])):
        result = runner.invoke(app, ["sample", str(path), "-n", "3", "-o", str(out),
                                     "--seed", "0", "--where", "length=150", *extra])
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["provenance", str(marked)])
    assert result.exit_code == 0 and "text watermark: found (z = " in result.output
    result = runner.invoke(app, ["provenance", str(plain), "--model", str(path)])
    assert result.exit_code == 0 and "text watermark: not found" in result.output
    # the text alone, pasted without its sidecar: the key or the model finds the mark
    bare = tmp_path / "bare.txt"
    bare.write_text(marked.read_text(encoding="utf-8"), encoding="utf-8")
    result = runner.invoke(app, ["provenance", str(bare), "--key", _key(model)])
    assert result.exit_code == 0 and "text watermark: found" in result.output
    result = runner.invoke(app, ["provenance", str(bare), "--model", str(path)])
    assert result.exit_code == 0 and "verified (by its watermark)" in result.output
    plain_bare = tmp_path / "plain_bare.txt"
    plain_bare.write_text(plain.read_text(encoding="utf-8"), encoding="utf-8")
    result = runner.invoke(app, ["provenance", str(plain_bare), "--key", _key(model)])
    assert result.exit_code == 1 and "not found" in result.output


def test_molecules_and_music_carry_no_text_watermark() -> None:
    m = genlab.fit(["CCO", "CCN", "c1ccccc1", "CC(=O)O"] * 10, "autoregressive",
                   data_kind="molecules", layers=1, d_model=16, heads=2, max_steps=2, seed=0)
    assert "watermark" not in m.sample(2, seed=0).attrs["provenance"]
