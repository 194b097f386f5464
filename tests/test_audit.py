"""The empirical privacy audit: its epsilon lower bound, on private and plain models."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import genlab
from genlab.cli import app
from genlab.errors import DataError, ParameterError
from genlab.privacy import audit
from genlab.privacy.auditing import epsilon_lower_bound

runner = CliRunner()


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.choice(["x", "y", "z"], n)
    return pd.DataFrame({"a": a, "b": np.where(rng.random(n) < 0.8, a, "w"),
                         "n": np.round(rng.gamma(2.0, 10.0, n), 2)})


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _table(3000, 0), _table(1000, 1)


def test_bound_is_zero_for_identical_attack_scores() -> None:
    rng = np.random.default_rng(0)
    s = rng.normal(size=4000)
    assert epsilon_lower_bound(s[:2000], s[2000:], 1e-6, rng) < 0.2


def test_bound_grows_with_separation_and_stays_below_the_counting_limit() -> None:
    rng = np.random.default_rng(0)
    weak = epsilon_lower_bound(rng.normal(0.5, 1, 1000), rng.normal(0, 1, 1000), 1e-6, rng)
    strong = epsilon_lower_bound(rng.normal(5, 1, 1000), rng.normal(0, 1, 1000), 1e-6, rng)
    assert 0 <= weak < strong
    # 500 rows per side in the evaluated half: FPR_high >= 1 - 0.025^(1/500)
    assert strong <= -math.log(1 - 0.025 ** (1 / 500))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_bound_is_finite_and_non_negative(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=rng.integers(2, 60)), rng.normal(size=rng.integers(2, 60))
    eps = epsilon_lower_bound(a, b, 1e-6, rng)
    assert math.isfinite(eps) and eps >= 0


def test_private_model_never_shows_more_than_its_epsilon(split: tuple) -> None:
    train, test = split
    m = genlab.fit(train, "bayesnet", seed=0, epsilon=0.5,
                   categories={"a": ["x", "y", "z"], "b": ["x", "y", "z", "w"]})
    r = audit(m, train, test, canaries=40, seed=0)
    assert r.claimed_epsilon == pytest.approx(0.5)
    assert r.empirical_epsilon <= r.claimed_epsilon
    assert r.membership_auc < 0.56 and r.canary_auc is not None


def test_plain_model_leaks_canaries_more_than_a_private_one(split: tuple) -> None:
    train, test = split
    plain = audit(genlab.fit(train, "bayesnet", seed=0), train, test, canaries=40, seed=0)
    private = audit(genlab.fit(train, "bayesnet", seed=0, epsilon=0.5,
                               categories={"a": ["x", "y", "z"], "b": ["x", "y", "z", "w"]}),
                    train, test, canaries=40, seed=0)
    assert plain.claimed_epsilon is None
    assert plain.canary_auc > private.canary_auc + 0.1
    assert "vs claimed none" in plain.lines()[-1]


def test_bad_audit_input(split: tuple) -> None:
    train, test = split
    m = genlab.fit(train, "copula", seed=0)
    with pytest.raises(ParameterError, match="canaries must be an integer"):
        audit(m, train, test, canaries=-1)
    with pytest.raises(DataError, match="different columns"):
        audit(m, train, test.drop(columns="n"))


def test_cli_audit(split: tuple, tmp_path: Path) -> None:
    train, test = split
    paths = {k: tmp_path / f"{k}.csv" for k in ("train", "test")}
    train.to_csv(paths["train"], index=False)
    test.to_csv(paths["test"], index=False)
    model = tmp_path / "m.genlab"
    genlab.fit(train, "copula", seed=0, epsilon=1.0,
               categories={"a": ["x", "y", "z"], "b": ["x", "y", "z", "w"]}).save(model)
    out = tmp_path / "audit.json"
    result = runner.invoke(app, ["audit", str(model), "--train", str(paths["train"]),
                                 "--test", str(paths["test"]), "--canaries", "10",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "empirical epsilon lower bound" in result.output and "vs claimed 1" in result.output
    saved = json.loads(out.read_text())
    assert saved["empirical_epsilon"] <= saved["claimed_epsilon"]
    bad = runner.invoke(app, ["audit", str(model), "--train", str(paths["train"]),
                              "--test", str(tmp_path / "missing.csv")])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
