"""Maths of the copula's building blocks: piecewise marginals (with their tails beyond the
data) and GHK rectangle probabilities (in log space)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

import genlab
from genlab.data.columns import ColumnSpec
from genlab.models.table._marginal import (
    PiecewiseMarginal,
    fit_adaptive,
    fit_empirical,
    fit_parametric,
    smooth_marginal,
    strict_support,
)
from genlab.models.table._rectangle import log_interval, log_rectangle_prob, sample_truncated
from genlab.models.table.bayesnet import binned_marginal, quantile_edges


def total_mass(m: PiecewiseMarginal) -> float:
    """Integral of exp(logpdf) over R: the linear segments exactly (constant density), the
    exponential tails by adaptive quadrature to +-infinity."""
    xs = m.xs
    inner = np.sum(np.exp(m.logpdf((xs[1:-2] + xs[2:-1]) / 2)) * np.diff(xs[1:-1]))

    # each tail in units of its segment's width, so quadrature sees scale 1 however narrow
    s_lo, s_hi = xs[1] - xs[0], xs[-1] - xs[-2]

    def f(x: float) -> float:
        return float(np.exp(m.logpdf(np.array([x])))[0])

    left = integrate.quad(lambda t: f(xs[1] - t * s_lo) * s_lo, 0, np.inf, epsabs=1e-10)[0]
    right = integrate.quad(lambda t: f(xs[-2] + t * s_hi) * s_hi, 0, np.inf, epsabs=1e-10)[0]
    return float(inner + left + right)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(-50, 50), min_size=2, max_size=60),
    st.booleans(),
)
def test_empirical_marginal_is_a_distribution(values, integer):
    v = np.asarray(values, dtype=float) / (1 if integer else 7)
    m = fit_empirical(v, integer=integer, decimals=None if integer else 6)
    # by default: tails beyond the outer knots, the density still integrates to 1
    assert 0 < m.cdf(np.array([m.xs[0]]))[0] < m.cdf(np.array([m.xs[1]]))[0]
    assert total_mass(m) == pytest.approx(1.0, abs=1e-7)
    u = np.linspace(0, 1, 101)
    x = m.ppf(u)
    assert np.all(np.diff(x) >= 0) and x[0] >= m.lo - 1e-12 and x[-1] <= m.hi + 1e-12
    assert np.all(np.isfinite(m.logpdf(v)))
    # strict: the bounded support, CDF 0 -> 1 on the knots, density its slope
    with strict_support():
        assert m.cdf(np.array([m.xs[0]]))[0] == 0 and m.cdf(np.array([m.xs[-1]]))[0] == 1
        mids = (m.xs[:-1] + m.xs[1:]) / 2
        mass = np.sum(np.exp(m.logpdf(mids)) * np.diff(m.xs))
        assert mass == pytest.approx(1.0, abs=1e-9)
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
    assert got[0] == pytest.approx(expected, rel=1e-7)
    assert got[1] == pytest.approx(stats.norm(0, np.sqrt(2)).sf(1.0), rel=1e-7)


def test_truncated_sampling_respects_bounds_and_correlation():
    cov = np.array([[1.0, 0.8], [0.8, 1.0]])
    lower, upper = np.array([0.0, -np.inf]), np.array([np.inf, 0.5])
    z = sample_truncated(lower, upper, cov, 4000, np.random.default_rng(4))
    assert np.all(z[:, 0] >= 0) and np.all(z[:, 1] <= 0.5)
    # compare the mean with rejection sampling from the same truncated normal
    ref = np.random.default_rng(5).multivariate_normal([0, 0], cov, 200_000)
    ref = ref[(ref[:, 0] >= 0) & (ref[:, 1] <= 0.5)]
    np.testing.assert_allclose(z.mean(axis=0), ref.mean(axis=0), atol=0.05)


_rng = np.random.default_rng(11)
_SPIKY = np.r_[np.zeros(300), _rng.gamma(2.0, 50.0, 200).round()]
_CONT = _rng.normal(3.0, 2.0, 400).round(3)


def _marginal_of(kind: str) -> PiecewiseMarginal:
    if kind == "empirical-integer":
        return fit_empirical(_SPIKY, integer=True)
    if kind == "empirical-continuous":
        return fit_empirical(_CONT, decimals=3)
    if kind == "smooth":
        return smooth_marginal(_CONT, resolution=0.001)
    if kind == "parametric":
        return fit_parametric(_CONT, decimals=3)[0]
    if kind == "adaptive":
        return fit_adaptive(_CONT, ColumnSpec("a", "continuous", "float64", decimals=3))[0]
    return binned_marginal(_SPIKY, quantile_edges(_SPIKY, 8), integer=True, decimals=None)


MARGINALS = ["empirical-integer", "empirical-continuous", "smooth", "parametric", "adaptive",
             "binned"]


@pytest.mark.parametrize("kind", MARGINALS)
def test_tails_keep_the_mass_at_one_and_fall_with_distance(kind):
    m = _marginal_of(kind)
    assert total_mass(m) == pytest.approx(1.0, abs=1e-6)
    with strict_support():
        strict_beyond = m.cdf(np.array([m.xs[1]]))[0], 1 - m.cdf(np.array([m.xs[-2]]))[0]
    # the tails hold exactly the mass the bounded marginal had beyond its inner knots
    assert m.cdf(np.array([m.xs[1]]))[0] == pytest.approx(strict_beyond[0], rel=1e-7)
    assert 1 - m.cdf(np.array([m.xs[-2]]))[0] == pytest.approx(strict_beyond[1], rel=1e-7)
    span = m.xs[-1] - m.xs[0]
    below = m.xs[0] - span * np.array([0.0, 1.0, 10.0, 100.0])
    above = m.xs[-1] + span * np.array([0.0, 1.0, 10.0, 100.0])
    for far in (below, above):
        lp = m.logpdf(far)
        assert np.all(np.isfinite(lp)) and np.all(np.diff(lp) < 0)
    with strict_support():
        assert np.all(m.logpdf(below[1:]) == -np.inf) and np.all(m.logpdf(above[1:]) == -np.inf)


@pytest.mark.parametrize("kind", MARGINALS)
def test_tails_are_continuous_and_cdf_matches_density(kind):
    m = _marginal_of(kind)
    for knot in (m.xs[1], m.xs[-2]):
        eps = 1e-9 * max(1.0, abs(knot))
        near = m.cdf(np.array([knot - eps, knot, knot + eps]))
        assert np.ptp(near) < 1e-6
    # F(b) - F(a) equals the integral of the density in the left tail
    a, b = m.xs[0] - 3 * (m.xs[1] - m.xs[0]), m.xs[1]
    num = integrate.quad(lambda x: float(np.exp(m.logpdf(np.array([x])))[0]), a, b)[0]
    assert np.diff(m.cdf(np.array([a, b])))[0] == pytest.approx(num, rel=1e-6)
    u = np.linspace(0, 1, 257)
    x = m.ppf(u)
    assert np.all(np.diff(x) >= -1e-12) and x.min() >= m.lo and x.max() <= m.hi


def test_log_interval_is_accurate_far_in_both_tails():
    a = np.array([30.0, -31.0, -0.5, 50.0, 2.0])
    b = np.array([31.0, -30.0, 0.5, np.inf, 2.0])
    got = log_interval(a, b)[0]
    assert got[0] == pytest.approx(stats.norm.logsf(30.0), rel=1e-7)
    assert got[1] == pytest.approx(stats.norm.logcdf(-30.0), rel=1e-7)
    assert got[2] == pytest.approx(np.log(stats.norm.cdf(0.5) - stats.norm.cdf(-0.5)), rel=1e-7)
    assert got[3] == pytest.approx(stats.norm.logsf(50.0), rel=1e-7)
    assert got[4] == -np.inf  # an empty interval is a true zero


def test_rectangle_probability_far_from_the_mean_stays_finite():
    # 1-D: the interval lies 40 standard deviations above the mean; Phi(b) - Phi(a) == 0
    one = log_rectangle_prob(np.array([[40.0]]), np.array([[np.inf]]), np.zeros((1, 1)),
                             np.eye(1))
    assert one[0] == pytest.approx(stats.norm.logsf(40.0), rel=1e-7)
    # 2-D (GHK): independent dims, so the answer is the product of the two tails
    cov = np.eye(2)
    got = log_rectangle_prob(np.array([[20.0, -np.inf]]), np.array([[np.inf, -25.0]]),
                             np.zeros((1, 2)), cov)
    assert got[0] == pytest.approx(stats.norm.logsf(20.0) + stats.norm.logcdf(-25.0), rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 400), min_size=5, max_size=200), st.sampled_from([0.1, 0.01, 0.3]))
def test_no_flat_segment_scores_a_finite_value_minus_inf(codes, step):
    """Values on a decimal grid make atoms whose ends differ by round-off; the segment
    between must not read as zero density (a held-out mid-point scored -inf)."""
    v = np.asarray(codes, dtype=np.float64) * step
    probes = np.r_[v, (v[:-1] + v[1:]) / 2, np.unique(v)[:-1] + step / 2]
    for m in (fit_empirical(v), binned_marginal(v, quantile_edges(v, 8), integer=False,
                                                 decimals=None)):
        assert np.all(np.diff(m.cdf_knots) > 0)
        assert np.isfinite(m.logpdf(probes)).all()
        with strict_support():
            assert np.isfinite(m.logpdf(probes)).all()


def test_tail_scale_follows_the_spread_not_the_range():
    """Beyond the data, the log-density falls by one nat per 0.3 interquartile ranges (not
    per data range): a value far outside scores much lower than one just outside."""
    rng = np.random.default_rng(0)
    v = np.r_[rng.normal(0, 1, 2000), 40.0]  # one far outlier widens the range, not the IQR
    m = fit_empirical(v)
    iqr = np.subtract(*np.quantile(v, [0.75, 0.25]))
    b = m.xs[-2]
    drop = m.logpdf(np.array([b + 1.0]))[0] - m.logpdf(np.array([b + 2.0]))[0]
    assert drop == pytest.approx(1.0 / (0.3 * iqr), rel=0.05)
