"""Tabular synthesis on UCI Adult: every genlab family beside SDV's peers, same split.

Protocol (../shared/BENCHMARKS.md): fit on all of adult.csv (32,561 rows), sample as many,
hold-out = adult_test.csv. Scores: SDMetrics QualityReport (overall, Column Shapes, Column Pair
Trends, plus the all-pairs trend average), real-vs-synthetic detection AUC (gradient boosting,
3-fold out-of-fold), train-on-synthetic / train-on-real ROC AUC and accuracy for income, DCR
ratio and exact-copy share; fit and sample wall seconds and peak RSS, each tool in its own
process.

Run (the peers need the `bench` extra, e.g. a separate venv: see benchmarks/README.md):
    python benchmarks/tabular.py                       # every tool
    python benchmarks/tabular.py --tools genlab:copula,sdv:ctgan
Results are merged into benchmarks/results/tabular.json; the markdown table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "adult"
RESULTS = ROOT / "benchmarks" / "results" / "tabular.json"
NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
TARGET = "income"
GENLAB = ["gaussian", "mixture", "copula", "bayesnet", "vae", "gan", "autoregressive", "flow"]
PEERS = ["gaussiancopula", "ctgan", "tvae"]
ALL_TOOLS = [f"genlab:{f}" for f in GENLAB] + [f"sdv:{p}" for p in PEERS]


def _load() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(DATA / "adult.csv"), pd.read_csv(DATA / "adult_test.csv")


# -- one tool, in a child process --------------------------------------------------------------
def run_tool(tool: str, out: Path, seed: int) -> dict[str, float]:
    """Fit, sample and time one tool; write its synthetic table to `out`."""
    import torch

    torch.set_num_threads(2)
    train, _ = _load()
    kind, name = tool.split(":")
    if kind == "genlab":
        import genlab

        genlab.families("table")  # import the families (and torch) outside the timed fit
        start = time.perf_counter()
        model = genlab.fit(train, name, seed=seed)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        synth = model.sample(len(train), seed=seed)
        sample_s = time.perf_counter() - start
    else:
        from sdv.metadata import Metadata
        from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

        columns = {c: {"sdtype": "numerical" if c in NUMERIC else "categorical"}
                   for c in train.columns}
        metadata = Metadata.load_from_dict({"tables": {"adult": {"columns": columns}}})
        cls = {"gaussiancopula": GaussianCopulaSynthesizer, "ctgan": CTGANSynthesizer,
               "tvae": TVAESynthesizer}[name]
        kwargs = {} if name == "gaussiancopula" else {"enable_gpu": False}
        synthesizer = cls(metadata, **kwargs)
        np.random.seed(seed)
        torch.manual_seed(seed)
        start = time.perf_counter()
        synthesizer.fit({"adult": train})  # SDV 2.0 takes {table name: DataFrame}
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        synth = synthesizer.sample(num_rows=len(train))
        if isinstance(synth, dict):
            synth = synth["adult"]
        sample_s = time.perf_counter() - start
    synth.to_parquet(out, index=False)
    result = {"fit_s": fit_s, "sample_s": sample_s,
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if kind == "genlab" and model.supports_log_prob and model.log_prob_is_exact:
        # exact likelihoods only: the VAE's IWAE estimate is not comparable and slow here
        _, test = _load()
        start = time.perf_counter()
        lp = model.log_prob(test)
        result["log_prob_s"] = time.perf_counter() - start
        result["test_log_prob_mean"] = float(np.mean(lp))
        result["test_log_prob_finite"] = float(np.mean(np.isfinite(lp)))
        # each column permuted independently: same marginals, dependence destroyed
        shuffled = test.apply(
            lambda col: col.sample(frac=1, random_state=test.columns.get_loc(col.name))
            .to_numpy())
        result["shuffled_log_prob_mean"] = float(np.mean(model.log_prob(shuffled)))
    return result


# -- scores ------------------------------------------------------------------------------------
def _features(df: pd.DataFrame, ref: pd.DataFrame) -> np.ndarray:
    """Standardised numerics + one-hot categoricals (categories of `ref`), for distances."""
    num = (df[NUMERIC].astype(float) - ref[NUMERIC].mean()) / ref[NUMERIC].std()
    cats = [c for c in ref.columns if c not in NUMERIC]
    onehot = [
        (df[c].astype(object).fillna("(missing)").to_numpy()[:, None]
         == np.asarray(ref[c].astype(object).fillna("(missing)").unique())[None, :])
        for c in cats
    ]
    return np.hstack([num.fillna(0).to_numpy()] + [o.astype(float) for o in onehot])


def _gb_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if c not in NUMERIC:
            out[c] = out[c].astype(object).fillna("(missing)").astype("category")
    return out


def score(train: pd.DataFrame, test: pd.DataFrame, synth: pd.DataFrame) -> dict[str, float]:
    """Every score of the protocol for one synthetic table."""
    from sdmetrics.reports.single_table import QualityReport
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.neighbors import NearestNeighbors

    synth = synth[train.columns]
    out: dict[str, float] = {}
    meta = {"columns": {c: {"sdtype": "numerical" if c in NUMERIC else "categorical"}
                        for c in train.columns}}
    report = QualityReport()
    report.generate(train, synth, meta, verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    out["quality"] = float(report.get_score())
    out["column_shapes"] = float(props["Column Shapes"])
    out["pair_trends"] = float(props["Column Pair Trends"])
    details = report.get_details("Column Pair Trends")
    out["pair_trends_all_pairs"] = float(details["Score"].mean())

    rng = np.random.default_rng(0)
    n = min(len(train), len(synth), 10_000)
    real_rows = train.sample(n, random_state=0)
    fake_rows = synth.sample(n, random_state=0)
    both = _gb_frame(pd.concat([real_rows, fake_rows], ignore_index=True))
    label = np.r_[np.zeros(n), np.ones(n)]
    clf = HistGradientBoostingClassifier(random_state=0, categorical_features="from_dtype")
    proba = cross_val_predict(clf, both, label, cv=StratifiedKFold(3, shuffle=True,
                              random_state=0), method="predict_proba")[:, 1]
    out["detection_auc"] = float(roc_auc_score(label, proba))

    x_cols = [c for c in train.columns if c != TARGET]
    y_test = (test[TARGET] == ">50K").to_numpy()
    allx = _gb_frame(pd.concat([train[x_cols], synth[x_cols], test[x_cols]], ignore_index=True))
    xs_train = allx.iloc[:len(train)]
    xs_synth = allx.iloc[len(train):len(train) + len(synth)]
    xs_test = allx.iloc[len(train) + len(synth):]
    for tag, x, y in (("tstr", xs_synth, synth[TARGET] == ">50K"),
                      ("trtr", xs_train, train[TARGET] == ">50K")):
        model = HistGradientBoostingClassifier(random_state=0, categorical_features="from_dtype")
        model.fit(x, y.to_numpy())
        p = model.predict_proba(xs_test)[:, 1]
        out[f"{tag}_roc_auc"] = float(roc_auc_score(y_test, p))
        out[f"{tag}_accuracy"] = float(accuracy_score(y_test, p > 0.5))

    ref = train
    nn = NearestNeighbors(n_neighbors=1).fit(_features(train, ref))
    m = 5000
    d_synth = nn.kneighbors(_features(synth.sample(m, random_state=1), ref))[0][:, 0]
    d_test = nn.kneighbors(_features(test.sample(m, random_state=1), ref))[0][:, 0]
    out["dcr_ratio"] = float(np.median(d_synth) / np.median(d_test))
    out["exact_copy_share"] = float(np.mean(d_synth < 1e-9))
    del rng
    # genlab's own evaluation suite on the same pair: its headline verdicts for every tool
    import genlab

    suite = genlab.evaluate(train=train, test=test, synthetic=synth, target=TARGET,
                            sensitive=["sex", "race"])
    out["genlab_evaluate"] = {k: {"value": v["value"], "verdict": v["verdict"]}
                              for k, v in suite.summary.items()}
    out["membership_auc"] = suite.scores["privacy"].get("membership_auc")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", default=",".join(ALL_TOOLS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_tool(args.child, Path(args.out), args.seed)))
        return
    if not (DATA / "adult.csv").exists():
        sys.exit(f"Adult data not found in {DATA}")
    results = json.loads(RESULTS.read_text())["results"] if RESULTS.exists() else {}
    train, test = _load()
    with tempfile.TemporaryDirectory() as tmp:
        for tool in args.tools.split(","):
            out = Path(tmp) / "synth.parquet"
            env = {**os.environ, "CI": "true", "OMP_NUM_THREADS": "2"}
            proc = subprocess.run([sys.executable, __file__, "--child", tool, "--out", str(out),
                                   "--seed", str(args.seed)],
                                  capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                print(f"{tool} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            timing = json.loads(proc.stdout.strip().splitlines()[-1])
            synth = pd.read_parquet(out)
            results[tool] = {**timing, "rows_per_s": len(synth) / timing["sample_s"],
                             **score(train, test, synth)}
            print(f"{tool}: {json.dumps(results[tool])}", file=sys.stderr)
    RESULTS.parent.mkdir(exist_ok=True)
    from genlab._machine import machine_info

    RESULTS.write_text(json.dumps({"meta": {"machine": f"{os.cpu_count()} cores, CPU only",
                                            "machine_info": machine_info(),
                                            "seed": args.seed, "protocol": "BENCHMARKS.md"},
                                   "results": results}, indent=1))
    print(markdown(results))


def markdown(results: dict[str, dict[str, float]]) -> str:
    """The results as a markdown table."""
    lines = ["| tool | quality | shapes | pair trends (all pairs) | detection AUC | TSTR ROC AUC "
             "| TSTR acc | DCR ratio | copies | fit (s) | sample rows/s | peak RSS (MB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for tool, r in results.items():
        lines.append(
            f"| {tool} | {r['quality']:.3f} | {r['column_shapes']:.3f} | {r['pair_trends']:.3f} "
            f"({r['pair_trends_all_pairs']:.3f}) | {r['detection_auc']:.3f} | "
            f"{r['tstr_roc_auc']:.3f} | {r['tstr_accuracy']:.3f} | {r['dcr_ratio']:.2f} | "
            f"{r['exact_copy_share']:.3f} | {r['fit_s']:.1f} | {r['rows_per_s']:,.0f} | "
            f"{r['peak_rss_mb']:.0f} |")
    lines += ["", "| tool | held-out mean log-lik (nats/row) | finite | shuffled-column rows | "
              "log_prob 16,281 rows (s) |", "|---|---|---|---|---|"]
    for tool, r in results.items():
        if "test_log_prob_mean" in r:
            lines.append(f"| {tool} | {r['test_log_prob_mean']:.2f} | "
                         f"{r['test_log_prob_finite']:.3f} | {r['shuffled_log_prob_mean']:.2f} | "
                         f"{r['log_prob_s']:.2f} |")
    lines += ["", "`genlab evaluate` on the same pairs (target income, sensitive sex, race):", "",
              "| tool | quality | utility gap (ROC AUC) | privacy (DCR ratio) | membership AUC "
              "| bias flags |", "|---|---|---|---|---|---|"]
    for tool, r in results.items():
        ev = r.get("genlab_evaluate")
        if ev:
            cell = {k: f"{v['value']:.3g} ({v['verdict']})" if v["value"] is not None
                    else v["verdict"] for k, v in ev.items()}
            lines.append(f"| {tool} | {cell['quality']} | {cell['utility_gap']} | "
                         f"{cell['privacy_risk']} | {r['membership_auc']:.3f} | {cell['bias']} |")
    trtr = next(iter(results.values()), {}).get("trtr_roc_auc")
    if trtr is not None:
        lines.append(f"\nTrain-on-real ROC AUC (same classifier, same hold-out): {trtr:.3f}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
