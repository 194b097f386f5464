"""Fit and sample times of the classical families on the full UCI Adult table.

Run: .venv/bin/python benchmarks/classical.py [--repeats 3]
Writes benchmarks/results/classical.json and prints a markdown table. Each family runs in
its own subprocess so peak memory (max RSS) is its own; times are medians over repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "adult"
FAMILIES = ("gaussian", "mixture", "copula")


def one_run(family: str, repeats: int) -> dict[str, float]:
    import numpy as np
    import pandas as pd
    from scipy.stats import ks_2samp

    import genlab

    train = pd.read_csv(DATA / "adult.csv")
    test = pd.read_csv(DATA / "adult_test.csv")
    fits, samples, scores = [], [], []
    for r in range(repeats):
        t = time.perf_counter()
        model = genlab.fit(train, family, seed=r)
        fits.append(time.perf_counter() - t)
        t = time.perf_counter()
        synth = model.sample(len(train), seed=r)
        samples.append(time.perf_counter() - t)
        t = time.perf_counter()
        lp = model.log_prob(test)
        scores.append(time.perf_counter() - t)
    shapes = []
    for col in train.columns:
        a, b = train[col].dropna(), synth[col].dropna()
        if pd.api.types.is_numeric_dtype(a) and a.nunique() > 20:
            shapes.append(1 - ks_2samp(a, b).statistic)
        else:
            pa = train[col].fillna("(missing)").value_counts(normalize=True)
            pb = synth[col].fillna("(missing)").value_counts(normalize=True)
            shapes.append(1 - 0.5 * pa.sub(pb, fill_value=0).abs().sum())
    return {
        "fit_s": statistics.median(fits),
        "sample_s": statistics.median(samples),
        "rows_per_s": len(train) / statistics.median(samples),
        "log_prob_s": statistics.median(scores),
        "test_log_prob_mean": float(np.mean(lp)),
        "test_log_prob_finite": float(np.isfinite(lp).mean()),
        "column_shape_score": float(np.mean(shapes)),
        "n_components": getattr(model, "n_components_", None),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_run(args.child, args.repeats)))
        return
    if not (DATA / "adult.csv").exists():
        sys.exit(f"Adult data not found in {DATA}")
    results = {}
    for family in FAMILIES:
        out = subprocess.run(
            [sys.executable, __file__, "--child", family, "--repeats", str(args.repeats)],
            check=True, capture_output=True, text=True, env={**os.environ, "CI": "true"},
        )
        results[family] = json.loads(out.stdout.strip().splitlines()[-1])
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "repeats": args.repeats,
            "rows": 32561, "python": platform.python_version()}
    (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
    (ROOT / "benchmarks" / "results" / "classical.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=1))
    print("| family | fit (s) | sample 32,561 rows (s) | rows/s | log_prob 16,281 rows (s) "
          "| mean test log-lik | column shape | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|")
    for f, r in results.items():
        print(f"| {f} | {r['fit_s']:.2f} | {r['sample_s']:.3f} | {r['rows_per_s']:,.0f} | "
              f"{r['log_prob_s']:.2f} | {r['test_log_prob_mean']:.3f} | "
              f"{r['column_shape_score']:.3f} | {r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
