"""Column pairs: a score per pair, worst first, and a picture of the three worst pairs.

A pair's score is 1 − |real association − synthetic association| / 2 (what the pair trend
score averages). The worst pairs are drawn from the rows themselves: a scatter of real and
synthetic side by side for two numeric columns, joint-share heat maps otherwise (numeric
columns cut at the real quantiles), so a reader sees *how* a relation was lost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import PowerNorm
from matplotlib.ticker import PercentFormatter

from genlab.report.figure_base import REAL_COLOR, SYNTH_COLOR, figure_to_data_uri, new_figure
from genlab.report.figure_base import short as _short
from genlab.report.numeric_plots import numeric_scale
from genlab.report.shell import esc
from genlab.report.table_stats import Column

__all__ = ["PairScore", "pair_figure", "pair_scores", "pairs_html"]

TABLE_ROWS = 25
SCATTER_POINTS = 3000
_BINS = 8
_TOP = 8


@dataclass(frozen=True)
class PairScore:
    """One pair of columns: the measure, both associations and the score (None: n/a)."""

    a: str
    b: str
    measure: str
    real: float | None
    synthetic: float | None
    score: float | None


def _measure(x: Column, y: Column) -> str:
    if x.numeric is not None and y.numeric is not None:
        return "Pearson r"
    if x.codes is not None and y.codes is not None:
        return "Cramér's V"
    return "correlation ratio"


def pair_scores(real: Sequence[Column], names: Sequence[str], m_real: np.ndarray,
                m_synth: np.ndarray) -> list[PairScore]:
    """Every pair of the association matrices, worst score first."""
    out = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            r, s = float(m_real[i, j]), float(m_synth[i, j])
            out.append(PairScore(names[i], names[j], _measure(real[i], real[j]), r, s,
                                 1.0 - abs(r - s) / 2.0))
    return sorted(out, key=lambda p: (math.inf if p.score is None else p.score, p.a, p.b))


def _num(x: float | None, fmt: str = "+.3f") -> str:
    return "n/a" if x is None or not math.isfinite(x) else format(x, fmt)


_EXPLAIN = "Score = 1 − |real − synthetic| / 2 (1: the relation is kept)."


def pairs_html(pairs: Sequence[PairScore], figures: Sequence[tuple[str, str]] = (), *,
               explain: str = _EXPLAIN) -> str:
    """The per-pair table (worst first, at most `TABLE_ROWS`) and the worst pairs' figures
    (`figures`: data URI and caption each); `explain` says what the score is."""
    if not pairs:
        return '<p class="note">Fewer than two comparable columns: no pairs.</p>'
    rows = "".join(
        f'<tr data-pair="{esc(p.a)}|{esc(p.b)}"><td>{esc(p.a)}</td><td>{esc(p.b)}</td>'
        f'<td>{esc(p.measure)}</td><td class="num">{_num(p.real)}</td>'
        f'<td class="num">{_num(p.synthetic)}</td>'
        f'<td class="num pair-score">{_num(p.score, ".3f")}</td></tr>'
        for p in pairs[:TABLE_ROWS])
    more = (f'<p class="note">{len(pairs) - TABLE_ROWS} better pairs not listed.</p>'
            if len(pairs) > TABLE_ROWS else "")
    figs = "".join(f'<figure><img src="{uri}" alt="{esc(cap)}" loading="eager">'
                   f"<figcaption>{esc(cap)}</figcaption></figure>" for uri, cap in figures)
    return (
        f"<p>{esc(explain)} Higher is better; worst pairs first.</p>"
        '<div class="table-wrap"><table class="pairs"><thead><tr><th>Column</th><th>Column</th>'
        "<th>Measure</th><th>Real</th><th>Synthetic</th><th>Score</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>{more}"
        + (f'<h3>The worst pairs, real and synthetic</h3><div class="row">{figs}</div>'
           if figs else ""))


def _thin(n: int, seed: int) -> np.ndarray:
    idx = np.arange(n)
    if n <= SCATTER_POINTS:
        return idx
    return np.sort(np.random.default_rng(seed).choice(n, SCATTER_POINTS, replace=False))


def _long_tail_axis(ax: Axes, axis: str, col: Column) -> None:
    # symlog, not log: it keeps the zeros (capital-gain) a log axis would drop
    assert col.numeric is not None
    present = col.numeric[~np.isnan(col.numeric)]
    scale = numeric_scale(present)
    nonzero = np.abs(present[present != 0])
    if (scale.axis != "linear" or scale.zeros_apart) and nonzero.size:
        linthresh = max(1e-9, float(np.quantile(nonzero, 0.05)))
        getattr(ax, f"set_{axis}scale")("symlog", linthresh=linthresh)


def _scatter(x: tuple[Column, Column], y: tuple[Column, Column], names: tuple[str, str]) -> str:
    fig = new_figure(6.4, 3.0)
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    for k, (ax, label, color) in enumerate(zip(axes, ("real", "synthetic"),
                                               (REAL_COLOR, SYNTH_COLOR), strict=True)):
        xv, yv = x[k].numeric, y[k].numeric
        assert xv is not None and yv is not None
        keep = ~(np.isnan(xv) | np.isnan(yv))
        xv, yv = xv[keep], yv[keep]
        idx = _thin(len(xv), k)
        ax.scatter(xv[idx], yv[idx], s=4, alpha=0.35, color=color, lw=0)
        ax.set_title(label, fontsize=8)
        ax.set_xlabel(_short(names[0]), fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel(_short(names[1]), fontsize=8)
    for axis, col in (("x", x[0]), ("y", y[0])):
        _long_tail_axis(axes[0], axis, col)
    return figure_to_data_uri(fig)


def _bins(real: Column, synth: Column) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Group codes (-1 missing) of both tables and the labels: real quantile bins."""
    assert real.numeric is not None and synth.numeric is not None
    present = real.numeric[~np.isnan(real.numeric)]
    edges = np.unique(np.quantile(present, np.linspace(0, 1, _BINS + 1))) if present.size \
        else np.array([0.0, 1.0])
    if len(edges) < 2:
        edges = np.array([edges[0], edges[0]])
    labels = [f"{edges[i]:.3g}–{edges[i + 1]:.3g}" for i in range(len(edges) - 1)]

    def codes(values: np.ndarray) -> np.ndarray:
        inner = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(labels) - 1)
        return np.where(np.isnan(values), -1, inner)

    return codes(real.numeric), codes(synth.numeric), labels


def _categories(real: Column, synth: Column) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Group codes (-1 missing) of both tables and the labels: the top real categories,
    then "other" (the rest, and synthetic categories the real table lacks)."""
    assert real.codes is not None and real.labels is not None
    assert synth.codes is not None and synth.labels is not None
    counts = np.bincount(real.codes[real.codes >= 0], minlength=len(real.labels))
    top = [real.labels[t] for t in np.argsort(-counts, kind="stable")[:_TOP]]
    group = {label: i for i, label in enumerate(top)}
    needs_other = len(real.labels) > len(top) or bool(set(synth.labels) - set(top))
    labels = top + (["other"] if needs_other else [])

    def codes(col: Column) -> np.ndarray:
        # Codes are each table's own: map them through the labels to the real groups.
        assert col.codes is not None and col.labels is not None
        mapping = np.array([group.get(label, len(top)) for label in col.labels] + [-1],
                           dtype=np.int64)
        return np.where(col.codes >= 0, mapping[np.maximum(col.codes, 0)], -1)

    return codes(real), codes(synth), labels


def _groups(real: Column, synth: Column) -> tuple[np.ndarray, np.ndarray, list[str]]:
    r, s, labels = _bins(real, synth) if real.numeric is not None else _categories(real, synth)
    if (r < 0).any() or (s < 0).any():
        # missing values are part of the association measured: draw them as a group
        labels = [*labels, "(missing)"]
        r, s = np.where(r < 0, len(labels) - 1, r), np.where(s < 0, len(labels) - 1, s)
    return r, s, labels


def _joint(gx: np.ndarray, gy: np.ndarray, kx: int, ky: int) -> np.ndarray:
    keep = (gx >= 0) & (gy >= 0)
    table = np.zeros((ky, kx))
    np.add.at(table, (gy[keep], gx[keep]), 1.0)
    return table / max(table.sum(), 1.0)


def _heatmaps(x: tuple[Column, Column], y: tuple[Column, Column], names: tuple[str, str]) -> str:
    rx, sx, lx = _groups(*x)
    ry, sy, ly = _groups(*y)
    real = _joint(rx, ry, len(lx), len(ly))
    synth = _joint(sx, sy, len(lx), len(ly))
    top = max(float(real.max()), float(synth.max()), 1e-9)
    diff = synth - real
    span = max(float(np.abs(diff).max()), 1e-9)
    fig = new_figure(9.6, 3.0 + 0.12 * len(ly))
    axes = fig.subplots(1, 3, sharey=True)
    # A square-root scale keeps the small cells visible next to one dominant cell.
    shares = PowerNorm(0.5, vmin=0.0, vmax=top)
    panels = ((real, "real", {"norm": shares, "cmap": "Blues"}),
              (synth, "synthetic", {"norm": shares, "cmap": "Blues"}),
              (diff, "synthetic − real", {"vmin": -span, "vmax": span, "cmap": "RdBu_r"}))
    images = []
    for ax, (table, label, style) in zip(axes, panels, strict=True):
        images.append(ax.imshow(table, aspect="auto", interpolation="nearest", **style))
        ax.set_xticks(np.arange(len(lx)), [_short(v, 12) for v in lx], rotation=60,
                      ha="right", fontsize=6)
        ax.set_title(label, fontsize=8)
        ax.set_xlabel(_short(names[0]), fontsize=8)
    axes[0].set_yticks(np.arange(len(ly)), [_short(v, 16) for v in ly], fontsize=6)
    axes[0].set_ylabel(_short(names[1]), fontsize=8)
    for image, ax, label in ((images[1], list(axes[:2]), "share of rows"),
                             (images[2], axes[2], "difference")):
        bar = fig.colorbar(image, ax=ax, shrink=0.8, format=PercentFormatter(1.0, decimals=None))
        bar.set_label(label, fontsize=7)
        bar.ax.tick_params(labelsize=6)
    return figure_to_data_uri(fig)


def pair_figure(real: tuple[Column, Column], synth: tuple[Column, Column],
                names: tuple[str, str]) -> str:
    """Real and synthetic side by side for one pair: a scatter or joint-share heat maps."""
    x, y = (real[0], synth[0]), (real[1], synth[1])
    if all(c.numeric is not None for c in (*real, *synth)):
        return _scatter(x, y, names)
    return _heatmaps(x, y, names)
