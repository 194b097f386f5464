"""What the evaluation report draws, and the drawings: plain arrays in, PNG data URIs out.

The evaluation suite hands the report an `EvaluationData` (numbers and labels only), so the
report needs nothing from `genlab.evaluate` and the suite can import the report freely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from genlab.report import plots

__all__ = [
    "HOLDOUT_COLOR",
    "ColumnFigure",
    "EvaluationData",
    "bars",
    "column_figure",
    "dcr_histogram",
    "projection_scatter",
]

REAL, SYNTH = plots.REAL_COLOR, plots.SYNTH_COLOR
HOLDOUT_COLOR = "#2ca02c"


@dataclass(frozen=True)
class ColumnFigure:
    """One column of the real and synthetic tables, ready to plot.

    A categorical column carries label counts and missing counts; a numeric one carries its
    present values (datetimes in days since 1970).
    """

    name: str
    categorical: bool
    real_counts: Mapping[str, int] = field(default_factory=dict)
    synth_counts: Mapping[str, int] = field(default_factory=dict)
    real_missing: int = 0
    synth_missing: int = 0
    real_values: np.ndarray = field(default_factory=lambda: np.empty(0))
    synth_values: np.ndarray = field(default_factory=lambda: np.empty(0))
    integer: bool = False
    datetime: bool = False


@dataclass(frozen=True)
class EvaluationData:
    """Everything the evaluation report draws beyond the JSON scores."""

    columns: Sequence[ColumnFigure]
    association_columns: Sequence[str]
    real_matrix: np.ndarray
    synth_matrix: np.ndarray
    projection: tuple[np.ndarray, np.ndarray]  # 2-D coordinates of real and synthetic rows
    distances: Mapping[str, np.ndarray]  # "dcr_synthetic" and "dcr_holdout"
    # Rows of both tables (subsamples are fine): with them the report adds the alerts, the
    # worst pairs' scatter / heat maps, validity checks and sample rows.
    real_rows: pd.DataFrame | None = None
    synth_rows: pd.DataFrame | None = None


def _figure(width: float = 4.0, height: float = 2.8) -> Figure:
    return Figure(figsize=(width, height), dpi=plots.DPI, layout="constrained")


def column_figure(col: ColumnFigure) -> str:
    """Category bars or a histogram of one column, real against synthetic."""
    if col.categorical:
        names, rp, sp = plots.category_shares(
            dict(col.real_counts), dict(col.synth_counts), col.real_missing, col.synth_missing
        )
        return plots.category_bars(names, rp, sp, title=col.name)
    return plots.numeric_histogram(col.real_values, col.synth_values, title=col.name,
                                   integer=col.integer, datetime=col.datetime)


def projection_scatter(real: np.ndarray, synth: np.ndarray) -> str:
    """Real and synthetic rows on the first two principal components."""
    fig = _figure(5.0, 4.0)
    ax = fig.add_subplot()
    ax.scatter(real[:, 0], real[:, 1], s=4, alpha=0.35, color=REAL, label="real", lw=0)
    ax.scatter(synth[:, 0], synth[:, 1], s=4, alpha=0.35, color=SYNTH, label="synthetic", lw=0)
    ax.set_xlabel("component 1", fontsize=8)
    ax.set_ylabel("component 2", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, markerscale=3, frameon=False)
    return plots.figure_to_data_uri(fig)


def bars(names: Sequence[str], series: Mapping[str, Sequence[float | None]], xlabel: str,
         title: str) -> str:
    """Horizontal grouped bars: one group per name, one bar per series (None drawn as 0)."""
    n = len(names)
    fig = _figure(4.6, max(2.6, 0.9 + 0.28 * n))
    ax = fig.add_subplot()
    h = 0.8 / max(len(series), 1)
    colors = [REAL, SYNTH, HOLDOUT_COLOR]
    for k, (label, vals) in enumerate(series.items()):
        y = np.arange(n) + (k - (len(series) - 1) / 2) * h
        v = np.array([np.nan if x is None else x for x in vals], dtype=float)
        ax.barh(y, np.nan_to_num(v), height=h, color=colors[k % 3], alpha=0.85, label=label)
    ax.set_yticks(np.arange(n), [str(x)[:22] for x in names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_title(title[:40], fontsize=9, loc="left")
    ax.tick_params(axis="x", labelsize=7)
    fig.legend(loc="outside upper right", ncols=2, fontsize=7, frameon=False)
    return plots.figure_to_data_uri(fig)


def dcr_histogram(distances: Mapping[str, np.ndarray]) -> str:
    """Distances to the closest training row, synthetic against hold-out rows, as densities
    (the two sets differ in size) drawn as outlines on shared bins."""
    fig = _figure(5.0, 3.0)
    ax = fig.add_subplot()
    a, b = distances["dcr_synthetic"], distances["dcr_holdout"]
    both = np.concatenate([a, b])
    top = (float(np.quantile(both, 0.99)) if both.size else 0.0) or 1.0
    edges = np.linspace(0.0, top, 41)
    for values, label, color, style in ((a, f"synthetic → train ({a.size:,} rows)", SYNTH, "-"),
                                        (b, f"hold-out → train ({b.size:,} rows)",
                                         HOLDOUT_COLOR, "--")):
        if values.size:
            ax.hist(np.clip(values, 0, top), bins=edges, density=True, histtype="step",
                    linewidth=1.8, linestyle=style, color=color, label=label)
    ax.set_xlabel("distance to closest training row (values above the 99th percentile "
                  "in the last bin)", fontsize=7)
    ax.set_ylabel("density", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.legend(loc="outside upper right", ncols=1, fontsize=7, frameon=False)
    return plots.figure_to_data_uri(fig)
