"""Streamed vs in-memory fit at scale (issue #19): fit time and peak RSS.

A `bayesnet` fitted to the embedded Adult sample (seed 0) writes an `--rows`-row Parquet
dataset with `genlab.stream.sample_to_parquet` (10 parts); then each arm runs in its own
process, so its peak RSS (`resource.getrusage(RUSAGE_SELF).ru_maxrss`) is its own:

- in-memory: `pd.read_parquet(folder)` then `genlab.fit(df, "gaussian", seed=0)`;
- streamed: `genlab.fit(folder, "gaussian", seed=0, streaming=True, batch_rows=B)`.

It reports both, the largest relative difference of the fitted parameters and of log_prob
on 10,000 rows, and writes `benchmarks/results/scale.md`.

    flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 python benchmarks/scale.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

_ARM = r"""
import json, resource, sys, time
import numpy as np, pandas as pd, genlab
folder, arm, batch, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
start = time.perf_counter()
if arm == "memory":
    m = genlab.fit(pd.read_parquet(folder), "gaussian", seed=0)
else:
    m = genlab.fit(folder, "gaussian", seed=0, streaming=True, batch_rows=batch)
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
m.save(out)
print(json.dumps({"seconds": seconds, "peak_rss": rss, "rows": m.n_rows_}))
"""


def _arm(folder: Path, arm: str, batch: int, model: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", _ARM, str(folder), arm, str(batch),
                           str(model)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _compare(a: Path, b: Path, folder: Path) -> tuple[float, float]:
    import numpy as np
    import pyarrow.dataset as ds

    import genlab

    ma, mb = genlab.load(a), genlab.load(b)
    params = max(float(np.max(np.abs(x - y) / np.maximum(np.abs(x), 1e-300)))
                 for x, y in ((ma.mixture_.means, mb.mixture_.means),
                              (ma.mixture_.covs, mb.mixture_.covs),
                              (ma.latent_.scale, mb.latent_.scale)))
    rows = ds.dataset(folder).head(10_000).to_pandas()
    la, lb = ma.log_prob(rows), mb.log_prob(rows)
    return params, float(np.max(np.abs(la - lb) / np.abs(la)))


def main() -> None:
    """Generate the table, run both arms, write the results table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    args = parser.parse_args()
    import genlab
    from genlab._progress import quiet
    from genlab.datasets import load_adult_sample
    from genlab.stream import sample_to_parquet

    with tempfile.TemporaryDirectory() as tmp, quiet():
        work = Path(tmp)
        source = genlab.fit(load_adult_sample("all"), "bayesnet", seed=0)
        start = time.perf_counter()
        folder = sample_to_parquet(source, args.rows, work / "adult", seed=0,
                                   rows_per_part=-(-args.rows // 10))
        sample_seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in folder.iterdir())
        mem = _arm(folder, "memory", args.batch_rows, work / "mem.genlab")
        streamed = _arm(folder, "stream", args.batch_rows, work / "str.genlab")
        params, logp = _compare(work / "mem.genlab", work / "str.genlab", folder)
    lines = [
        f"# Streamed vs in-memory fit, {args.rows:,} rows (gaussian)", "",
        "Reproduce: `flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 python "
        f"benchmarks/scale.py --rows {args.rows} --batch-rows {args.batch_rows}`", "",
        f"Data: {args.rows:,} rows sampled from a bayesnet of the Adult sample in "
        f"{sample_seconds:.1f} s into 10 Parquet parts ({size / 1e6:.1f} MB).", "",
        "| arm | fit time (s) | peak RSS (MB) |", "|---|---:|---:|",
        f"| in-memory (read_parquet + fit) | {mem['seconds']:.1f} | {mem['peak_rss'] / 1e6:.0f} |",
        f"| streamed, batch_rows={args.batch_rows:,} | {streamed['seconds']:.1f} | "
        f"{streamed['peak_rss'] / 1e6:.0f} |", "",
        f"Largest relative difference: parameters {params:.1e}, log_prob {logp:.1e} "
        "(target: streamed fit = in-memory fit within 1e-9).", "",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
