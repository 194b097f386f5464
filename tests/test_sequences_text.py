"""Text with the sequence families: the cache, exact log-probabilities, sampling, files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import genlab
from genlab.cli import app
from genlab.data.detect import detect_kind
from genlab.errors import DataError, ParameterError, UnsupportedOperation
from genlab.models.registry import DEFAULT_FAMILY
from genlab.nets.sequence import (
    Stepper,
    TransformerNet,
    sample_logits,
    score_tokens,
    window_start,
)
from genlab.sequences import LSTM, SequenceVAE, Transformer

from .conftest import real_data

TEXT = ("ROMEO: But soft, what light through yonder window breaks?\n"
        "JULIET: O Romeo, Romeo, wherefore art thou Romeo?\n") * 30
runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")


def tiny(**kw: object) -> Transformer:
    params = dict(layers=2, d_model=16, heads=2, context=24, epochs=2, batch_size=16,
                  epoch_size=64, warmup_steps=5, seed=0)
    params.update(kw)
    return Transformer(**params)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def text_model() -> Transformer:
    return tiny(epochs=4, epoch_size=256, lr=1e-2).fit([TEXT])


# -- the network ------------------------------------------------------------------------------


def test_kv_cache_gives_the_logits_of_a_full_forward_pass() -> None:
    torch.manual_seed(0)
    net = TransformerNet(vocab=11, d_model=16, layers=2, heads=2, context=12, n_cond=2).eval()
    ids = torch.randint(3, 11, (3, 12))
    cond = torch.randn(3, 2)
    with torch.no_grad():
        full = net(ids, cond)
        cache = net.new_cache(3)
        steps = [net(ids[:, :5], cond, cache)]  # a prefill, then one token at a time
        steps += [net(ids[:, t:t + 1], cond, cache) for t in range(5, 12)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)


def test_stepper_with_and_without_cache_agree_past_the_context() -> None:
    # beyond the context the window slides; cached and uncached decoding follow one rule
    torch.manual_seed(1)
    net = TransformerNet(vocab=9, d_model=8, layers=1, heads=2, context=6).eval()
    content = torch.randint(3, 9, (2, 20))
    with torch.no_grad():
        a, b = Stepper(net, 2), Stepper(net, 2, use_cache=False)
        la, lb = [a.feed(content[:, :0])], [b.feed(content[:, :0])]
        for t in range(20):
            la.append(a.feed(content[:, t:t + 1]))
            lb.append(b.feed(content[:, t:t + 1]))
        # and the scorer gives the same per-token log-probabilities as the stepper
        scores = score_tokens(net, content)
    for x, y in zip(la, lb, strict=True):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-5)
    stepped = torch.stack([torch.log_softmax(la[t], -1).gather(-1, content[:, t:t + 1])[:, 0]
                           for t in range(20)], dim=1)
    torch.testing.assert_close(scores, stepped, atol=1e-5, rtol=1e-5)


def test_window_start_rule() -> None:
    assert [window_start(t, 6) for t in (0, 5, 6, 8, 9, 11, 12)] == [0, 0, 3, 3, 6, 6, 9]
    assert window_start(10_000, None) == 0


def test_top_k_and_top_p_truncate() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(2000, 1)
    gen = torch.Generator().manual_seed(0)
    assert set(sample_logits(logits, top_k=2, generator=gen).tolist()) == {0, 1}
    assert set(sample_logits(logits, top_p=0.7, generator=gen).tolist()) == {0, 1}
    assert set(sample_logits(logits, temperature=0.0).tolist()) == {0}


# -- the model --------------------------------------------------------------------------------


def test_log_prob_is_the_sum_of_token_log_probs(text_model: Transformer) -> None:
    texts = ["ROMEO: wherefore", "JULIET: O light" * 4]  # the second is longer than the context
    lp = text_model.log_prob(texts)
    for text, total in zip(texts, lp, strict=True):
        tokens = text_model.token_log_prob(text)
        assert tokens.shape == (len(text),)
        assert np.all(tokens <= 0)
        assert total == pytest.approx(tokens.sum(), rel=1e-5)


def test_training_learns_the_text(text_model: Transformer) -> None:
    assert text_model.history_[-1]["val_loss"] < math.log(text_model.codec_.vocab_size) - 0.5
    seen = text_model.nats_per_token(["ROMEO: But soft, what light"])
    shuffled = text_model.nats_per_token(["tfos tuB :OEMOR thgil tahw"])
    assert seen < shuffled


def test_validation_windows_are_a_held_out_tail(text_model: Transformer) -> None:
    # 256 slots, val_fraction 0.05 -> 13 validation windows of 24 characters at the end
    assert text_model.meta_["validation_tail_tokens"] == 13 * 24
    # training windows cover the rest: a text whose second half differs is learnt whole
    first, second = "abcab" * 200, "xyzzy" * 200
    m = tiny(epochs=3, epoch_size=256, lr=1e-2, val_fraction=0.02).fit([first + second])
    a = m.nats_per_token(["abcabcab"])
    x = m.nats_per_token(["xyzzyxyz"])
    assert max(a, x) < 0.7 * math.log(m.codec_.vocab_size)


def test_samples_start_with_the_prompt_and_repeat_with_a_seed(
        text_model: Transformer, tmp_path: Path) -> None:
    samples = text_model.sample(3, prompt="ROMEO:", length=40, seed=7)
    assert len(samples) == 3 and all(s.startswith("ROMEO:") and len(s) == 46 for s in samples)
    # the cache changes the cost, not the distribution: same seed, same samples
    assert text_model.sample(3, prompt="ROMEO:", length=40, seed=7, use_cache=False) == samples
    path = text_model.save(tmp_path / "m.genlab")
    loaded = genlab.load(path)
    assert isinstance(loaded, Transformer)
    assert loaded.sample(3, prompt="ROMEO:", length=40, seed=7) == samples
    np.testing.assert_allclose(loaded.log_prob(["ROMEO: hi"]), text_model.log_prob(["ROMEO: hi"]))


def test_seeds_are_drawn_recorded_and_repeat(text_model: Transformer, tmp_path: Path) -> None:
    a = text_model.sample(2, prompt="ROMEO:", length=30)
    b = text_model.sample(2, prompt="ROMEO:", length=30)
    assert a != b  # without a seed, a fresh one each call
    seed = a.attrs["provenance"]["seed"]
    assert isinstance(seed, int) and seed != b.attrs["provenance"]["seed"]
    again = text_model.sample(2, prompt="ROMEO:", length=30, seed=seed)
    assert again == a  # the recorded seed reproduces the samples
    prov = again.attrs["provenance"]
    assert prov["seed"] == seed and prov["options"] == {"prompt": "ROMEO:", "length": 30}
    assert again.attrs["modality"] == "sequence" and again.attrs["kind"] == "char"
    loaded = genlab.load(text_model.save(tmp_path / "m.genlab"))
    assert loaded.sample(2, prompt="ROMEO:", length=30, seed=seed) == a


def test_sample_options_are_checked(text_model: Transformer) -> None:
    with pytest.raises(ParameterError, match="temperature must be in"):
        text_model.sample(1, temperature=-1.0)
    with pytest.raises(ParameterError, match="prompt must be a string"):
        text_model.sample(1, prompt=3)
    with pytest.raises(ParameterError, match=r"takes no option\(s\) \['where'\]"):
        text_model.sample(1, where={"length": 3})
    with pytest.raises(ParameterError, match="positive integer"):
        text_model.sample(0)
    conditions, options = text_model.parse_where({"prompt": "ROMEO", "length": "4",
                                                  "top_p": "0.9", "use_cache": "false"})
    assert conditions == {}
    assert options == {"prompt": "ROMEO", "length": 4, "top_p": 0.9, "use_cache": False}
    assert len(text_model.sample(2, seed=0, **options)[0]) == 9


def test_writer_text_file_and_provenance(text_model: Transformer, tmp_path: Path) -> None:
    from genlab.data.writers import write_samples

    samples = text_model.sample(3, prompt="ROMEO:", length=20, seed=5)
    target, message = write_samples(samples, tmp_path / "s.txt")
    assert target == tmp_path / "s.txt" and "3 text samples" in message
    assert target.read_text(encoding="utf-8").rstrip("\n").split(
        "\n" + "=" * 40 + "\n") == list(samples)
    prov = json.loads((tmp_path / "s.txt.provenance.json").read_text())
    assert prov["seed"] == 5 and prov["modality"] == "sequence"
    with pytest.raises(ParameterError, match="for text; use a .txt file"):
        write_samples(samples, tmp_path / "s.png")


def test_fit_a_text_file_by_name_and_by_kind(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    small = dict(layers=1, d_model=16, heads=2, context=24, epochs=1, epoch_size=32,
                 batch_size=16, seed=0)
    m = genlab.fit(str(corpus), **small)
    assert isinstance(m, Transformer) and m.codec_.kind == "char" and m.n_rows_ == 1
    bare = tmp_path / "corpus"  # no extension: only the kind of data says it is text
    bare.write_text(TEXT, encoding="utf-8")
    with pytest.raises(DataError, match="cannot tell which kind of sequence data"):
        tiny().fit(bare)
    m2 = genlab.fit(bare, data_kind="text", **small)
    assert m2.codec == "char" and m2.fingerprint_ == m.fingerprint_
    result = runner.invoke(app, ["fit", str(bare), "--data-kind", "text", "-o",
                                 str(tmp_path / "m.genlab"), "-p", "layers=1", "-p",
                                 "d_model=16", "-p", "heads=2", "-p", "context=24", "-p",
                                 "epochs=1", "-p", "epoch_size=32"])
    assert result.exit_code == 0, result.output


def test_unseen_prompt_character_is_a_clear_error(text_model: Transformer) -> None:
    with pytest.raises(ParameterError, match=r"prompt cannot be used.*never seen.*'Z'"):
        text_model.sample(1, prompt="ZEBRA", length=5)


def test_unseen_character_scores_minus_infinity(text_model: Transformer) -> None:
    lp = text_model.token_log_prob("RoZeo")
    assert lp[2] == -math.inf and np.isfinite(np.delete(lp, 2)).all()


def test_lstm_family_same_contract() -> None:
    m = LSTM(hidden=16, layers=1, context=24, epochs=1, batch_size=16, epoch_size=32,
             seed=0).fit([TEXT])
    text = "JULIET: light" * 5
    assert m.log_prob([text])[0] == pytest.approx(m.token_log_prob(text).sum(), rel=1e-5)
    s = m.sample(2, prompt="JULIET:", length=10, seed=3)
    assert s == m.sample(2, prompt="JULIET:", length=10, seed=3)
    assert all(x.startswith("JULIET:") for x in s)


def test_vae_refuses_text_with_a_clear_message() -> None:
    with pytest.raises(ParameterError, match="not a text stream"):
        SequenceVAE(epochs=1).fit([TEXT])


def test_bad_parameters_are_caught() -> None:
    with pytest.raises(ParameterError, match="multiple of heads"):
        tiny(d_model=18, heads=4).fit([TEXT])
    with pytest.raises(DataError, match="fewer than the context"):
        tiny(context=512).fit(["short text"])
    with pytest.raises(ParameterError, match="conditions apply to molecules"):
        tiny().fit([TEXT], conditions=["qed"])


# -- files and the command line ---------------------------------------------------------------


def test_empty_text_file_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    with pytest.raises(DataError, match=r"empty\.txt is empty; give a text file"):
        tiny().fit(empty)
    result = runner.invoke(app, ["fit", str(empty), "-o", str(tmp_path / "m.genlab")])
    assert result.exit_code == 2
    assert "error:" in result.output and "is empty" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_fit_sample_score_report(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    assert detect_kind(corpus) == ("sequence", {})
    assert DEFAULT_FAMILY["sequence"] == "autoregressive"
    model = tmp_path / "m.genlab"
    params = ["-p", "layers=1", "-p", "d_model=16", "-p", "heads=2", "-p", "context=24",
              "-p", "epochs=1", "-p", "epoch_size=32", "-p", "batch_size=16"]
    result = runner.invoke(app, ["fit", str(corpus), "-o", str(model), "--seed", "0", *params])
    assert result.exit_code == 0, result.output
    out = tmp_path / "samples.txt"
    result = runner.invoke(app, ["sample", str(model), "-n", "3", "--prompt", "ROMEO:", "-o",
                                 str(out), "--where", "length=30", "--seed", "1"])
    assert result.exit_code == 0, result.output
    samples = out.read_text(encoding="utf-8").rstrip("\n").split("\n" + "=" * 40 + "\n")
    assert len(samples) == 3 and all(s.startswith("ROMEO:") and len(s) == 36 for s in samples)
    prov = json.loads((tmp_path / "samples.txt.provenance.json").read_text())
    assert prov["family"] == "autoregressive" and prov["options"]["prompt"] == "ROMEO:"
    assert prov["seed"] == 1
    result = runner.invoke(app, ["sample", str(model), "-n", "1", "--prompt", "ZZZ", "-o",
                                 str(out)])
    assert result.exit_code == 2 and "never seen in training" in result.output
    result = runner.invoke(app, ["score", str(model), str(corpus)])
    assert result.exit_code == 0 and "1 rows scored (exact" in result.output
    report = tmp_path / "r.html"
    result = runner.invoke(app, ["report", "--model", str(model), "--real", str(corpus), "-o",
                                 str(report)])
    assert result.exit_code == 0, result.output
    page = report.read_text(encoding="utf-8")
    assert "bits per character" in page and "<pre" in page


def test_vae_has_no_token_log_prob() -> None:
    with pytest.raises(UnsupportedOperation, match="no exact per-token"):
        SequenceVAE().token_log_prob("CCO")


def test_tiny_shakespeare_slice_learns() -> None:
    path = real_data("tinyshakespeare", "input.txt")
    text = path.read_text(encoding="utf-8")
    m = tiny(context=32, epochs=4, epoch_size=256, lr=1e-2).fit([text[:50_000]])
    # well under the uniform 4.17 nats of 65 characters after a few hundred windows
    held_out = "".join(c for c in text[60_000:62_000] if c in m.codec_.index)
    assert m.nats_per_token([held_out]) < 3.2
