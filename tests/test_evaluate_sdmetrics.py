"""The fidelity scores that mirror SDMetrics agree with SDMetrics' QualityReport (bench set)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genlab.evaluate._common import column_kinds
from genlab.evaluate.fidelity import fidelity_scores

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TOLERANCE = 0.01


def _quality_report(real: pd.DataFrame, synth: pd.DataFrame, kinds: dict[str, str],
                    all_pairs: bool = False):
    pytest.importorskip("sdmetrics", reason="sdmetrics is not installed (the bench extra)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the single-table report is deprecated, not changed
        from sdmetrics.reports.single_table import QualityReport

        report = QualityReport()
        if all_pairs:
            report.real_correlation_threshold = 0
            report.real_association_threshold = 0
        metadata = {"columns": {c: {"sdtype": k} for c, k in kinds.items()}}
        report.generate(real, synth, metadata, verbose=False)
    return report


def _adult() -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = DATA / "adult"
    if not (folder / "adult.csv").exists():
        pytest.skip(f"real dataset {folder} is not present (it lives in ../shared/data)")
    read = {"skipinitialspace": True}
    return pd.read_csv(folder / "adult.csv", **read), pd.read_csv(folder / "adult_test.csv", **read)


def _small(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 600
    x = rng.normal(size=n)
    df = pd.DataFrame({
        "x": x,
        "y": 2 * x + rng.normal(scale=0.5, size=n),
        "k": rng.poisson(3, n),
        "g": np.where(x > 0.3, "hi", np.where(x < -0.3, "lo", "mid")),
        "c": rng.choice(["u", "v", "w"], n),
    })
    df.loc[rng.random(n) < 0.1, "y"] = np.nan
    df.loc[rng.random(n) < 0.1, "c"] = None
    return df


def _pair(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    if name == "small-vs-resample":
        return _small(0), _small(1)
    train, test = _adult()
    if name == "adult-vs-copula":
        import genlab

        return train, genlab.GaussianCopula(seed=0).fit(train).sample(len(train), seed=0)
    if name == "adult-vs-holdout":
        return train, test
    rng = np.random.default_rng(0)
    shuffled = pd.DataFrame({c: train[c].to_numpy()[rng.permutation(len(train))] for c in train})
    return train, shuffled


@pytest.mark.bench
@pytest.mark.parametrize(
    "name", ["adult-vs-copula", "adult-vs-holdout", "adult-vs-shuffled", "small-vs-resample"]
)
def test_scores_agree_with_sdmetrics(name: str) -> None:
    pytest.importorskip("sdmetrics", reason="sdmetrics is not installed (the bench extra)")
    real, synth = _pair(name)
    kinds = column_kinds(real)
    ours, _ = fidelity_scores(real, synth, kinds, detect=False)
    report = _quality_report(real, synth, kinds)
    props = report.get_properties().set_index("Property")["Score"]
    assert abs(ours["column_shapes"] - props["Column Shapes"]) < TOLERANCE
    assert abs(ours["column_pair_trends_sdmetrics"] - props["Column Pair Trends"]) < TOLERANCE
    assert abs(ours["quality_sdmetrics"] - report.get_score()) < TOLERANCE
    for _, row in report.get_details("Column Shapes").iterrows():
        assert abs(ours["columns"][row["Column"]]["shape"] - row["Score"]) < TOLERANCE
    pairs = {tuple(p["columns"]): p for p in ours["pairs"]}
    details = report.get_details("Column Pair Trends")
    assert len(details) == len(pairs)
    for _, row in details.iterrows():
        p = pairs[(row["Column 1"], row["Column 2"])]
        assert p["meets_threshold"] == bool(row["Meets Threshold?"]), row.to_dict()
        if p["meets_threshold"]:
            assert abs(p["score"] - row["Score"]) < TOLERANCE, row.to_dict()
    # The all-pairs figure: SDMetrics' report with its thresholds switched off.
    everything = _quality_report(real, synth, kinds, all_pairs=True)
    all_pairs = everything.get_properties().set_index("Property")["Score"]["Column Pair Trends"]
    assert abs(ours["column_pair_trends"] - all_pairs) < TOLERANCE
