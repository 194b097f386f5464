"""HTML report of a sequence model: one self-contained page (images embedded as PNG).

Text: sample passages and, with real text, nats and bits per character. Molecules: an RDKit
grid of samples, MOSES metrics and property histograms against real molecules. Music:
piano rolls of samples and pitch-class / interval / duration histograms against real music.
Every model: its parameters and training curves.
"""

from __future__ import annotations

import base64
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from genlab.report.plots import figure_to_data_uri, numeric_histogram, training_curves
from genlab.report.shell import esc, section, write_page

__all__ = ["sequence_report"]

N_SAMPLES = {"char": 4, "smiles": 500, "music": 3}
_CSS = "pre.sample{white-space:pre-wrap;background:#fff;border:1px solid #d9dee7;padding:.6rem}"


def _table(rows: list[tuple[str, Any]]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return "n/a" if not math.isfinite(v) else f"{v:.4g}"
        return esc(v)

    body = "".join(f"<tr><th>{esc(k)}</th><td class='num'>{fmt(v)}</td></tr>" for k, v in rows)
    return f"<div class='table-wrap'><table>{body}</table></div>"


def _figure(uri: str, caption: str) -> str:
    return (f"<figure><img src='{esc(uri)}' alt='{esc(caption)}'>"
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def _bars_figure(labels: list[str], real: np.ndarray | None, synth: np.ndarray,
                 title: str) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0, 2.6), dpi=90, layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    if real is not None:
        ax.bar(x - 0.2, real, width=0.4, label="real", color="#1f77b4")
    ax.bar(x + (0.2 if real is not None else 0), synth, width=0.4, label="generated",
           color="#ff7f0e")
    step = max(1, len(labels) // 13)
    ax.set_xticks(x[::step], labels[::step], fontsize=7)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return figure_to_data_uri(fig)


def _text_sections(model: Any, data: Any) -> list[tuple[str, str]]:
    samples = model.sample(N_SAMPLES["char"], seed=0, length=min(model.sample_length, 600))
    body = "".join(f"<pre class='sample'>{esc(s)}</pre>" for s in samples)
    sections = [("Samples", body)]
    if data is not None:
        nats = model.nats_per_token(data)
        sections.append(("Held-out loss", _table([
            ("nats per character", nats), ("bits per character", nats / math.log(2))])))
    return sections


def _molecule_sections(model: Any, data: Any) -> list[tuple[str, str]]:
    from genlab.data.sequences.molecules import (
        canonical,
        molecule_grid_png,
        molecule_metrics,
        properties,
    )
    from genlab.data.sequences.readers import read_smiles_table

    samples = model.sample(N_SAMPLES["smiles"], seed=0)
    valid = [s for s, c in zip(samples, canonical(samples), strict=True) if c is not None]
    png = molecule_grid_png(valid[:16], per_row=4)
    grid = _figure("data:image/png;base64," + base64.b64encode(png).decode("ascii"),
                   f"16 of {len(samples)} sampled molecules (valid ones, RDKit drawings)")
    sections = [("Sampled molecules", grid)]
    real = None
    if data is not None:
        real = list(read_smiles_table(data)["smiles"])[:5000]
    metrics = molecule_metrics(samples, reference=real, training=real)
    rows = [(k, v) for k, v in metrics.items()]
    note = ("<p class='note'>novelty here is against the given real molecules, not the "
            "training set</p>" if real is not None else "")
    sections.append(("Metrics (MOSES definitions)", _table(rows) + note))
    if real is not None:
        names = ["logp", "qed", "mw"]
        gp, rp = properties(valid, names), properties(real, names)
        figs = []
        for j, name in enumerate(names):
            r, g = rp[:, j], gp[:, j]
            figs.append(_figure(numeric_histogram(r[np.isfinite(r)], g[np.isfinite(g)],
                                                  title=name), f"{name}: real vs generated"))
        sections.append(("Property distributions", f"<div class='grid'>{''.join(figs)}</div>"))
    return sections


def _music_sections(model: Any, data: Any) -> list[tuple[str, str]]:
    from genlab.data.sequences.music import (
        duration_histogram,
        histogram_distances,
        interval_histogram,
        piano_roll_figure,
        pitch_class_histogram,
    )
    from genlab.data.sequences.readers import read_music

    samples = model.sample(N_SAMPLES["music"], seed=0)
    rolls = "".join(_figure(figure_to_data_uri(piano_roll_figure(p, title=f"sample {i + 1}")),
                            f"sample {i + 1}: {p.bars} bars, {len(p.notes)} notes")
                    for i, p in enumerate(samples))
    sections = [("Piano rolls of samples", f"<div class='row'>{rolls}</div>")]
    real = read_music(data) if data is not None else None
    more = model.sample(10, seed=1)
    names = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
    figs = [
        _bars_figure(names, pitch_class_histogram(real) if real else None,
                     pitch_class_histogram(more), "pitch classes"),
        _bars_figure([str(i) for i in range(-12, 13)], interval_histogram(real) if real else None,
                     interval_histogram(more), "melodic intervals (semitones)"),
        _bars_figure([str(i) for i in range(1, 33)], duration_histogram(real) if real else None,
                     duration_histogram(more), "note durations (sixteenths)"),
    ]
    body = "<div class='grid'>" + "".join(_figure(u, "real vs generated") for u in figs) + "</div>"
    if real:
        body = _table(list(histogram_distances(real, more).items())) + body
    sections.append(("Histograms", body))
    return sections


def sequence_report(model: Any, path: str | os.PathLike[str], *,
                    data: str | os.PathLike[str] | None = None) -> Path:
    """Write the report of a fitted sequence model to `path` (see the module docstring):
    samples, and metrics against the real `data` when given."""
    model._check_fitted()
    kind = model.codec_.kind
    builders = {"char": _text_sections, "smiles": _molecule_sections, "music": _music_sections}
    sections = builders[kind](model, data)
    info = [("family", model.family), ("data", {"char": "text", "smiles": "molecules",
                                                 "music": "music"}[kind]),
            ("training items", model.n_rows_), ("fit seconds", round(model.fit_seconds_, 1)),
            ("conditions", ", ".join(model.conditions_) or "none")]
    info += [(k, v) for k, v in model.get_params().items() if v is not None]
    sections.insert(0, ("Model", _table(info)))
    curves = training_curves(model.history_) if model.history_ else None
    if curves:
        sections.append(("Training", _figure(curves, "loss per epoch (nats per token)")))
    title = f"genlab {type(model).__name__} report ({kind})"
    head = (f"<h1>{esc(title)}</h1><p class='meta'>created by genlab; "
            f"data: {esc(data) if data is not None else 'samples only'}; "
            "every image is embedded</p>")
    return write_page(path, title, [head, *(section(h, frag) for h, frag in sections)],
                      css=_CSS)
