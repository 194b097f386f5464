"""Generative vs discriminative classifiers: learning curves and missing inputs (issue 16).

Learning curves (Ng & Jordan 2001): on Adult (train `adult.csv`, test the official
`adult_test.csv`), breast cancer and wine (scikit-learn's bundled copies; a stratified 30%
test split per seed), each model is fitted on stratified subsamples of the training rows of
log-spaced sizes 20 ... all, 5 seeds; accuracy, ROC AUC (one-vs-rest for wine) and log loss
on the test rows. GenerativeClassifier with gaussian, bayesnet and mixture (mixture is not
run beyond 3,000 training rows: its EM fit takes 20 s at 10,000 Adult rows and 60 s at
all 32,561, which would dominate the budget) against
LogisticRegression, GaussianNB and HistGradientBoosting behind one preprocessing (mean
imputation + standardisation for numbers, most-frequent + one-hot for categories).

Missing inputs: each model is fitted on complete training rows (Adult: 5,000 of them), then
0/10/30/50% of the test cells are set missing completely at random (Adult: 600 test rows).
GenerativeClassifier marginalises them; the discriminative models fill them with the mean
(SimpleImputer) or with IterativeImputer (numbers; categories most-frequent), both fitted
on the training rows.

    flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python benchmarks/classify.py
    .venv/bin/python benchmarks/classify.py --seeds 1 --quick     # a smoke run
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
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.experimental import enable_iterative_imputer  # noqa: F401 (registers it)
from sklearn.impute import IterativeImputer, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import genlab
from genlab.classify import GenerativeClassifier

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parents[1] / "shared" / "data"
RESULTS = ROOT / "results"
GENERATIVE = ["gaussian", "bayesnet", "mixture"]
DISCRIMINATIVE = ["LogisticRegression", "GaussianNB", "HistGradientBoosting"]
SIZES = {"adult": [20, 50, 100, 300, 1000, 3000, 10000, 32561],
         "breast_cancer": [20, 40, 80, 160, 398], "wine": [20, 40, 80, 124]}
MIXTURE_MAX = 3000
RATES = [0.0, 0.1, 0.3, 0.5]
MISSING_TRAIN, MISSING_TEST = {"adult": 5000}, {"adult": 600}


def load(name: str, seed: int) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    """Training and test features and labels of one dataset."""
    if name == "adult":
        train = pd.read_csv(DATA / "adult" / "adult.csv")
        test = pd.read_csv(DATA / "adult" / "adult_test.csv")
        return (train.drop(columns="income"), train["income"],
                test.drop(columns="income"), test["income"])
    bunch = (load_breast_cancer if name == "breast_cancer" else load_wine)(as_frame=True)
    X, y = bunch.data, bunch.target.astype(str)
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    return (Xa.reset_index(drop=True), ya.reset_index(drop=True),
            Xb.reset_index(drop=True), yb.reset_index(drop=True))


def _preprocess(X: pd.DataFrame, impute: str, seed: int) -> ColumnTransformer:
    num = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    cat = [c for c in X.columns if c not in num]
    filler = (IterativeImputer(random_state=seed, max_iter=10) if impute == "iterative"
              else SimpleImputer(strategy="mean"))
    parts = [("num", make_pipeline(filler, StandardScaler()), num)]
    if cat:
        parts.append(("cat", make_pipeline(
            SimpleImputer(strategy="most_frequent"),
            OneHotEncoder(handle_unknown="ignore", sparse_output=False)), cat))
    return ColumnTransformer(parts)


def discriminative(name: str, X: pd.DataFrame, seed: int, impute: str = "mean") -> Pipeline:
    """One discriminative baseline behind the shared preprocessing."""
    head = {"LogisticRegression": lambda: LogisticRegression(max_iter=2000),
            "GaussianNB": GaussianNB,
            "HistGradientBoosting": lambda: HistGradientBoostingClassifier(random_state=seed)}
    return Pipeline([("pre", _preprocess(X, impute, seed)), ("clf", head[name]())])


def scores(model: Any, X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    """Accuracy, ROC AUC and log loss on (X, y)."""
    proba = model.predict_proba(X)
    classes = list(model.classes_)
    pred = np.asarray(classes)[proba.argmax(axis=1)]
    if len(classes) == 2:
        auc = roc_auc_score((y == classes[1]).to_numpy(), proba[:, 1])
    else:
        auc = roc_auc_score(y, proba, multi_class="ovr", labels=classes)
    return {"accuracy": float(accuracy_score(y, pred)), "roc_auc": float(auc),
            "log_loss": float(log_loss(y, np.clip(proba, 1e-15, 1), labels=classes))}


def _models(X: pd.DataFrame, seed: int, n: int) -> dict[str, Any]:
    out: dict[str, Any] = {f"gen:{f}": GenerativeClassifier(f, random_state=seed)
                           for f in GENERATIVE if f != "mixture" or n <= MIXTURE_MAX}
    out.update({d: discriminative(d, X, seed) for d in DISCRIMINATIVE})
    return out


def _subsample(X: pd.DataFrame, y: pd.Series, n: int, seed: int
               ) -> tuple[pd.DataFrame, pd.Series]:
    if n >= len(X):
        return X, y
    Xs, _, ys, _ = train_test_split(X, y, train_size=n, stratify=y, random_state=seed)
    return Xs.reset_index(drop=True), ys.reset_index(drop=True)


def learning_curves(datasets: list[str], seeds: int, quick: bool) -> list[dict[str, Any]]:
    """One row per dataset, size, seed and model."""
    rows = []
    for name in datasets:
        for seed in range(seeds):
            X, y, Xt, yt = load(name, seed)
            for n in SIZES[name][:3] if quick else SIZES[name]:
                Xs, ys = _subsample(X, y, n, seed)
                for label, model in _models(X, seed, n).items():
                    start = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        model.fit(Xs, ys)
                        result = scores(model, Xt, yt)
                    rows.append({"dataset": name, "n": len(Xs), "seed": seed, "model": label,
                                 **result, "seconds": time.perf_counter() - start})
                print(name, seed, n, flush=True)
    return rows


def mcar(X: pd.DataFrame, rate: float, rng: np.random.Generator) -> pd.DataFrame:
    """X with each cell missing with probability `rate`, independently."""
    return X.mask(rng.random(X.shape) < rate) if rate > 0 else X


def missing_inputs(datasets: list[str], seeds: int, quick: bool) -> list[dict[str, Any]]:
    """One row per dataset, missing rate, seed and model."""
    rows = []
    for name in datasets:
        for seed in range(seeds):
            X, y, Xt, yt = load(name, seed)
            X, y = _subsample(X, y, MISSING_TRAIN.get(name, len(X)), seed)
            keep = X.notna().all(axis=1).to_numpy()
            X, y = X[keep].reset_index(drop=True), y[keep].reset_index(drop=True)
            Xt, yt = _subsample(Xt, yt, MISSING_TEST.get(name, len(Xt)), seed)
            models: dict[str, Any] = {f"gen:{f}": GenerativeClassifier(f, random_state=seed)
                                      for f in ("gaussian", "bayesnet")}
            for impute in ("mean", "iterative"):
                models.update({f"{d}+{impute}": discriminative(d, X, seed, impute)
                               for d in DISCRIMINATIVE})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for model in models.values():
                    model.fit(X, y)
                for rate in RATES[:2] if quick else RATES:
                    masked = mcar(Xt, rate, np.random.default_rng(1000 + seed))
                    for label, model in models.items():
                        rows.append({"dataset": name, "rate": rate, "seed": seed,
                                     "model": label, **scores(model, masked, yt)})
            print(name, seed, "missing", flush=True)
    return rows


def _table(frame: pd.DataFrame, index: str, metric: str, digits: int = 3) -> str:
    """Markdown table of mean ± sd of `metric` over seeds, `index` down, models across."""
    stats = frame.groupby([index, "model"])[metric].agg(["mean", "std"]).reset_index()
    models = list(dict.fromkeys(frame["model"]))
    lines = [f"| {index} | " + " | ".join(models) + " |", "|---" * (len(models) + 1) + "|"]
    for key, part in stats.groupby(index):
        cell = {r.model: f"{r.mean:.{digits}f} ± {0 if np.isnan(r.std) else r.std:.{digits}f}"
                for r in part.itertuples()}
        lines.append(f"| {key:g} | " + " | ".join(cell.get(m, "—") for m in models) + " |")
    return "\n".join(lines)


def crossings(curves: pd.DataFrame, metric: str = "accuracy") -> list[str]:
    """Per generative family, against each discriminative model: the sizes where the
    generative one is ahead (mean over seeds) and where the lead last changes hands."""
    out = []
    for name, part in curves.groupby("dataset", sort=False):
        mean = part.groupby(["model", "n"])[metric].mean().unstack("n")
        for gen in [m for m in mean.index if m.startswith("gen:")]:
            said = []
            for disc in DISCRIMINATIVE:
                both = mean.loc[[gen, disc]].dropna(axis=1)
                ahead = (both.loc[gen] > both.loc[disc]).to_numpy()
                sizes = both.columns.to_numpy()
                if ahead.all() or not ahead.any():
                    said.append(f"{disc}: {'generative' if ahead.all() else disc} ahead at "
                                f"every size")
                    continue
                flip = np.flatnonzero(ahead[1:] != ahead[:-1])[-1]
                leader = "generative" if ahead[flip + 1] else disc
                said.append(f"{disc}: generative ahead at n = "
                            f"{', '.join(map(str, sizes[ahead]))}; last crossing between "
                            f"n = {sizes[flip]} and {sizes[flip + 1]}, {leader} ahead after")
            out.append(f"{name}, {gen} — " + "; ".join(said))
    return out


def degradation(missing: pd.DataFrame) -> list[str]:
    """Accuracy lost from 0% to the highest missing rate, and whether each generative
    classifier lost less than every discriminative + imputation pair (the issue's target)."""
    out = []
    top = missing["rate"].max()
    for name, part in missing.groupby("dataset", sort=False):
        mean = part.groupby(["model", "rate"])["accuracy"].mean().unstack("rate")
        drop = (mean[0.0] - mean[top]).sort_values()
        disc = drop[[m for m in drop.index if not m.startswith("gen:")]]
        for gen in [m for m in drop.index if m.startswith("gen:")]:
            met = bool((drop[gen] < disc).all())
            out.append(f"{name}: {gen} loses {drop[gen]:.3f} accuracy at {top:.0%} missing; "
                       f"discriminative + imputation lose {disc.min():.3f} … {disc.max():.3f} "
                       f"(best pair {disc.idxmin()}) → target {'met' if met else 'missed'}")
    return out


def _plots(out: Path, stem: str, curves: pd.DataFrame, missing: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(curves["dataset"]))
    metrics = ["accuracy", "roc_auc", "log_loss"]
    fig, axes = plt.subplots(len(names), 3, figsize=(13, 3.4 * len(names)), squeeze=False)
    for i, name in enumerate(names):
        part = curves[curves["dataset"] == name]
        for j, metric in enumerate(metrics):
            ax = axes[i][j]
            for model, rows in part.groupby("model", sort=False):
                m = rows.groupby("n")[metric].mean()
                ax.plot(m.index, m.values, marker="o", ms=3, label=model,
                        ls="-" if model.startswith("gen:") else "--")
            ax.set_xscale("log")
            ax.set_title(f"{name}: {metric}")
            ax.set_xlabel("training rows")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / f"{stem}_learning.png", dpi=90)
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False)
    for i, name in enumerate(names):
        part = missing[missing["dataset"] == name]
        for model, rows in part.groupby("model", sort=False):
            m = rows.groupby("rate")["accuracy"].mean()
            axes[0][i].plot(m.index, m.values, marker="o", ms=3, label=model,
                            ls="-" if model.startswith("gen:") else "--")
        axes[0][i].set_title(f"{name}: accuracy vs missing share")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / f"{stem}_missing.png", dpi=90)
    plt.close("all")


def write_report(out: Path, stem: str, meta: dict[str, Any], curves: pd.DataFrame,
                 missing: pd.DataFrame) -> None:
    """results/<stem>.md: the tables, crossings and target check; and two plots."""
    command = ("flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python "
               f"benchmarks/classify.py --seeds {meta['seeds']}")
    parts = [f"# Generative vs discriminative classifiers ({meta['date']})", "",
             f"`{command}` — genlab {meta['genlab']}, Python {meta['python']}, 1 thread, "
             f"{meta['seconds']:.0f} s in all; mean ± sd over {meta['seeds']} seeds.", "",
             "## Where the accuracy curves cross", "",
             *[f"- {line}" for line in crossings(curves)], ""]
    for name in dict.fromkeys(curves["dataset"]):
        part = curves[curves["dataset"] == name]
        for metric in ("accuracy", "roc_auc", "log_loss"):
            parts += [f"### {name}: {metric} by training rows", "", _table(part, "n", metric),
                      ""]
    if missing.empty:
        (out / f"{stem}.md").write_text("\n".join(parts + ["(missing-input part running)"]))
        _plots(out, stem, curves, missing)
        return
    parts += ["## Missing test inputs (MCAR): accuracy by missing share", "",
              *[f"- {line}" for line in degradation(missing)], ""]
    for name in dict.fromkeys(missing["dataset"]):
        parts += [f"### {name}", "", _table(missing[missing["dataset"] == name], "rate",
                                            "accuracy"), ""]
    (out / f"{stem}.md").write_text("\n".join(parts))
    _plots(out, stem, curves, missing)


def main() -> None:
    """Run both benchmarks and write results/classify.{json,md} and two plots (after the
    learning curves, then again with the missing-input results)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--datasets", default="adult,breast_cancer,wine")
    parser.add_argument("--quick", action="store_true", help="a smoke run (few sizes)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    names = args.datasets.split(",")
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "classify_quick" if args.quick else "classify"
    curves = pd.DataFrame(learning_curves(names, args.seeds, args.quick))
    missing = pd.DataFrame(columns=["dataset", "rate", "seed", "model", "accuracy"])
    for part in ("curves", "missing"):
        if part == "missing":
            missing = pd.DataFrame(missing_inputs(names, args.seeds, args.quick))
        meta = {"genlab": genlab.__version__, "python": platform.python_version(),
                "seeds": args.seeds, "seconds": round(time.perf_counter() - start, 1),
                "date": time.strftime("%Y-%m-%d"), "done": part}
        (args.out / f"{stem}.json").write_text(json.dumps(
            {"meta": meta, "learning_curves": curves.to_dict("records"),
             "missing_inputs": missing.to_dict("records")}, indent=1))
        write_report(args.out, stem, meta, curves, missing)


if __name__ == "__main__":
    main()
