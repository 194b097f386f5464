"""Utility: does a model trained on synthetic rows predict real rows as well as one trained on real?

Train-on-synthetic / test-on-real (TSTR) against train-on-real / test-on-real (TRTR), both
scored on the hold-out table, with a linear model and gradient boosting, plus the rank agreement
of the two boosted models' permutation feature importances.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from genlab.evaluate._common import CATEGORICAL, MISSING, finite, labels, numeric, subsample

__all__ = ["MODELS", "task_kind", "utility_scores", "utility_verdict"]

MODELS = ("logistic_regression", "gradient_boosting")
TRAIN_ROWS = 50_000
IMPORTANCE_ROWS = 2_000
MAX_CLASSES_FOR_INTEGER = 10


def task_kind(y: pd.Series, kind: str) -> str:
    """"classification" for categorical or few-valued integer targets, else "regression"."""
    if kind == CATEGORICAL:
        return "classification"
    v = numeric(y)
    v = v[~np.isnan(v)]
    few = np.unique(v).size <= MAX_CLASSES_FOR_INTEGER
    return "classification" if few and np.all(v == np.round(v)) else "regression"


def _features(df: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    out = {}
    for c in df.columns:
        if kinds[c] == CATEGORICAL:
            out[c] = pd.Series(labels(df[c]), dtype=object).fillna(MISSING).to_numpy()
        else:
            out[c] = numeric(df[c])
    return pd.DataFrame(out, columns=list(df.columns))


def _pipeline(name: str, task: str, cats: list[str], nums: list[str]) -> Pipeline:
    if name == "logistic_regression":
        pre = ColumnTransformer([
            ("cat", OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=30), cats),
            ("num", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                                  StandardScaler()), nums),
        ])
        model = LogisticRegression(max_iter=500) if task == "classification" else Ridge()
    else:
        # Unknown categories become -1, which the booster reads as missing.
        pre = ColumnTransformer([
            ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                   max_categories=250), cats),
            ("num", "passthrough", nums),
        ])
        mask = [True] * len(cats) + [False] * len(nums)
        kw: dict[str, Any] = {"random_state": 0, "categorical_features": mask if cats else None}
        model = (HistGradientBoostingClassifier(**kw) if task == "classification"
                 else HistGradientBoostingRegressor(**kw))
    return Pipeline([("encode", pre), ("model", model)])


def _fit(name: str, task: str, x: pd.DataFrame, y: np.ndarray, kinds: dict[str, str]) -> Any:
    if task == "classification" and np.unique(y).size < 2:
        # A synthetic table with one class left: the best any model can do is predict it.
        return DummyClassifier(strategy="most_frequent").fit(x, y)
    if task == "regression" and np.ptp(y) == 0:
        return DummyRegressor().fit(x, y)
    cats = [c for c in x.columns if kinds[c] == CATEGORICAL]
    nums = [c for c in x.columns if kinds[c] != CATEGORICAL]
    empty = [c for c in nums if x[c].isna().all()]
    if empty:
        # scikit-learn's boosting fails on a feature with no value; a constant is ignored alike.
        x = x.assign(**dict.fromkeys(empty, 0.0))
    return _pipeline(name, task, cats, nums).fit(x, y)


def _proba(model: Any, x: pd.DataFrame, classes: list[str]) -> np.ndarray:
    # Columns in the order of `classes`; a class the model never saw gets probability 0.
    raw = model.predict_proba(x)
    out = np.zeros((len(x), len(classes)))
    where = {c: i for i, c in enumerate(classes)}
    for j, c in enumerate(model.classes_):
        if c in where:
            out[:, where[c]] = raw[:, j]
    total = out.sum(axis=1, keepdims=True)
    return np.divide(out, total, out=np.full_like(out, 1.0 / len(classes)), where=total > 0)


def _metrics(model: Any, x: pd.DataFrame, y: np.ndarray, task: str, classes: list[str],
             positive: str | None) -> dict[str, float | None]:
    if task == "regression":
        pred = model.predict(x)
        return {"r2": float(r2_score(y, pred)), "mae": float(mean_absolute_error(y, pred))}
    pred = model.predict(x)
    proba = _proba(model, x, classes)
    known = np.isin(y, classes)
    auc: float | None = None
    if positive is not None:
        f1 = float(f1_score(y, pred, pos_label=positive, average="binary", zero_division=0))
        if np.unique(y).size == 2:
            auc = float(roc_auc_score(y == positive, proba[:, classes.index(positive)]))
    else:
        f1 = float(f1_score(y, pred, average="macro", zero_division=0))
        if np.unique(y[known]).size == len(classes):
            auc = float(roc_auc_score(y[known], proba[known], multi_class="ovr",
                                      labels=classes))
    return {"accuracy": float(accuracy_score(y, pred)), "f1": f1, "roc_auc": auc}


def _scorer(task: str, classes: list[str], positive: str | None) -> Any:
    def score(model: Any, x: pd.DataFrame, y: np.ndarray) -> float:
        if task == "regression":
            return float(r2_score(y, model.predict(x)))
        if positive is not None and np.unique(y).size == 2:
            proba = _proba(model, x, classes)[:, classes.index(positive)]
            return float(roc_auc_score(y == positive, proba))
        return float(accuracy_score(y, model.predict(x)))

    return score


def utility_verdict(gap: float | None) -> tuple[str, str]:
    """Plain-language reading of the TRTR − TSTR gap in the primary metric."""
    if gap is None:
        return "not measured", "no target column was given, or the score could not be computed"
    if gap <= 0.02:
        return "good", "models trained on the synthetic data predict real data about as well " \
                       "as models trained on the real data"
    if gap <= 0.05:
        return "fair", "models trained on the synthetic data lose some accuracy on real data"
    return "poor", "models trained on the synthetic data predict real data clearly worse"


def _target(df: pd.DataFrame, target: str, task: str) -> tuple[pd.DataFrame, np.ndarray]:
    y = labels(df[target]) if task == "classification" else numeric(df[target])
    keep = np.array([v is not None for v in y]) if task == "classification" else ~np.isnan(y)
    return df.loc[keep].drop(columns=[target]), y[keep]


def utility_scores(
    train: pd.DataFrame,
    test: pd.DataFrame,
    synth: pd.DataFrame,
    target: str,
    kinds: dict[str, str],
    seed: int = 0,
) -> dict[str, Any]:
    """TSTR vs TRTR scores for `target` on the hold-out table, per model kind."""
    task = task_kind(train[target], kinds[target])
    feats = {c: k for c, k in kinds.items() if c != target}
    tables = {}
    for name, df in (("real", train), ("synthetic", synth), ("test", test)):
        x, y = _target(subsample(df, TRAIN_ROWS, seed), target, task)
        tables[name] = (_features(x, feats), y)
    x_test, y_test = tables["test"]
    if len(y_test) == 0 or len(tables["real"][1]) == 0:
        return {"task": task, "target": target, "verdict": "not measured",
                "meaning": f"target {target!r} is missing in every real row"}
    out: dict[str, Any] = {"task": task, "target": target}
    classes: list[str] = []
    positive = None
    if task == "classification":
        counts = pd.Series(tables["real"][1]).value_counts()
        classes = sorted(counts.index)
        if len(classes) == 2:
            positive = str(counts.index[-1])  # the rarer class, e.g. ">50K"
            out["positive_class"] = positive
    primary = "r2" if task == "regression" else ("roc_auc" if positive else "accuracy")
    out["primary_metric"] = primary
    models: dict[str, Any] = {}
    fitted: dict[str, Any] = {}
    for name in MODELS:
        row: dict[str, Any] = {}
        for source in ("real", "synthetic"):
            x, y = tables[source]
            model = _fit(name, task, x, y, feats)
            fitted[f"{name}/{source}"] = model
            row[source] = _metrics(model, x_test, y_test, task, classes, positive)
        row["gap"] = {k: (None if row["real"][k] is None or row["synthetic"][k] is None
                          else row["real"][k] - row["synthetic"][k]) for k in row["real"]}
        models[name] = row
    out["models"] = models
    gaps = [m["gap"][primary] for m in models.values() if m["gap"][primary] is not None]
    out["gap"] = float(np.mean(gaps)) if gaps else None
    # Permutation importances of the boosted models on the same hold-out rows.
    rows = np.random.default_rng(seed).permutation(len(y_test))[:IMPORTANCE_ROWS]
    xi, yi = x_test.iloc[rows], y_test[rows]
    scorer = _scorer(task, classes, positive)
    imp = {}
    for source in ("real", "synthetic"):
        result = permutation_importance(fitted[f"gradient_boosting/{source}"], xi, yi,
                                        scoring=scorer, n_repeats=3, random_state=seed)
        imp[source] = {str(c): float(v) for c, v in zip(xi.columns, result.importances_mean,
                                                       strict=True)}
    a, b = np.array(list(imp["real"].values())), np.array(list(imp["synthetic"].values()))
    rho = stats.spearmanr(a, b).statistic if a.size > 1 and np.ptp(a) and np.ptp(b) else math.nan
    out["importance_rank_agreement"] = finite(rho)
    out["importance"] = imp
    out["verdict"], out["meaning"] = utility_verdict(out["gap"])
    return out
