"""Constraints kept exactly: every table family, fitted with and without constraints on a
table derived from UCI Adult, 100,000 rows sampled from each, violations counted and quality
compared (issue 18: 0 violations, quality within 0.01 of the unconstrained fit).

The table (`derived_table`) is adult.csv (32,561 rows, 15 columns) plus three derived
columns, built deterministically from each row (no randomness), so that the rules hold in
every training row and tie to the other columns:

- `signup_date`: 2015-01-01 plus a day offset that falls with age (older people signed up
  earlier) and a spread from fnlwgt: ``(90 - age) / 73 * 2000 + fnlwgt % 400`` days;
- `last_login`: `signup_date` plus a gap growing with hours-per-week and education-num:
  ``hours-per-week * 4 + education-num * 10 + fnlwgt % 60`` days;
- `city`: one of 1-3 invented cities of the row's native-country (how many from the country
  name's length), picked by education-num and race; missing where native-country is.

Constraints: ``last_login >= signup_date`` (a date inequality), ``17 <= age <= 90`` (a
range) and ``city <-> country`` on (`city`, `native-country`) (a fixed combination).
Violations are counted with pandas, independently of genlab's own checks. Quality is
genlab.evaluate's fidelity quality (column shapes and pair trends, SDMetrics' definitions)
of the 100,000 synthetic rows against the training table.

Run (one benchmark at a time on the machine, single thread):
    flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python benchmarks/constraints.py
    ... benchmarks/constraints.py --families copula,bayesnet --rows 20000
Writes benchmarks/results/constraints.md (and prints it).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "adult"
RESULTS = ROOT / "benchmarks" / "results" / "constraints.md"
FAMILIES = ["gaussian", "mixture", "copula", "bayesnet", "vae", "gan", "autoregressive", "flow"]
RULES = ["last_login >= signup_date", "17 <= age <= 90", "city <-> native-country"]


def derived_table() -> pd.DataFrame:
    """adult.csv with the derived signup/last-login dates and city (module docstring)."""
    df = pd.read_csv(DATA / "adult.csv")
    offset = ((90 - df["age"]) / 73 * 2000).round().astype(int) + df["fnlwgt"] % 400
    df["signup_date"] = pd.Timestamp("2015-01-01") + pd.to_timedelta(offset, unit="D")
    gap = df["hours-per-week"] * 4 + df["education-num"] * 10 + df["fnlwgt"] % 60
    df["last_login"] = df["signup_date"] + pd.to_timedelta(gap, unit="D")
    country = df["native-country"]
    n_cities = country.fillna("").str.len() % 3 + 1
    race = df["race"].astype("category").cat.codes
    pick = (df["education-num"] + race) % n_cities
    df["city"] = (country + " city " + (pick + 1).astype(str)).where(country.notna())
    return df


def violations(s: pd.DataFrame, pairs: set[tuple[object, object]]) -> dict[str, int]:
    """Rows breaking each rule, counted with pandas (a missing value keeps a rule)."""
    late = pd.to_datetime(s["last_login"]) < pd.to_datetime(s["signup_date"])
    combo = [(c if pd.notna(c) else None, k if pd.notna(k) else None)
             for c, k in zip(s["city"], s["native-country"], strict=True)]
    return {"inequality": int(late.sum()),
            "range": int(((s["age"] < 17) | (s["age"] > 90)).sum()),
            "fixed": int(sum(p not in pairs for p in combo))}


def run(family: str, df: pd.DataFrame, constrained: bool, rows: int, seed: int) -> dict:
    """Fit, sample `rows`, count violations and score quality, for one family and mode."""
    import genlab
    from genlab.evaluate._common import column_kinds
    from genlab.evaluate.fidelity import fidelity_scores

    start = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = genlab.fit(df, family, seed=seed, constraints=RULES if constrained else None)
        fit_s = time.process_time() - start
        synth = model.sample(rows, seed=seed + 1)
    pairs = {(c if pd.notna(c) else None, k if pd.notna(k) else None)
             for c, k in zip(df["city"], df["native-country"], strict=True)}
    scores, _ = fidelity_scores(df, synth, column_kinds(df), seed, detect=False)
    info = synth.attrs["provenance"].get("constraints") or {}
    return {"violations": violations(synth, pairs), "quality": scores["quality"],
            "fit_cpu_s": fit_s, "rejected": info.get("rejected"), "drawn": info.get("drawn")}


def table(results: dict[str, dict[str, dict]], rows: int, command: str) -> str:
    """The results as the markdown of benchmarks/results/constraints.md."""
    lines = [
        "# Constraints kept exactly (issue 18)", "",
        f"Command: `{command}`", "",
        "Table: UCI Adult train (32,561 rows) plus derived `signup_date`, `last_login` and "
        "`city` (see the docstring of benchmarks/constraints.py). Constraints: "
        + ", ".join(f"`{r}`" for r in RULES) + f". Each family at its default settings "
        f"(step-budgeted), seed 0; {rows:,} rows sampled per fit. Violations: rows breaking "
        "the inequality / range / fixed combination, counted with pandas. Quality: "
        "genlab.evaluate fidelity quality vs the training table. Rejected: sampled rows "
        "the constrained model redrew.", "",
        "| family | violations without (ineq / range / fixed) | violations with | rejected "
        "| quality without | quality with | difference | within 0.01 | fit CPU s without / with |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for family, r in results.items():
        a, b = r["without"], r["with"]
        va, vb = (" / ".join(f"{x['violations'][k]:,}" for k in ("inequality", "range",
                                                                   "fixed")) for x in (a, b))
        diff = b["quality"] - a["quality"]
        lines.append(f"| {family} | {va} | {vb} | {b['rejected']:,} of {b['drawn']:,} | "
                     f"{a['quality']:.4f} | {b['quality']:.4f} | {diff:+.4f} | "
                     f"{'yes' if abs(diff) <= 0.01 else 'no'} | {a['fit_cpu_s']:.0f} / "
                     f"{b['fit_cpu_s']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the families asked for and write the markdown table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    from genlab._atomic import atomic_path

    df = derived_table()
    command = ("python benchmarks/constraints.py " + " ".join(sys.argv[1:])).strip()
    results: dict[str, dict[str, dict]] = {}
    for family in args.families.split(","):
        pair = {mode: run(family, df, mode == "with", args.rows, args.seed)
                for mode in ("without", "with")}
        print(f"{family}: {pair}", flush=True)
        results[family] = pair
        text = table(results, args.rows, command)  # written after each family
        with atomic_path(args.out) as tmp:
            tmp.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
