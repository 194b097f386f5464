"""One battery over every family: the contract, exactness of log_prob, conditions, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import genlab
from genlab.errors import DataError, NotFittedError, ParameterError, UnsupportedOperation
from genlab.models.table.neural import NeuralModel
from tests.conftest import real_data

FAMILIES = sorted(genlab.families())
# tiny settings so the battery stays fast; neural families train a few dozen epochs on 300 rows
SMALL: dict[str, dict[str, object]] = {"mixture": {"max_components": 3}}
NEURAL_SMALL = {"epochs": 40, "batch_size": 100, "patience": 40}
LIKELIHOOD = [f for f in FAMILIES if genlab.families()[f].supports_log_prob]
EXACT = [f for f in LIKELIHOOD if genlab.families()[f].log_prob_is_exact]


def make(name: str, **kw: object) -> genlab.Model:
    cls = genlab.families()[name]
    small = {**(NEURAL_SMALL if issubclass(cls, NeuralModel) else {}), **SMALL.get(name, {})}
    return cls(**{**small, "seed": 0, **kw})


def needs_log_prob(model: genlab.Model) -> None:
    """Skip likelihood checks for families without one, after checking they say so."""
    if not model.supports_log_prob:
        with pytest.raises(UnsupportedOperation, match="log_prob"):
            model.log_prob(pd.DataFrame())
        pytest.skip(f"{model.family} has no likelihood (checked it raises UnsupportedOperation)")


@pytest.fixture(params=FAMILIES)
def fitted(request: pytest.FixtureRequest, mixed_df: pd.DataFrame) -> genlab.Model:
    return make(request.param).fit(mixed_df, conditions=["group"])


def test_sample_matches_schema(fitted, mixed_df):
    out = fitted.sample(500, seed=1)
    assert list(out.columns) == list(mixed_df.columns)
    assert {c: str(t) for c, t in out.dtypes.items()} == {
        c: str(t) for c, t in mixed_df.dtypes.items()
    }
    assert set(out["group"].dropna()) <= set(mixed_df["group"].dropna())
    assert out["x1"].between(mixed_df["x1"].min(), mixed_df["x1"].max()).all()
    assert out["count"].between(mixed_df["count"].min(), mixed_df["count"].max()).all()
    # missing values at about their real rate (10% city, 5% x2)
    assert abs(out["city"].isna().mean() - mixed_df["city"].isna().mean()) < 0.05
    assert abs(out["x2"].isna().mean() - mixed_df["x2"].isna().mean()) < 0.04
    assert out.attrs["provenance"]["family"] == fitted.family


def test_same_seed_same_sample(fitted):
    pd.testing.assert_frame_equal(fitted.sample(50, seed=7), fitted.sample(50, seed=7))
    assert not fitted.sample(50, seed=7).equals(fitted.sample(50, seed=8))


def test_save_load_identical(fitted, mixed_df, tmp_path):
    path = fitted.save(tmp_path / "m.genlab")
    loaded = genlab.load(path)
    assert type(loaded) is type(fitted) and repr(loaded) == repr(fitted)
    pd.testing.assert_frame_equal(loaded.sample(80, seed=3), fitted.sample(80, seed=3))
    if fitted.supports_log_prob:
        np.testing.assert_array_equal(loaded.log_prob(mixed_df), fitted.log_prob(mixed_df))


def test_log_prob_finite_and_ranks_real_above_shuffled(fitted, mixed_df):
    needs_log_prob(fitted)
    lp = fitted.log_prob(mixed_df)
    assert lp.shape == (len(mixed_df),) and np.isfinite(lp).all()
    rng = np.random.default_rng(0)
    shuffled = mixed_df.apply(lambda s: s.sample(frac=1, random_state=rng).to_numpy())
    assert np.mean(lp) > np.mean(fitted.log_prob(shuffled))


def test_conditional_sampling(fitted, mixed_df):
    out = fitted.sample(400, conditions={"group": "b"}, seed=0)
    assert (out["group"] == "b").all()
    # x1 follows its conditional distribution given group (mean 2 for "b", 0 overall)
    assert out["x1"].mean() > mixed_df["x1"].mean() + 1.0
    rare = fitted.sample(20, conditions={"group": "c", "flag": True}, seed=0)
    assert len(rare) == 20 and (rare["group"] == "c").all() and rare["flag"].all()


@pytest.mark.parametrize(
    ("conditions", "match"),
    [
        ({"nope": "a"}, "unknown column 'nope'"),
        ({"group": "zzz"}, "value 'zzz' was never seen in column 'group'"),
        ({"x1": 1.0}, "cannot condition on column 'x1'"),
    ],
)
def test_bad_conditions(fitted, conditions, match):
    with pytest.raises(DataError, match=match):
        fitted.sample(5, conditions=conditions)


@pytest.mark.parametrize("n", [0, -3, 2.5, "10", True])
def test_bad_n(fitted, n):
    with pytest.raises(ParameterError, match="n must be a positive integer"):
        fitted.sample(n)


def test_score_wrong_columns(fitted, mixed_df):
    needs_log_prob(fitted)
    with pytest.raises(DataError, match=r"missing columns \['city'\]"):
        fitted.log_prob(mixed_df.drop(columns="city"))
    with pytest.raises(DataError, match=r"unexpected columns \['extra'\]"):
        fitted.log_prob(mixed_df.assign(extra=1))


def test_unseen_category_scores_finite_low_and_strict_minus_inf(fitted, mixed_df):
    """An unseen value gets a smoothed, low but finite score by default (the warning names
    the column and value); strict=True gives the exact zero probability."""
    needs_log_prob(fitted)
    df = mixed_df.head(5).copy()
    real = fitted.log_prob(df)
    df.loc[df.index[0], "group"] = "never"
    with pytest.warns(UserWarning, match=r"never seen in training: group='never' \(1 row"):
        lp = fitted.log_prob(df)
    assert np.isfinite(lp).all() and lp[0] < real[0]
    with pytest.warns(UserWarning, match="never seen"):
        assert fitted.log_prob(df, strict=True)[0] == -np.inf


@pytest.mark.parametrize("name", FAMILIES)
def test_not_fitted_and_bad_params(name):
    with pytest.raises(NotFittedError, match="not fitted"):
        make(name).sample(3)
    with pytest.raises(ParameterError, match="seed"):
        make(name, seed=-1).fit(pd.DataFrame({"a": [1.0, 2.0, 3.0]}))


def test_unknown_family_and_param():
    with pytest.raises(ParameterError, match="unknown model 'vea'"):
        genlab.fit(pd.DataFrame({"a": [1.0, 2.0]}), "vea")
    with pytest.raises(ParameterError, match=r"no parameter\(s\) \['epochs'\]"):
        genlab.fit(pd.DataFrame({"a": [1.0, 2.0]}), "gaussian", epochs=3)
    with pytest.raises(ParameterError, match="covariance must be one of"):
        genlab.Gaussian(covariance="spherical").fit(pd.DataFrame({"a": [1.0, 2.0]}))


# -- exactness ------------------------------------------------------------------------------
def test_gaussian_log_prob_matches_scipy():
    rng = np.random.default_rng(1)
    cov = np.array([[2.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 0.5]])
    x = rng.multivariate_normal([1.0, -2.0, 0.5], cov, size=400)
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    m = genlab.Gaussian().fit(df)
    mean, s = x.mean(axis=0), np.cov(x, rowvar=False, bias=True)
    expected = stats.multivariate_normal(mean, s).logpdf(x)
    np.testing.assert_allclose(m.log_prob(df), expected, rtol=1e-6)
    diag = genlab.Gaussian(covariance="diag").fit(df)
    np.testing.assert_allclose(
        diag.log_prob(df), stats.multivariate_normal(mean, np.diag(np.diag(s))).logpdf(x),
        rtol=1e-6,
    )


def test_gaussian_recovers_known_parameters():
    rng = np.random.default_rng(2)
    mean = np.array([10.0, -5.0])
    cov = np.array([[4.0, 1.5], [1.5, 1.0]])
    df = pd.DataFrame(rng.multivariate_normal(mean, cov, size=20_000), columns=["u", "v"])
    m = genlab.Gaussian().fit(df)
    np.testing.assert_allclose(m.mean_, mean, atol=0.05)
    np.testing.assert_allclose(m.covariance_, cov, atol=0.1)
    s = m.sample(20_000, seed=0)
    np.testing.assert_allclose(s.mean().to_numpy(), mean, atol=0.06)


def test_gaussian_marginalises_missing_values():
    rng = np.random.default_rng(3)
    df = pd.DataFrame(rng.normal(size=(200, 2)), columns=["a", "b"])
    df.loc[:19, "b"] = np.nan
    m = genlab.Gaussian().fit(df)
    lp = m.log_prob(df.head(20))
    mu, sd = m.mean_[0], np.sqrt(m.covariance_[0, 0])
    expected = stats.norm(mu, sd).logpdf(df["a"].head(20)) + np.log(0.1)
    np.testing.assert_allclose(lp, expected, rtol=1e-6)


def test_categorical_probabilities_are_exact():
    df = pd.DataFrame({"c": ["a"] * 60 + ["b"] * 30 + ["c"] * 10})
    for name in LIKELIHOOD:
        lp = make(name).fit(df).log_prob(pd.DataFrame({"c": ["a", "b", "c"]}))
        exact = name in ("gaussian", "copula", "bayesnet")
        np.testing.assert_allclose(np.exp(lp), [0.6, 0.3, 0.1], atol=1e-9 if exact else 0.05)


@pytest.mark.parametrize("name", EXACT)
def test_density_integrates_to_one(name):
    rng = np.random.default_rng(4)
    # one decimal: the copula's dequantisation atoms (width 0.1) are wider than the grid step
    df = pd.DataFrame({"x": np.round(np.r_[rng.normal(-2, 0.5, 150), rng.normal(1, 1, 150)], 1)})
    m = make(name).fit(df)
    # far enough out for the exponential tails beyond the data (scale: about one range)
    grid = np.linspace(df["x"].min() - 300, df["x"].max() + 300, 600_001)
    density = np.exp(m.log_prob(pd.DataFrame({"x": grid})))
    assert abs(np.trapezoid(density, grid) - 1.0) < 2e-3


def test_mixture_bic_finds_two_clusters():
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"x": np.r_[rng.normal(-4, 1, 300), rng.normal(4, 1, 300)],
                       "y": np.r_[rng.normal(0, 1, 300), rng.normal(3, 1, 300)]})
    m = genlab.GaussianMixture(transform="standardise", seed=0).fit(df)
    assert m.n_components_ == 2
    np.testing.assert_allclose(np.sort(m.mixture_.weights), [0.5, 0.5], atol=0.02)


def test_copula_single_categorical_log_prob_exact():
    rng = np.random.default_rng(6)
    z = rng.normal(size=500)
    df = pd.DataFrame({"x": np.round(z, 4), "c": np.where(z + rng.normal(0, 0.5, 500) > 0, "hi",
                                                          "lo")})
    m = genlab.GaussianCopula(seed=0).fit(df)
    both = m.log_prob(df)
    x_only = genlab.GaussianCopula(seed=0).fit(df[["x"]]).log_prob(df[["x"]])
    # p(x, c) = p(x) P(c | x): summing P(c | x) over both values of c gives 1
    other = df.assign(c=np.where(df["c"] == "hi", "lo", "hi"))
    total = np.exp(both - x_only) + np.exp(m.log_prob(other) - x_only)
    np.testing.assert_allclose(total, 1.0, atol=1e-9)


@pytest.mark.slow
def test_adult_conditional_income_share():
    path = real_data("adult", "adult.csv")
    df = pd.read_csv(path)
    real_share = (df.loc[df["sex"] == "Female", "income"] == ">50K").mean()
    for name in ("gaussian", "copula"):
        m = make(name).fit(df)
        out = m.sample(2000, conditions={"sex": "Female"}, seed=0)
        assert (out["sex"] == "Female").all()
        if name == "copula":
            assert abs((out["income"] == ">50K").mean() - real_share) < 0.04
        lp = m.log_prob(real_data("adult", "adult_test.csv"))
        assert np.isfinite(lp).all()
