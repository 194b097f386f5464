"""WaveNet: the cached sampler draws exactly what the naive one draws, log_prob is an exact
normalised likelihood (chunked scoring agrees with one pass), conditioning (labels, mel
frames) and the 16-bit score."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

import genlab
from genlab.data.audio import Clips, bin_widths_16bit, log_mel, mu_law_decode
from genlab.errors import DataError, ParameterError
from genlab.models.audio import wavenet as wavenet_module
from genlab.models.audio.wavenet import WaveNet

pytestmark = pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")

RATE = 4000
TINY = {"channels": 8, "skip_channels": 8, "layers": 4, "cycle": 2, "window": 128,
        "epoch_size": 32, "epochs": 2, "batch_size": 8, "device": "cpu", "seed": 0}
MEL = {"local": "mel", "n_mels": 8, "n_fft": 128, "hop": 32, "cond_channels": 4}


def tones() -> Clips:
    t = np.arange(400) / RATE
    waves = [(0.5 * np.sin(2 * np.pi * f * t + p)).astype(np.float32)
             for f in (200.0, 600.0) for p in (0.0, 1.5)]
    return Clips(waves, RATE, ["lo", "lo", "hi", "hi"])


@pytest.fixture(scope="module")
def labelled() -> WaveNet:
    return WaveNet(**TINY).fit(tones(), conditions="label")


@pytest.fixture(scope="module")
def timed() -> WaveNet:
    """Labelled, with a learned gate bias per class and 50-sample position step."""
    return WaveNet(**TINY, position_hop=50).fit(tones(), conditions="label")


@pytest.fixture(scope="module")
def vocoder() -> WaveNet:
    return WaveNet(**TINY, **MEL).fit(tones())


def test_cached_and_naive_sampling_are_identical(labelled: WaveNet) -> None:
    a = labelled.sample(3, seed=7, seconds=0.03, conditions={"label": "hi"})
    b = labelled.sample(3, seed=7, seconds=0.03, conditions={"label": "hi"}, cache=False)
    assert len(a) == 3 and all(w.dtype == np.float32 and w.size == 120 for w in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert list(a.attrs["labels"]) == [0, 0, 0] and a.attrs["classes"] == ["hi", "lo"]
    assert a.attrs["rate"] == RATE and a.attrs["provenance"]["options"]["seconds"] == 0.03


def test_vocoder_cached_and_naive_identical(vocoder: WaveNet) -> None:
    mel = log_mel(tones().waves[0], RATE, n_mels=8, n_fft=128, hop=32)
    a = vocoder.vocode(mel, seed=3)
    assert a.dtype == np.float32 and a.size == mel.shape[0] * 32
    assert np.array_equal(a, vocoder.vocode(mel, seed=3, cache=False))
    assert not np.array_equal(a, vocoder.vocode(mel, seed=4))


def test_receptive_field_is_one_plus_dilations(labelled: WaveNet) -> None:
    assert labelled.net_.dilations == [1, 2, 1, 2]
    assert labelled.receptive_field_ == 7


def test_outputs_never_see_the_future(labelled: WaveNet) -> None:
    net = labelled.net_
    x = torch.randint(0, 256, (1, 40), generator=torch.Generator().manual_seed(0))
    y = x.clone()
    y[0, 25:] = (y[0, 25:] + 17) % 256
    with torch.no_grad():
        a, b = net(x), net(y)
    assert torch.equal(a[..., :25], b[..., :25]) and not torch.equal(a[..., 25:], b[..., 25:])


def test_log_prob_sums_to_one_over_every_sequence() -> None:
    # 4 levels, 3 samples: the 64 possible clips' probabilities must add up to 1
    model = WaveNet(**{**TINY, "levels": 4, "trim_db": None}).fit(tones())
    seqs = [np.array(s) for s in itertools.product(range(4), repeat=3)]
    clips = Clips([mu_law_decode(s, 4) for s in seqs], RATE)
    assert all(np.array_equal(model.codec_.tokens(w), s)
               for w, s in zip(clips.waves, seqs, strict=True))
    total = np.exp(model.log_prob(clips)).sum()
    assert total == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("which", ["labelled", "vocoder", "timed"])
def test_chunked_scoring_equals_one_pass(which: str, request: pytest.FixtureRequest,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    model = request.getfixturevalue(which)
    clips = tones()
    whole = model.log_prob(clips)
    monkeypatch.setattr(wavenet_module, "_SCORE_CHUNK", 37)  # chunks cut frames too
    np.testing.assert_allclose(model.log_prob(clips), whole, rtol=1e-5)
    assert np.all(whole < 0) and np.all(np.isfinite(whole))


def test_scores_in_bits_and_nats_per_second_and_16bit(labelled: WaveNet) -> None:
    clips = tones()
    lp8 = labelled.log_prob(clips)
    lp16 = labelled.log_prob(clips, bits=16)
    widths = np.log(bin_widths_16bit(256).astype(np.float64))
    expect = [lp - widths[labelled.codec_.tokens(w)].sum()
              for lp, w in zip(lp8, clips.waves, strict=True)]
    np.testing.assert_allclose(lp16, expect, rtol=1e-12)
    bps = labelled.bits_per_sample(clips)
    assert bps == pytest.approx(-lp8.sum() / (1600 * math.log(2)))
    assert labelled.nats_per_second(clips) == pytest.approx(bps * math.log(2) * RATE)
    assert labelled.bits_per_sample(clips, bits=16) > bps  # 16 bits hold more to predict
    with pytest.raises(ParameterError, match="bits must be 8"):
        labelled.log_prob(clips, bits=12)


def test_conditional_scores_use_labels_or_marginalise(labelled: WaveNet) -> None:
    clips = tones()
    given = labelled.log_prob(clips)  # the data's own labels
    as_hi = labelled.log_prob(clips, conditions={"label": "hi"})
    unlabelled = Clips(clips.waves, RATE)
    marginal = labelled.log_prob(unlabelled)
    both = np.logaddexp(labelled.log_prob(unlabelled, conditions={"label": "hi"}),
                        labelled.log_prob(unlabelled, conditions={"label": "lo"})) + np.log(0.5)
    np.testing.assert_allclose(marginal, both, rtol=1e-9)
    assert np.allclose(given[2:], as_hi[2:]) and not np.allclose(given[:2], as_hi[:2])


def test_training_lowers_the_loss() -> None:
    model = WaveNet(**{**TINY, "epochs": 8, "lr": 1e-2, "val_fraction": 0.0}).fit(tones())
    losses = [r["train_loss"] for r in model.history_]
    assert losses[0] < math.log(256) + 0.5  # starts near uniform over the 256 levels
    assert losses[-1] < losses[0] - 1.0  # nats per sample
    assert model.steps_trained_ == 8 * 4


def test_save_load_keeps_vocoder(vocoder: WaveNet, tmp_path) -> None:
    path = vocoder.save(tmp_path / "v.genlab")
    again = genlab.load(path)
    mel = log_mel(tones().waves[1], RATE, n_mels=8, n_fft=128, hop=32)
    assert np.array_equal(again.vocode(mel, seed=1), vocoder.vocode(mel, seed=1))
    assert again.codec_.to_dict() == vocoder.codec_.to_dict()


def test_one_line_errors(labelled: WaveNet, vocoder: WaveNet) -> None:
    cases = [
        (lambda: labelled.sample(2, conditions={"label": "mid"}), ParameterError,
         "unknown label 'mid'"),
        (lambda: labelled.sample(2, conditions={"speaker": "x"}), ParameterError,
         "condition only on 'label'"),
        (lambda: vocoder.sample(2), ParameterError, "call vocode"),
        (lambda: labelled.vocode(np.zeros((3, 8))), ParameterError, "local='mel'"),
        (lambda: vocoder.vocode(np.zeros((3, 5))), DataError, r"mel must be \(frames, 8\)"),
        (lambda: vocoder.vocode(np.full((3, 8), np.nan)), DataError, "NaN"),
        (lambda: WaveNet(**TINY).fit(Clips(tones().waves, RATE), conditions="label"),
         DataError, "needs labels"),
        (lambda: vocoder.sample(1, conditions={"label": "lo"}), ParameterError,
         "not class-conditional"),
    ]
    for call, kind, phrase in cases:
        with pytest.raises(kind, match=phrase) as info:
            call()
        assert "\n" not in str(info.value)


def test_every_parameter_of_a_labelled_vocoder_gets_a_gradient(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from genlab.models import neural

    real, missing = neural.fit_loop, []

    def spy(module: torch.nn.Module, loss_fn, data, config, **kw):  # noqa: ANN001, ANN202
        module.zero_grad(set_to_none=True)
        loss_fn(tuple(t[:8] for t in data)).mean().backward()
        missing.extend(n for n, p in module.named_parameters() if p.grad is None)
        return real(module, loss_fn, data, config, **kw)

    monkeypatch.setattr(neural, "fit_loop", spy)
    model = WaveNet(**TINY, **MEL).fit(tones(), conditions="label")
    assert model.net_.global_cond is not None and model.net_.mel_in is not None
    assert not missing, missing


@pytest.mark.parametrize("which", ["labelled", "vocoder", "timed"])
def test_training_windows_see_the_real_past(which: str, request: pytest.FixtureRequest) -> None:
    """Regression: windows used to start from zero-padded layer inputs, so the first
    receptive field of every window was trained without the past it has when sampling. Now
    a window's masked log-probs equal those of scoring the whole clip at the same samples
    (same tokens before, same mel frames)."""
    model: WaveNet = request.getfixturevalue(which)
    clips = tones()
    mel = model.meta_["mel"]
    hop = model.codec_.hop if mel else 1
    mels = [model.codec_.mel_of(w) for w in clips.waves] if mel else []
    ctx = -(-(model.receptive_field_ - 1) // hop) * hop
    window = -(-64 // hop) * hop
    tokens = [model.codec_.tokens(w) for w in clips.waves]
    rows, mask, frames, which_clip, starts = model._windows(
        tokens, mels, window, ctx, hop, np.random.default_rng(1))
    code = torch.tensor([0])
    checked = 0
    with torch.no_grad():
        for r in range(len(rows)):
            c, start = int(which_clip[r]), int(starts[r])
            wave = clips.waves[c]
            full = torch.from_numpy(np.concatenate([[model._silence],
                                                    model.codec_.tokens(wave)]))[None]
            fm = (torch.from_numpy(model._mel_window(mels[c], 0, mels[c].shape[0]))[None]
                  if mel else None)
            want = model._chunk_log_probs(full, code, fm, 0)[0]
            first = max(start - ctx, 0)
            got = model._chunk_log_probs(torch.from_numpy(rows[r:r + 1]), code,
                                         torch.from_numpy(frames[r:r + 1]) if mel else None,
                                         0, first)[0]
            keep = mask[r] > 0
            assert keep.sum() == min(window, wave.size - start)
            torch.testing.assert_close(got[torch.from_numpy(keep)],
                                       want[start:start + int(keep.sum())],
                                       atol=1e-4, rtol=1e-4)
            checked += start >= ctx
    assert checked  # some windows had a full receptive field of real samples before them


def test_position_steps_sample_identically_and_matter(timed: WaveNet,
                                                      tmp_path) -> None:
    """The position-step gate bias: both samplers agree, it survives save / load, and the
    same tokens score differently when shifted to another position step."""
    assert timed.meta_["positions"] == 8  # 400-sample clips in 50-sample steps
    a = timed.sample(2, seed=5, seconds=0.1, conditions={"label": "lo"})
    b = timed.sample(2, seed=5, seconds=0.1, conditions={"label": "lo"}, cache=False)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    timed.save(tmp_path / "t.genlab")
    back = genlab.load(tmp_path / "t.genlab")
    np.testing.assert_allclose(back.log_prob(tones()), timed.log_prob(tones()), rtol=1e-6)
    with torch.no_grad():
        timed.net_.position_cond.weight[1::8].add_(1.0)  # step 1 of every class
        moved = timed.log_prob(tones())
        timed.net_.position_cond.weight[1::8].sub_(1.0)
    assert not np.allclose(moved, timed.log_prob(tones()))


def test_position_steps_without_labels() -> None:
    model = WaveNet(**TINY, position_hop=100).fit(tones())
    assert model.net_.position_cond.weight.shape[0] == 4  # one class, 4 steps
    a = model.sample(2, seed=1, seconds=0.02)
    assert np.array_equal(np.stack(a), np.stack(model.sample(2, seed=1, seconds=0.02,
                                                             cache=False)))
    assert np.all(np.isfinite(model.log_prob(tones())))
