"""The classification report: accuracy, log loss, confusion matrix and calibration curve of
a classifier's predictions on labelled rows, on genlab's one page shell."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, roc_auc_score

from genlab.provenance import now
from genlab.report.plots import figure_to_data_uri
from genlab.report.shell import esc, info_table, section, write_page

__all__ = ["classification_scores", "write_classify_report"]


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


def write_classify_report(path: str | os.PathLike[str], y: np.ndarray, proba: np.ndarray,
                          classes: Sequence[object], info: Mapping[str, object]) -> Path:
    """Write the report page for predictions `proba` of true labels `y` (atomically)."""
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
    return write_page(path, "genlab classification report", fragments)
