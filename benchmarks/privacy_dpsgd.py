"""DP-SGD on UCI Adult: genlab's neural autoregressive table family at epsilon in --eps.

Protocol as benchmarks/privacy.py (whose scoring it reuses): fit on adult.csv, sample as many
rows, hold-out adult_test.csv, delta = 1e-6; category sets declared (as there), numeric ranges
and the income classes estimated privately. The network trains for --steps DP-SGD steps
(Poisson sampling at rate batch / n, per-sample clipping at --clip, the noise multiplier set
by the RDP accountant for the target epsilon); the same family without DP, for the same
steps, is the reference row. Scores: SDMetrics QualityReport, detection AUC, TSTR ROC AUC,
distance-based membership AUC; fit seconds; epsilon spent (the accountant's figure).

Run under the machine-wide lock, single thread, with the project's venv (the bench venv
keeps opacus 0.14, which smartnoise-synth pins; DP-SGD needs opacus >= 1.4), which borrows
SDMetrics from the bench venv's site-packages (appended to the path, so the project's own
packages win; --bench-site to move it):
    flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 .venv/bin/python \
        benchmarks/privacy_dpsgd.py
Results: benchmarks/results/privacy_dpsgd.json and .md (the markdown table is printed).
"""

from __future__ import annotations

import argparse
import json
import site
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

BENCH_SITE = "/tmp/bv/lib/python3.11/site-packages"
if "--bench-site" in sys.argv:
    BENCH_SITE = sys.argv[sys.argv.index("--bench-site") + 1]
site.addsitedir(BENCH_SITE)  # SDMetrics, after the project's packages
sys.path.insert(0, str(Path(__file__).resolve().parent))
from privacy import DELTA, RESULTS, TARGET, _categorical, _load, score  # noqa: E402

FAMILY = "autoregressive"


def fit_sample(train: pd.DataFrame, eps: float | None, steps: int, batch: int, clip: float,
               seed: int) -> tuple[pd.DataFrame, float, dict[str, float]]:
    """(synthetic table, fit seconds, DP figures) of one fit; eps None: without DP."""
    from genlab.models.registry import make_model

    model = make_model(FAMILY, "table", seed=seed, max_steps=steps, epochs=10_000,
                       batch_size=batch)
    declared = {c: sorted(train[c].dropna().unique().tolist()) for c in _categorical(train)}
    del declared[TARGET]  # estimated privately, as in benchmarks/privacy.py
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if eps is None:
            model.fit(train)
        else:
            model.fit(train, epsilon=eps, delta=DELTA, categories=declared, max_grad_norm=clip)
    fit_s = time.perf_counter() - start
    synth = model.sample(len(train), seed=seed)
    r = model.privacy_ or {}
    extra = {k: r[k] for k in ("epsilon_spent", "noise_multiplier", "sample_rate") if k in r}
    return synth, fit_s, {**extra, "steps": float(model.steps_trained_)}


def markdown(results: dict[str, dict[str, float]], command: str) -> str:
    """The results as a markdown table, with the command that reproduces them."""
    lines = [f"Reproduce: `{command}`", "",
             "| model | epsilon | spent | noise mult. | steps | quality | shapes | pair trends "
             "| detection AUC | TSTR ROC AUC | membership AUC | fit (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in results.items():
        dp = "epsilon_spent" in r
        lines.append(
            f"| {key.split('@')[0]} | {r['epsilon']:g} | "
            f"{r['epsilon_spent']:.3f} | {r['noise_multiplier']:.3g} | " if dp else
            f"| {key.split('@')[0]} | none | | | ")
        lines[-1] += (f"{r['steps']:.0f} | {r['quality']:.3f} | {r['column_shapes']:.3f} | "
                      f"{r['pair_trends']:.3f} | {r['detection_auc']:.3f} | "
                      f"{r['tstr_roc_auc']:.3f} | {r['membership_auc']:.3f} | {r['fit_s']:.1f} |")
    trtr = next(iter(results.values()), {}).get("trtr_roc_auc")
    if trtr is not None:
        lines += ["", f"Train-on-real ROC AUC (same classifier, same hold-out): {trtr:.3f}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eps", default="1,3")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--bench-site", default=BENCH_SITE,
                        help="site-packages holding SDMetrics (the bench venv's)")
    args = parser.parse_args()
    train, test = _load(None, args.seed)
    runs: list[float | None] = [float(e) for e in args.eps.split(",")]
    if not args.no_baseline:
        runs.append(None)
    results: dict[str, dict[str, float]] = {}
    command = ("flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 .venv/bin/python "
               "benchmarks/privacy_dpsgd.py " + " ".join(sys.argv[1:])).strip()
    for eps in runs:
        synth, fit_s, extra = fit_sample(train, eps, args.steps, args.batch, args.clip,
                                         args.seed)
        name = f"genlab:{FAMILY}" + (" (DP-SGD)" if eps is not None else " (no DP)")
        results[f"{name}@{eps}"] = {"epsilon": eps or 0.0, "fit_s": fit_s, **extra,
                                    **score(train, test, synth)}
        print(f"{name} eps={eps}: quality {results[f'{name}@{eps}']['quality']:.3f}, "
              f"fit {fit_s:.1f}s", flush=True)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "privacy_dpsgd.json").write_text(json.dumps(
            {"command": command, "results": results}, indent=1))
        text = markdown(results, command)
        (RESULTS / "privacy_dpsgd.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
