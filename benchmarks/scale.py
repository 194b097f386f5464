"""Tables larger than memory (issue #19): streamed fit time and peak RSS by table size,
in-memory vs streamed at the smallest size, and sampling throughput to Parquet.

Data: a `bayesnet` fitted to the embedded Adult sample (seed 0) writes each `--rows` table
as a Parquet dataset with `genlab.stream.sample_to_parquet` (parts of 1M rows, seed 0),
kept under `--data` so later runs reuse it. Each fit runs in its own process, so its peak
RSS (`resource.getrusage(RUSAGE_SELF).ru_maxrss`) is its own, imports included:

- streamed: `genlab.fit(folder, family, seed=0, streaming=True, batch_rows=B)`;
- in-memory (at `--memory-at` rows only): `pd.read_parquet(folder)` then `genlab.fit`.

At `--memory-at` the two models are compared on 20,000 rows (bayesnet: identical
structure and log_prob expected; copula: identical marginals, correlation within the
jitter noise; gaussian: within 1e-9). Every run adds its figures to
`benchmarks/results/scale.json` and rewrites `benchmarks/results/scale.md` from all of
them, so sizes can be run one invocation at a time:

    flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python \\
        benchmarks/scale.py --rows 1000000 --memory-at 1000000
    flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python \\
        benchmarks/scale.py --rows 10000000

The autoregressive family streams through DDP (see the DDP helper's benchmark). SDV is not
installed in the bench venv, so its GaussianCopula reference is not run here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
FAMILIES = ("bayesnet", "copula", "gaussian")
PART_ROWS = 1_000_000

_ARM = r"""
import json, resource, sys, time
import numpy as np, pandas as pd, genlab
from genlab._progress import quiet
folder, family, arm, batch, out = sys.argv[1:6]
start = time.perf_counter()
with quiet():
    if arm.startswith("memory"):  # "memory-seed1": the in-memory fit's own seed noise
        m = genlab.fit(pd.read_parquet(folder), family, seed=int(arm == "memory-seed1"))
    else:
        m = genlab.fit(folder, family, seed=0, streaming=True, batch_rows=int(batch))
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
m.save(out)
print(json.dumps({"seconds": seconds, "peak_rss": rss}))
"""


def _arm(folder: Path, family: str, arm: str, batch: int, model: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", _ARM, str(folder), family, arm, str(batch),
                           str(model)], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{family}/{arm} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _table(rows: int, data: Path) -> tuple[Path, float | None]:
    """The Parquet dataset of `rows` rows (made, and timed, if absent)."""
    import genlab
    from genlab._progress import quiet
    from genlab.datasets import load_adult_sample
    from genlab.stream import sample_to_parquet

    folder = data / f"adult-{rows}"
    if (folder / "_done").exists():
        return folder, None
    with quiet():
        source = genlab.fit(load_adult_sample("all"), "bayesnet", seed=0)
        start = time.perf_counter()
        sample_to_parquet(source, rows, folder, seed=0, rows_per_part=min(rows, PART_ROWS))
        seconds = time.perf_counter() - start
    (folder / "_done").write_text(str(seconds))
    return folder, seconds


def _compare(family: str, a: Path, b: Path, folder: Path) -> str:
    """How far the streamed model (b) is from the in-memory one (a)."""
    import numpy as np
    import pyarrow.dataset as ds

    import genlab

    ma, mb = genlab.load(a), genlab.load(b)
    rows = ds.dataset(folder, format="parquet").head(20_000).to_pandas()
    la, lb = ma.log_prob(rows), mb.log_prob(rows)
    ok = np.isfinite(la) & np.isfinite(lb)
    dlp = float(np.max(np.abs(la[ok] - lb[ok]))) if ok.any() else float("nan")
    same_inf = bool(np.array_equal(np.isfinite(la), np.isfinite(lb)))
    if family == "bayesnet":
        return (f"structure {'identical' if ma.parents_ == mb.parents_ else 'DIFFERENT'}; "
                f"max abs log_prob difference {dlp:.1e}" + ("" if same_inf else "; inf differ"))
    if family.startswith("copula"):
        marg = all(np.array_equal(x.cdf_knots, y.cdf_knots)
                   for x, y in zip(ma.marginals_, mb.marginals_, strict=True))
        flips = np.ones(ma.correlation_.shape[0])
        d = len(ma.marginals_)
        for j, (x, y) in enumerate(zip(ma.cat_orders_, mb.cat_orders_, strict=True)):
            flips[d + j] = -1.0 if np.array_equal(x, y[::-1]) and not np.array_equal(x, y) \
                else 1.0
        dc = float(np.max(np.abs(ma.correlation_ - mb.correlation_ * np.outer(flips, flips))))
        return (f"marginals {'identical' if marg else 'DIFFERENT'}; max correlation "
                f"difference {dc:.1e}; mean log_prob difference "
                f"{abs(la[ok].mean() - lb[ok].mean()):.1e}")
    rel = float(np.max(np.abs(la[ok] - lb[ok]) / np.abs(la[ok])))
    return f"max relative log_prob difference {rel:.1e}"


def _render(entries: list[dict[str, Any]]) -> str:
    gb = 1024**3
    lines = ["# Tables larger than memory: streamed fits (issue #19)", "",
             "Machine: 2 CPU cores shared with other jobs (load average 4-7 while these ran), "
             "24 GB RAM; OMP_NUM_THREADS=1. Reproduce (one size per invocation, each adds to "
             "`scale.json`):", "",
             "```", "flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python "
             "benchmarks/scale.py --rows 1000000 --memory-at 1000000",
             "flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python "
             "benchmarks/scale.py --rows 10000000",
             "flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python "
             "benchmarks/scale.py --rows 30000000",
             "flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python "
             "benchmarks/scale.py --rows 100000000 --families bayesnet", "```", "",
             "100M rows was run for bayesnet only (copula + gaussian there would add ~25 min "
             "of CPU), with the test suite running beside it for 9 of its 14 minutes, so its "
             "seconds are high by an unknown share. Peak RSS includes the imports "
             "(~0.25 GB); the copula row compares to the in-memory fit's own seed noise "
             "(next row): its tie jitter is drawn per batch (genlab.stream._copula).", "",
             "Data: rows sampled from a bayesnet of the Adult sample (15 columns) into "
             "Parquet parts of 1M rows.", "",
             "## Sampling to Parquet", "", "| rows | seconds | rows / s | size on disk |",
             "|---:|---:|---:|---:|"]
    for e in sorted((e for e in entries if e["kind"] == "sample"), key=lambda e: e["rows"]):
        lines.append(f"| {e['rows']:,} | {e['seconds']:.1f} | {e['rows'] / e['seconds']:,.0f} "
                     f"| {e['bytes'] / 1e6:,.0f} MB |")
    lines += ["", "## Fits", "", "| family | arm | rows | batch_rows | fit time (s) | "
              "s per 1M rows | peak RSS (GB) |", "|---|---|---:|---:|---:|---:|---:|"]
    fits = [e for e in entries if e["kind"] == "fit"]
    for e in sorted(fits, key=lambda e: (e["family"], e["arm"], e["rows"])):
        lines.append(f"| {e['family']} | {e['arm']} | {e['rows']:,} | {e['batch_rows']:,} | "
                     f"{e['seconds']:.1f} | {e['seconds'] / e['rows'] * 1e6:.1f} | "
                     f"{e['peak_rss'] / gb:.2f} |")
    lines += ["", "## Streamed vs in-memory", "", "| family | rows | difference |",
              "|---|---:|---|"]
    for e in sorted((e for e in entries if e["kind"] == "compare"), key=lambda e: e["family"]):
        lines.append(f"| {e['family']} | {e['rows']:,} | {e['text']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Make the tables, run the arms, add the figures, rewrite the results table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--memory-at", type=int, default=None,
                        help="also fit in memory at this size, and compare")
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=Path("/tmp/genlab-scale"))
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    store = RESULTS / "scale.json"
    entries: list[dict[str, Any]] = json.loads(store.read_text()) if store.exists() else []

    def add(entry: dict[str, Any]) -> None:
        keys = ("kind", "family", "arm", "rows")
        entries[:] = [e for e in entries if any(e.get(k) != entry.get(k) for k in keys)]
        entries.append(entry)
        RESULTS.mkdir(exist_ok=True)
        store.write_text(json.dumps(entries, indent=1))
        (RESULTS / "scale.md").write_text(_render(entries), encoding="utf-8")
        print(json.dumps(entry), flush=True)

    args.data.mkdir(parents=True, exist_ok=True)
    for rows in args.rows:
        folder, seconds = _table(rows, args.data)
        if seconds is not None:
            size = sum(p.stat().st_size for p in folder.rglob("*.parquet"))
            add({"kind": "sample", "rows": rows, "seconds": seconds, "bytes": size})
        arms = ["stream"] + (["memory"] if rows == args.memory_at else [])
        for family in args.families:
            for arm in arms:
                got = _arm(folder, family, arm, args.batch_rows,
                           args.data / f"{family}-{arm}-{rows}.genlab")
                add({"kind": "fit", "family": family, "arm": arm, "rows": rows,
                     "batch_rows": args.batch_rows if arm == "stream" else rows, **got})
            if rows == args.memory_at:
                text = _compare(family, args.data / f"{family}-memory-{rows}.genlab",
                                args.data / f"{family}-stream-{rows}.genlab", folder)
                add({"kind": "compare", "family": family, "rows": rows, "text": text})
            if rows == args.memory_at and family == "copula":  # the jitter's own noise
                _arm(folder, family, "memory-seed1", 0, args.data / f"{family}-seed1.genlab")
                text = _compare(family, args.data / f"{family}-memory-{rows}.genlab",
                                args.data / f"{family}-seed1.genlab", folder)
                add({"kind": "compare", "family": "copula in memory, seed 0 vs seed 1",
                     "rows": rows, "text": text})


if __name__ == "__main__":
    main()
