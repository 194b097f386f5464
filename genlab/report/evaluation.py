"""The evaluation report: summary cards first, then one section per family of scores.

`write_report(scores, data, path)` takes the JSON scores and an `EvaluationData` (the arrays
the plots need) and hands the sections to the one page shell; plots are PNG data URIs (no
pyplot, no network, no JavaScript) and every user-supplied string goes through `esc`. Nothing
here imports `genlab.evaluate`, which imports this module.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from genlab.report import plots
from genlab.report.evaluation_extra import diagnostics_section, pairs_section, quantiles_fragment
from genlab.report.evaluation_figures import (
    ColumnFigure,
    EvaluationData,
    bars,
    column_figure,
    dcr_histogram,
    projection_scatter,
)
from genlab.report.shell import esc, write_page

__all__ = ["ColumnFigure", "EvaluationData", "write_report"]

# what only the evaluation report draws, on top of the shell's page style
_CSS = """
h3{margin:1.2rem 0 .5rem;font-size:1rem}
table{margin:.3rem 0 .8rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:.8rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.7rem 1rem;
 border-left:6px solid #999}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .value{display:block;font-size:1.6rem;font-weight:600}
.card .direction{display:block;color:var(--muted);font-size:12px}
.card .verdict{font-weight:600}
.card p{margin:.3rem 0 0;font-size:13px}
.good{border-left-color:#2e9d4d}.fair{border-left-color:#e0a100}.poor{border-left-color:#c8352b}
.note{font-style:normal}
ul.flags li{margin:.2rem 0}
"""
_TONE = {"good": "good", "low risk": "good", "no flags": "good", "fair": "fair",
         "moderate risk": "fair", "poor": "poor", "high risk": "poor"}


def _num(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _img(uri: str, alt: str, caption: str) -> str:
    return (f'<figure><img src="{uri}" alt="{esc(alt)}" loading="eager">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    # Cells arrive escaped; a cell starting with "\0" is numeric and right-aligned.
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c[1:]}</td>' if c.startswith("\0") else f"<td>{c}</td>"
                         for c in row) + "</tr>" for row in rows)
    return (f'<div class="table-wrap"><table class="{cls}"><thead><tr>{th}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _card(ident: str, label: str, card: dict[str, Any], shown: str, direction: str) -> str:
    tone = _TONE.get(card["verdict"], "poor" if card["verdict"].endswith("flags") or
                     card["verdict"].endswith("flag") else "")
    value = card["value"]
    attr = "" if value is None else repr(float(value))
    return (f'<div class="card {tone}" id="{ident}"><span class="label">{esc(label)}</span>'
            f'<span class="direction">{esc(direction)}</span>'
            f'<span class="value" data-value="{attr}">{esc(shown)}</span>'
            f'<span class="verdict">{esc(card["verdict"])}</span>'
            f'<p>{esc(card["meaning"])}</p></div>')


def _summary(s: dict[str, Any]) -> str:
    c = s["summary"]
    cards = [
        _card("card-quality", "Overall quality", c["quality"], _num(c["quality"]["value"]),
              "higher is better · 1 = identical"),
        _card("card-utility", "Utility gap (real − synthetic)", c["utility_gap"],
              _num(c["utility_gap"]["value"]), "lower is better · 0 or less = no loss"),
        _card("card-privacy", "Privacy risk (DCR ratio)", c["privacy_risk"],
              _num(c["privacy_risk"]["value"], 2),
              "higher is safer · 1 or more = no closer than unseen real rows"),
        _card("card-bias", "Bias flags", c["bias"], str(c["bias"]["value"]),
              "fewer is better · 0 = none"),
    ]
    return f'<section id="summary"><h2>Summary</h2><div class="cards">{"".join(cards)}</div>' \
           "</section>"


def _key_scores(f: dict[str, Any]) -> list[list[str]]:
    det = f["detection"]
    return [
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


def _column_img(col: ColumnFigure, score: Any) -> str:
    what = "Category shares" if col.categorical else "Histogram"
    return _img(column_figure(col), f"{what} of {col.name}: real vs synthetic",
                f"{col.name} · similarity {_num(score)}")


def _fidelity(s: dict[str, Any], d: EvaluationData) -> str:
    f = s["fidelity"]
    key = _key_scores(f)
    rows = [[esc(c), esc(v["kind"]), esc(v["metric"]), "\0" + _num(v["shape"]),
             "\0" + _num(v["coverage"]), "\0" + _pct(v["missing_real"]),
             "\0" + _pct(v["missing_synthetic"])] for c, v in f["columns"].items()]
    figs = "".join(_column_img(col, f["columns"][col.name]["shape"]) for col in d.columns)
    diff = np.abs(d.real_matrix - d.synth_matrix)
    mats = [("real", d.real_matrix, {}), ("synthetic", d.synth_matrix, {}),
            ("|real − synthetic|", diff, {"vmin": 0.0, "vmax": 1.0, "cmap": "Reds"})]
    names = list(d.association_columns)
    heat = "".join(_img(plots.association_heatmap(m, names, title=name, **kw),
                        f"Association matrix: {name}", name) for name, m, kw in mats)
    proj = _img(projection_scatter(*d.projection), "2-D projection of real and synthetic rows",
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
        + quantiles_fragment(d)
        + '<h3>Associations</h3><p class="note">Pearson r between numeric columns, Cramér\'s V '
        "for pairs with a categorical column.</p>"
        + f'<div class="row">{heat}</div><h3>Real and synthetic rows together</h3>'
        + f'<div class="row">{proj}</div></section>'
    )


def _utility(s: dict[str, Any]) -> str:
    u = s["utility"]
    if u is None or "models" not in u:
        why = "No target column was given." if u is None else u["meaning"]
        return f'<section id="utility"><h2>Utility</h2><p class="note">{esc(why)}</p></section>'
    rows = []
    for model, m in u["models"].items():
        for metric in m["real"]:
            rows.append([esc(model.replace("_", " ")), esc(metric), "\0" + _num(m["real"][metric]),
                         "\0" + _num(m["synthetic"][metric]), "\0" + _num(m["gap"][metric])])
    imp = u["importance"]
    feats = sorted(imp["real"], key=lambda c: -imp["real"][c])
    chart = _img(bars(feats, {"trained on real": [imp["real"][c] for c in feats],
                               "trained on synthetic": [imp["synthetic"][c] for c in feats]},
                       "permutation importance", "Feature importance"),
                 "Permutation feature importances", "gradient boosting, on hold-out rows")
    pos = f", positive class {u['positive_class']!r}" if u.get("positive_class") else ""
    return (
        '<section id="utility"><h2>Utility</h2>'
        f'<p>Target {esc(u["target"])!s} ({esc(u["task"])}{esc(pos)}). Each model is trained on '
        "real training rows (TRTR) and on synthetic rows (TSTR) and scored on the hold-out rows. "
        f"Gap in {esc(u['primary_metric'])}: <b>{_num(u['gap'])}</b> ({esc(u['verdict'])}: "
        f"{esc(u['meaning'])}). Rank agreement of feature importances (Spearman): "
        f"<b>{_num(u['importance_rank_agreement'])}</b>.</p>"
        + _table(["Model", "Metric", "Train real", "Train synthetic", "Gap"], rows, "utility")
        + f'<div class="row">{chart}</div></section>'
    )


def _privacy(s: dict[str, Any], d: EvaluationData) -> str:
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
        ["Synthetic values that occur once in training (by column)",
         "\0" + esc(", ".join(f"{k}: {v}" for k, v in
                              (p.get("unique_value_copies") or {}).items()) or "none"),
         "a value seen once (a comment, a name, a ticket number) singles out one person; "
         "copies of free text are leaks (genlab leaves free-text columns out of its models)"],
        ["Membership-inference ROC AUC", "\0" + _num(p["membership_auc"]),
         "0.5: an attacker cannot tell training rows from others by their distance to the "
         "synthetic rows (safe); above 0.6: membership leaks (do not release)"],
    ]
    body = [[esc(a), b, esc(c)] for a, b, c in rows]
    plot = _img(dcr_histogram(d.distances), "Distance-to-closest-record densities",
                "densities, so tables of different sizes compare; safe: the synthetic curve "
                "no further left than the hold-out curve")
    return (
        '<section id="privacy"><h2>Privacy</h2>'
        f'<p>Verdict: <b>{esc(p["verdict"])}</b>: {esc(p["meaning"])}.</p>'
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
        parts.append(f'<p class="note">Target rate: {esc(b["rate"])}. Demographic-parity gap: '
                     "largest minus smallest rate over groups with at least 30 real rows.</p>")
    for col, c in b["columns"].items():
        g = c["groups"]
        names = list(g)
        ci = {k: [" [" + "–".join(_num(x) for x in c) + "]" if c else ""  # 95% intervals
                  for c in (v.get("rate_ci_real"), v.get("rate_ci_synthetic"))]
              for k, v in g.items()}
        rows = [[esc(k), "\0" + _pct(v["share_real"]), "\0" + _pct(v["share_synthetic"]),
                 "\0" + _num(v["rate_real"]) + ci[k][0],
                 "\0" + _num(v["rate_synthetic"]) + ci[k][1], esc(v.get("judgement", ""))]
                for k, v in g.items()]
        figs = _img(bars(names, {"real": [g[k]["share_real"] for k in names],
                                  "synthetic": [g[k]["share_synthetic"] for k in names]},
                          "share of rows", f"{col}: group shares"),
                    f"Group shares of {col}", "share of rows per group")
        if b["rate"]:
            figs += _img(bars(names, {"real": [g[k]["rate_real"] for k in names],
                                       "synthetic": [g[k]["rate_synthetic"] for k in names]},
                               "target rate", f"{col}: target rate"),
                         f"Target rate per group of {col}", "target rate per group")
        amp = {True: "yes, amplified", False: "no", None: "n/a"}[c["amplified"]]
        parts.append(
            f"<h3>{esc(col)}</h3><p>Parity gap: real {_num(c['parity_gap_real'])}, synthetic "
            f"{_num(c['parity_gap_synthetic'])}; amplified: <b>{amp}</b>.</p>"
            + _table(["Group", "Share (real)", "Share (synthetic)", "Rate (real) [95% CI]",
                      "Rate (synthetic) [95% CI]", "Judgement"], rows, "groups")
            + f'<div class="row">{figs}</div>')
    flags = "".join(f"<li>{esc(f)}</li>" for f in b["flags"]) or "<li>none</li>"
    parts.append(f'<h3>Flags</h3><ul class="flags">{flags}</ul>'
                 f"<p><b>Fix:</b> {esc(b['fix'])}.</p></section>")
    return "".join(parts)




def _header(scores: dict[str, Any], title: str) -> str:
    meta = scores["meta"]
    rows = meta["rows"]
    created = datetime.now(UTC).isoformat(timespec="seconds")
    extra = (f" · target {esc(meta['target'])}" if meta["target"] else "") + (
        f" · sensitive {esc(', '.join(meta['sensitive']))}" if meta["sensitive"] else "")
    return (f"<header><h1>{esc(title)}</h1><p class=\"meta\">genlab "
            f"{esc(meta['genlab_version'])} · created {esc(created)} · {rows['train']:,} train, "
            f"{rows['test']:,} hold-out, {rows['synthetic']:,} synthetic rows{extra}</p></header>")


def write_report(
    scores: dict[str, Any],
    data: EvaluationData,
    path: str | os.PathLike[str],
    *,
    title: str = "genlab evaluation",
) -> Path:
    """Render the evaluation (its JSON `scores` and the arrays in `data`) to one
    self-contained HTML file, written atomically; returns the path."""
    fragments = [_header(scores, title), _summary(scores), _fidelity(scores, data),
                 pairs_section(scores, data), _utility(scores), _privacy(scores, data),
                 _bias(scores), diagnostics_section(data)]
    return write_page(path, title, fragments, css=_CSS)
