"""Report figures: small matplotlib plots rendered to base64 PNG data URIs.

Every function builds its own `matplotlib.figure.Figure` (never pyplot), so nothing touches
global matplotlib state and reports can be built from threads or notebooks alike.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence

import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "MISSING_LABEL",
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
REAL_COLOR = "#1f77b4"
SYNTH_COLOR = "#ff7f0e"
DPI = 90
MAX_BINS = 40
MAX_LABEL_CHARS = 22
STEP_KEYS = ("epoch", "iteration", "step")
# Metric keys that differ only by one of these prefixes share one panel (train vs val loss).
_SPLIT_PREFIXES = ("train_", "training_", "val_", "valid_", "validation_", "test_", "eval_")


def _figure(width: float = 4.0, height: float = 2.8) -> Figure:
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def figure_to_data_uri(fig: Figure) -> str:
    """Render a figure to a ``data:image/png;base64,...`` URI."""
    buf = io.BytesIO()
    # No metadata: the PNG then depends only on the pixels, which keeps reports reproducible.
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def _legend(fig: Figure) -> None:
    # Above the axes, so it never hides bars of the plot itself.
    fig.legend(loc="outside upper right", ncols=2, fontsize=7, frameon=False)


def _message(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def _bin_edges(real: np.ndarray, synth: np.ndarray, integer: bool) -> np.ndarray:
    both = np.concatenate([real, synth])
    lo, hi = float(both.min()), float(both.max())
    if integer and hi - lo <= 60:
        # One bar per integer value reads better than bars straddling two values.
        return np.arange(math.floor(lo) - 0.5, math.ceil(hi) + 1.0, 1.0)
    if lo == hi:
        return np.array([lo - 0.5, hi + 0.5])
    n_bins = int(np.clip(np.sqrt(both.size), 5, MAX_BINS))
    return np.linspace(lo, hi, n_bins + 1)


def numeric_histogram(
    real: np.ndarray,
    synth: np.ndarray,
    *,
    title: str,
    integer: bool = False,
    datetime: bool = False,
) -> str:
    """Overlay density histograms of real and synthetic values on shared bins.

    Args:
        real: Finite real values (for datetimes, days since 1970-01-01).
        synth: Finite synthetic values, same units.
        title: Axes title.
        integer: Align bins on integers when the range is small.
        datetime: Label the x axis with dates.

    Returns:
        The PNG as a data URI.
    """
    fig = _figure()
    ax = fig.add_subplot()
    ax.set_title(_short(title), fontsize=9, loc="left")
    if real.size == 0 and synth.size == 0:
        _message(ax, "no non-missing values")
        return figure_to_data_uri(fig)
    offset = 0.0
    if datetime:
        # Matplotlib's date numbers count days from its configurable epoch, not from 1970.
        offset = float(mdates.date2num(np.datetime64("1970-01-01T00:00:00")))
    edges = _bin_edges(real, synth, integer) + offset
    for values, label, color in ((real, "real", REAL_COLOR), (synth, "synthetic", SYNTH_COLOR)):
        if values.size:
            ax.hist(
                values + offset,
                bins=edges,
                density=True,
                alpha=0.5,
                color=color,
                label=label,
                edgecolor="none",
            )
        else:
            ax.plot([], [], color=color, label=f"{label}: all missing")
    if datetime:
        locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.tick_params(labelsize=7)
    ax.set_ylabel("density", fontsize=8)
    _legend(fig)
    return figure_to_data_uri(fig)


def category_shares(
    real_counts: Mapping[str, int],
    synth_counts: Mapping[str, int],
    real_missing: int,
    synth_missing: int,
    limit: int = 20,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Share of rows per category, keeping the `limit` most frequent real categories.

    Categories beyond the limit are summed into ``"other"``; missing values get their own
    ``"(missing)"`` bar. Ties in real frequency are broken by synthetic frequency.

    Returns:
        Labels, real shares and synthetic shares (each a fraction of that table's rows).
    """
    names = sorted(
        set(real_counts) | set(synth_counts),
        key=lambda k: (-real_counts.get(k, 0), -synth_counts.get(k, 0), k),
    )
    kept, rest = names[:limit], names[limit:]
    labels = list(kept)
    real = [real_counts.get(k, 0) for k in kept]
    synth = [synth_counts.get(k, 0) for k in kept]
    if rest:
        labels.append(OTHER_LABEL)
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
    ax.barh(y - h / 2, real, height=h, color=REAL_COLOR, alpha=0.8, label="real")
    ax.barh(y + h / 2, synth, height=h, color=SYNTH_COLOR, alpha=0.8, label="synthetic")
    ax.set_yticks(y, [_short(str(label)) for label in labels], fontsize=7)
    ax.invert_yaxis()  # most frequent category on top
    ax.set_xlabel("share of rows", fontsize=8)
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
            if k != key and k not in metrics and _is_number(v):
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
