"""Maths of the copula's building blocks: piecewise marginals and GHK rectangle probabilities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import genlab
from genlab.models.table._marginal import fit_empirical, fit_parametric
from genlab.models.table._rectangle import log_rectangle_prob, sample_truncated


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(-50, 50), min_size=2, max_size=60),
    st.booleans(),
)
def test_empirical_marginal_is_a_distribution(values, integer):
    v = np.asarray(values, dtype=float) / (1 if integer else 7)
    m = fit_empirical(v, integer=integer, decimals=None if integer else 6)
    # CDF runs 0 -> 1, density is its slope, ppf inverts cdf on the sampling range
    assert m.cdf(np.array([m.xs[0]]))[0] == 0 and m.cdf(np.array([m.xs[-1]]))[0] == 1
    mids = (m.xs[:-1] + m.xs[1:]) / 2
    mass = np.sum(np.exp(m.logpdf(mids)) * np.diff(m.xs))
    assert mass == pytest.approx(1.0, abs=1e-9)
    u = np.linspace(0, 1, 101)
    x = m.ppf(u)
    assert np.all(np.diff(x) >= 0) and x[0] >= m.lo - 1e-12 and x[-1] <= m.hi + 1e-12
    assert np.all(np.isfinite(m.logpdf(v)))


def test_empirical_marginal_keeps_spikes():
    # no value is seen once, so almost no mass goes to unseen values and the spike stays
    v = np.r_[np.zeros(900), np.repeat(np.arange(1, 51) * 37.0, 2)]
    m = fit_empirical(v, integer=True)
    draws = np.round(m.ppf(np.random.default_rng(0).random(20_000)))
    assert abs(np.mean(draws == 0) - 0.9) < 0.01


def test_parametric_marginal_picks_normal_for_normal_data():
    v = np.random.default_rng(1).normal(5.0, 2.0, 4000)
    m, family = fit_parametric(v)
    assert family in ("norm", "truncnorm")
    grid = np.linspace(0, 10, 11)
    np.testing.assert_allclose(np.exp(m.logpdf(grid)), stats.norm(5, 2).pdf(grid), rtol=0.1)


def test_parametric_copula_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"a": rng.gamma(2.0, 3.0, 500), "b": rng.choice(["x", "y"], 500)})
    m = genlab.GaussianCopula(marginals="parametric", seed=0).fit(df)
    assert m.marginal_families_["a"] in ("gamma", "lognorm", "truncnorm", "beta")
    loaded = genlab.load(m.save(tmp_path / "p.genlab"))
    np.testing.assert_array_equal(loaded.log_prob(df), m.log_prob(df))
    assert loaded.marginal_families_ == m.marginal_families_


def test_rectangle_probability_matches_scipy():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4, 4))
    cov = a @ a.T + 4 * np.eye(4)
    lower = np.array([[-1.0, -0.5, -np.inf, 0.0]])
    upper = np.array([[1.0, 2.0, 0.5, np.inf]])
    mean = np.array([[0.2, -0.1, 0.0, 0.3]])
    expected = stats.multivariate_normal(mean[0], cov).cdf(upper[0], lower_limit=lower[0])
    got = np.exp(log_rectangle_prob(lower, upper, mean, cov, n_points=4096))
    assert got[0] == pytest.approx(expected, rel=5e-3)


def test_rectangle_probability_exact_in_one_dimension():
    lower, upper = np.array([[-0.3], [1.0]]), np.array([[0.7], [np.inf]])
    mean, cov = np.array([[0.1], [0.0]]), np.array([[2.0]])
    expected = stats.norm(0.1, np.sqrt(2)).cdf(0.7) - stats.norm(0.1, np.sqrt(2)).cdf(-0.3)
    got = np.exp(log_rectangle_prob(lower, upper, mean, cov))
    assert got[0] == pytest.approx(expected, rel=1e-12)
    assert got[1] == pytest.approx(stats.norm(0, np.sqrt(2)).sf(1.0), rel=1e-12)


def test_truncated_sampling_respects_bounds_and_correlation():
    cov = np.array([[1.0, 0.8], [0.8, 1.0]])
    lower, upper = np.array([0.0, -np.inf]), np.array([np.inf, 0.5])
    z = sample_truncated(lower, upper, cov, 4000, np.random.default_rng(4))
    assert np.all(z[:, 0] >= 0) and np.all(z[:, 1] <= 0.5)
    # compare the mean with rejection sampling from the same truncated normal
    ref = np.random.default_rng(5).multivariate_normal([0, 0], cov, 200_000)
    ref = ref[(ref[:, 0] >= 0) & (ref[:, 1] <= 0.5)]
    np.testing.assert_allclose(z.mean(axis=0), ref.mean(axis=0), atol=0.05)
