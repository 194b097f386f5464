"""The numeric column figure: real and synthetic as outlines on shared bins.

Two translucent fills read as one colour where they overlap, so both tables are drawn as step
outlines (real solid, synthetic dashed). A column that is mostly zeros with a long tail
(Adult's capital-gain) gets a separate bar of the zero share and its other values on a log
axis; any other long-tailed positive column gets a log axis too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.dates as mdates
import numpy as np
from matplotlib import ticker
from matplotlib.axes import Axes

from genlab.report.figure_base import (
    REAL_COLOR,
    SYNTH_COLOR,
    figure_to_data_uri,
    legend,
    message,
    new_figure,
    short,
)

__all__ = ["ZERO_HEAVY_SHARE", "numeric_histogram", "numeric_scale"]

MAX_BINS = 40
ZERO_HEAVY_SHARE = 0.3  # at least this share of exact zeros gets its own bar
LOG_RANGE = 100.0  # positive values spanning more than this factor go on a log axis


@dataclass(frozen=True)
class Scale:
    """How a numeric column is drawn: zeros split off, and the x axis scale."""

    zeros_apart: bool
    axis: str  # "linear", "log" or "symlog"


def numeric_scale(real: np.ndarray) -> Scale:
    """The drawing of a column with these real values (finite, missing left out)."""
    if real.size < 10:
        return Scale(False, "linear")
    zero_share = float(np.mean(real == 0))
    zeros_apart = zero_share >= ZERO_HEAVY_SHARE and zero_share < 1.0
    rest = real[real != 0] if zeros_apart else real
    if rest.size < 5:
        return Scale(zeros_apart, "linear")
    lo, hi = float(rest.min()), float(rest.max())
    if lo > 0 and hi / lo > LOG_RANGE and _skewed(rest):
        return Scale(zeros_apart, "log")
    spread = float(np.quantile(np.abs(rest), 0.5))
    if lo < 0 and spread > 0 and max(abs(lo), abs(hi)) / spread > 50 * LOG_RANGE:
        return Scale(zeros_apart, "symlog")
    return Scale(zeros_apart, "linear")


def _skewed(values: np.ndarray) -> bool:
    # The mean far above the median marks a right tail a linear axis would squash.
    q50, q99 = np.quantile(values, [0.5, 0.99])
    return bool(q99 > 5 * q50) or float(values.mean()) > 1.5 * float(q50)


def _edges(both: np.ndarray, integer: bool, axis: str) -> np.ndarray:
    lo, hi = float(both.min()), float(both.max())
    n_bins = int(np.clip(np.sqrt(both.size), 5, MAX_BINS))
    if axis == "log" and lo > 0:
        return np.geomspace(lo, hi * 1.0001, n_bins + 1)
    if integer:
        # Bins a whole number of values wide: bins straddling values alias into a comb.
        width = max(1, math.ceil((hi - lo + 1) / MAX_BINS)) if hi - lo > 60 else 1
        return np.arange(math.floor(lo) - 0.5, math.ceil(hi) + width, width)
    if lo == hi:
        return np.array([lo - 0.5, hi + 0.5])
    return np.linspace(lo, hi, n_bins + 1)


def _outline(ax: Axes, values: np.ndarray, n_total: int, edges: np.ndarray, label: str,
             color: str, style: str) -> None:
    if values.size:
        # Shares of all rows, so the bins and the zero bar add up to one.
        ax.hist(values, bins=edges, weights=np.full(values.size, 1.0 / n_total),
                histtype="step", linewidth=1.8 if style == "-" else 1.5, linestyle=style,
                color=color, label=label)
    else:
        ax.plot([], [], color=color, linestyle=style, label=f"{label}: all missing")


def _zero_bar(ax: Axes, real: np.ndarray, synth: np.ndarray) -> None:
    shares = [float(np.mean(v == 0)) if v.size else 0.0 for v in (real, synth)]
    bars = ax.bar([0, 1], shares, color="none", edgecolor=[REAL_COLOR, SYNTH_COLOR],
                  linewidth=1.8, hatch=["", "///"], width=0.7)
    for bar, share in zip(bars, shares, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, share + 0.02, f"{100 * share:.0f}%",
                ha="center", va="bottom", fontsize=6)
    ax.set_xticks([0, 1], ["real", "synth."], fontsize=7)
    ax.set_ylim(0, 1.15)
    ax.yaxis.set_major_formatter(ticker.PercentFormatter(1.0, decimals=0))
    ax.set_title("= 0", fontsize=8)
    ax.set_ylabel("share of rows", fontsize=8)


def _format_axis(ax: Axes, axis: str, datetime: bool, offset: float) -> None:
    if datetime:
        locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    elif axis == "log":
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ticker.EngFormatter(sep=""))
    elif axis == "symlog":
        ax.set_xscale("symlog", linthresh=1.0)
    else:
        ax.xaxis.set_major_locator(ticker.MaxNLocator(6))
        ax.xaxis.set_major_formatter(ticker.EngFormatter(sep=""))
    ax.yaxis.set_major_formatter(ticker.PercentFormatter(1.0, decimals=1))
    ax.tick_params(labelsize=7)


def numeric_histogram(real: np.ndarray, synth: np.ndarray, *, title: str,
                      integer: bool = False, datetime: bool = False) -> str:
    """Step outlines of real and synthetic values on shared bins, as shares of rows.

    Args:
        real: Finite real values (for datetimes, days since 1970-01-01).
        synth: Finite synthetic values, same units.
        title: Axes title (the column name); also the x-axis label.
        integer: Align bins on integers when the range is small.
        datetime: Label the x axis with dates.

    Returns:
        The PNG as a data URI.
    """
    fig = new_figure()
    if real.size == 0 and synth.size == 0:
        ax = fig.add_subplot()
        ax.set_title(short(title), fontsize=9, loc="left")
        message(ax, "no non-missing values")
        return figure_to_data_uri(fig)
    scale = Scale(False, "linear") if datetime else numeric_scale(real)
    if scale.zeros_apart:
        zero_ax, ax = fig.subplots(1, 2, width_ratios=[1.3, 4])
        _zero_bar(zero_ax, real, synth)
        r, s = real[real != 0], synth[synth != 0]
        ax.set_title("≠ 0", fontsize=8)
    else:
        ax = fig.add_subplot()
        r, s = real, synth
    fig.suptitle(short(title, 40), fontsize=9, x=0.02, ha="left")
    offset = float(mdates.date2num(np.datetime64("1970-01-01T00:00:00"))) if datetime else 0.0
    both = np.concatenate([r, s])
    if scale.axis == "log":
        both = both[both > 0]
        r, s = r[r > 0], s[s > 0]
    if both.size == 0:
        message(ax, "no other values")
    else:
        edges = _edges(both, integer, scale.axis) + offset
        _outline(ax, r + offset, max(real.size, 1), edges, "real", REAL_COLOR, "-")
        _outline(ax, s + offset, max(synth.size, 1), edges, "synthetic", SYNTH_COLOR, "--")
        _format_axis(ax, scale.axis, datetime, offset)
    ax.set_xlabel(short(title) + (" (log scale)" if scale.axis == "log" else ""), fontsize=8)
    if not scale.zeros_apart:
        ax.set_ylabel("share of rows", fontsize=8)
    legend(fig)
    return figure_to_data_uri(fig)
