"""genlab.augment: classic transforms, EDA, generative samples, the imblearn over-sampler."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from genlab.augment import (
    EDA,
    Compose,
    CorpusSynonyms,
    ElasticDistortion,
    Flip,
    GaussianNoise,
    GenerativeOversampler,
    RandomCrop,
    Rotation,
    Scaling,
    Translation,
    augment,
    default_image_transforms,
)
from genlab.augment.generative import check_classes, extra_counts
from genlab.data.images import ImageSet
from genlab.errors import DataError, ParameterError


def _blobs(n_per: int = 12, size: int = 12) -> ImageSet:
    """Two classes of images: a bright square top-left or bottom-right."""
    rng = np.random.default_rng(0)
    imgs = np.zeros((2 * n_per, size, size, 1), np.uint8)
    imgs[:n_per, 1:6, 1:6] = 220
    imgs[n_per:, -6:-1, -6:-1] = 220
    imgs = np.clip(imgs + rng.integers(0, 30, imgs.shape), 0, 255).astype(np.uint8)
    return ImageSet(imgs, np.repeat([0, 1], n_per), ["a", "b"])


def _tiny_vae():
    from genlab.images import ImageVAE

    return ImageVAE(latent_dim=2, channels=(4, 4), hidden=8, max_steps=3, batch_size=8,
                    val_fraction=0.0, epochs=100, iwae_samples=2, seed=0)


def _tiny_lstm():
    from genlab.models.registry import make_model

    return make_model("lstm", modality="sequence", hidden=16, layers=1, context=16,
                      max_steps=3, batch_size=4, val_fraction=0.0, epochs=100, seed=0)


TRANSFORMS = [Rotation(15), Scaling((0.8, 1.2)), Translation(0.1), Flip(1.0), RandomCrop(),
              ElasticDistortion(2.0, 3.0), GaussianNoise(0.1), default_image_transforms(True)]


@pytest.mark.parametrize("t", TRANSFORMS, ids=lambda t: type(t).__name__)
def test_image_transforms_are_seeded_and_keep_shape(t):
    x = _blobs().images
    state = torch.random.get_rng_state().clone()
    a, b, c = t(x, seed=1), t(x, seed=1), t(x, seed=2)
    assert a.shape == x.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)  # same seed, same images
    assert not np.array_equal(a, x)  # it changes them
    if not isinstance(t, Flip):  # p=1 flips are deterministic
        assert not np.array_equal(a, c)
    assert torch.equal(state, torch.random.get_rng_state())  # global state untouched


def test_flip_mirrors_and_default_chain_has_no_flip():
    x = _blobs().images
    assert np.array_equal(Flip(1.0)(x), x[:, :, ::-1])
    assert not any(isinstance(t, Flip) for t in default_image_transforms().transforms)


def test_rotation_keeps_the_mass_near_the_class_corner():
    ds = _blobs()
    y = Compose([Rotation(5), Translation(0.05)])(ds.images, seed=0).astype(float)[..., 0]
    assert (y[:12, :6, :6].sum((1, 2)) > y[:12, -6:, -6:].sum((1, 2))).all()


def test_transform_parameters_are_checked():
    with pytest.raises(ParameterError, match="degrees must be"):
        Rotation(-1)
    with pytest.raises(ParameterError, match="scale must be"):
        Scaling((1.2, 0.9))
    with pytest.raises(DataError, match="uint8"):
        Rotation()(np.zeros((2, 4, 4), np.float32))


CORPUS = ["The king is dead. Long live the king!", "The queen is dead, long live the queen.",
          "My good lord, the king comes.", "My good lady, the queen comes.",
          "The duke rides to the king.", "The duchess rides to the queen."] * 3


def test_corpus_synonyms_learn_shared_contexts():
    syn = CorpusSynonyms(neighbours=2, min_count=2).fit(CORPUS)
    assert "queen" in syn.synonyms("king")
    assert syn.synonyms("the") == []  # stop words are never replaced


@pytest.mark.parametrize("op", ["synonym", "insert", "swap", "delete", "shuffle"])
def test_eda_operations_change_text_and_are_seeded(op):
    eda = EDA(alpha=0.3, p_delete=0.3, operations=(op,)).fit(CORPUS)
    text = "The king is dead. Long live the king! My good lord comes."
    outs = {eda.augment(text, np.random.default_rng(s)) for s in range(6)}
    assert eda.augment(text, np.random.default_rng(0)) == eda.augment(
        text, np.random.default_rng(0))
    assert outs - {text}
    if op == "delete":
        assert all(len(o.split()) < len(text.split()) for o in outs if o != text)
    if op in ("swap", "shuffle"):
        assert all(sorted(o.split()) == sorted(text.split()) or op == "swap" for o in outs)


def test_counts_and_their_errors():
    counts = check_classes(["a"] * 6 + ["b"] * 2)
    assert extra_counts(counts, balance=True) == {"a": 0, "b": 4}
    assert extra_counts(counts, factor=0.5) == {"a": 3, "b": 1}
    with pytest.raises(DataError, match="fewer than 2 examples"):
        check_classes(["a", "a", "b"])
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ParameterError, match="factor must be a number > 0"):
            extra_counts(counts, factor=bad)


def test_table_generative_balances_and_is_reproducible(mixed_df):
    df = mixed_df.dropna().reset_index(drop=True)
    res = augment(df, "group", balance=True, model="gaussian", seed=3)
    real, syn = res.data[~res.data.synthetic], res.data[res.data.synthetic]
    assert real.drop(columns="synthetic").reset_index(drop=True).equals(df)
    counts = res.data["group"].value_counts()
    assert counts.nunique() == 1 and counts.iloc[0] == df["group"].value_counts().max()
    assert set(syn["group"]) == {"b", "c"}
    again = augment(df, "group", balance=True, model="gaussian", seed=3)
    assert again.data.equals(res.data)
    assert res.provenance["model"]["family"] == "gaussian"
    assert res.provenance["augmentation"]["synthetic_per_class"]["a"] == 0


def test_filter_share_keeps_the_likelier_samples(mixed_df):
    df = mixed_df.dropna()[["x1", "x2", "group"]].reset_index(drop=True)
    from genlab.models.table.gaussian import Gaussian

    m = Gaussian(seed=0).fit(df, conditions=["group"])
    plain = augment(df, "group", factor=1, model=m, seed=0)
    kept = augment(df, "group", factor=1, model=m, seed=0, filter_share=0.5)
    score = lambda r: m.log_prob(r.data[r.data.synthetic].drop(columns="synthetic")).mean()  # noqa: E731
    assert kept.synthetic.sum() == plain.synthetic.sum()
    assert score(kept) > score(plain)


@pytest.mark.parametrize("method", ["classic", "generative", "both"])
def test_images_each_method(method):
    ds = _blobs()
    res = augment(ds, method=method, factor=1, model=_tiny_vae(), seed=0)
    assert res.data.images.shape == (48, 12, 12, 1)
    assert np.array_equal(res.data.images[:24], ds.images)
    assert list(np.bincount(res.data.labels)) == [24, 24]
    made = set(res.origin[24:])
    assert made == ({"classic", "generative"} if method == "both" else {method})


def test_text_each_method_and_prompted_classes():
    df = pd.DataFrame({"line": ["to be or not to be that is the question"] * 4
                       + ["now is the winter of our discontent"] * 4,
                       "speaker": ["HAMLET"] * 4 + ["RICHARD"] * 4})
    res = augment(df, "speaker", method="both", factor=2, model=_tiny_lstm(), seed=0)
    assert res.kind == "text" and res.text_column == "line"
    syn = res.data[res.data.synthetic]
    assert len(syn) == 16 and set(res.origin[8:]) == {"classic", "generative"}
    assert syn["speaker"].value_counts().to_dict() == {"HAMLET": 8, "RICHARD": 8}
    assert all(isinstance(t, str) and "\n" not in t for t in syn["line"])


def test_bad_inputs_say_what_is_wrong(mixed_df):
    with pytest.raises(DataError, match="target column 'nope' is not in the table"):
        augment(mixed_df, "nope")
    df = mixed_df.dropna().copy()
    df.loc[df.index[0], "group"] = "lonely"
    with pytest.raises(DataError, match="'lonely' of group have fewer than 2 examples"):
        augment(df, "group")
    with pytest.raises(ParameterError, match="factor must be a number > 0"):
        augment(mixed_df.dropna(), "group", factor=0)
    with pytest.raises(ParameterError, match="tables have no classic transforms"):
        augment(mixed_df.dropna(), "group", method="classic")
    with pytest.raises(DataError, match="column 'x1' is not text"):
        augment(mixed_df.dropna(), "group", text_column="x1")
    with pytest.raises(DataError, match="images carry no labels"):
        augment(_blobs().images)
    with pytest.raises(ParameterError, match="method must be one of"):
        augment(mixed_df, "group", method="mixup")


def test_images_of_mixed_sizes_are_refused(tmp_path):
    from PIL import Image

    for cls, size in (("a", 8), ("b", 10)):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.fromarray(np.zeros((size, size), np.uint8)).save(tmp_path / cls / f"{i}.png")
    with pytest.raises(DataError, match="images have different sizes"):
        augment(tmp_path)
    assert augment(tmp_path, method="classic", size=(9, 9)).data.images.shape[1:3] == (9, 9)


def _adultish(n: int = 240) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    y = (rng.random(n) < 0.2).astype(int)
    X = pd.DataFrame({"age": rng.normal(40 + 10 * y, 5).round(), "hours": rng.normal(40, 8),
                      "job": np.where(rng.random(n) < 0.5 + 0.3 * y, "x", "z")})
    return X, y


def test_oversampler_resamples_like_imblearn_and_keeps_types():
    X, y = _adultish()
    Xr, yr = GenerativeOversampler("gaussian", seed=0).fit_resample(X, y)
    assert list(Xr.columns) == list(X.columns) and Xr["job"].dtype == X["job"].dtype
    assert np.bincount(yr).tolist() == [np.bincount(y).max()] * 2
    assert Xr.iloc[: len(X)].reset_index(drop=True).equals(X)
    Xh, yh = GenerativeOversampler("gaussian", sampling_strategy={1: 100}, seed=0).fit_resample(
        X, y)
    assert (yh == 1).sum() == 100
    a = GenerativeOversampler("gaussian", seed=5).fit_resample(X, y)[0]
    assert a.equals(GenerativeOversampler("gaussian", seed=5).fit_resample(X, y)[0])


from sklearn.base import BaseEstimator, ClassifierMixin  # noqa: E402


class _Recorder(ClassifierMixin, BaseEstimator):
    """A classifier that records what it is fitted on and asked to predict."""

    fits: list[int] = []
    predicted: list[pd.DataFrame] = []

    def fit(self, X, y):
        _Recorder.fits.append(len(X))
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        _Recorder.predicted.append(X)
        return np.zeros(len(X), int)


def test_pipeline_cross_validation_never_scores_synthetic_rows():
    from imblearn.pipeline import Pipeline
    from sklearn.model_selection import KFold, cross_val_score

    X, y = _adultish(240)
    _Recorder.fits, _Recorder.predicted = [], []
    pipe = Pipeline([("over", GenerativeOversampler("gaussian", seed=0)), ("clf", _Recorder())])
    cross_val_score(pipe, X, y, cv=KFold(3), scoring="accuracy", error_score="raise")
    assert len(_Recorder.fits) == 3 and len(_Recorder.predicted) == 3
    assert all(n > 160 for n in _Recorder.fits)  # the training part grew
    real = set(map(tuple, X.itertuples(index=False)))
    for part in _Recorder.predicted:
        assert len(part) == 80  # the validation fold, untouched
        assert set(map(tuple, part.itertuples(index=False))) <= real
