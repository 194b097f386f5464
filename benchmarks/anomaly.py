"""Anomaly-detection benchmark: genlab's detectors next to PyOD's on ODDS and NAB.

ODDS (semi-supervised): for each dataset and seed, fit on a random 60% of the normal rows,
score the other 40% plus every anomaly; ROC AUC, average precision, fit+score seconds.
genlab's detectors are used as a user would (`AnomalyDetector(model=...)`, defaults, which
hold out 20% of the fit rows to set the threshold); PyOD's at their defaults.

NAB (realKnownCause): each series is fitted as a whole (unsupervised, as NAB's detectors
are), scored, and flagged at the same share of points `q` for every method; flagged points
are merged into intervals by the same rule (gaps shorter than the window). Event-level
precision = share of flagged intervals that touch a labelled anomaly window, recall = share
of labelled windows touched by a flagged interval. The PyOD baseline is IForest on sliding
windows of the standardised values (the window a point is centred in gives its score).

    .venv/bin/pip install pyod                              # the peer tool (bench extra)
    .venv/bin/python benchmarks/anomaly.py                  # all, writes results/anomaly.json
    .venv/bin/python benchmarks/anomaly.py --only odds --seeds 2
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

import genlab
from genlab.anomaly import AnomalyDetector, SeriesAnomalyDetector, intervals_from_flags
from genlab.data.series import read_series

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parents[1] / "shared" / "data"
RESULTS = ROOT / "results" / "anomaly.json"
ODDS = ["cardio", "thyroid", "satimage-2", "mammography"]
NAB = ["ambient_temperature_system_failure", "cpu_utilization_asg_misconfiguration",
       "machine_temperature_system_failure", "nyc_taxi"]
GENLAB = ["autoregressive", "flow", "mixture", "copula", "bayesnet", "gaussian"]
PYOD = ["IForest", "ECOD", "COPOD", "KDE", "GMM", "AutoEncoder", "VAE"]
DEFAULT = "genlab:autoregressive"  # AnomalyDetector()'s default model
QS = [0.02, 0.05, 0.1]


def _pyod(name: str, seed: int) -> Any:
    from pyod.models.auto_encoder import AutoEncoder
    from pyod.models.copod import COPOD
    from pyod.models.ecod import ECOD
    from pyod.models.gmm import GMM
    from pyod.models.iforest import IForest
    from pyod.models.kde import KDE
    from pyod.models.vae import VAE

    cls = {"IForest": IForest, "ECOD": ECOD, "COPOD": COPOD, "KDE": KDE, "GMM": GMM,
           "AutoEncoder": AutoEncoder, "VAE": VAE}[name]
    if name in ("AutoEncoder", "VAE"):
        return cls(random_state=seed, verbose=0)  # verbose only draws a progress bar
    if name in ("IForest", "GMM"):
        return cls(random_state=seed)
    return cls()


def run_odds(seeds: int, tools: list[str]) -> list[dict[str, Any]]:
    rows = []
    for name in ODDS:
        d = np.load(DATA / "odds" / f"{name}.npz")
        x, y = d["X"].astype(np.float64), d["y"].astype(int)
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            normal = rng.permutation(np.flatnonzero(y == 0))
            n_fit = int(0.6 * normal.size)
            fit_idx = normal[:n_fit]
            test_idx = np.r_[normal[n_fit:], np.flatnonzero(y == 1)]
            for tool in tools:
                start = time.perf_counter()
                kind, _, model = tool.partition(":")
                if kind == "genlab":
                    det = AnomalyDetector(model, seed=seed).fit(x[fit_idx])
                    scores = det.score(x[test_idx])
                else:
                    det = _pyod(model, seed)
                    det.fit(x[fit_idx])
                    scores = det.decision_function(x[test_idx])
                seconds = time.perf_counter() - start
                n_not_finite = int((~np.isfinite(np.asarray(scores, float))).sum())
                scores = np.nan_to_num(np.asarray(scores, float), nan=np.inf, posinf=1e300,
                                       neginf=-1e300)
                row = {"dataset": name, "seed": seed, "tool": tool,
                       "roc_auc": float(roc_auc_score(y[test_idx], scores)),
                       "average_precision": float(average_precision_score(y[test_idx], scores)),
                       "seconds": seconds, "not_finite": n_not_finite}
                rows.append(row)
                print(f"odds {name:12s} seed {seed} {tool:24s} auc {row['roc_auc']:.4f} "
                      f"ap {row['average_precision']:.4f} {seconds:6.1f}s", flush=True)
    return rows


def _event_scores(pred: list[tuple[int, int]], windows: list[tuple[int, int]]) -> dict[str, float]:
    if not pred:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "intervals": 0}
    hit = [any(a <= we and b >= ws for ws, we in windows) for a, b in pred]
    found = [any(a <= we and b >= ws for a, b in pred) for ws, we in windows]
    p, r = float(np.mean(hit)), float(np.mean(found))
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "intervals": len(pred)}


def _window_iforest(values: np.ndarray, span: int, seed: int) -> np.ndarray:
    from pyod.models.iforest import IForest

    z = (values - np.median(values)) / (np.std(values) or 1.0)
    windows = np.lib.stride_tricks.sliding_window_view(z, span)
    det = IForest(random_state=seed).fit(windows)
    w_scores = det.decision_function(windows)
    out = np.full(values.size, np.nan)
    half = span // 2
    out[half:half + w_scores.size] = w_scores  # each window scores the point at its centre
    return out


def run_nab(seed: int) -> list[dict[str, Any]]:
    labels = json.loads((DATA / "nab" / "labels" / "combined_windows.json").read_text())
    rows = []
    for name in NAB:
        df = pd.read_csv(DATA / "nab" / "realKnownCause" / f"{name}.csv")
        s = read_series(df, time="timestamp", value="value")
        t = s.times.to_numpy()
        windows = [(int(np.searchsorted(t, np.datetime64(a))),
                    int(np.searchsorted(t, np.datetime64(b))))
                   for a, b in labels[f"realKnownCause/{name}.csv"]]
        start = time.perf_counter()
        det = SeriesAnomalyDetector(contamination=QS[0], seed=seed).fit(s)
        genlab_scores = det.window_scores(s)
        genlab_seconds = time.perf_counter() - start
        start = time.perf_counter()
        pyod_scores = _window_iforest(s.values, det.span_, seed)
        pyod_seconds = time.perf_counter() - start
        for tool, scores, seconds in (("genlab:SeriesAnomalyDetector", genlab_scores,
                                       genlab_seconds),
                                      ("pyod:IForest (sliding windows)", pyod_scores,
                                       pyod_seconds)):
            for q in QS:
                finite = scores[np.isfinite(scores)]
                thr = np.quantile(finite, 1 - q)
                flags = np.nan_to_num(scores, nan=-np.inf) > thr
                pred = intervals_from_flags(flags, max_gap=det.span_)
                row = {"series": name, "tool": tool, "q": q, "window": det.span_,
                       "seconds": seconds, **_event_scores(pred, windows)}
                rows.append(row)
                print(f"nab {name:38s} {tool:32s} q {q:.2f} P {row['precision']:.2f} "
                      f"R {row['recall']:.2f} F1 {row['f1']:.2f} ({row['intervals']} intervals)"
                      f" {seconds:5.1f}s", flush=True)
    return rows


def summarise(result: dict[str, Any]) -> str:
    """Markdown tables of the means."""
    lines = []
    if result.get("odds"):
        df = pd.DataFrame(result["odds"])
        per = df.groupby(["tool", "dataset"])[["roc_auc", "average_precision"]].mean()
        auc = per["roc_auc"].unstack()
        ap = per["average_precision"].unstack()
        secs = df.groupby("tool")["seconds"].mean()
        table = pd.DataFrame({"mean ROC AUC": auc.mean(axis=1), "mean AP": ap.mean(axis=1),
                              **{f"AUC {c}": auc[c] for c in ODDS},
                              **{f"AP {c}": ap[c] for c in ODDS},
                              "fit+score s": secs}).sort_values("mean ROC AUC", ascending=False)
        lines += ["| tool | " + " | ".join(table.columns) + " |",
                  "|---|" + "---:|" * len(table.columns)]
        for tool, r in table.iterrows():
            mark = "**" if tool == DEFAULT else ""
            lines.append(f"| {mark}{tool}{mark} | " + " | ".join(
                f"{v:.1f}" if c == "fit+score s" else f"{v:.3f}" for c, v in r.items()) + " |")
    if result.get("nab"):
        df = pd.DataFrame(result["nab"])
        table = df.pivot_table(index="tool", columns="q", values="f1", aggfunc="mean")
        prec = df.pivot_table(index="tool", columns="q", values="precision", aggfunc="mean")
        rec = df.pivot_table(index="tool", columns="q", values="recall", aggfunc="mean")
        lines += ["", "| tool | " + " | ".join(f"F1 (P / R) at q={q}" for q in table.columns)
                  + " |", "|---|" + "---:|" * len(table.columns)]
        for tool in table.index:
            lines.append(f"| {tool} | " + " | ".join(
                f"{table.loc[tool, q]:.2f} ({prec.loc[tool, q]:.2f} / {rec.loc[tool, q]:.2f})"
                for q in table.columns) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["odds", "nab"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--tools", default=",".join(
        [f"genlab:{g}" for g in GENLAB] + [f"pyod:{p}" for p in PYOD]))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "genlab": genlab.__version__,
        "protocol": {"odds": "fit on 60% of normal rows, test on the rest + all anomalies",
                     "nab": "fit on the whole series; flag the top q share of points; "
                            "intervals merged across gaps shorter than the window"},
    }
    if RESULTS.exists():
        result = {**json.loads(RESULTS.read_text()), **result}
    if args.only in (None, "odds"):
        tools = args.tools.split(",")
        # the tools run replace their own records; the others' stay (a genlab-only re-run
        # keeps the PyOD rows)
        kept = [r for r in result.get("odds", []) if r["tool"] not in tools]
        result["odds"] = kept + run_odds(args.seeds, tools)
    if args.only in (None, "nab"):
        result["nab"] = run_nab(0)
    from genlab._machine import machine_info

    result["machine_info"] = machine_info()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(RESULTS)
    print(summarise(result))


if __name__ == "__main__":
    main()
