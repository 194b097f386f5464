"""The evaluation report: one self-contained HTML page, summary cards first, then sections.

Plots are matplotlib `Figure` objects rendered to base64 PNG data URIs (no pyplot, no network,
no JavaScript); every user-supplied string goes through `html.escape`.
"""

from __future__ import annotations

import html
import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from genlab._atomic import atomic_path
from genlab.evaluate._common import CATEGORICAL, labels, numeric, subsample
from genlab.report import plots
from genlab.report.html import BASE_CSS

if TYPE_CHECKING:
    from genlab.evaluate.suite import _Details

__all__ = ["write_report"]

REAL, SYNTH, HOLDOUT = plots.REAL_COLOR, plots.SYNTH_COLOR, "#2ca02c"
PLOT_ROWS = 20_000
# the generic report's page style, plus what only the evaluation report draws
_CSS = BASE_CSS + """
h3{margin:1.2rem 0 .5rem;font-size:1rem}
table{margin:.3rem 0 .8rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:.8rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.7rem 1rem;
 border-left:6px solid #999}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .value{display:block;font-size:1.6rem;font-weight:600}
.card .verdict{font-weight:600}
.card p{margin:.3rem 0 0;font-size:13px}
.good{border-left-color:#2e9d4d}.fair{border-left-color:#e0a100}.poor{border-left-color:#c8352b}
.note{font-style:normal}
ul.flags li{margin:.2rem 0}
"""
_TONE = {"good": "good", "low risk": "good", "no flags": "good", "fair": "fair",
         "moderate risk": "fair", "poor": "poor", "high risk": "poor"}


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _figure(width: float = 4.0, height: float = 2.8) -> Figure:
    return Figure(figsize=(width, height), dpi=plots.DPI, layout="constrained")


def _img(uri: str, alt: str, caption: str) -> str:
    return (f'<figure><img src="{uri}" alt="{_e(alt)}" loading="eager">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    # Cells arrive escaped; a cell starting with "\0" is numeric and right-aligned.
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c[1:]}</td>' if c.startswith("\0") else f"<td>{c}</td>"
                         for c in row) + "</tr>" for row in rows)
    return (f'<div class="table-wrap"><table class="{cls}"><thead><tr>{th}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _card(ident: str, label: str, card: dict[str, Any], shown: str) -> str:
    tone = _TONE.get(card["verdict"], "poor" if card["verdict"].endswith("flags") or
                     card["verdict"].endswith("flag") else "")
    value = card["value"]
    attr = "" if value is None else repr(float(value))
    return (f'<div class="card {tone}" id="{ident}"><span class="label">{_e(label)}</span>'
            f'<span class="value" data-value="{attr}">{_e(shown)}</span>'
            f'<span class="verdict">{_e(card["verdict"])}</span><p>{_e(card["meaning"])}</p></div>')


def _summary(s: dict[str, Any]) -> str:
    c = s["summary"]
    cards = [
        _card("card-quality", "Overall quality", c["quality"], _num(c["quality"]["value"])),
        _card("card-utility", "Utility gap (real − synthetic)", c["utility_gap"],
              _num(c["utility_gap"]["value"])),
        _card("card-privacy", "Privacy risk (DCR ratio)", c["privacy_risk"],
              _num(c["privacy_risk"]["value"], 2)),
        _card("card-bias", "Bias flags", c["bias"], str(c["bias"]["value"])),
    ]
    return f'<section id="summary"><h2>Summary</h2><div class="cards">{"".join(cards)}</div>' \
           "</section>"


def _column_plot(name: str, kind: str, real: pd.Series, synth: pd.Series, score: Any) -> str:
    caption = f"{name} · similarity {_num(score)}"
    if kind == CATEGORICAL:
        lr, ls = labels(real), labels(synth)
        cr = pd.Series(lr[pd.notna(lr)]).value_counts().to_dict()
        cs = pd.Series(ls[pd.notna(ls)]).value_counts().to_dict()
        names, rp, sp = plots.category_shares(cr, cs, int(pd.isna(lr).sum()),
                                              int(pd.isna(ls).sum()))
        uri = plots.category_bars(names, rp, sp, title=name)
        return _img(uri, f"Category shares of {name}: real vs synthetic", caption)
    a, b = numeric(real), numeric(synth)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    both = np.concatenate([a, b])
    is_int = bool(both.size) and bool(np.all(both == np.round(both)))
    is_date = pd.api.types.is_datetime64_any_dtype(real.dtype)
    uri = plots.numeric_histogram(a, b, title=name, integer=is_int, datetime=is_date)
    return _img(uri, f"Histogram of {name}: real vs synthetic", caption)


def _scatter(real: np.ndarray, synth: np.ndarray) -> str:
    fig = _figure(5.0, 4.0)
    ax = fig.add_subplot()
    ax.scatter(real[:, 0], real[:, 1], s=4, alpha=0.35, color=REAL, label="real", lw=0)
    ax.scatter(synth[:, 0], synth[:, 1], s=4, alpha=0.35, color=SYNTH, label="synthetic", lw=0)
    ax.set_xlabel("component 1", fontsize=8)
    ax.set_ylabel("component 2", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, markerscale=3, frameon=False)
    return plots.figure_to_data_uri(fig)


def _fidelity(s: dict[str, Any], d: _Details) -> str:
    f = s["fidelity"]
    t = d.tables
    det = f["detection"]
    key = [
        ["Overall quality (mean of the next two)", "\0" + _num(f["quality"])],
        ["Column shapes (KSComplement / TVComplement)", "\0" + _num(f["column_shapes"])],
        [f"Column pair trends, all {f['n_pairs']} pairs", "\0" + _num(f["column_pair_trends"])],
        [f"Column pair trends, SDMetrics 0.32 style ({f['n_strong_pairs']} strongly related "
         "pairs only)", "\0" + _num(f["column_pair_trends_sdmetrics"])],
        ["Coverage of real categories and ranges", "\0" + _num(f["coverage"])],
        ["Missing-value rate similarity", "\0" + _num(f["missing_similarity"])],
        [f"Detection ROC AUC (real vs synthetic, {det['rows_each']:,} rows each; 0.5 ideal)",
         "\0" + _num(det["auc"])],
    ]
    rows = [[_e(c), _e(v["kind"]), _e(v["metric"]), "\0" + _num(v["shape"]),
             "\0" + _num(v["coverage"]), "\0" + _pct(v["missing_real"]),
             "\0" + _pct(v["missing_synthetic"])] for c, v in f["columns"].items()]
    real = subsample(t.train, PLOT_ROWS, 0)
    synth = subsample(t.synthetic, PLOT_ROWS, 1)
    figs = "".join(_column_plot(str(c), t.kinds[c], real[c], synth[c],
                                f["columns"][str(c)]["shape"]) for c in t.train.columns)
    fd = d.fidelity
    diff = np.abs(fd.real_matrix - fd.synth_matrix)
    mats = [("real", fd.real_matrix, {}), ("synthetic", fd.synth_matrix, {}),
            ("|real − synthetic|", diff, {"vmin": 0.0, "vmax": 1.0, "cmap": "Reds"})]
    heat = "".join(_img(plots.association_heatmap(m, fd.columns, title=name, **kw),
                        f"Association matrix: {name}", name) for name, m, kw in mats)
    proj = _img(_scatter(*d.projection), "2-D projection of real and synthetic rows",
                "first two principal components of the real rows (standardised numerics, "
                "one-hot categories)")
    return (
        '<section id="fidelity"><h2>Fidelity</h2>'
        + _table(["Score", "Value"], key, "key-scores")
        + '<p class="note">Scores run from 0 to 1 (1 = identical), except the detection AUC. '
        "Pair trends compare Pearson correlations of numeric pairs and contingency tables of "
        "categorical and mixed pairs (numeric columns cut into 10 equal-width bins), as "
        "SDMetrics does; its QualityReport averages only pairs whose real association passes "
        "|r| &gt; 0.5 or Cramér's V &gt; 0.3.</p>"
        + _table(["Column", "Kind", "Metric", "Shape", "Coverage", "Missing (real)",
                  "Missing (synthetic)"], rows, "columns")
        + f'<h3>Per-column distributions</h3><div class="grid">{figs}</div>'
        + '<h3>Associations</h3><p class="note">Pearson r between numeric columns, Cramér\'s V '
        "for pairs with a categorical column.</p>"
        + f'<div class="row">{heat}</div><h3>Real and synthetic rows together</h3>'
        + f'<div class="row">{proj}</div></section>'
    )


def _bars(names: list[str], series: dict[str, list[float]], xlabel: str, title: str) -> str:
    n = len(names)
    fig = _figure(4.6, max(2.6, 0.9 + 0.28 * n))
    ax = fig.add_subplot()
    h = 0.8 / max(len(series), 1)
    colors = [REAL, SYNTH, HOLDOUT]
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


def _utility(s: dict[str, Any]) -> str:
    u = s["utility"]
    if u is None or "models" not in u:
        why = "No target column was given." if u is None else u["meaning"]
        return f'<section id="utility"><h2>Utility</h2><p class="note">{_e(why)}</p></section>'
    rows = []
    for model, m in u["models"].items():
        for metric in m["real"]:
            rows.append([_e(model.replace("_", " ")), _e(metric), "\0" + _num(m["real"][metric]),
                         "\0" + _num(m["synthetic"][metric]), "\0" + _num(m["gap"][metric])])
    imp = u["importance"]
    feats = sorted(imp["real"], key=lambda c: -imp["real"][c])
    chart = _img(_bars(feats, {"trained on real": [imp["real"][c] for c in feats],
                               "trained on synthetic": [imp["synthetic"][c] for c in feats]},
                       "permutation importance", "Feature importance"),
                 "Permutation feature importances", "gradient boosting, on hold-out rows")
    pos = f", positive class {u['positive_class']!r}" if u.get("positive_class") else ""
    return (
        '<section id="utility"><h2>Utility</h2>'
        f'<p>Target {_e(u["target"])!s} ({_e(u["task"])}{_e(pos)}). Each model is trained on real '
        "training rows (TRTR) and on synthetic rows (TSTR) and scored on the hold-out rows. "
        f"Gap in {_e(u['primary_metric'])}: <b>{_num(u['gap'])}</b> ({_e(u['verdict'])}: "
        f"{_e(u['meaning'])}). Rank agreement of feature importances (Spearman): "
        f"<b>{_num(u['importance_rank_agreement'])}</b>.</p>"
        + _table(["Model", "Metric", "Train real", "Train synthetic", "Gap"], rows, "utility")
        + f'<div class="row">{chart}</div></section>'
    )


def _dcr_plot(d: dict[str, np.ndarray]) -> str:
    fig = _figure(5.0, 3.0)
    ax = fig.add_subplot()
    a, b = d["dcr_synthetic"], d["dcr_holdout"]
    top = float(np.quantile(np.concatenate([a, b]), 0.99)) or 1.0
    edges = np.linspace(0.0, top, 41)
    ax.hist(np.clip(a, 0, top), bins=edges, alpha=0.5, color=SYNTH, label="synthetic → train")
    ax.hist(np.clip(b, 0, top), bins=edges, alpha=0.5, color=HOLDOUT, label="hold-out → train")
    ax.set_xlabel("distance to closest training row", fontsize=8)
    ax.set_ylabel("rows", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.legend(loc="outside upper right", ncols=2, fontsize=7, frameon=False)
    return plots.figure_to_data_uri(fig)


def _privacy(s: dict[str, Any], d: _Details) -> str:
    p = s["privacy"]
    rows = [
        ["Median distance to closest record (DCR), synthetic → train",
         "\0" + _num(p["dcr_synthetic_median"]),
         "how far a typical synthetic row is from its nearest training row"],
        ["Median DCR, hold-out → train", "\0" + _num(p["dcr_holdout_median"]),
         "the same for real rows the model never saw: the yardstick"],
        ["DCR ratio (synthetic ÷ hold-out)", "\0" + _num(p["dcr_ratio"]),
         "≈ 1 or more: no closer than fresh real data (fine to release); well below 1: "
         "synthetic rows hug training rows (memorisation; do not release)"],
        ["Synthetic rows closer than the 5% closest hold-out rows",
         "\0" + _pct(p["closer_than_holdout_p5_share"]),
         "about 5% is chance; much more means near-copies of individuals"],
        ["Nearest-neighbour distance ratio, synthetic (hold-out)",
         "\0" + f"{_num(p['nndr_synthetic_median'])} ({_num(p['nndr_holdout_median'])})",
         "near 0: a row sits on one training row, singling it out; compare with hold-out"],
        ["Exact copies of training rows, synthetic (hold-out)",
         "\0" + f"{_pct(p['exact_copy_share'])} ({_pct(p['exact_copy_share_holdout'])})",
         "copies beyond the hold-out rate are leaked records: remove them or do not release"],
        ["Membership-inference ROC AUC", "\0" + _num(p["membership_auc"]),
         "0.5: an attacker cannot tell training rows from others by their distance to the "
         "synthetic rows (safe); above 0.6: membership leaks (do not release)"],
    ]
    body = [[_e(a), b, _e(c)] for a, b, c in rows]
    plot = _img(_dcr_plot(d.distances), "Distance-to-closest-record histograms",
                "synthetic rows should not sit closer to training rows than hold-out rows do")
    return (
        '<section id="privacy"><h2>Privacy</h2>'
        f'<p>Verdict: <b>{_e(p["verdict"])}</b>: {_e(p["meaning"])}.</p>'
        + _table(["Measure", "Value", "What it means for release"], body, "privacy")
        + f'<div class="row">{plot}</div></section>'
    )


def _bias(s: dict[str, Any]) -> str:
    b = s["bias"]
    if not b["columns"]:
        return ('<section id="bias"><h2>Bias</h2><p class="note">No sensitive column was given.'
                "</p></section>")
    parts = ['<section id="bias"><h2>Bias</h2>']
    if b["rate"]:
        parts.append(f'<p class="note">Target rate: {_e(b["rate"])}. Demographic-parity gap: '
                     "largest minus smallest rate over groups with at least 30 real rows.</p>")
    for col, c in b["columns"].items():
        g = c["groups"]
        names = list(g)
        rows = [[_e(k), "\0" + _pct(v["share_real"]), "\0" + _pct(v["share_synthetic"]),
                 "\0" + _num(v["rate_real"]), "\0" + _num(v["rate_synthetic"])]
                for k, v in g.items()]
        figs = _img(_bars(names, {"real": [g[k]["share_real"] for k in names],
                                  "synthetic": [g[k]["share_synthetic"] for k in names]},
                          "share of rows", f"{col}: group shares"),
                    f"Group shares of {col}", "share of rows per group")
        if b["rate"]:
            figs += _img(_bars(names, {"real": [g[k]["rate_real"] for k in names],
                                       "synthetic": [g[k]["rate_synthetic"] for k in names]},
                               "target rate", f"{col}: target rate"),
                         f"Target rate per group of {col}", "target rate per group")
        amp = {True: "yes, amplified", False: "no", None: "n/a"}[c["amplified"]]
        parts.append(
            f"<h3>{_e(col)}</h3><p>Parity gap: real {_num(c['parity_gap_real'])}, synthetic "
            f"{_num(c['parity_gap_synthetic'])}; amplified: <b>{amp}</b>.</p>"
            + _table(["Group", "Share (real)", "Share (synthetic)", "Rate (real)",
                      "Rate (synthetic)"], rows, "groups")
            + f'<div class="row">{figs}</div>')
    flags = "".join(f"<li>{_e(f)}</li>" for f in b["flags"]) or "<li>none</li>"
    parts.append(f'<h3>Flags</h3><ul class="flags">{flags}</ul>'
                 f"<p><b>Fix:</b> {_e(b['fix'])}.</p></section>")
    return "".join(parts)


def write_report(
    scores: dict[str, Any],
    details: _Details,
    path: str | os.PathLike[str],
    *,
    title: str = "genlab evaluation",
) -> Path:
    """Render the evaluation to one self-contained HTML file, written atomically."""
    meta = scores["meta"]
    rows = meta["rows"]
    created = datetime.now(UTC).isoformat(timespec="seconds")
    extra = (f" · target {_e(meta['target'])}" if meta["target"] else "") + (
        f" · sensitive {_e(', '.join(meta['sensitive']))}" if meta["sensitive"] else "")
    header = (f"<header><h1>{_e(title)}</h1><p class=\"meta\">genlab {_e(meta['genlab_version'])}"
              f" · created {_e(created)} · {rows['train']:,} train, {rows['test']:,} hold-out, "
              f"{rows['synthetic']:,} synthetic rows{extra}</p></header>")
    body = "".join([header, _summary(scores), _fidelity(scores, details), _utility(scores),
                    _privacy(scores, details), _bias(scores),
                    f"<footer>Generated by genlab {_e(meta['genlab_version'])}.</footer>"])
    document = (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )
    with atomic_path(path) as tmp:
        tmp.write_text(document, encoding="utf-8")
    return Path(path)
