"""Streamed fits of the classical families equal the in-memory fits (genlab.stream.fit):
bayesnet identical, copula identical marginals with the correlation within the jitter
noise, mixture EM equal to the in-memory EM from the same start; bad input in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import genlab
from genlab.errors import ParameterError
from genlab.stream.fit import fit_streaming


def _parts(df: pd.DataFrame, folder: Path, size: int) -> Path:
    folder.mkdir()
    for k, start in enumerate(range(0, len(df), size)):
        df.iloc[start:start + size].to_parquet(folder / f"part-{k:05d}.parquet", index=False)
    return folder


@pytest.fixture
def table(mixed_df: pd.DataFrame, tmp_path: Path) -> tuple[pd.DataFrame, Path]:
    rng = np.random.default_rng(2)
    n = len(mixed_df)
    df = mixed_df.assign(gain=np.where(rng.random(n) < 0.7, 0, rng.integers(1, 9, n) * 100),
                         level=rng.integers(0, 4, n))
    folder = _parts(df, tmp_path / "d", 70)
    return pd.read_parquet(folder), folder


def _big(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    group = rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1])
    shift = pd.Series(group).map({"a": 0.0, "b": 1.0, "c": -1.0, "d": 2.0}).to_numpy()
    x = rng.normal(shift, 1.0)
    df = pd.DataFrame({"x": x.round(2), "y": (0.6 * x + rng.normal(0, 0.8, n)).round(1),
                       "age": rng.integers(18, 80, n), "group": group,
                       "flag": np.where(rng.random(n) < 0.3 + 0.1 * shift, "yes", "no")})
    df.loc[rng.random(n) < 0.05, "y"] = np.nan
    return df


@pytest.mark.parametrize(("structure", "batch_rows"), [("hillclimb", 31), ("chowliu", 500)])
def test_bayesnet_identical(table, structure: str, batch_rows: int) -> None:
    df, folder = table
    mem = genlab.fit(df, "bayesnet", seed=0, structure=structure)
    got = fit_streaming(folder, "bayesnet", seed=0, structure=structure, batch_rows=batch_rows)
    assert got.parents_ == mem.parents_ and got.bic_ == mem.bic_
    assert got.fingerprint_ == mem.fingerprint_ and got.n_rows_ == mem.n_rows_
    np.testing.assert_array_equal(got.missing_rate_, mem.missing_rate_)
    for a, b in zip(got.edges_, mem.edges_, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(got.marginals_, mem.marginals_, strict=True):
        np.testing.assert_array_equal(a.xs, b.xs)
        np.testing.assert_array_equal(a.cdf_knots, b.cdf_knots)
    for a, b in zip(got.cpts_, mem.cpts_, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got.log_prob(df), mem.log_prob(df))
    pd.testing.assert_frame_equal(got.sample(50, seed=1), mem.sample(50, seed=1))


def test_bayesnet_identical_on_adult(tmp_path: Path) -> None:
    from genlab.datasets import load_adult_sample

    df = load_adult_sample("all").head(4000)
    folder = _parts(df, tmp_path / "a", 900)
    df = pd.read_parquet(folder)
    mem = genlab.fit(df, "bayesnet", seed=0)
    got = fit_streaming(folder, "bayesnet", seed=0, batch_rows=1000)
    assert got.parents_ == mem.parents_
    for a, b in zip(got.cpts_, mem.cpts_, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got.log_prob(df), mem.log_prob(df))


def test_copula_marginals_identical_correlation_close(tmp_path: Path) -> None:
    df = _big(20_000)
    folder = _parts(df, tmp_path / "c", 6000)
    df = pd.read_parquet(folder)
    mem = genlab.fit(df, "copula", seed=0)
    got = fit_streaming(folder, "copula", seed=0, batch_rows=2500)
    for a, b in zip(got.marginals_, mem.marginals_, strict=True):
        np.testing.assert_array_equal(a.xs, b.xs)
        np.testing.assert_array_equal(a.cdf_knots, b.cdf_knots)
    for a, b in zip(got.cat_probs_, mem.cat_probs_, strict=True):
        np.testing.assert_array_equal(a, b)
    # value orders equal, or reversed with the column's correlations negated: the same
    # model (the leading axis's sign, genlab.stream._copula)
    sign = np.ones(got.correlation_.shape[0])
    for j, (a, b) in enumerate(zip(got.cat_orders_, mem.cat_orders_, strict=True)):
        reversed_ = np.array_equal(a, b[::-1]) and not np.array_equal(a, b)
        assert reversed_ or np.array_equal(a, b)
        sign[len(got.marginals_) + j] = -1.0 if reversed_ else 1.0
    tol = 4 / np.sqrt(len(df))  # the jitter's sampling noise (genlab.stream._copula)
    np.testing.assert_allclose(got.correlation_ * np.outer(sign, sign), mem.correlation_,
                               atol=tol)
    assert abs(got.log_prob(df).mean() - mem.log_prob(df).mean()) < 0.01
    again = fit_streaming(folder, "copula", seed=0, batch_rows=2500)
    np.testing.assert_array_equal(again.correlation_, got.correlation_)  # same seed, same fit


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_mixture_em_equals_in_memory_from_same_start(tmp_path: Path, monkeypatch,
                                                     covariance: str) -> None:
    import genlab.models.table.mixture as mixture_module
    from genlab.stream.plan import fit_plan, run_plan
    from genlab.stream.source import iter_batches

    df = _big(1500)
    folder = _parts(df, tmp_path / "m", 400)
    df = pd.read_parquet(folder)
    params = {"n_components": 3, "transform": "standardise", "covariance": covariance,
              "max_iter": 40}
    plan = fit_plan("mixture", seed=0, **params)
    got = run_plan(plan, lambda cols: iter_batches(folder, 170, cols))
    start = plan.start_

    class SameStart:  # the in-memory EM from the streamed fit's k-means start
        def __init__(self, **_: object) -> None:
            pass

        def fit_predict(self, features: np.ndarray) -> np.ndarray:
            return start.predict(features)

    monkeypatch.setattr(mixture_module, "KMeans", SameStart)
    mem = genlab.fit(df, "mixture", seed=0, **params)
    assert len(got.em_history_) == len(mem.em_history_) > 2
    np.testing.assert_allclose([h["log_likelihood"] for h in got.em_history_],
                               [h["log_likelihood"] for h in mem.em_history_], rtol=1e-8)
    a, b = got.mixture_, mem.mixture_
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-8)
    np.testing.assert_allclose(a.means, b.means, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(a.covs, b.covs, rtol=1e-8, atol=1e-10)
    for p, q in zip(a.cat_probs, b.cat_probs, strict=True):
        np.testing.assert_allclose(p, q, rtol=1e-8)
    np.testing.assert_allclose(got.log_prob(df), mem.log_prob(df), rtol=1e-8)
    assert got.history_[0]["n_components"] == 3


def test_mixture_normal_scores_marginals_identical(tmp_path: Path) -> None:
    df = _big(1200)
    folder = _parts(df, tmp_path / "n", 500)
    df = pd.read_parquet(folder)
    got = fit_streaming(folder, "mixture", seed=0, n_components=2, max_iter=15)
    mem = genlab.fit(df, "mixture", seed=0, n_components=2, max_iter=15)
    for a, b in zip(got.latent_.marginals, mem.latent_.marginals, strict=True):
        np.testing.assert_array_equal(a.cdf_knots, b.cdf_knots)
    assert np.isfinite(got.log_prob(df)).all()
    assert abs(got.log_prob(df).mean() - mem.log_prob(df).mean()) < 0.2


def test_bad_family_parameters(table) -> None:
    _, folder = table
    with pytest.raises(ParameterError, match="streamed copula fits marginals='empirical'"):
        fit_streaming(folder, "copula", marginals="parametric")
    with pytest.raises(ParameterError, match="streamed mixture needs n_components"):
        fit_streaming(folder, "mixture")
