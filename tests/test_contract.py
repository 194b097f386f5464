"""One contract battery for every family of every modality (tiny data, few steps).

fit -> sample types and counts; same seed -> same output; other seeds -> other output; save ->
load -> identical samples and log_prob; one finite log_prob per item for exact families; every
parameter of a network receives a gradient in one training step; the global numpy and torch
random states are untouched; one-line errors for a bad n, bad conditions, an unfitted model,
and UnsupportedOperation where a family has no likelihood.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

import genlab
from genlab.data.audio import Clips
from genlab.errors import GenlabError, NotFittedError, ParameterError, UnsupportedOperation
from genlab.models import neural, registry

pytestmark = pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")

_rng = np.random.default_rng(0)
TABLE = pd.DataFrame({
    "x": _rng.normal(size=80).round(3),
    "y": _rng.gamma(2.0, size=80).round(2),
    "g": _rng.choice(["a", "b", "c"], size=80),
})
IMAGES = (_rng.random((24, 8, 8, 1)) * 255).astype(np.uint8)
TEXT = ["to be or not to be that is the question whether tis nobler in the mind " * 6]
_t = np.arange(400)
SERIES = pd.DataFrame({"value": np.sin(2 * np.pi * _t / 24) + 0.1 * _rng.normal(size=400)})

NEURAL = {"epochs": 1, "batch_size": 16, "device": "cpu"}
PARAMS: dict[tuple[str, str], dict[str, Any]] = {
    ("table", "vae"): {**NEURAL, "latent_dim": 2, "hidden": (8,), "iwae_samples": 2},
    ("table", "gan"): {**NEURAL, "generator_dim": (8,), "discriminator_dim": (8,),
                       "embedding_dim": 4, "pac": 2, "warmup_steps": 0},
    ("table", "flow"): {**NEURAL},
    ("table", "autoregressive"): {**NEURAL},
    ("table", "mixture"): {"n_components": 2},
    ("image", "vae"): {**NEURAL, "latent_dim": 2, "channels": (4, 8), "hidden": 8,
                       "iwae_samples": 2},
    ("image", "gan"): {**NEURAL, "latent_dim": 4, "width": 4},
    ("image", "pixelcnn"): {**NEURAL, "hidden": 4, "layers": 1, "mixtures": 1},
    ("image", "flow"): {**NEURAL, "levels": 1, "steps": 1, "hidden": 4},
    ("image", "superres"): {**NEURAL, "factor": 2, "hidden": 4, "blocks": 1},
    ("sequence", "autoregressive"): {**NEURAL, "layers": 1, "d_model": 8, "heads": 2,
                                     "context": 16, "epoch_size": 32, "sample_length": 12},
    ("sequence", "lstm"): {**NEURAL, "layers": 1, "hidden": 8, "context": 16,
                           "epoch_size": 32, "sample_length": 12},
    ("sequence", "vae"): {**NEURAL, "hidden": 8, "latent": 2, "context": 16, "codec": "smiles",
                          "epoch_size": 32, "sample_length": 12},
    ("series", "autoregressive"): {**NEURAL, "lags": 4, "periods": [24], "hidden": 8,
                                   "layers": 1, "components": 2},
    ("audio", "wavenet"): {**NEURAL, "channels": 4, "skip_channels": 4, "layers": 2,
                           "cycle": 2, "window": 64, "epoch_size": 16},
    ("audio", "tts"): {**NEURAL, "hidden": 8, "layers": 1, "n_mels": 16, "n_fft": 64,
                       "hop": 16},
}
_LOWRES = Path(tempfile.mkdtemp(prefix="genlab-contract-")) / "low.npy"
np.save(_LOWRES, IMAGES[:6, ::2, ::2])
# what `sample` needs besides n: super-resolution draws from p(high | its low-res prompt)
SAMPLE_KW: dict[tuple[str, str], dict[str, Any]] = {
    ("image", "superres"): {"prompt": str(_LOWRES), "draw": True},
    ("audio", "tts"): {"prompt": "lo"},  # text to speech says a text
}
MOLECULES = ["CCO", "c1ccccc1", "CC(=O)O", "CCN", "CCCC", "c1ccncc1", "OCC(O)CO", "CC(C)O"] * 4
DATA_OF = {("sequence", "vae"): MOLECULES}  # the sequence VAE models items, not a text stream
_tone = np.arange(200) / 4000.0  # 50 ms at 4 kHz, a pitch per class
AUDIO = Clips([(0.5 * np.sin(2 * np.pi * f * _tone + p)).astype(np.float32)
               for f in (200.0, 500.0) for p in (0.0, 1.0)], 4000, ["lo", "lo", "hi", "hi"])
DATA = {"table": TABLE, "image": IMAGES, "sequence": TEXT, "series": SERIES, "audio": AUDIO}


def _all_families() -> list[tuple[str, str]]:
    return [(m, f) for m in registry.MODALITIES for f in sorted(registry.families(m))]


FAMILIES = _all_families()
IDS = [f"{m}-{f}" for m, f in FAMILIES]


def _make(modality: str, family: str, **extra: Any) -> Any:
    return registry.make_model(family, modality, seed=0,
                               **{**PARAMS.get((modality, family), {}), **extra})


def _data(modality: str, family: str) -> Any:
    return DATA_OF.get((modality, family), DATA[modality])


def _fit(modality: str, family: str) -> Any:
    return _make(modality, family).fit(_data(modality, family))


_FITTED: dict[tuple[str, str], Any] = {}


@pytest.fixture
def fitted(request: pytest.FixtureRequest) -> Any:
    key = request.param
    if key not in _FITTED:
        _FITTED[key] = _fit(*key)
    return _FITTED[key]


def _draw(model: Any, n: Any, **kw: Any) -> Any:
    return model.sample(n, **SAMPLE_KW.get((model.modality, model.family), {}), **kw)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, pd.DataFrame):
        return a.equals(b)
    if isinstance(a, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return [str(x) for x in a] == [str(x) for x in b]


def _count(samples: Any) -> int:
    return len(samples)


@pytest.mark.parametrize("fitted", FAMILIES, ids=IDS, indirect=True)
def test_sample_count_type_and_seeds(fitted: Any) -> None:
    a = _draw(fitted, 3, seed=1)
    assert _count(a) == 3 if fitted.modality != "series" else _count(a) >= 3
    assert a.attrs["provenance"]["seed"] == 1
    assert a.attrs["modality"] == fitted.modality
    assert _same(a, _draw(fitted, 3, seed=1))
    assert not _same(a, _draw(fitted, 3, seed=2))
    fresh = [_draw(fitted, 3) for _ in range(2)]
    assert not _same(*fresh), "two samples without a seed must differ"
    assert fresh[0].attrs["provenance"]["seed"] != fresh[1].attrs["provenance"]["seed"]
    if fitted.modality == "image":
        assert a.dtype == np.uint8 and a.shape[1:] == IMAGES.shape[1:]
    if fitted.modality == "table":
        assert list(a.columns) == list(TABLE.columns)


@pytest.mark.parametrize("fitted", FAMILIES, ids=IDS, indirect=True)
def test_save_load_same_samples_and_scores(fitted: Any, tmp_path: Any) -> None:
    path = fitted.save(tmp_path / "m.genlab")
    again = genlab.load(path)
    assert type(again) is type(fitted)
    assert again.get_params() == fitted.get_params()
    assert _same(_draw(fitted, 4, seed=5), _draw(again, 4, seed=5))
    if fitted.supports_log_prob:
        data = _data(fitted.modality, fitted.family)
        np.testing.assert_allclose(again.log_prob(data), fitted.log_prob(data), rtol=1e-5)


@pytest.mark.parametrize("fitted", FAMILIES, ids=IDS, indirect=True)
def test_log_prob_one_finite_value_per_item(fitted: Any) -> None:
    data = _data(fitted.modality, fitted.family)
    if not fitted.supports_log_prob:
        with pytest.raises(UnsupportedOperation, match="log_prob"):
            fitted.log_prob(data)
        return
    lp = fitted.log_prob(data)
    assert lp.dtype == np.float64 and lp.ndim == 1
    assert lp.size == len(data)
    assert np.isfinite(lp).all()


@pytest.mark.parametrize("fitted", FAMILIES, ids=IDS, indirect=True)
def test_bad_calls_are_one_line_errors(fitted: Any) -> None:
    for n in (0, -1, 1.5, "3", True):
        with pytest.raises(ParameterError, match="n must be") as info:
            _draw(fitted, n)
        assert "\n" not in str(info.value)
    with pytest.raises(ParameterError, match="conditions must be a dict"):
        _draw(fitted, 2, conditions=["a"])
    with pytest.raises(GenlabError) as info:
        _draw(fitted, 2, conditions={"no_such_column": "z"})
    assert "\n" not in str(info.value)
    with pytest.raises(ParameterError, match="seed must be"):
        _draw(fitted, 2, seed=-3)
    with pytest.raises(ParameterError, match="takes no option"):
        _draw(fitted, 2, no_such_option=1)


@pytest.mark.parametrize(("modality", "family"), FAMILIES, ids=IDS)
def test_unfitted_model_refuses(modality: str, family: str) -> None:
    model = _make(modality, family)
    with pytest.raises(NotFittedError, match="not fitted"):
        _draw(model, 2)
    with pytest.raises(NotFittedError, match="not fitted"):
        model.save("never.genlab")


@pytest.mark.parametrize(("modality", "family"), FAMILIES, ids=IDS)
def test_global_random_state_untouched_and_fit_reproducible(modality: str, family: str) -> None:
    torch_state, torch_seed = torch.get_rng_state(), torch.initial_seed()
    np_state = np.random.get_state()
    a = _fit(modality, family)
    first = _draw(a, 3, seed=4)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert torch.initial_seed() == torch_seed
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1])
    # same data + same seed -> same model
    b = _fit(modality, family)
    assert _same(first, _draw(b, 3, seed=4))


@pytest.mark.parametrize(("modality", "family"), [
    k for k in FAMILIES if getattr(registry.families(k[0])[k[1]], "trains", False)
], ids=lambda k: f"{k}")
def test_every_parameter_gets_a_gradient(modality: str, family: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    real = neural.fit_loop
    missing: list[list[str]] = []

    def spy(module: torch.nn.Module, loss_fn: Any, data: Any, config: Any, **kw: Any) -> Any:
        batch = tuple(t[:16] for t in data)
        module.train()
        module.zero_grad(set_to_none=True)
        step = kw.get("train_step")
        if step is None:
            loss_fn(batch).mean().backward()
        else:
            step(batch, 10_000)  # past every warm-up, so every part takes its step
        missing.append([n for n, p in module.named_parameters()
                        if p.requires_grad and p.grad is None])
        return real(module, loss_fn, data, config, **kw)

    monkeypatch.setattr(neural, "fit_loop", spy)
    _fit(modality, family)
    assert missing and not any(missing), f"parameters without a gradient: {missing}"


@pytest.mark.parametrize(("call", "phrase"), [
    (lambda: genlab.fit(TABLE, "gaussian", conditions=5), "conditions must be a name or a list"),
    (lambda: genlab.fit(123, "gaussian"), "a table is a CSV/Parquet path or a pandas DataFrame"),
    (lambda: genlab.fit(None), "a table is a CSV/Parquet path or a pandas DataFrame"),
    (lambda: genlab.load(123), "a model file is given by its path"),
    (lambda: genlab.fit(TABLE, "gaussian", kinds=["x"]), "kinds must map column names"),
    (lambda: genlab.fit(5, data_kind="image"), "images are a folder"),
    (lambda: genlab.fit(5, data_kind="text"), "sequences are a file"),
], ids=["conditions-int", "data-int", "data-none", "load-int", "kinds-list", "images-int",
        "sequences-int"])
def test_wrong_argument_types_are_one_line_errors(call: Any, phrase: str) -> None:
    with pytest.raises(GenlabError, match=phrase) as info:
        call()
    assert "\n" not in str(info.value)
