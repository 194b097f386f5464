"""SDV reference on the 1M-row table of `scale.py` (issue #19): SDV's GaussianCopula and TVAE
fit time and peak RSS on the same Parquet rows the streamed genlab fits read, and an SDMetrics
QualityReport of each against genlab's streamed bayesnet and copula fits of those rows.

SDV's pins clash with the bench venv (/tmp/bv), so it runs from a venv of its own; genlab is
not installed there, and the genlab samples come from the bench venv (`--genlab-python`):

    python3 -m venv /tmp/sdv
    /tmp/sdv/bin/pip install torch==2.13.0      # the CPU build, before sdv pulls a CUDA one
    /tmp/sdv/bin/pip install sdv pyarrow psutil  # SDV 2.0.0, SDMetrics 0.32.0 came with it

    flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/sdv/bin/python \\
        benchmarks/scale_sdv.py --rows 1000000 --tvae-epochs 5

The table is `scale.py`'s (made there first: `scale.py --rows 1000000`). Each SDV fit runs in
its own process (`pd.read_parquet` of the whole table, then `fit`; peak RSS from `getrusage`,
so it includes the DataFrame and the imports), then samples `--quality-rows` rows. The genlab
models are the streamed fits `scale.py` saved (`<data>/<family>-stream-<rows>.genlab`; fitted
streamed here if absent) and sample as many rows (seed 0). Quality: SDMetrics `QualityReport`
(numeric columns as in `tabular.py`) of each synthetic sample against a uniform sample of as
many rows of the table (seed 0), which is the training data of every model here. Results go to
`results/scale.json` and `results/scale.md` (rendered by `scale.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import RESULTS, _store  # noqa: E402  (stdlib-only module: no genlab needed)

NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
TOOLS = ("sdv:GaussianCopula", "genlab:bayesnet", "genlab:copula", "sdv:TVAE")

_SDV_ARM = r"""
import json, resource, sys, time
import numpy as np, pandas as pd, torch
from sdv.metadata import Metadata
from sdv.single_table import GaussianCopulaSynthesizer, TVAESynthesizer
folder, tool, epochs, n_sample, out, numeric = sys.argv[1:7]
torch.set_num_threads(1)
train = pd.read_parquet(folder)
cols = {c: {"sdtype": "numerical" if c in numeric.split(",") else "categorical"}
        for c in train.columns}
metadata = Metadata.load_from_dict({"tables": {"t": {"columns": cols}}})
if tool == "sdv:TVAE":
    synth = TVAESynthesizer(metadata, epochs=int(epochs), enable_gpu=False)
else:
    synth = GaussianCopulaSynthesizer(metadata)
np.random.seed(0)
torch.manual_seed(0)
start = time.perf_counter()
synth.fit({"t": train})  # SDV 2.0 takes {table name: DataFrame}
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = time.perf_counter()
rows = synth.sample(num_rows=int(n_sample))
rows = rows["t"] if isinstance(rows, dict) else rows
rows.to_parquet(out, index=False)
print(json.dumps({"seconds": seconds, "peak_rss": rss,
                  "sample_seconds": time.perf_counter() - start}))
"""

_GENLAB_ARM = r"""
import json, sys, time
from pathlib import Path
import genlab
from genlab._progress import quiet
folder, family, model, n_sample, out = sys.argv[1:6]
with quiet():
    if Path(model).exists():
        m = genlab.load(model)
    else:
        m = genlab.fit(folder, family, seed=0, streaming=True, batch_rows=100_000)
        m.save(model)
    start = time.perf_counter()
    rows = m.sample(int(n_sample), seed=0)
rows.to_parquet(out, index=False)
print(json.dumps({"sample_seconds": time.perf_counter() - start}))
"""


def _run(argv: list[str]) -> dict[str, Any]:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{argv[3:5]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _quality(real: Any, synth: Any) -> dict[str, float]:
    """SDMetrics QualityReport as `tabular.py` scores it."""
    from sdmetrics.reports.single_table import QualityReport

    meta = {"columns": {c: {"sdtype": "numerical" if c in NUMERIC else "categorical"}
                        for c in real.columns}}
    report = QualityReport()
    report.generate(real, synth[real.columns], meta, verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    details = report.get_details("Column Pair Trends")
    return {"quality": float(report.get_score()), "column_shapes": float(props["Column Shapes"]),
            "pair_trends": float(props["Column Pair Trends"]),
            "pair_trends_all_pairs": float(details["Score"].mean())}


def main() -> None:
    """Fit, sample and score each tool; add the figures; rewrite the results table."""
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    parser.add_argument("--tvae-epochs", type=int, default=5)
    parser.add_argument("--quality-rows", type=int, default=50_000)
    parser.add_argument("--data", type=Path, default=Path("/tmp/genlab-scale"))
    parser.add_argument("--genlab-python", default="/tmp/bv/bin/python")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    folder = args.data / f"adult-{args.rows}"
    if not (folder / "_done").exists():
        raise SystemExit(f"{folder} is missing: make it with scale.py --rows {args.rows}")
    real = pd.read_parquet(folder).sample(args.quality_rows, random_state=0)
    real = real.reset_index(drop=True)
    store = args.results / "scale.json"
    entries: list[dict[str, Any]] = json.loads(store.read_text()) if store.exists() else []
    for tool in args.tools:
        out = args.data / f"sample-{tool.replace(':', '-')}-{args.rows}.parquet"
        if tool.startswith("sdv:"):
            got = _run([sys.executable, "-c", _SDV_ARM, str(folder), tool,
                        str(args.tvae_epochs), str(args.quality_rows), str(out),
                        ",".join(NUMERIC)])
            got["settings"] = (f"epochs={args.tvae_epochs}, batch_size=500, enable_gpu=False"
                               if tool == "sdv:TVAE" else "defaults")
        else:
            family = tool.split(":")[1]
            model = args.data / f"{family}-stream-{args.rows}.genlab"
            got = _run([args.genlab_python, "-c", _GENLAB_ARM, str(folder), family,
                        str(model), str(args.quality_rows), str(out)])
            got["settings"] = "streamed fit of scale.py (batch_rows=100,000), seed 0"
        entry = {"kind": "reference", "tool": tool, "rows": args.rows,
                 "quality_rows": args.quality_rows, **got,
                 **_quality(real, pd.read_parquet(out))}
        entries[:] = [e for e in entries if not (e.get("kind") == "reference"
                                                 and e.get("tool") == tool
                                                 and e.get("rows") == args.rows)]
        entries.append(entry)
        _store(entries, args.results)
        print(json.dumps(entry), flush=True)


if __name__ == "__main__":
    main()
