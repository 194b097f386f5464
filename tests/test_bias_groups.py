"""The bias report shows every group: small ones with 95% intervals on their target rate,
judged "too small to judge" unless the real and synthetic intervals are apart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genlab.evaluate.bias import MIN_GROUP_ROWS, TOO_SMALL, bias_scores
from tests.conftest import real_data


def _rows(group: str, n: int, positives: int) -> pd.DataFrame:
    return pd.DataFrame({"g": [group] * n, "y": ["yes"] * positives + ["no"] * (n - positives)})


def _scores(real: pd.DataFrame, synth: pd.DataFrame) -> dict:
    return bias_scores(real, synth, ["g"], {"g": "categorical", "y": "categorical"},
                       target="y", task="classification", positive="yes")


def _tables(small_real: tuple[int, int], small_synth: tuple[int, int]) -> tuple:
    big = [("A", 1000, 300), ("B", 800, 240)]
    real = pd.concat([_rows(g, n, k) for g, n, k in big] + [_rows("Other", *small_real)])
    synth = pd.concat([_rows(g, n, k) for g, n, k in big] + [_rows("Other", *small_synth)])
    return real.reset_index(drop=True), synth.reset_index(drop=True)


def test_small_group_with_a_mild_shift_is_shown_and_too_small_to_judge():
    s = _scores(*_tables((25, 1), (25, 3)))
    other = s["columns"]["g"]["groups"]["Other"]
    assert other["n_real"] == 25 < MIN_GROUP_ROWS and other["small"]
    assert other["rate_real"] == pytest.approx(0.04) and other["rate_synthetic"] == 0.12
    lo, hi = other["rate_ci_real"]
    assert 0.0 < lo < 0.04 < hi < 0.25  # Wilson's interval for 1 in 25: about 0.007-0.195
    assert other["judgement"] == TOO_SMALL and s["flags"] == [] and s["verdict"] == "no flags"
    assert s["too_small"] == ["g: Other"] and "too small to judge" in s["meaning"]
    assert s["columns"]["g"]["groups"]["A"]["judgement"] == "ok"


def test_small_group_whose_intervals_are_apart_is_flagged():
    s = _scores(*_tables((25, 1), (25, 15)))
    other = s["columns"]["g"]["groups"]["Other"]
    assert other["rate_ci_real"][1] < other["rate_ci_synthetic"][0]
    assert other["judgement"] == "flagged"
    assert any("'Other'" in f and "small group" in f and "do not overlap" in f
               for f in s["flags"])


def test_small_group_missing_from_synthetic_data_is_flagged_when_clear():
    real, synth = _tables((25, 1), (25, 1))
    s = _scores(real, synth[synth["g"] != "Other"])
    other = s["columns"]["g"]["groups"]["Other"]
    assert other["n_synthetic"] == 0 and other["rate_synthetic"] is None
    assert other["judgement"] == "flagged" and any("absent" in f for f in s["flags"])


def test_large_groups_keep_their_tolerance_rule():
    s = _scores(*_tables((200, 20), (200, 60)))
    other = s["columns"]["g"]["groups"]["Other"]
    assert not other["small"] and other["judgement"] == "flagged"
    assert any("target rate in group 'Other' is 0.3" in f and "small" not in f
               for f in s["flags"])


def test_regression_target_gets_a_t_interval():
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"g": ["A"] * 200 + ["B"] * 12, "y": rng.normal(size=212)})
    synth = real.copy()
    s = bias_scores(real, synth, ["g"], {"g": "categorical", "y": "continuous"}, target="y",
                    task="regression")
    b = s["columns"]["g"]["groups"]["B"]
    lo, hi = b["rate_ci_real"]
    assert lo < b["rate_real"] < hi and b["judgement"] == TOO_SMALL
    assert b["rate_ci_real"] == b["rate_ci_synthetic"]


def _adult_case(synth_positives: int) -> dict:
    """Adult with race "Other" as small as in the issue: 27 real rows with 1 above 50K
    (0.037) against 41 synthetic rows with `synth_positives` above 50K (8: 0.195)."""
    adult = pd.read_csv(real_data("adult", "adult.csv"))
    rng = np.random.default_rng(0)
    rest = adult[adult["race"] != "Other"]
    other = adult[adult["race"] == "Other"]
    rich, poor = other[other["income"] == ">50K"], other[other["income"] == "<=50K"]

    def pick(frame: pd.DataFrame, n: int) -> pd.DataFrame:
        return frame.iloc[rng.choice(len(frame), n, replace=False)]

    real = pd.concat([pick(rest, 3000), pick(rich, 1), pick(poor, 26)], ignore_index=True)
    synth = pd.concat([pick(rest, 3000), pick(rich, synth_positives),
                       pick(poor, 41 - synth_positives)], ignore_index=True)
    kinds = {"race": "categorical", "income": "categorical"}
    return bias_scores(real, synth, ["race"], kinds, target="income",
                       task="classification", positive=">50K")


def test_adult_race_other_is_shown_not_dropped():
    s = _adult_case(8)
    other = s["columns"]["race"]["groups"]["Other"]
    assert other["rate_real"] == pytest.approx(1 / 27) and other["rate_synthetic"] == \
        pytest.approx(8 / 41)
    # 1 in 27 and 8 in 41 have overlapping 95% intervals: too few rows to call it a shift
    assert other["rate_ci_real"][1] > other["rate_ci_synthetic"][0]
    assert other["judgement"] == TOO_SMALL and "race: Other" in s["too_small"]
    assert "too small to judge" in s["meaning"]


def test_adult_race_other_with_a_gross_shift_is_flagged():
    s = _adult_case(20)  # 20 of 41 above 50K: 0.49 against 0.037
    assert s["columns"]["race"]["groups"]["Other"]["judgement"] == "flagged"
    assert any("'Other'" in f and "do not overlap" in f for f in s["flags"])


def test_report_renders_intervals_and_judgements():
    from genlab.report.evaluation import _bias

    s = _scores(*_tables((25, 1), (25, 3)))
    page = _bias({"bias": s})
    assert "Rate (real) [95% CI]" in page and TOO_SMALL in page and "Other" in page
