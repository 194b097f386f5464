"""Few labels: pre-trained generative encoders fine-tuned vs the same net from scratch vs
classic baselines (issue 16, item 3), on images, text and a table.

- **mnist** (../shared/data/mnist holds the official 10,000 test images only): the first
  8,000 are the training pool, the last 2,000 the test set. An `ImageVAE` is pre-trained
  once (seed 0) on all 8,000 training images without labels; per seed, 100 of them (10 per
  class) are labelled. Compared: the VAE's conv encoder fine-tuned with a linear head
  (`FineTunedClassifier`), the same CNN from scratch (`init="scratch"`), and logistic
  regression on the VAE's posterior means (what `GenerativeFeatures.transform` returns).
- **text** (../shared/data/tinyshakespeare): a speech is a "NAME:" line followed by its
  lines up to the next blank line; every text line of a speech is one item labelled with
  its speaker. The 5 speakers with the most lines are the classes; 100 lines per speaker
  (seed 0) are the test set, removed from the corpus; a character `Transformer` is
  pre-trained once on every other line of the play (all speakers, one line per item).
  Per seed, 50 lines per speaker are labelled. Compared: the transformer fine-tuned
  (hidden states averaged over the line), the same network from scratch, and character
  n-gram TF-IDF (char_wb, 2-5) + logistic regression.
- **adult** (../shared/data/adult): a table `VAE` pre-trained once on the 32,561 training
  rows without the income column; per seed, 200 of them (stratified) are labelled; test:
  the official 16,281 test rows. Compared: the VAE encoder fine-tuned, the same MLP from
  scratch, and LogisticRegression / HistGradientBoosting on the 200 rows (one-hot +
  standardised, as benchmarks/classify.py).

Budgets are optimiser steps; the accuracy on the test set is read every few steps of
fine-tuning to measure convergence. Each part writes results/classify_fewlabels_<part>.json;
the report results/classify_fewlabels.md and .png are rebuilt from whichever parts exist.

    flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python \\
        benchmarks/classify_fewlabels.py --part mnist   # then text, adult
    .venv/bin/python benchmarks/classify_fewlabels.py --part mnist --seeds 1 --quick
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import genlab
from genlab.data.idx import read_idx

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parents[1] / "shared" / "data"
RESULTS = ROOT / "results"
sys.path.insert(0, str(ROOT))
from classify import discriminative  # noqa: E402 (the shared table baselines)

STEPS = {  # pre-training, fine-tuning (same for scratch), accuracy read every
    "mnist": (1000, 300, 25), "text": (600, 150, 15), "adult": (1000, 300, 20)}
FT = {"mnist": {"lr": 1e-3, "batch_size": 100}, "text": {"lr": 5e-4, "batch_size": 64},
      "adult": {"lr": 1e-3, "batch_size": 64}}
NOTES: dict[str, list[str]] = {
    "mnist": ["Rows: `fine-tuned` and `from scratch` are `FineTunedClassifier` with "
              "init='pretrained' / 'scratch' (the VAE's conv encoder up to its 256-wide hidden "
              "layer, then layer norm + linear head); `linear probe` is the same with "
              "freeze=True (head only); `LogReg on VAE features` is standardised posterior "
              "means (16 dims, what `GenerativeFeatures.transform` gives) + LogisticRegression. "
              "The pool is 8,000 images because the shared copy of MNIST holds only the "
              "official 10,000 test images.", ""],
    "text": ["Lines are short (median 41 characters, at most 61) and many are generic "
             "(\"My lord,\"), so single-line speaker attribution is hard; chance is 0.2.", ""],
    "adult": ["The VAE sees the 14 feature columns (income never), 200 labelled rows are "
              "drawn stratified per seed.", ""],
}
ANCHORS = "Kingma et al. 2014 at 100 MNIST labels: M1 + TSVM 11.8 % error, M1 + M2 3.3 %"


def _timed(fn: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def _cpu(fn: Any) -> tuple[Any, float, float]:
    """Result, wall-clock seconds and CPU seconds of this process (the machine is shared,
    so the CPU time is the cost; the wall clock is what a user waits)."""
    c = time.process_time()
    out, wall = _timed(fn)
    return out, wall, time.process_time() - c


def _finetune_pair(model: Any, X: Any, y: Any, Xt: Any, yt: Any, part: str, seed: int,
                   steps: int, every: int) -> dict[str, Any]:
    rows = {}
    for init in ("pretrained", "scratch", "probe"):
        how = ({"init": "pretrained", "freeze": True, **FT[part], "lr": 3e-3}
               if init == "probe" else {"init": init, **FT[part]})
        clf = genlab.FineTunedClassifier(model, steps=steps, random_state=seed, **how)
        _, secs, cpu = _cpu(lambda c=clf: c.fit(X, y, eval_set=(Xt, yt), eval_every=every))
        rows[init] = {"accuracy": clf.curve_[-1][1], "curve": clf.curve_, "seconds": secs,
                      "cpu": cpu,
                      "proba": clf.predict_proba(Xt) if part == "adult" else None}
    return rows


def _pack(seed: int, pair: dict[str, Any], baselines: dict[str, float]) -> list[dict[str, Any]]:
    names = {"pretrained": "fine-tuned", "scratch": "from scratch",
             "probe": "linear probe (frozen encoder)"}
    out = [{"seed": seed, "model": names[k],
            "accuracy": v["accuracy"], "curve": v["curve"], "seconds": v["seconds"],
            "cpu": v["cpu"],
            **({"roc_auc": v["roc_auc"]} if "roc_auc" in v else {})} for k, v in pair.items()]
    out += [{"seed": seed, "model": name, **vals} for name, vals in baselines.items()]
    return out


def run_mnist(seeds: int, quick: bool) -> dict[str, Any]:
    """The MNIST part (see the module docstring)."""
    folder = DATA / "mnist"
    images = read_idx(folder / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(folder / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    pool, test, y_pool, y_test = images[:8000], images[8000:], labels[:8000], labels[8000:]
    pre, steps, every = STEPS["mnist"] if not quick else (100, 50, 25)
    vae, pre_s, pre_cpu = _cpu(lambda: genlab.ImageVAE(max_steps=pre, seed=0).fit(pool))
    z_pool, z_test = vae.encode(pool), vae.encode(test)
    rows = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        idx = np.concatenate([rng.choice(np.flatnonzero(y_pool == k), 10, replace=False)
                              for k in range(10)])
        pair = _finetune_pair(vae, pool[idx], y_pool[idx], test, y_test, "mnist", seed,
                              steps, every)
        lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        lr.fit(z_pool[idx], y_pool[idx])
        rows += _pack(seed, pair, {"LogReg on VAE features": {
            "accuracy": float(lr.score(z_test, y_test))}})
    return {"rows": rows, "pretrain_seconds": pre_s, "pretrain_cpu": pre_cpu,
            "pretrain_steps": pre,
            "pretrain_items": len(pool), "steps": steps, "test_items": len(test),
            "labelled": 100, "classes": 10}


def read_speakers(path: Path) -> list[tuple[str, str]]:
    """(speaker, line) for every text line of every speech of the play."""
    out = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        lines = block.strip("\n").split("\n")
        if len(lines) >= 2 and lines[0].endswith(":"):
            out += [(lines[0][:-1], line.strip()) for line in lines[1:] if line.strip()]
    return out


def run_text(seeds: int, quick: bool) -> dict[str, Any]:
    """The tiny Shakespeare part (see the module docstring)."""
    pairs = read_speakers(DATA / "tinyshakespeare" / "input.txt")
    top = [s for s, _ in Counter(s for s, _ in pairs).most_common(5)]
    rng = np.random.default_rng(0)
    by = {s: np.flatnonzero([p == s for p, _ in pairs]) for s in top}
    test_idx = np.concatenate([rng.choice(by[s], 100, replace=False) for s in top])
    held = set(test_idx.tolist())
    corpus = [line for i, (_, line) in enumerate(pairs) if i not in held]
    pre, steps, every = STEPS["text"] if not quick else (50, 40, 20)
    model, pre_s, pre_cpu = _cpu(lambda: genlab.Transformer(
        layers=2, d_model=64, heads=4, context=96, batch_size=64, max_steps=pre,
        val_fraction=0.02, seed=0).fit(corpus))
    X_test = [pairs[i][1] for i in test_idx]
    y_test = [pairs[i][0] for i in test_idx]
    rows = []
    for seed in range(seeds):
        r = np.random.default_rng(100 + seed)
        lab = np.concatenate([r.choice(np.setdiff1d(by[s], test_idx), 50, replace=False)
                              for s in top])
        X, y = [pairs[i][1] for i in lab], [pairs[i][0] for i in lab]
        pair = _finetune_pair(model, X, y, X_test, y_test, "text", seed, steps, every)
        ngram = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5),
                                              sublinear_tf=True),
                              LogisticRegression(max_iter=5000))
        ngram.fit(X, y)
        rows += _pack(seed, pair, {"char n-gram LogReg": {
            "accuracy": float(ngram.score(X_test, y_test))}})
    return {"rows": rows, "pretrain_seconds": pre_s, "pretrain_cpu": pre_cpu,
            "pretrain_steps": pre,
            "pretrain_items": len(corpus), "steps": steps, "test_items": len(X_test),
            "labelled": 250, "classes": 5, "speakers": top,
            "lines_per_speaker": {s: int(by[s].size) for s in top}}


def run_adult(seeds: int, quick: bool) -> dict[str, Any]:
    """The Adult part (see the module docstring)."""
    train = pd.read_csv(DATA / "adult" / "adult.csv")
    test = pd.read_csv(DATA / "adult" / "adult_test.csv")
    X_all, y_all = train.drop(columns="income"), train["income"]
    X_test, y_test = test.drop(columns="income"), test["income"]
    pre, steps, every = STEPS["adult"] if not quick else (100, 40, 20)
    vae, pre_s, pre_cpu = _cpu(lambda: genlab.VAE(max_steps=pre, seed=0).fit(X_all))
    positive = sorted(y_all.unique())[1]
    rows = []
    for seed in range(seeds):
        r = np.random.default_rng(seed)
        idx = np.concatenate([r.choice(np.flatnonzero(y_all == c), k, replace=False)
                              for c, k in zip(*_stratified(y_all, 200), strict=True)])
        X, y = X_all.iloc[idx].reset_index(drop=True), y_all.iloc[idx].reset_index(drop=True)
        pair = _finetune_pair(vae, X, y, X_test, y_test.to_numpy(), "adult", seed, steps,
                              every)
        for v in pair.values():
            v["roc_auc"] = float(roc_auc_score(y_test == positive, v.pop("proba")[:, 1]))
        base = {}
        for name in ("LogisticRegression", "HistGradientBoosting"):
            clf = discriminative(name, X, seed).fit(X, y)
            base[f"{name} (200 rows)"] = {
                "accuracy": float(clf.score(X_test, y_test)),
                "roc_auc": float(roc_auc_score(y_test == positive,
                                               clf.predict_proba(X_test)[:, 1]))}
        rows += _pack(seed, pair, base)
    return {"rows": rows, "pretrain_seconds": pre_s, "pretrain_cpu": pre_cpu,
            "pretrain_steps": pre,
            "pretrain_items": len(X_all), "steps": steps, "test_items": len(X_test),
            "labelled": 200, "classes": 2}


def _stratified(y: pd.Series, n: int) -> tuple[list[Any], list[int]]:
    share = y.value_counts(normalize=True).sort_index()
    counts = np.maximum(2, np.round(share.to_numpy() * n).astype(int))
    counts[-1] = n - counts[:-1].sum()
    return list(share.index), counts.tolist()


def steps_to_reach(curve: list[list[float]], level: float) -> int | None:
    """First step at which a curve's accuracy reaches `level` (None: never)."""
    return next((int(s) for s, a in curve if a >= level - 1e-12), None)


def convergence(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per seed: the from-scratch model's final accuracy, and the step at which the
    fine-tuned model first reached it."""
    out = []
    for seed in sorted({r["seed"] for r in rows}):
        by = {r["model"]: r for r in rows if r["seed"] == seed}
        ft, sc = by["fine-tuned"], by["from scratch"]
        best_step, best = max(sc["curve"], key=lambda p: (p[1], -p[0]))
        out.append({"seed": seed, "scratch_final": sc["accuracy"],
                    "scratch_steps": int(sc["curve"][-1][0]),
                    "finetuned_reaches_at": steps_to_reach(ft["curve"], sc["accuracy"]),
                    "scratch_best": best, "scratch_best_step": int(best_step),
                    "finetuned_reaches_best_at": steps_to_reach(ft["curve"], best)})
    return out


def _summary(rows: list[dict[str, Any]], metric: str = "accuracy") -> str:
    frame = pd.DataFrame([{k: v for k, v in r.items() if k != "curve"} for r in rows])
    lines = [f"| model | {metric} (mean ± sd) | error % | per seed | fit s (mean) |",
             "| --- | --- | --- | --- | --- |"]
    for model, part in frame.groupby("model", sort=False):
        vals = part[metric].to_numpy()
        secs = part["seconds"].mean() if "seconds" in part and part["seconds"].notna().any() \
            else float("nan")
        err = f"{100 * (1 - vals.mean()):.1f}" if metric == "accuracy" else ""
        lines.append(f"| {model} | {vals.mean():.4f} ± {vals.std():.4f} | {err} | "
                     f"{', '.join(f'{v:.3f}' for v in vals)} | "
                     f"{'' if np.isnan(secs) else f'{secs:.1f}'} |")
    return "\n".join(lines)


TITLES = {"mnist": "MNIST, 100 labels (10 per class)",
          "text": "tiny Shakespeare speaker attribution, 5 speakers x 50 labelled lines",
          "adult": "Adult income, 200 labelled rows"}


def _part_report(part: str, res: dict[str, Any]) -> list[str]:
    rows = res["rows"]
    conv = convergence(rows)
    reach = [c["finetuned_reaches_at"] for c in conv]
    half = [r is not None and r <= c["scratch_steps"] / 2 for r, c in zip(reach, conv,
                                                                        strict=True)]
    out = [f"## {TITLES[part]}", "",
           f"Pre-training: {res['pretrain_steps']:,} steps on {res['pretrain_items']:,} "
           f"unlabelled items, {res['pretrain_seconds']:.0f} s wall clock / "
           f"{res['pretrain_cpu']:.0f} s CPU measured (once, seed 0). "
           f"Fine-tuning and from scratch: {res['steps']:,} steps each; test set "
           f"{res['test_items']:,} items; {len(conv)} seeds (label draw, head init, batches).",
           "", _summary(rows), ""]
    if part == "adult":
        out += [_summary(rows, "roc_auc"), ""]
    if part == "text":
        out += [f"Speakers (lines in the play): {res['lines_per_speaker']}; chance 0.2.", ""]
    out += ["Faster convergence: the step at which the fine-tuned net first reaches the "
            "from-scratch net's final test accuracy (read every few steps): "
            + ", ".join(f"seed {c['seed']}: {c['finetuned_reaches_at'] or 'never'} of "
                        f"{c['scratch_steps']}" for c in conv)
            + f" — within half the steps on {sum(half)} of {len(half)} seeds. The from-scratch "
            "net's best accuracy along its curve (it can overfit the few labels and fall "
            "back): " + ", ".join(
                f"seed {c['seed']}: {c['scratch_best']:.3f} at step {c['scratch_best_step']}, "
                f"fine-tuned reaches it at {c['finetuned_reaches_best_at'] or 'never'}"
                for c in conv) + ".", "", *NOTES.get(part, [])]
    return out


def _targets(parts: dict[str, dict[str, Any]]) -> list[str]:
    if "mnist" not in parts:
        return []
    res = parts["mnist"]
    ft = np.mean([r["accuracy"] for r in res["rows"] if r["model"] == "fine-tuned"])
    conv = convergence(res["rows"])
    half = sum(c["finetuned_reaches_at"] is not None
               and c["finetuned_reaches_at"] <= c["scratch_steps"] / 2 for c in conv)
    best_half = sum(c["finetuned_reaches_best_at"] is not None
                    and c["finetuned_reaches_best_at"] <= c["scratch_best_step"] / 2
                    for c in conv)
    ft_rows = [r for r in res["rows"] if r["model"] == "fine-tuned"]
    minutes = (res["pretrain_seconds"] + np.mean([r["seconds"] for r in ft_rows])) / 60
    cpu = (res["pretrain_cpu"] + np.mean([r["cpu"] for r in ft_rows])) / 60
    err = 100 * (1 - ft)
    return ["## Targets (MNIST)", "",
            f"- ≤ 10 % test error with pre-training: **{'met' if err <= 10 else 'missed'}** "
            f"({err:.1f} % mean over seeds; {ANCHORS}; their M1 pre-trains on 50,000 "
            f"unlabelled images, here {res['pretrain_items']:,}).",
            f"- within 15 minutes on 2 CPU cores (pre-training + one fine-tuning, 1 thread, "
            f"on a machine shared with other jobs): **{'met' if minutes <= 15 else 'missed'}** "
            f"({minutes:.1f} min wall clock, {cpu:.1f} min CPU).",
            f"- fine-tuning reaches the from-scratch final accuracy in ≤ half its steps: "
            f"**{'met' if half == len(conv) else 'missed'}** ({half} of {len(conv)} seeds).",
            f"- the same against the from-scratch net's *best* accuracy along its curve (it "
            f"overfits the 100 labels and falls back, so its final accuracy is an easy bar): "
            f"**{'met' if best_half == len(conv) else 'missed'}** ({best_half} of {len(conv)} "
            f"seeds within half the steps at which scratch peaked; accuracy read every "
            f"{STEPS['mnist'][2]} steps).", ""]


def _plot(parts: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(parts), figsize=(5 * len(parts), 3.8), squeeze=False)
    for ax, (part, res) in zip(axes[0], parts.items(), strict=True):
        rows = res["rows"]
        for model, style in (("fine-tuned", "-"), ("from scratch", "--"),
                             ("linear probe (frozen encoder)", "-.")):
            curves = np.array([r["curve"] for r in rows if r["model"] == model], float)
            ax.plot(curves[0, :, 0], curves[:, :, 1].mean(0), style, label=model)
        for name in dict.fromkeys(r["model"] for r in rows if "curve" not in r):
            acc = np.mean([r["accuracy"] for r in rows if r["model"] == name])
            ax.axhline(acc, color="grey", lw=1, ls=":")
            ax.annotate(name, (res["steps"], acc), fontsize=7, va="bottom", ha="right",
                        color="dimgrey")
        ax.set_title(TITLES[part], fontsize=9)
        ax.set_xlabel("fine-tuning steps")
        ax.set_ylabel("test accuracy (mean over seeds)")
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(out: Path) -> None:
    """results/classify_fewlabels.md and .png from the parts' JSON files."""
    parts = {p: json.loads((out / f"classify_fewlabels_{p}.json").read_text())
             for p in STEPS if (out / f"classify_fewlabels_{p}.json").exists()}
    if not parts:
        return
    meta = next(iter(parts.values()))["meta"]
    cmd = ("flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python "
           "benchmarks/classify_fewlabels.py --part {part} --seeds {seeds}")
    lines = [f"# Few labels: pre-trained generative encoders fine-tuned ({meta['date']})", "",
             f"genlab {meta['genlab']}, Python {meta['python']}, torch on 1 thread "
             "(OMP_NUM_THREADS=1). Commands, one part at a time:", ""]
    lines += [f"    {cmd.format(part=p, seeds=r['meta']['seeds'])}" for p, r in parts.items()]
    lines += ["", "![accuracy vs fine-tuning steps](classify_fewlabels.png)", "",
              *_targets(parts)]
    for part, res in parts.items():
        lines += _part_report(part, res)
    (out / "classify_fewlabels.md").write_text("\n".join(lines))
    _plot(parts, out / "classify_fewlabels.png")


def main() -> None:
    """Run one part (or all) and rebuild the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=[*STEPS, "all", "report"], default="all")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny budgets: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    runners = {"mnist": run_mnist, "text": run_text, "adult": run_adult}
    todo = list(STEPS) if args.part == "all" else [] if args.part == "report" else [args.part]
    for part in todo:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # budget warnings: the budgets are stated
            res, secs = _timed(lambda p=part: runners[p](args.seeds, args.quick))
        res["meta"] = {"date": time.strftime("%Y-%m-%d"), "genlab": genlab.__version__,
                       "python": platform.python_version(), "seeds": args.seeds,
                       "quick": args.quick, "seconds": secs}
        (args.out / f"classify_fewlabels_{part}.json").write_text(json.dumps(res, indent=1))
        print(f"{part}: {secs:.0f} s", flush=True)
    write_report(args.out)


if __name__ == "__main__":
    main()
