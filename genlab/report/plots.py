"""Report figures: small matplotlib plots rendered to base64 PNG data URIs.

Every function builds its own `matplotlib.figure.Figure` (never pyplot), so nothing touches
global matplotlib state and reports can be built from threads or notebooks alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import ticker

from genlab.report.figure_base import DPI, REAL_COLOR, SYNTH_COLOR, figure_to_data_uri
from genlab.report.figure_base import legend as _legend
from genlab.report.figure_base import message as _message
from genlab.report.figure_base import new_figure as _figure
from genlab.report.figure_base import short as _short
from genlab.report.numeric_plots import numeric_histogram

__all__ = [
    "DPI",
    "MISSING_LABEL",
    "REAL_COLOR",
    "SYNTH_COLOR",
    "OTHER_LABEL",
    "association_heatmap",
    "category_bars",
    "category_shares",
    "figure_to_data_uri",
    "numeric_histogram",
    "step_key",
    "training_curves",
]

MISSING_LABEL = "(missing)"
OTHER_LABEL = "other"
TOP_K = 12  # categories drawn before the rest is summed into "other"
MIN_SHARE = 0.005  # a category below this share in both tables joins "other" too
STEP_KEYS = ("epoch", "iteration", "step")
# Wall-clock entries of a history say how long, not how well: not drawn as a curve.
_CLOCK_KEYS = ("seconds", "elapsed", "time")
# Metric keys that differ only by one of these prefixes share one panel (train vs val loss).
_SPLIT_PREFIXES = ("train_", "training_", "val_", "valid_", "validation_", "test_", "eval_")


def category_shares(
    real_counts: Mapping[str, int],
    synth_counts: Mapping[str, int],
    real_missing: int,
    synth_missing: int,
    limit: int = TOP_K,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Share of rows per category: the `limit` most frequent real categories, then "other".

    Categories beyond the limit, or below `MIN_SHARE` in both tables, are summed into
    ``"other (N)"`` (N categories), so a high-cardinality column never draws a tall panel
    of empty bars; missing values get their own ``"(missing)"`` bar. Ties in real frequency
    are broken by synthetic frequency.

    Returns:
        Labels, real shares and synthetic shares (each a fraction of that table's rows).
    """
    names = sorted(
        set(real_counts) | set(synth_counts),
        key=lambda k: (-real_counts.get(k, 0), -synth_counts.get(k, 0), k),
    )
    n_real = max(sum(real_counts.values()) + real_missing, 1)
    n_synth = max(sum(synth_counts.values()) + synth_missing, 1)

    def visible(k: str) -> bool:
        return max(real_counts.get(k, 0) / n_real, synth_counts.get(k, 0) / n_synth) >= MIN_SHARE

    kept = [k for k in names[:limit] if visible(k)]
    kept_set = set(kept)
    rest = [k for k in names if k not in kept_set]
    if len(rest) == 1:  # "other (1)" would hide a name for nothing
        kept, rest = kept + rest, []
    labels = list(kept)
    real = [real_counts.get(k, 0) for k in kept]
    synth = [synth_counts.get(k, 0) for k in kept]
    if rest:
        labels.append(f"{OTHER_LABEL} ({len(rest)})")
        real.append(sum(real_counts.get(k, 0) for k in rest))
        synth.append(sum(synth_counts.get(k, 0) for k in rest))
    if real_missing or synth_missing:
        labels.append(MISSING_LABEL)
        real.append(real_missing)
        synth.append(synth_missing)
    r, s = np.asarray(real, dtype=float), np.asarray(synth, dtype=float)
    return labels, r / max(r.sum(), 1.0), s / max(s.sum(), 1.0)


def category_bars(labels: Sequence[str], real: np.ndarray, synth: np.ndarray, *, title: str) -> str:
    """Side-by-side horizontal bars of real and synthetic category shares.

    Returns:
        The PNG as a data URI.
    """
    n = len(labels)
    fig = _figure(height=max(2.8, 0.9 + 0.24 * n))
    ax = fig.add_subplot()
    ax.set_title(_short(title), fontsize=9, loc="left")
    if n == 0:
        _message(ax, "no values")
        return figure_to_data_uri(fig)
    y = np.arange(n)
    h = 0.4
    ax.barh(y - h / 2, real, height=h, color=REAL_COLOR, label="real")
    ax.barh(y + h / 2, synth, height=h, color="white", edgecolor=SYNTH_COLOR, hatch="////",
            linewidth=1.0, label="synthetic")
    ax.set_yticks(y, [_short(str(label)) for label in labels], fontsize=7)
    ax.invert_yaxis()  # most frequent category on top
    ax.set_xlabel("share of rows", fontsize=8)
    ax.xaxis.set_major_formatter(ticker.PercentFormatter(1.0, decimals=0))
    ax.tick_params(axis="x", labelsize=7)
    _legend(fig)
    return figure_to_data_uri(fig)


def association_heatmap(
    matrix: np.ndarray,
    labels: Sequence[str],
    *,
    title: str,
    vmin: float = -1.0,
    vmax: float = 1.0,
    cmap: str = "RdBu_r",
) -> str:
    """A labelled heatmap of a square association matrix on a fixed colour scale.

    Returns:
        The PNG as a data URI.
    """
    n = len(labels)
    side = min(9.0, 2.6 + 0.17 * n)
    fig = _figure(width=side + 0.9, height=side)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, vmin=vmin, vmax=vmax, cmap=cmap, interpolation="nearest")
    ticks = np.arange(n)
    fontsize = 7 if n <= 15 else 5
    short = [_short(str(label)) for label in labels]
    ax.set_xticks(ticks, short, rotation=90, fontsize=fontsize)
    ax.set_yticks(ticks, short, fontsize=fontsize)
    ax.set_title(title, fontsize=9)
    if n <= 10:
        for i in range(n):
            for j in range(n):
                value = matrix[i, j]
                dark = abs(value - (vmin + vmax) / 2) > 0.35 * (vmax - vmin)
                ax.text(
                    j,
                    i,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if dark else "black",
                )
    extend = "max" if np.nanmax(matrix, initial=vmin) > vmax else "neither"
    bar = fig.colorbar(image, ax=ax, shrink=0.8, extend=extend)
    bar.ax.tick_params(labelsize=7)
    return figure_to_data_uri(fig)


def step_key(history: Sequence[Mapping[str, object]]) -> str | None:
    """The key that numbers steps in a training history, or None to use the row index."""
    keys = set().union(*(h.keys() for h in history)) if history else set()
    return next((k for k in STEP_KEYS if k in keys), None)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _metric_group(key: str) -> str:
    for prefix in _SPLIT_PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            return key[len(prefix) :]
    return key


def training_curves(history: Sequence[Mapping[str, object]], max_panels: int = 8) -> str | None:
    """Plot every numeric metric of a per-epoch history against its step.

    Metrics sharing a name after a split prefix (``train_loss``, ``val_loss``) share a panel;
    other metrics get their own, so a log-likelihood and a learning rate stay readable.

    Returns:
        The PNG as a data URI, or None if the history holds no numeric metric.
    """
    key = step_key(history)
    metrics: list[str] = []
    for entry in history:
        for k, v in entry.items():
            if k != key and k not in metrics and k not in _CLOCK_KEYS and _is_number(v):
                metrics.append(k)
    if not metrics:
        return None
    if key is None:
        steps = np.arange(len(history), dtype=float)
        xlabel = "index"
    else:
        steps = np.array([float(h[key]) if _is_number(h.get(key)) else np.nan for h in history])
        xlabel = key
    groups: dict[str, list[str]] = {}
    for m in metrics:
        groups.setdefault(_metric_group(m), []).append(m)
    names = list(groups)[:max_panels]
    fig = _figure(width=5.0, height=0.6 + 1.7 * len(names))
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, names, strict=True):
        for m in groups[name]:
            y = np.array([float(h[m]) if _is_number(h.get(m)) else np.nan for h in history])
            y[~np.isfinite(y)] = np.nan
            ax.plot(
                steps,
                y,
                marker="o" if len(history) <= 30 else None,
                markersize=3,
                linewidth=1.2,
                label=m,
            )
        ax.set_ylabel(_short(name), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
    axes[-1].set_xlabel(xlabel, fontsize=8)
    return figure_to_data_uri(fig)
