"""The classification report: accuracy, log loss, confusion matrix and calibration curve of
a classifier's predictions on labelled rows, on genlab's one page shell."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, roc_auc_score

from genlab.provenance import now
from genlab.report.plots import figure_to_data_uri
from genlab.report.shell import esc, info_table, section, write_page

__all__ = ["classification_scores", "learning_curve", "write_classify_report"]


def classification_scores(y: np.ndarray, proba: np.ndarray, classes: Sequence[object]
                          ) -> dict[str, float]:
    """Accuracy, log loss and ROC AUC (one-vs-rest for several classes) of `proba`."""
    labels = list(classes)
    pred = np.asarray(labels, dtype=object)[proba.argmax(axis=1)]
    out = {"accuracy": float(accuracy_score(y.astype(object), pred)),
           "log_loss": float(log_loss(y.astype(object), proba, labels=labels))}
    present = set(y.tolist())
    if len(present) == len(labels) >= 2:
        if len(labels) == 2:
            out["roc_auc"] = float(roc_auc_score(y == labels[1], proba[:, 1]))
        else:
            out["roc_auc"] = float(roc_auc_score(y.astype(object), proba, multi_class="ovr",
                                                 labels=labels))
    return out


def _confusion(y: np.ndarray, pred: np.ndarray, classes: Sequence[object]) -> str:
    labels = list(classes)
    m = confusion_matrix(y.astype(object), pred.astype(object), labels=labels)
    head = "".join(f"<th>{esc(c)}</th>" for c in labels)
    rows = "".join(
        f"<tr><th>{esc(c)}</th>" + "".join(f'<td class="num">{v:,}</td>' for v in row) + "</tr>"
        for c, row in zip(labels, m, strict=True))
    return (f'<div class="table-wrap"><table><tr><th>true \\ predicted</th>{head}</tr>{rows}'
            "</table></div>")


def _calibration(y: np.ndarray, proba: np.ndarray, classes: Sequence[object]) -> str:
    """Reliability curve: of the predictions given confidence p, how many were right
    (binary: p of the second class; several classes: the top class's confidence)."""
    labels = list(classes)
    if len(labels) == 2:
        hit, conf, what = y == labels[1], proba[:, 1], f"p({labels[1]})"
    else:
        hit = np.asarray(labels, dtype=object)[proba.argmax(axis=1)] == y
        conf, what = proba.max(axis=1), "confidence of the predicted class"
    frac, mean = calibration_curve(hit.astype(int), conf, n_bins=10, strategy="quantile")
    fig = Figure(figsize=(4.6, 4.0))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], ls="--", color="#999", lw=1, label="perfectly calibrated")
    ax.plot(mean, frac, marker="o", color="#1f77b4", label="this model")
    ax.set_xlabel(f"predicted {what}")
    ax.set_ylabel("observed share")
    ax.legend(frameon=False, loc="upper left")
    fig.tight_layout()
    uri = figure_to_data_uri(fig)
    return (f'<figure><img src="{uri}" alt="calibration curve"><figcaption>Calibration over '
            f"deciles of {esc(what)}.</figcaption></figure>")


def training_sizes(n: int, n_classes: int, points: int = 6) -> list[int]:
    """Log-spaced training sizes from a few examples per class up to all `n` rows."""
    low = min(n, max(20, 2 * n_classes))
    return sorted({int(round(v)) for v in np.geomspace(low, n, points)})


def learning_curve(make: Callable[[], Any], X: Any, y: np.ndarray, X_test: Any,
                   y_test: np.ndarray, *, sizes: Sequence[int] | None = None, seed: int = 0
                   ) -> list[tuple[int, float]]:
    """(training size, test accuracy) of fresh classifiers `make()` fitted on stratified
    subsamples of (X, y); sizes at which some class would have fewer than 2 examples are
    left out."""
    from sklearn.model_selection import train_test_split

    y = np.asarray(y, dtype=object)
    n, k = y.size, len(set(y.tolist()))
    out = []
    for m in sizes or training_sizes(n, k):
        idx = np.arange(n) if m >= n else train_test_split(
            np.arange(n), train_size=m, stratify=y, random_state=seed)[0]
        _, counts = np.unique(y[idx], return_counts=True)
        if counts.size < k or counts.min() < 2:
            continue
        part = X.iloc[idx] if hasattr(X, "iloc") else [X[i] for i in idx]
        clf = make().fit(part, y[idx])
        out.append((int(idx.size), float(np.mean(clf.predict(X_test) == y_test))))
    return out


def _learning(curve: Sequence[tuple[int, float]]) -> str:
    fig = Figure(figsize=(5.2, 3.8))
    ax = fig.add_subplot()
    ax.plot([c[0] for c in curve], [c[1] for c in curve], marker="o", color="#1f77b4")
    ax.set_xscale("log")
    ax.set_xlabel("training rows")
    ax.set_ylabel("accuracy on the predicted table")
    fig.tight_layout()
    rows = "".join(f'<tr><td class="num">{n:,}</td><td class="num">{a:.4f}</td></tr>'
                   for n, a in curve)
    return (f'<figure><img src="{figure_to_data_uri(fig)}" alt="learning curve"><figcaption>'
            "Accuracy by training size (stratified subsamples).</figcaption></figure>"
            f'<div class="table-wrap"><table><tr><th>training rows</th><th>accuracy</th></tr>'
            f"{rows}</table></div>")


def write_classify_report(path: str | os.PathLike[str], y: np.ndarray, proba: np.ndarray,
                          classes: Sequence[object], info: Mapping[str, object], *,
                          curve: Sequence[tuple[int, float]] | None = None) -> Path:
    """Write the report page for predictions `proba` of true labels `y` (atomically),
    with the learning curve (training size, accuracy) when given."""
    y = np.asarray(y, dtype=object)
    pred = np.asarray(list(classes), dtype=object)[proba.argmax(axis=1)]
    scores = classification_scores(y, proba, classes)
    shown = {"rows scored": f"{y.size:,}", **{k: f"{v:.4f}" for k, v in scores.items()},
             **info, "made": now()}
    fragments = [
        "<h1>Classification report</h1>",
        section("Summary", info_table(shown)),
        section("Confusion matrix", _confusion(y, pred, classes)),
        section("Calibration", _calibration(y, proba, classes)),
    ]
    if curve:
        fragments.append(section("Learning curve", _learning(curve)))
    return write_page(path, "genlab classification report", fragments)
