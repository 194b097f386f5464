"""Differentially private synthesis on UCI Adult: genlab's DP families vs smartnoise-synth.

Protocol: fit on adult.csv (or its first --rows rows after a seeded shuffle, the same rows for
every tool), sample as many rows, hold-out = adult_test.csv; epsilon in --eps, delta = 1e-6.
Scores (as benchmarks/tabular.py, less its slower extras): SDMetrics QualityReport,
real-vs-synthetic detection AUC (gradient boosting, 3-fold, 10,000 rows a side),
train-on-synthetic ROC AUC for income, and genlab.evaluate's distance-based
membership-inference AUC (training rows vs hold-out rows, by distance to the synthetic rows);
plus fit seconds. For genlab's families, also the audit's log-likelihood membership AUC
(training rows vs hold-out rows under the model).

Metadata, the same for every tool: category sets are taken from the training table (as
smartnoise-synth does: its categorical encoder reads them without noise; for genlab they
are passed as declared `categories=`); numeric ranges are estimated privately (genlab: the
exponential mechanism, 20 % of its budget covers all metadata; smartnoise: preprocessor_eps
= 10 % of epsilon).

Run under the machine-wide lock, single thread:
    flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python benchmarks/privacy.py
Results: benchmarks/results/privacy.json and privacy.md (the markdown table is printed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tabular import NUMERIC, TARGET, _gb_frame  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "adult"
RESULTS = ROOT / "benchmarks" / "results"
DELTA = 1e-6
AIM_ROUNDS: int | None = None
TOOLS = ["genlab:bayesnet", "genlab:copula", "genlab:gaussian", "snsynth:mst", "snsynth:aim"]


def _fit_sample(tool: str, train: pd.DataFrame, eps: float, seed: int
                ) -> tuple[pd.DataFrame, float, dict[str, float]]:
    kind, name = tool.split(":")
    cats = _categorical(train)
    extra: dict[str, float] = {}
    if kind == "genlab":
        import genlab
        from genlab.privacy import audit

        declared = {c: sorted(train[c].dropna().unique().tolist()) for c in cats}
        del declared[TARGET]  # the target's classes too: estimated privately, as a test
        start = time.perf_counter()
        model = genlab.fit(train, name, seed=seed, epsilon=eps, delta=DELTA,
                           categories=declared)
        fit_s = time.perf_counter() - start
        synth = model.sample(len(train), seed=seed)
        extra["epsilon_spent"] = model.privacy_["epsilon_spent"]
        _, test = _load(None, seed)
        found = audit(model, train, test, canaries=0, seed=seed)
        extra["loglik_membership_auc"] = found.membership_auc
        extra["empirical_epsilon"] = found.empirical_epsilon
        return synth, fit_s, extra
    from snsynth import Synthesizer

    data = train.copy()
    data[cats] = data[cats].astype(object).fillna("(missing)")
    # AIM's default of 16 x columns rounds, each a 1,000-step mirror descent, takes hours on
    # this CPU; --aim-rounds caps it (fewer rounds: less noise per measured marginal)
    options = {"rounds": AIM_ROUNDS} if name == "aim" and AIM_ROUNDS else {}
    synthesizer = Synthesizer.create(name, epsilon=eps, delta=DELTA, verbose=False, **options)
    start = time.perf_counter()
    synthesizer.fit(data, preprocessor_eps=0.1 * eps, categorical_columns=cats,
                    continuous_columns=[c for c in train.columns if c not in cats],
                    nullable=False)
    fit_s = time.perf_counter() - start
    synth = synthesizer.sample(len(train))
    synth[cats] = synth[cats].replace("(missing)", np.nan)
    for c in train.columns:
        if c not in cats or pd.api.types.is_numeric_dtype(train[c]):
            synth[c] = pd.to_numeric(synth[c], errors="coerce")
    return synth[train.columns], fit_s, extra


def score(train: pd.DataFrame, test: pd.DataFrame, synth: pd.DataFrame) -> dict[str, float]:
    """Quality, detection AUC, TSTR / TRTR ROC AUC and membership AUC of one synthetic table."""
    from sdmetrics.reports.single_table import QualityReport
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from genlab.evaluate.privacy import privacy_scores

    synth = synth[train.columns]
    meta = {"columns": {c: {"sdtype": "numerical" if c in NUMERIC else "categorical"}
                        for c in train.columns}}
    report = QualityReport()
    report.generate(train, synth, meta, verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    out = {"quality": float(report.get_score()), "column_shapes": float(props["Column Shapes"]),
           "pair_trends": float(props["Column Pair Trends"])}
    n = min(len(train), len(synth), 10_000)
    both = _gb_frame(pd.concat([train.sample(n, random_state=0), synth.sample(n, random_state=0)],
                               ignore_index=True))
    label = np.r_[np.zeros(n), np.ones(n)]
    clf = HistGradientBoostingClassifier(random_state=0, categorical_features="from_dtype")
    proba = cross_val_predict(clf, both, label, cv=StratifiedKFold(3, shuffle=True,
                              random_state=0), method="predict_proba")[:, 1]
    out["detection_auc"] = float(roc_auc_score(label, proba))
    x_cols = [c for c in train.columns if c != TARGET]
    allx = _gb_frame(pd.concat([train[x_cols], synth[x_cols], test[x_cols]], ignore_index=True))
    parts = {"trtr": (allx.iloc[:len(train)], train[TARGET]),
             "tstr": (allx.iloc[len(train):len(train) + len(synth)], synth[TARGET])}
    for tag, (x, y) in parts.items():
        model = HistGradientBoostingClassifier(random_state=0, categorical_features="from_dtype")
        if y.nunique() < 2:  # a synthetic table with one income class: no classifier
            out[f"{tag}_roc_auc"] = 0.5
            continue
        model.fit(x, (y == ">50K").to_numpy())
        p = model.predict_proba(allx.iloc[len(train) + len(synth):])[:, 1]
        out[f"{tag}_roc_auc"] = float(roc_auc_score(test[TARGET] == ">50K", p))
    kinds = {c: "continuous" if c in NUMERIC else "categorical" for c in train.columns}
    out["membership_auc"] = float(privacy_scores(train, test, synth, kinds)[0]["membership_auc"])
    return out


def _categorical(train: pd.DataFrame) -> list[str]:
    """The columns genlab's codec reads as categorical (education-num too: 16 codes); every
    tool gets the same split."""
    from genlab.data.tabular import TabularCodec

    return [s.name for s in TabularCodec.fit(train).categorical]


def _save(results: dict, meta: dict, argv: list[str]) -> str:
    from genlab._machine import machine_info

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "privacy.json").write_text(json.dumps(
        {"meta": {**meta, "machine_info": machine_info()}, "results": results}, indent=1))
    command = ("flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python "
               "benchmarks/privacy.py " + " ".join(argv)).strip()
    text = markdown(results, command)
    (RESULTS / "privacy.md").write_text(text + "\n")
    return text


def _load(rows: int | None, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    train = pd.read_csv(DATA / "adult.csv")
    if rows is not None and rows < len(train):
        train = train.sample(rows, random_state=seed).reset_index(drop=True)
    return train, pd.read_csv(DATA / "adult_test.csv")


def markdown(results: dict[str, dict[str, float]], command: str) -> str:
    """The results as a markdown table, with the command that reproduces them."""
    lines = [f"Reproduce: `{command}`", "",
             "| tool | epsilon | quality | shapes | pair trends | detection AUC | TSTR ROC AUC "
             "| membership AUC | log-lik membership AUC | empirical eps | fit (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in results.items():
        tool = key.rsplit("@", 1)[0]
        ll = r.get("loglik_membership_auc")
        emp = r.get("empirical_epsilon")
        lines.append(
            f"| {tool} | {r['epsilon']:g} | {r['quality']:.3f} | {r['column_shapes']:.3f} | "
            f"{r['pair_trends']:.3f} | {r['detection_auc']:.3f} | {r['tstr_roc_auc']:.3f} | "
            f"{r['membership_auc']:.3f} | {'' if ll is None else f'{ll:.3f}'} | "
            f"{'' if emp is None else f'{emp:.3f}'} | {r['fit_s']:.1f} |")
    trtr = next(iter(results.values()), {}).get("trtr_roc_auc")
    if trtr is not None:
        lines.append(f"\nTrain-on-real ROC AUC (same classifier, same hold-out): {trtr:.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--eps", default="1,3,0.3,10")
    parser.add_argument("--rows", type=int, default=None,
                        help="fit every tool on this many training rows (seeded shuffle)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--aim-rounds", type=int, default=None,
                        help="cap AIM's rounds (default: smartnoise's 16 x columns)")
    parser.add_argument("--aim-eps", default="1,3",
                        help="the epsilons AIM runs at (its fits are the slowest by far)")
    args = parser.parse_args()
    global AIM_ROUNDS
    AIM_ROUNDS = args.aim_rounds
    if not (DATA / "adult.csv").exists():
        sys.exit(f"Adult data not found in {DATA}")
    warnings.filterwarnings("ignore")
    train, test = _load(args.rows, args.seed)
    out_json = RESULTS / "privacy.json"
    results = json.loads(out_json.read_text())["results"] if out_json.exists() else {}
    meta = {"delta": DELTA, "seed": args.seed, "rows": len(train),
            "aim_rounds": args.aim_rounds}
    text = ""
    for eps in (float(e) for e in args.eps.split(",")):
        for tool in args.tools.split(","):
            if tool == "snsynth:aim" and eps not in [float(e) for e in args.aim_eps.split(",")]:
                continue
            try:
                synth, fit_s, extra = _fit_sample(tool, train, eps, args.seed)
            except Exception as err:  # a peer failing is reported, not fatal
                print(f"{tool} at epsilon {eps:g} failed: {err!r}", file=sys.stderr)
                continue
            scores = score(train, test, synth)
            results[f"{tool}@{eps:g}"] = {"epsilon": eps, "fit_s": fit_s, "rows": len(train),
                                          **extra, **scores}
            print(f"{tool}@{eps:g}: quality {scores['quality']:.3f}, fit {fit_s:.1f}s",
                  file=sys.stderr, flush=True)
            text = _save(results, meta, sys.argv[1:])  # after every run: partial results kept
    print(text)


if __name__ == "__main__":
    main()
