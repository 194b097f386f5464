"""`evaluate`: fidelity, utility, privacy and bias of a synthetic table in one call."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from genlab._progress import task as progress_task
from genlab._version import __version__
from genlab.data.readers import TableSource
from genlab.errors import ParameterError
from genlab.evaluate._common import CATEGORICAL, Tables, labels, load_tables, numeric, subsample
from genlab.report.evaluation import ColumnFigure, EvaluationData, write_report

if TYPE_CHECKING:
    from genlab.evaluate.fidelity import FidelityDetails

__all__ = ["EvaluationResult", "evaluate", "quality_verdict"]

PLOT_ROWS = 20_000
PROJECTION_ROWS = 2_000


@dataclass
class _Details:
    """Arrays and tables the HTML report draws; not part of the JSON scores."""

    tables: Tables
    fidelity: FidelityDetails
    distances: dict[str, np.ndarray]
    projection: tuple[np.ndarray, np.ndarray]  # 2-D coordinates of real and synthetic rows


@dataclass
class EvaluationResult:
    """Scores of one synthetic table against its real training and hold-out tables.

    Attributes:
        scores: Nested dict of plain numbers, strings, booleans, lists and None (for a score
            that could not be computed); `json.dumps` takes it as is. Keys: "summary",
            "fidelity", "utility", "privacy", "bias", "meta".
    """

    scores: dict[str, Any]
    _details: _Details | None = field(default=None, repr=False, compare=False)

    @property
    def summary(self) -> dict[str, Any]:
        """The four headline cards: quality, utility gap, privacy risk, bias flags."""
        return self.scores["summary"]

    def _repr_html_(self) -> str:
        """The headline scores with their verdicts as a small HTML table (Jupyter)."""
        from genlab._cards import evaluation_card

        return evaluation_card(self.scores)

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int = 2) -> str:
        """The scores as JSON text; also written to `path` (atomically) when given."""
        text = json.dumps(self.scores, indent=indent, allow_nan=False)
        if path is not None:
            from genlab._atomic import atomic_path

            with atomic_path(path) as tmp:
                tmp.write_text(text + "\n", encoding="utf-8")
        return text

    def to_html(self, path: str | os.PathLike[str], *, title: str = "genlab evaluation") -> Path:
        """Write the self-contained HTML report (summary cards, sections, plots)."""
        if self._details is None:
            raise ParameterError("this result holds scores only (no tables); re-run evaluate()")
        return write_report(self.scores, _report_data(self._details), path, title=title)


def _column_figure(name: str, kind: str, real: pd.Series, synth: pd.Series) -> ColumnFigure:
    if kind == CATEGORICAL:
        lr, ls = labels(real), labels(synth)
        return ColumnFigure(
            name, categorical=True,
            real_counts=pd.Series(lr[pd.notna(lr)]).value_counts().to_dict(),
            synth_counts=pd.Series(ls[pd.notna(ls)]).value_counts().to_dict(),
            real_missing=int(pd.isna(lr).sum()), synth_missing=int(pd.isna(ls).sum()),
        )
    a, b = numeric(real), numeric(synth)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    both = np.concatenate([a, b])
    return ColumnFigure(
        name, categorical=False, real_values=a, synth_values=b,
        integer=bool(both.size) and bool(np.all(both == np.round(both))),
        datetime=pd.api.types.is_datetime64_any_dtype(real.dtype),
    )


def _report_data(details: _Details) -> EvaluationData:
    """What the HTML report draws, from the tables and arrays an evaluation keeps."""
    t, fd = details.tables, details.fidelity
    real = subsample(t.train, PLOT_ROWS, 0)
    synth = subsample(t.synthetic, PLOT_ROWS, 1)
    columns = [_column_figure(str(c), t.kinds[c], real[c], synth[c]) for c in t.train.columns]
    return EvaluationData(columns, list(fd.columns), fd.real_matrix, fd.synth_matrix,
                          details.projection, details.distances, real_rows=real,
                          synth_rows=synth)


def quality_verdict(quality: float | None, detection_auc: float | None) -> tuple[str, str]:
    """Plain-language reading of the overall quality and the detection AUC."""
    if quality is None:
        return "not measured", "no column could be compared"
    level = "good" if quality >= 0.9 else "fair" if quality >= 0.8 else "poor"
    text = {"good": "columns and column pairs follow the real data closely",
            "fair": "columns follow the real data, with visible differences",
            "poor": "columns or column pairs differ clearly from the real data"}[level]
    if detection_auc is not None:
        if detection_auc >= 0.9:
            text += ("; yet" if level == "good" else "; and") + " a classifier tells most " \
                    f"synthetic rows from real ones (detection AUC {detection_auc:.2f})"
        elif detection_auc >= 0.7:
            text += f"; a classifier spots some synthetic rows (detection AUC {detection_auc:.2f})"
        else:
            text += f"; synthetic rows are hard to tell apart (detection AUC {detection_auc:.2f})"
    return level, text


def _projection(t: Tables, seed: int) -> tuple[np.ndarray, np.ndarray]:
    # PCA of the distance encoding: the axes of largest variation in the real rows.
    from genlab.evaluate.privacy import DistanceEncoder

    enc = DistanceEncoder(t.kinds).fit(t.train)
    real = enc.transform(subsample(t.train, PROJECTION_ROWS, seed))
    synth = enc.transform(subsample(t.synthetic, PROJECTION_ROWS, seed + 1))
    mean = real.mean(axis=0)
    _, _, vt = np.linalg.svd(real - mean, full_matrices=False)
    axes = vt[:2].T if vt.shape[0] >= 2 else np.eye(real.shape[1], 2)
    return (real - mean) @ axes, (synth - mean) @ axes


def _plain(value: Any) -> Any:
    """Numpy scalars to Python, NaN and infinity to None, tuples to lists: strict JSON."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value


def _summary(s: dict[str, Any]) -> dict[str, Any]:
    fid, util, priv, bias = s["fidelity"], s["utility"], s["privacy"], s["bias"]
    q_level, q_text = quality_verdict(fid["quality"], fid["detection"]["auc"])
    return {
        "quality": {"value": fid["quality"], "verdict": q_level, "meaning": q_text},
        "utility_gap": {"value": util.get("gap") if util else None,
                        "verdict": util["verdict"] if util else "not measured",
                        "meaning": util["meaning"] if util else "no target column was given"},
        "privacy_risk": {"value": priv["dcr_ratio"], "verdict": priv["verdict"],
                         "meaning": priv["meaning"]},
        "bias": {"value": len(bias["flags"]), "verdict": bias["verdict"],
                 "meaning": bias["meaning"]},
    }


def _positive_class(t: Tables, utility: dict[str, Any], task_name: str) -> str | None:
    # The class whose rate the bias section compares: utility's, else the rarest one.
    positive = utility.get("positive_class")
    if task_name == "classification" and positive is None:
        counts = pd.Series(labels(t.train[t.target])).value_counts()
        positive = str(counts.index[-1]) if len(counts) else None
    return positive


def _run(t: Tables, seed: int) -> tuple[dict[str, Any], dict[str, float], _Details]:
    """The four families of scores (and the projection), timed, with a progress bar."""
    # scikit-learn loads here, not on `import genlab`.
    from genlab.evaluate.bias import bias_scores
    from genlab.evaluate.fidelity import fidelity_scores
    from genlab.evaluate.privacy import privacy_scores
    from genlab.evaluate.utility import task_kind, utility_scores

    seconds: dict[str, float] = {}
    scores: dict[str, Any] = {}
    with progress_task("evaluating", 5) as advance:
        start = time.perf_counter()
        scores["fidelity"], fid_details = fidelity_scores(t.train, t.synthetic, t.kinds, seed)
        seconds["fidelity"] = time.perf_counter() - start
        advance(stage="fidelity")

        start = time.perf_counter()
        task_name = positive = None
        scores["utility"] = None
        if t.target is not None:
            task_name = task_kind(t.train[t.target], t.kinds[t.target])
            scores["utility"] = utility_scores(t.train, t.test, t.synthetic, t.target, t.kinds,
                                               seed)
            positive = _positive_class(t, scores["utility"], task_name)
        seconds["utility"] = time.perf_counter() - start
        advance(stage="utility")

        start = time.perf_counter()
        scores["privacy"], distances = privacy_scores(t.train, t.test, t.synthetic, t.kinds, seed)
        seconds["privacy"] = time.perf_counter() - start
        advance(stage="privacy")

        start = time.perf_counter()
        scores["bias"] = bias_scores(t.train, t.synthetic, t.sensitive, t.kinds, t.target,
                                     task_name, positive)
        seconds["bias"] = time.perf_counter() - start
        advance(stage="bias")
        projection = _projection(t, seed)
        advance(stage="projection")
    return scores, seconds, _Details(t, fid_details, distances, projection)


def evaluate(
    *,
    train: TableSource,
    test: TableSource,
    synthetic: TableSource,
    target: str | None = None,
    sensitive: Sequence[str] | str | None = None,
    report: str | os.PathLike[str] | None = None,
    seed: int = 0,
    n_threads: int | None = 1,
) -> EvaluationResult:
    """Score a synthetic table for fidelity, utility, privacy and bias.

    Args:
        train: The real table the generator was fitted on (path or DataFrame).
        test: Real rows held out of training, from the same population.
        synthetic: The generated table, with the same columns.
        target: Column to predict for the utility scores and the bias target rates.
        sensitive: Columns (or one comma-separated string) whose groups are checked for bias.
        report: Where to write the HTML report; none is written when omitted.
        seed: Seed of every subsample, split and model.
        n_threads: Threads for the numeric libraries (None: their default). One thread avoids
            the large slow-downs OpenMP suffers on a busy machine.

    Returns:
        The scores (`.scores`, `.to_json()`) and the means to draw them (`.to_html(path)`).

    Raises:
        DataError: A table is empty, the tables' columns differ, or a named column is missing.
        ParameterError: An argument has a wrong type or value.
    """
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise ParameterError(f"seed must be an integer, got {seed!r}")
    if n_threads is not None and (not isinstance(n_threads, int) or n_threads < 1):
        raise ParameterError(f"n_threads must be a positive integer or None, got {n_threads!r}")
    t = load_tables(train, test, synthetic, target, sensitive)
    with threadpool_limits(n_threads):
        scores, seconds, details = _run(t, seed)
    scores["summary"] = _summary(scores)
    scores["meta"] = {
        "genlab_version": __version__,
        "rows": {"train": len(t.train), "test": len(t.test), "synthetic": len(t.synthetic)},
        "columns": {str(c): k for c, k in t.kinds.items()},
        "target": t.target,
        "sensitive": list(t.sensitive),
        "seed": int(seed),
        "seconds": seconds,
    }
    # Summary first: it is what a reader of the JSON wants to see.
    ordered = _plain(
        {k: scores[k] for k in ("summary", "fidelity", "utility", "privacy", "bias", "meta")}
    )
    result = EvaluationResult(ordered, details)
    if report is not None:
        start = time.perf_counter()
        result.to_html(report)
        ordered["meta"]["seconds"]["report"] = time.perf_counter() - start
    return result
