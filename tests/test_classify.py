"""GenerativeClassifier: scikit-learn conventions, Bayes' rule, missing features, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import genlab
from genlab.classify import GenerativeClassifier, likelihood_families
from genlab.errors import DataError, ParameterError, UnsupportedOperation

# scikit-learn checks this classifier does not pass, with the reason; none with gaussian
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


@parametrize_with_checks([GenerativeClassifier("gaussian", random_state=0)],
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _mixed(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    a = rng.normal(1.5 * y, 1.0)
    b = 0.8 * a + rng.normal(0, 0.6, n)
    k = np.where(rng.random(n) < 0.25 + 0.5 * y, "u", "v")
    return pd.DataFrame({"a": a, "b": b, "c": rng.normal(-y, 1.0), "k": k}), np.where(
        y == 1, "yes", "no")


def test_exported_lazily_and_fits_mixed_frames():
    X, y = _mixed()
    X.loc[::7, "a"] = np.nan  # NaN at fit is modelled by the table families
    clf = genlab.GenerativeClassifier("bayesnet", random_state=0).fit(X, y)
    assert list(clf.classes_) == ["no", "yes"]
    assert clf.n_features_in_ == 4 and list(clf.feature_names_in_) == ["a", "b", "c", "k"]
    proba = clf.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1.0) and np.all(np.isfinite(clf.predict_log_proba(X)))
    assert clf.score(X, y) > 0.75
    assert set(clf.predict(X)) <= {"no", "yes"}


def test_bayes_rule_matches_the_joint_model():
    X, y = _mixed()
    clf = GenerativeClassifier("gaussian", random_state=0, shrinkage=0.0).fit(X, y)
    joint = clf.joint_log_prob(X.iloc[:5])
    assert np.allclose(clf.predict_log_proba(X.iloc[:5]),
                       joint - logsumexp(joint, axis=1, keepdims=True))
    # the joint is the fitted model's own log p(x, y) for each class
    row = X.iloc[:5].assign(**{clf.target_: 1})
    assert np.allclose(joint[:, 1], clf.model_.log_prob(row))


def test_pipeline_grid_search_and_cross_validation():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), GenerativeClassifier("gaussian", random_state=0))
    assert cross_val_score(pipe, X, y, cv=3).mean() > 0.9
    grid = GridSearchCV(GenerativeClassifier(random_state=0), [
        {"model": ["gaussian"], "shrinkage": [0.0, 50.0]},
        {"model": ["bayesnet"], "alpha": [1.0, 10.0]}], cv=3).fit(X, y)
    assert grid.best_params_["model"] in ("gaussian", "bayesnet")
    assert grid.best_score_ > 0.9
    assert grid.best_estimator_.get_params()["model"] == grid.best_params_["model"]


def test_nan_feature_gives_the_posterior_of_a_model_without_it():
    """Gaussian: a missing numeric feature is integrated out exactly, so its posterior
    equals that of the same model fitted without the column (fixed shrinkage)."""
    X, y = _mixed()
    full = GenerativeClassifier("gaussian", random_state=0, shrinkage=3.0).fit(X, y)
    less = GenerativeClassifier("gaussian", random_state=0, shrinkage=3.0).fit(
        X.drop(columns="b"), y)
    test = X.iloc[:20].copy()
    test["b"] = np.nan
    assert np.allclose(full.predict_proba(test), less.predict_proba(test.drop(columns="b")),
                       atol=1e-10)
    # a missing category is summed out exactly, so it too equals dropping the column
    kless = GenerativeClassifier("gaussian", random_state=0, shrinkage=3.0).fit(
        X.drop(columns="k"), y)
    test = X.iloc[:20].copy()
    test["k"] = None
    assert np.allclose(full.predict_proba(test), kless.predict_proba(test.drop(columns="k")),
                       atol=1e-10)


@pytest.mark.parametrize(("family", "params"), [
    ("bayesnet", {}), ("mixture", {"transform": "standardise"})])
def test_nan_numeric_is_integrated_out(family, params):
    """A missing number's posterior equals the joint integrated over it numerically (the
    mixture on standardised values: its normal-scores marginal is too spiky for a grid)."""
    X, y = _mixed(300)
    clf = GenerativeClassifier(family, random_state=0, **params).fit(X, y)
    test = X.iloc[:3].copy()
    test["b"] = np.nan
    grid = np.linspace(-8, 9, 3401)
    rows = []
    for i in range(3):
        rep = pd.concat([X.iloc[[i]]] * grid.size, ignore_index=True).assign(b=grid)
        rows.append(logsumexp(clf.joint_log_prob(rep), axis=0))
    quad = np.exp(np.array(rows) - logsumexp(rows, axis=1, keepdims=True))
    assert np.allclose(clf.predict_proba(test), quad, atol=2e-3)


def test_bayesnet_marginal_scorer_equals_log_prob_on_complete_rows():
    from genlab.classify._bn_marginal import marginalising_bayesnet

    X, y = _mixed(300)
    clf = GenerativeClassifier("bayesnet", random_state=0).fit(X, y)
    rows = X.iloc[:30].assign(**{clf.target_: 0})
    assert np.allclose(marginalising_bayesnet(clf.model_).log_prob(rows),
                       clf.model_.log_prob(rows))


def test_nan_category_is_summed_out_for_bayesnet():
    X, y = _mixed(300)
    clf = GenerativeClassifier("bayesnet", random_state=0).fit(X, y)
    test = X.iloc[:5].copy()
    test["k"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # summing out is meant: no "never seen" warning
        got = clf.predict_proba(test)
    parts = [clf.joint_log_prob(test.assign(k=v)) for v in ("u", "v")]
    joint = np.logaddexp(*parts)
    assert np.allclose(got, np.exp(joint - logsumexp(joint, axis=1, keepdims=True)))


def test_likelihood_families_excludes_gan():
    names = likelihood_families()
    assert "gan" not in names and {"gaussian", "bayesnet", "flow"} <= set(names)


# -- bad input ----------------------------------------------------------------------------
def test_class_with_one_example_is_refused():
    X, y = _mixed(60)
    y = y.astype(object)
    y[0] = "rare"
    with pytest.raises(DataError, match=r"class 'rare' has only one example.*at least 2"):
        GenerativeClassifier("gaussian").fit(X, y)


def test_single_class_is_refused():
    X, _ = _mixed(30)
    with pytest.raises(DataError, match="1 class.*at least 2 classes"):
        GenerativeClassifier("gaussian").fit(X, np.array(["a"] * 30))


def test_missing_labels_are_refused():
    X, y = _mixed(40)
    y = y.astype(object)
    y[[3, 5]] = None
    with pytest.raises(DataError, match=r"2 label\(s\) are missing.*rows \[3, 5\]"):
        GenerativeClassifier("gaussian").fit(X, y)


def test_unseen_label_at_score_is_refused():
    X, y = _mixed(60)
    clf = GenerativeClassifier("gaussian", random_state=0).fit(X, y)
    bad = y.astype(object)
    bad[0] = "maybe"
    with pytest.raises(DataError, match=r"label\(s\) 'maybe' never seen in fit.*'no', 'yes'"):
        clf.score(X, bad)


def test_family_without_likelihood_names_those_with_one():
    X, y = _mixed(40)
    with pytest.raises(UnsupportedOperation,
                       match="table family gan has none; use one of .*bayesnet"):
        GenerativeClassifier("gan").fit(X, y)
    with pytest.raises(ParameterError, match="unknown model 'nope'.*table data.*gaussian"):
        GenerativeClassifier("nope").fit(X, y)


def test_wrong_family_parameter_is_refused():
    X, y = _mixed(40)
    with pytest.raises(ParameterError, match="no parameter.*'colour'"):
        GenerativeClassifier("gaussian", colour="red").fit(X, y)


# -- genlab classify ----------------------------------------------------------------------
def _cli(*args: object) -> tuple[int, str]:
    from typer.testing import CliRunner

    from genlab.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def labelled(tmp_path):
    X, y = _mixed(300)
    table = X.assign(label=y)
    table.iloc[:240].to_csv(tmp_path / "train.csv", index=False)
    table.iloc[240:].to_csv(tmp_path / "test.csv", index=False)
    return tmp_path


def test_cli_classify_writes_predictions_and_report(labelled):
    pred, page = labelled / "pred.csv", labelled / "report.html"
    code, text = _cli("classify", labelled / "train.csv", "--target", "label", "--predict",
                      labelled / "test.csv", "-o", pred, "--report", page, "-m", "gaussian")
    assert code == 0, text
    assert "60 rows classified by gaussian (2 classes), accuracy" in text
    frame = pd.read_csv(pred)
    assert list(frame.columns) == ["predicted", "p_no", "p_yes"]
    assert np.allclose(frame[["p_no", "p_yes"]].sum(axis=1), 1.0)
    html = page.read_text()
    assert "Confusion matrix" in html and "Calibration" in html and "data:image/png" in html
    assert not [p for p in labelled.iterdir() if p.name.endswith(".tmp")]  # atomic writes


def test_cli_classify_bad_input_is_one_line(labelled):
    code, text = _cli("classify", labelled / "train.csv", "--target", "nope", "--predict",
                      labelled / "test.csv", "-o", labelled / "p.csv")
    assert code == 2 and "--target 'nope' is not a column" in text and "Traceback" not in text
    pd.read_csv(labelled / "test.csv").drop(columns="label").to_csv(
        labelled / "bare.csv", index=False)
    code, text = _cli("classify", labelled / "train.csv", "--target", "label", "--predict",
                      labelled / "bare.csv", "--report", labelled / "r.html")
    assert code == 2 and "--report needs the true labels" in text
    code, text = _cli("classify", labelled / "train.csv", "--target", "label", "--predict",
                      labelled / "bare.csv", "-o", labelled / "p.csv", "-m", "gan")
    assert code == 2 and "family gan has none; use one of" in text
    assert not (labelled / "p.csv").exists()


def test_bayesnet_with_every_number_missing_gives_the_class_prior():
    """Summing every numeric node out (variable elimination over the whole network) leaves
    p(y): the joint over classes sums to one."""
    X, y = _mixed(400)
    X = X.drop(columns="k")
    clf = GenerativeClassifier("bayesnet", random_state=0).fit(X, y)
    blank = X.iloc[:4].copy()
    blank[:] = np.nan
    joint = np.exp(clf.joint_log_prob(blank))
    assert np.allclose(joint.sum(axis=1), 1.0)
    assert np.allclose(joint, joint[0])
    some = X.iloc[:4].copy()
    some[["a", "b"]] = np.nan  # two neighbours out at once
    assert np.all(np.isfinite(clf.predict_log_proba(some)))


# -- images and text ----------------------------------------------------------------------
def test_image_bayes_classifier_scores_each_class_conditionally():
    from sklearn.datasets import load_digits

    d = load_digits()
    X = np.round(d.images[:120] / 16 * 255).astype(np.uint8)
    y = d.target[:120].astype(str)
    clf = GenerativeClassifier("pixelcnn", modality="image", random_state=0, epochs=1,
                               device="cpu", max_minutes=None).fit(X, y)
    joint = clf.joint_log_prob(X[:6])
    want = clf.model_.log_prob(X[:6, ..., None], conditions={"label": "3"})
    assert np.allclose(joint[:, 3], want + np.log(clf.class_prior_[3]))
    assert np.allclose(clf.predict_proba(X[:6]).sum(axis=1), 1.0)
    assert set(clf.predict(X[:6])) <= set(clf.classes_)
    with pytest.raises(UnsupportedOperation, match="image family gan has none"):
        GenerativeClassifier("gan", modality="image").fit(X, y)


def test_text_bayes_classifier_one_character_model_per_class():
    a = ["abababababab", "ababab abab", "abab ababab"] * 8
    b = ["aabbaabbaabb", "aabb aabbaa", "bbaabbaabb"] * 8
    clf = GenerativeClassifier("autoregressive", modality="sequence", random_state=0, layers=1,
                               d_model=16, heads=2, context=24, epochs=6, batch_size=16,
                               epoch_size=128, lr=1e-2, warmup_steps=5, device="cpu",
                               max_minutes=None).fit(a + b, ["a"] * 24 + ["b"] * 24)
    assert len(clf.models_) == 2
    assert list(clf.predict(["abababab", "aabbaabb"])) == ["a", "b"]
    joint = clf.joint_log_prob(["abab"])
    assert np.allclose(joint[0, 1], clf.models_[1].log_prob(["abab"])[0] + np.log(0.5))
