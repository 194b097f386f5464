"""Bayes classifiers from any genlab table family that has a likelihood.

One joint model p(x, y) is fitted with the target declared as a condition
(`fit(table, conditions=[target])`), so each family factorises it the way it conditions
best (Gaussian: one Gaussian per class, as in Gaussian discriminant analysis; Bayesian
network, autoregressive and flow: the target is a node / the first variable; VAE: a CVAE
with the class frequencies as prior). Scoring a row once per class gives log p(x, y = k),
and Bayes' rule normalises over classes in log space:

    log p(y = k | x) = log p(x, y = k) - logsumexp_k' log p(x, y = k')

The prior p(y) is the family's own marginal of the target (the class frequencies for the
Gaussian, autoregressive, flow and VAE families; the smoothed CPT for the Bayesian network).
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from genlab.classify._bn_marginal import marginalising_bayesnet
from genlab.classify._modal import fit_image, fit_text, image_joint, text_joint
from genlab.classify._params import FamilyParams
from genlab.errors import DataError, ParameterError, UnsupportedOperation
from genlab.models import registry

__all__ = ["LIKELIHOOD_FAMILIES", "GenerativeClassifier", "likelihood_families"]

# rows scored per log_prob call when categorical values are summed out: the table base sums
# at most 1,024 code combinations per row while calls stay under 500,000 expanded rows
_CHUNK_MARGINAL = 480
_CHUNK = 50_000
# a category no training table holds: a missing categorical feature becomes this value, so
# the table base sums the column out over all its codes (exact marginalisation)
_UNKNOWN = "\x00genlab:missing-feature"
LIKELIHOOD_FAMILIES = ("gaussian", "mixture", "copula", "bayesnet", "autoregressive", "flow",
                       "vae")


def likelihood_families(modality: str = "table") -> list[str]:
    """The families of `modality` with a likelihood (usable as Bayes classifiers)."""
    return sorted(n for n, c in registry.families(modality).items() if c.supports_log_prob)


def _check_labels(y: Any) -> np.ndarray:
    if y is None:
        raise ValueError("GenerativeClassifier requires y to be passed, but the target y is "
                         "None; give the class labels")
    y = column_or_1d(y, warn=True)
    missing = pd.isna(pd.Series(y, dtype=object)).to_numpy()
    if missing.any():
        at = np.flatnonzero(missing)[:5].tolist()
        raise DataError(f"{int(missing.sum())} label(s) are missing (NaN/None) at rows {at}; "
                        "drop those rows or fill their labels before fitting")
    check_classification_targets(y)
    return y


class GenerativeClassifier(FamilyParams, ClassifierMixin, BaseEstimator):
    """A scikit-learn classifier from a genlab generative model: p(x, y) and Bayes' rule.

    Fits one joint model of the features and the label (the label declared as the
    family's condition) and classifies by p(y | x) = p(x, y) / sum_k p(x, y = k), in log
    space. A DataFrame may hold mixed types and NaN; an ndarray must be numeric.

    Missing features (NaN) at prediction time are marginalised: a missing categorical value
    is summed over all of the column's codes (exact for every family, up to 1,024 code
    combinations per row); a missing number is integrated out exactly by gaussian, mixture,
    copula and flow, and by bayesnet (its bins summed out by variable elimination) for
    columns with no missing values in training (where a column had them, bayesnet and
    autoregressive model "missing" as a state of its own, so a NaN there is evidence); for
    columns complete in training, autoregressive feeds its network a missingness mask it
    never saw (approximate), and vae scores with its importance-sampled bound.

    Images (`modality="image"`): one class-conditional model (`conditions=["label"]`),
    log p(x | y) per class plus the log class frequency. Text (`modality="sequence"`): one
    sequence model per class, fitted on that class's items.

    Args:
        model: a family with a likelihood (`likelihood_families(modality)`; tables:
            gaussian, mixture, copula, bayesnet, autoregressive, flow, vae). GAN has none.
        modality: "table" (DataFrame or array), "image" (uint8 array (n, h, w[, c])) or
            "sequence" (a list of strings).
        random_state: seed of the family (None: a fresh one each fit).
        kinds: column kinds for a DataFrame, as in `genlab.fit` (by default number columns
            are continuous, as every ndarray column is; the rest are inferred).
        **params: the family's hyperparameters (e.g. `shrinkage=0`, `alpha=5`).

    Waived scikit-learn estimator checks: none with the gaussian family (see
    tests/test_classify.py).

    Example:
        >>> from sklearn.datasets import load_iris
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = GenerativeClassifier(model="gaussian", random_state=0).fit(X, y)
        >>> bool(clf.score(X, y) > 0.9)
        True
    """

    _own = ("model", "modality", "random_state", "kinds")

    def __init__(self, model: str = "bayesnet", *, modality: str = "table",
                 random_state: int | None = None, kinds: dict[str, str] | None = None,
                 **params: Any) -> None:
        self.model = model
        self.modality = modality
        self.random_state = random_state
        self.kinds = kinds
        self._store(params)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # -- fit ------------------------------------------------------------------------------
    def _make_model(self) -> Any:
        modality = registry.check_modality(self.modality)
        able = ", ".join(likelihood_families(modality))
        if self.model not in registry.FAMILY_MODULES[modality]:
            raise ParameterError(f"unknown model {self.model!r} for GenerativeClassifier "
                                 f"({modality} data); use one of {able}")
        model = registry.make_model(self.model, modality, **self._family_values())
        if not model.supports_log_prob:
            raise UnsupportedOperation(
                f"GenerativeClassifier needs a likelihood p(x, y) and the {modality} family "
                f"{self.model} has none; use one of {able}")
        return model

    def fit(self, X: Any, y: Any) -> GenerativeClassifier:
        """Fit p(x, y) to features `X` (DataFrame or array, n rows) and labels `y`."""
        model = self._make_model()
        frame = self._frame(X, y, reset=True) if self.modality == "table" else X
        y = _check_labels(y)
        check_consistent_length(frame, y)
        classes, index, counts = np.unique(y, return_inverse=True, return_counts=True)
        if classes.size < 2:
            raise DataError(f"y holds 1 class ({classes[0]!r} only); a classifier needs at "
                            "least 2 classes")
        if (counts < 2).any():
            lone = [repr(c.item() if isinstance(c, np.generic) else c)
                    for c in classes[counts < 2]]
            raise DataError(f"class {', '.join(lone[:5])} has only one example (1 sample); "
                            "give at least 2 examples of every class or drop that class")
        self.classes_ = classes
        self.class_prior_ = counts / counts.sum()
        if self.modality != "table":
            return self._fit_other(model, X, index.reshape(-1))
        self.target_ = _free_name(frame.columns)
        table = frame.assign(**{self.target_: index.reshape(-1).astype(np.int64)})
        kinds = dict(self._kinds_for(frame), **{self.target_: "categorical"})
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*looks like an identifier.*")
            model.fit(table, conditions=[self.target_], kinds=kinds)
        self.model_ = model
        return self

    def _fit_other(self, model: Any, X: Any, index: np.ndarray) -> GenerativeClassifier:
        k = self.classes_.size
        if self.modality == "image":
            self.model_ = fit_image(model, X, index, k)
        else:
            self.models_ = fit_text(self._make_model, X, index, k)
            self.model_ = self.models_[0]
        return self

    def _kinds_for(self, frame: pd.DataFrame) -> dict[str, str]:
        # numbers are numeric features (as in an ndarray), whatever their count of distinct
        # values: the same data gives the same classifier as a DataFrame or an array
        numeric = {n: "continuous" for n in frame.columns
                   if pd.api.types.is_numeric_dtype(frame[n])
                   and not pd.api.types.is_bool_dtype(frame[n])}
        if self._from_array_:
            return numeric
        if self.kinds is not None and not isinstance(self.kinds, dict):
            raise ParameterError(f"kinds must map column names to kinds, e.g. "
                                 f"{{'zip': 'categorical'}}; got {type(self.kinds).__name__}")
        return {**numeric, **(self.kinds or {})}

    def _frame(self, X: Any, y: Any = None, *, reset: bool) -> pd.DataFrame:
        """X as the table the model reads (validated the scikit-learn way)."""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, skip_check_array=True, reset=reset)
            if X.ndim != 2 or X.shape[1] == 0 or len(X) == 0:
                raise ValueError(f"X must be a non-empty table, got shape {X.shape}")
            frame = X.copy()
            frame.columns = [str(c) for c in X.columns]
            if frame.columns.duplicated().any():
                raise DataError("X has duplicate column names; give every column its own name")
            if reset:
                self._from_array_ = False
            return frame.reset_index(drop=True)
        array = validate_data(self, X, ensure_all_finite="allow-nan", dtype="numeric",
                              reset=reset)
        if reset:
            self._from_array_ = True
        return pd.DataFrame(np.asarray(array, dtype=np.float64),
                            columns=[f"x{i}" for i in range(array.shape[1])])

    # -- predict --------------------------------------------------------------------------
    def joint_log_prob(self, X: Any) -> np.ndarray:
        """log p(x, y = k) for every row and class, shape (n, n_classes)."""
        check_is_fitted(self, "model_")
        if self.modality != "table":
            log_prior = np.log(self.class_prior_)
            if self.modality == "image":
                return image_joint(self.model_, X, log_prior)
            return text_joint(self.models_, X, log_prior)
        frame = self._frame(X, reset=False)
        if not self._from_array_:
            frame = frame[[n for n in self.model_.schema_.names if n != self.target_]]
        cats = [s.name for s in self.model_.schema_.categorical if s.name != self.target_]
        holes = frame[cats].isna() if cats else pd.DataFrame(index=frame.index)
        for name in cats:
            if holes[name].any():
                frame[name] = frame[name].astype(object).where(~holes[name], _UNKNOWN)
        chunk = _CHUNK_MARGINAL if holes.to_numpy().any() else _CHUNK
        scorer, shift = self._marginal_scorer()
        out = np.full((len(frame), self.classes_.size), shift)
        for start in range(0, len(frame), chunk):
            part = frame.iloc[start:start + chunk]
            for k in range(self.classes_.size):
                with warnings.catch_warnings():
                    # summing out a missing category is meant; its warning is not news
                    warnings.filterwarnings("ignore", message=".*never seen in training.*")
                    out[start:start + len(part), k] += scorer.log_prob(
                        part.assign(**{self.target_: k}))
        return out

    def _marginal_scorer(self) -> tuple[Any, float]:
        """The model to score with, and what to add to its log_prob, so that a row with
        missing numbers scores log p(observed values, y): the table base multiplies in the
        chance of the missingness pattern (the training rate per column, zero where a
        column had no missing values); scoring with a rate of 1/2 everywhere makes that a
        constant, taken back out here. Families that model missingness keep their own."""
        model = self.model_
        d = len(model.schema_.numeric)
        if model.family == "bayesnet":
            return marginalising_bayesnet(model), 0.0
        if model.models_missing or d == 0:
            return model, 0.0
        scorer = copy.copy(model)
        scorer.missing_rate_ = np.full(d, 0.5)
        return scorer, d * np.log(2.0)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """log p(y = k | x) by Bayes' rule, shape (n, n_classes)."""
        joint = self.joint_log_prob(X)
        norm = logsumexp(joint, axis=1, keepdims=True)
        bad = ~np.isfinite(norm.reshape(-1))
        if bad.any():
            raise DataError(f"{int(bad.sum())} row(s) have zero likelihood under every class "
                            f"(first: row {int(np.flatnonzero(bad)[0])}); the model gives "
                            "them no finite score")
        return joint - norm

    def predict_proba(self, X: Any) -> np.ndarray:
        """p(y = k | x), rows summing to 1, shape (n, n_classes)."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row."""
        joint = self.joint_log_prob(X)
        return self.classes_[np.argmax(joint, axis=1)]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy on (X, y); labels never seen in fit are refused with their names."""
        check_is_fitted(self, "model_")
        labels = _check_labels(y)
        unseen = sorted({repr(v) for v in pd.unique(pd.Series(labels, dtype=object))
                         if not np.isin(np.asarray([v], dtype=labels.dtype), self.classes_)[0]})
        if unseen:
            raise DataError(f"y holds label(s) {', '.join(unseen[:5])} never seen in fit; "
                            f"the classes are {self.classes_.tolist()}")
        return float(super().score(X, labels, sample_weight))


def _free_name(columns: pd.Index) -> str:
    name, i = "__class__", 0
    while name in columns:
        i += 1
        name = f"__class_{i}__"
    return name
