"""Scores and log-likelihoods are finite and graded by default (issue 13, item 1).

Values beyond the training range fall in the marginals' tails, never-seen categories get a
smoothed probability (with a one-line warning naming rows, columns and values), the copula's
categorical factor is computed in log space, and `strict=True` gives the exact zeros back.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score

import genlab
from genlab.anomaly import AnomalyDetector
from genlab.errors import ParameterError
from genlab.models import registry
from genlab.models.table.neural import NeuralModel

pytestmark = pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")

_rng = np.random.default_rng(0)
_N = 200
_a = _rng.normal(size=_N)
TABLE = pd.DataFrame({
    "a": _a.round(3),
    "b": (2 * _a + _rng.normal(size=_N)).round(2),
    "n": _rng.poisson(4, _N),
    "g": np.where(_a > 0, "hi", _rng.choice(["lo", "mid"], _N)),
    "h": _rng.choice(["p", "q", "r"], _N),
})
# tiny settings (as tests/test_contract.py): the point is finiteness, not quality
TINY = {"epochs": 3, "batch_size": 64, "device": "cpu"}
PARAMS = {"vae": {**TINY, "latent_dim": 2, "hidden": (8,), "iwae_samples": 2},
          "mixture": {"n_components": 2}}
BOUNDED = {"copula", "mixture", "bayesnet", "autoregressive", "flow"}
TABLE_FAMILIES = sorted(n for n, c in registry.families("table").items() if c.supports_log_prob)


def _params(name: str) -> dict[str, object]:
    cls = registry.families("table")[name]
    return PARAMS.get(name, TINY if issubclass(cls, NeuralModel) else {})


_FITTED: dict[str, genlab.Model] = {}


def _fitted(name: str) -> genlab.Model:
    if name not in _FITTED:
        cls = registry.families("table")[name]
        _FITTED[name] = cls(**_params(name), seed=0).fit(TABLE)
    return _FITTED[name]


def _odd_rows() -> pd.DataFrame:
    """Row 0 normal; 1-3 'b' ever further beyond the range; 4 an unseen category; 5 both."""
    rows = TABLE.iloc[[0] * 6].reset_index(drop=True)
    span = TABLE["b"].max() - TABLE["b"].min()
    rows.loc[1:3, "b"] = TABLE["b"].max() + span * np.array([0.5, 3.0, 30.0])
    rows.loc[4, "g"] = "never"
    rows.loc[5, ["b", "h"]] = [TABLE["b"].min() - 5 * span, "unseen"]
    return rows


@pytest.mark.parametrize("name", TABLE_FAMILIES)
def test_training_rows_are_finite_for_every_family(name):
    lp = _fitted(name).log_prob(TABLE)
    assert lp.shape == (_N,) and np.isfinite(lp).all()


@pytest.mark.parametrize("name", TABLE_FAMILIES)
def test_out_of_range_and_unseen_are_finite_graded_and_strict_gives_zeros(name):
    model, rows = _fitted(name), _odd_rows()
    with pytest.warns(UserWarning, match="never seen"):
        lp = model.log_prob(rows)
    assert np.isfinite(lp).all()
    assert lp[0] > lp[1] > lp[2] > lp[3]  # further beyond the data: less likely
    assert lp[4] < lp[0] and lp[5] < lp[0]
    with pytest.warns(UserWarning, match=r"log_prob is -inf \(strict=True\)"):
        strict = model.log_prob(rows, strict=True)
    assert np.all(strict[[4, 5]] == -np.inf)
    # row 1 lies in the bounded support's linear tail: finite, shaped differently; the
    # VAE's importance-weighted estimate draws its noise by position in the call
    tol = 1e-9 if model.log_prob_is_exact else 0.2
    assert strict[0] == pytest.approx(lp[0], rel=tol) and np.isfinite(strict[1])
    if name in BOUNDED:  # marginals whose bounded support ends one range beyond the data
        assert np.all(strict[[2, 3]] == -np.inf)
    else:  # Gaussian densities: positive everywhere, nothing to undo
        np.testing.assert_allclose(strict[[2, 3]], lp[[2, 3]], rtol=tol)


def test_unseen_value_is_scored_as_rest_of_row_plus_smoothed_mass():
    # the mixture sums the column out exactly, so the smoothed score is known in closed form
    model = _fitted("mixture")
    rows = TABLE.iloc[:3].reset_index(drop=True)
    rows.loc[0, "h"] = "zz"
    with pytest.warns(UserWarning):
        lp = model.log_prob(rows)
    summed = np.logaddexp.reduce([model.log_prob(rows.iloc[[0]].assign(h=v))[0]
                                  for v in ["p", "q", "r"]])
    assert lp[0] == pytest.approx(summed + np.log(0.5 / (_N + 0.5)), rel=1e-9)


def test_warning_names_rows_columns_and_values():
    model = _fitted("copula")
    rows = TABLE.iloc[:5].reset_index(drop=True)
    rows.loc[[0, 1], "g"] = "X"
    rows.loc[2, "h"] = "Y"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        model.log_prob(rows)
    messages = [str(w.message) for w in seen if issubclass(w.category, UserWarning)]
    assert messages == ["3 rows hold values never seen in training: g='X' (2 rows), "
                        "h='Y' (1 row); scored with a smoothed probability (strict=True "
                        "gives -inf)"]


def test_warning_calls_a_missing_category_missing_and_caps_the_list():
    model = _fitted("gaussian")
    rows = TABLE.iloc[:9].reset_index(drop=True).astype({"g": object})
    rows.loc[0, "g"] = None
    rows.loc[1:8, "h"] = [f"v{i}" for i in range(8)]
    with pytest.warns(UserWarning) as seen:
        lp = model.log_prob(rows)
    text = str(seen[0].message)
    assert text.startswith("9 rows hold values never seen in training: g=missing (1 row), ")
    assert text.count("(1 row)") == 6 and "and 3 more;" in text and "\n" not in text
    assert np.isfinite(lp).all()


def test_copula_breast_cancer_training_rows_are_finite():
    df = load_breast_cancer(as_frame=True).frame
    df["target"] = df["target"].map({0: "malignant", 1: "benign"})
    model = genlab.GaussianCopula(seed=0).fit(df)
    lp = model.log_prob(df)
    assert np.isfinite(lp).all()
    # a saved and loaded model gives the same finite scores
    assert np.isfinite(model.log_prob(df, strict=True)).all()


@pytest.mark.parametrize(
    ("strict", "match"),
    [("yes", "strict must be True or False, got 'yes'"),
     (1, "strict must be True or False, got 1"),
     (None, "strict must be True or False, got None")],
    ids=["strict-text", "strict-int", "strict-none"],
)
def test_bad_strict_is_one_line(strict, match):
    with pytest.raises(ParameterError, match=match):
        _fitted("gaussian").log_prob(TABLE.head(3), strict=strict)


def test_strict_on_a_family_that_smooths_nothing_is_refused():
    cls = registry.families("sequence")["lstm"]
    with pytest.raises(ParameterError, match=r"strict=True applies to table models; .*"
                                             r"call log_prob without it"):
        cls().log_prob(["abc"], strict=True)


def test_unknown_table_log_prob_option_is_refused():
    with pytest.raises(ParameterError, match=r"takes no option\(s\) \['temperature'\]; "
                                             r"its options: conditions, strict"):
        _fitted("gaussian").log_prob(TABLE.head(3), temperature=0.5)


DETECTOR_FAMILIES = ["gaussian", "mixture", "copula", "bayesnet", "autoregressive", "flow"]


@pytest.mark.parametrize("name", DETECTOR_FAMILIES)
def test_detector_scores_are_finite_and_explanations_name_the_column(name):
    fit_params = {k: v for k, v in _params(name).items()}
    if issubclass(registry.families("table")[name], NeuralModel):
        fit_params["epochs"] = 20
    det = AnomalyDetector(name, model_params=fit_params, seed=0).fit(TABLE)
    held = TABLE.sample(20, random_state=1).reset_index(drop=True)
    held.loc[0, "b"] = TABLE["b"].max() + 4 * (TABLE["b"].max() - TABLE["b"].min())
    held.loc[1, "h"] = "unseen"
    scores = det.score(held)
    assert np.isfinite(scores).all()
    assert roc_auc_score(np.r_[1, np.zeros(19)], scores) == 1.0
    assert scores[0] > det.threshold_
    # the never-seen value costs several nats against the same row with its real value
    plain = det.score(TABLE.sample(20, random_state=1).reset_index(drop=True).iloc[[1]])
    assert scores[1] > plain[0] + 3
    why = det.explain(held, only_flagged=False).set_index("row")
    assert why.loc[0, "columns"].split(", ")[0] == "b"
    assert why.loc[1, "columns"].split(", ")[0] == "h"
