"""Tables larger than memory (issue #19): streamed fit time and peak RSS by table size,
in-memory vs streamed at the smallest size, and sampling throughput to Parquet.

Data: a `bayesnet` fitted to the embedded Adult sample (seed 0) writes each `--rows` table
as a Parquet dataset with `genlab.stream.sample_to_parquet` (parts of 1M rows, seed 0),
kept under `--data` so later runs reuse it. Each fit runs in its own process, so its peak
RSS (`resource.getrusage(RUSAGE_SELF).ru_maxrss`, read before the model is saved) is its
own, imports included:

- streamed: `genlab.fit(folder, family, seed=0, streaming=True, batch_rows=B)`;
- in-memory (at `--memory-at` rows only): `pd.read_parquet(folder)` then `genlab.fit`.

At `--memory-at` the two models are compared on 20,000 rows (bayesnet: identical
structure and log_prob expected; copula: identical marginals, correlation within the
jitter noise; gaussian: within 1e-9; autoregressive: identical while `--buffer-rows`
holds the table). The neural family (`--families autoregressive`) trains on a step
budget (`--max-steps`, `--batch-size`), the streamed fit on a `--buffer-rows` sample
buffer (`genlab.stream.neural`), and each of its fits is also scored by its mean
log_prob on 20,000 fresh rows of the source bayesnet (seed 1). Every run adds its figures
to `benchmarks/results/scale.json` and rewrites `benchmarks/results/scale.md` from all of
them, so sizes can be run one invocation at a time:

    flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python \\
        benchmarks/scale.py --rows 1000000 --memory-at 1000000
    flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python \\
        benchmarks/scale.py --rows 10000000

(every command of the committed table: `_COMMANDS` below, and scale.md). The SDV
reference runs from its own venv: `scale_sdv.py`.
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
FAMILIES = ("bayesnet", "copula", "gaussian", "autoregressive")
CLASSICAL = ("bayesnet", "copula", "gaussian")
PART_ROWS = 1_000_000

_ARM = r"""
import json, resource, sys, time
import numpy as np, pandas as pd, genlab
from genlab._progress import quiet
folder, family, arm, batch, out, params, holdout = sys.argv[1:8]
params = json.loads(params)
if family in ("vae", "autoregressive", "flow", "gan"):
    genlab.families("table")  # import torch outside the timed fit
start = time.perf_counter()
with quiet():
    if arm.startswith("memory"):  # "memory-seed1": the in-memory fit's own seed noise
        m = genlab.fit(pd.read_parquet(folder), family, seed=int(arm == "memory-seed1"),
                       **params)
    else:
        m = genlab.fit(folder, family, seed=0, streaming=True, batch_rows=int(batch), **params)
seconds = time.perf_counter() - start
use = resource.getrusage(resource.RUSAGE_SELF)
rss = use.ru_maxrss * 1024  # kB on Linux
m.save(out)
# CPU seconds of the whole process (imports too): the machine is shared, wall time is not
got = {"seconds": seconds, "peak_rss": rss, "cpu_seconds": use.ru_utime + use.ru_stime}
if holdout:  # after the RSS reading: scoring is not part of the fit
    got["holdout_ll"] = float(np.mean(m.log_prob(pd.read_parquet(holdout))))
    got["trained_rows"] = int(getattr(m, "streamed_rows_", m.n_rows_))
    got["steps"] = getattr(m, "steps_trained_", None)
    got["stopped_by"] = getattr(m, "stopped_by_", None)
    got["buffers"] = getattr(m, "streamed_buffers_", None)  # epochs' buffers (refresh)
    got["distinct_rows"] = getattr(m, "streamed_distinct_rows_", None)
print(json.dumps(got))
"""

NEURAL = ("autoregressive",)
HOLDOUT_ROWS = 20_000


def _arm(folder: Path, family: str, arm: str, batch: int, model: Path,
         params: dict[str, Any], holdout: Path | None) -> dict[str, Any]:
    argv = [sys.executable, "-c", _ARM, str(folder), family, arm, str(batch), str(model),
            json.dumps(params), str(holdout or "")]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{family}/{arm} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _holdout(data: Path) -> Path:
    """20,000 fresh rows of the tables' source (its bayesnet, seed 1): a common held-out
    sample for the neural fits' log-likelihood."""
    import genlab
    from genlab._progress import quiet
    from genlab.datasets import load_adult_sample

    path = data / "holdout-20000.parquet"
    if not path.exists():
        with quiet():
            source = genlab.fit(load_adult_sample("all"), "bayesnet", seed=0)
            source.sample(HOLDOUT_ROWS, seed=1).to_parquet(path, index=False)
    return path


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
    if family in NEURAL:
        return (f"max abs log_prob difference {dlp:.1e} on 20,000 rows of the table"
                + ("" if same_inf else "; inf differ"))
    rel = float(np.max(np.abs(la[ok] - lb[ok]) / np.abs(la[ok])))
    return f"max relative log_prob difference {rel:.1e}"


_GB = 1024**3
_CMD = "flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python benchmarks/"
_COMMANDS = [
    "scale.py --rows 1000000 --memory-at 1000000",
    "scale.py --rows 10000000",
    "scale.py --rows 30000000",
    "scale.py --rows 100000000 --families bayesnet",
    "scale.py --rows 100000000 --families copula gaussian",
    "scale.py --rows 1000000 --memory-at 1000000 --families autoregressive "
    "--max-steps 2000 --batch-size 500 --buffer-rows 1000000",
    "scale.py --rows 10000000 --families autoregressive --max-steps 2000 --batch-size 500 "
    "--buffer-rows 1000000",
]
# measured by hand on 2026-12-01 with a throwaway per-stage probe (the plan's own stages run
# one at a time, ru_maxrss and current RSS after each, tracemalloc around single steps)
NOTES: list[str] = [
    "", "## Why peak RSS grows from 10M to 100M (bayesnet, copula)", "",
    "The exact streamed marginals (`genlab.stream._counts`) keep every numeric column's "
    "distinct values and counts, and the fitted marginal has an atom at each; memory "
    "follows the distinct count, not the rows. In these tables `fnlwgt` keeps gaining "
    "distinct values: the source bayesnet's binned marginal puts its smooth (Good-Turing) "
    "share over ~4.3M integers, so the expected distinct count from that marginal is "
    "268k / 614k / 976k / 1.40M at 1M / 10M / 30M / 100M rows and 1.67M at 1e9 (it "
    "saturates). Measured, stage by stage, with the plan's own stages:", "",
    "| | 10M rows | 100M rows |", "|---|---:|---:|",
    "| distinct `fnlwgt` / `capital-gain` values | 611,071 / 15,925 | 1,372,414 / 49,174 |",
    "| held distinct values + counts, all columns | 9.6 MB | 21.7 MB |",
    "| one merge of a batch into them (`merge_distinct`, tracemalloc peak) | 39 MB | 87 MB |",
    "| peak RSS by the end of the distinct-values pass | 334 MiB | 469 MiB |",
    "| bayesnet: fitting the binned marginals (tracemalloc peak; kept) | 78 MB; 13 MB "
    "| 152 MB; 23 MB |",
    "| copula: fitting the empirical marginals (tracemalloc peak; kept) | 143 MB; 27 MB "
    "| 299 MB; 56 MB |",
    "| distinct-values pass, s per 1M rows | 2.0 | 2.8 |",
    "| codec + joint-count passes (bayesnet) | flat | flat |", "",
    "So the bayesnet peak is the distinct-values pass (the running totals, ~64 B per "
    "distinct value of transient per merge, and heap the allocator keeps after those "
    "merges: `malloc_trim` returns ~150 MB at the end) plus the one-off fit of the binned "
    "marginals (~110 B per distinct value): 334 + 78 ≈ 406 MiB at 10M (measured fit: 406 "
    "MiB) and 403 + 152 ≈ 555 MiB at 100M (measured: 543 MiB). The copula's is the same "
    "pass plus its empirical marginals (~220 B per distinct value, two knots each): 639 "
    "MiB at 100M (measured: 657 MiB). The joint counts (455 tables of 3 columns, 8.4 MB), "
    "the codec statistics and the batches do not grow. The growth is intrinsic to the "
    "exact method (the in-memory fit does the same arithmetic from `np.unique` of the "
    "whole column) and stops where the distinct values saturate (here ~1.67M by 1e9 rows, "
    "+22 % over 100M, so the part that grows would grow that much more), but a float "
    "column whose values are all distinct holds "
    "O(rows): 100M such values would need ~1.6 GB held and several GB of transient, "
    "beyond the 4 GB target. The probe's figures are of the merge as it was, re-sorting "
    "the whole running total for each batch (`np.unique` of the concatenation), so that "
    "pass slowed with the distinct count (2.0 → 2.8 s per 1M rows). It now merges the two "
    "sorted parts (`searchsorted` + `insert`, commit c3d663c): bayesnet's streamed fit "
    "went from 71.5 / 196.6 / 840.8 s at 10M / 30M / 100M (the 100M run beside the test "
    "suite) to the rows above (~5.3 s per 1M rows at every size, so time is linear), its "
    "peak RSS about the same (the held values and the one-off marginal fit remain). "
    "The copula's 100M fit, re-run after the merge on a quieter machine, took 1,181 s "
    "(11.8 s per 1M rows, +11 % over 10M; before: 1,645 s with ~73 % of a core beside "
    "other jobs), peak RSS 0.64 GB as before. The gaussian family "
    "keeps no distinct values: 0.32 → 0.36 GB (+15 %, within the target; not probed).",
    "", "Autoregressive (run 2026-12-01 with `genlab.stream.neural` of f7a02d4: after the "
    "first epoch each epoch trains on a fresh uniform buffer of the table): at 1M rows the "
    "1M-row buffer holds the table, so the streamed fit is `model.fit(table)` (identical "
    "log_prob); at 10M the 2,000 steps (~1.1 epochs of the buffer's 900,000 training rows) "
    "used 2 buffers, 1,718,526 distinct rows, and reach a held-out log_prob within 0.02 "
    "nats per row of the 1M fit. Its peak RSS is the first buffer, the current epoch's "
    "buffer and torch, not the table (1.26 GB at 1M, 1.58 GB at 10M).",
    "", "Batches: `sample_to_parquet` writes row groups of 65,536 rows and a batch never "
    "spans row groups, so `batch_rows=100,000` read batches of at most 65,536 rows.",
]


def _render(entries: list[dict[str, Any]]) -> str:
    """scale.md from every entry of scale.json."""
    lines = ["# Tables larger than memory: streamed fits (issue #19)", "",
             "Machine: 2 CPU cores shared with other jobs (load average 2-7 while these ran), "
             "24 GB RAM; OMP_NUM_THREADS=1. Reproduce (one size per invocation, each adds to "
             "`scale.json`; `--render` rewrites this file from it):", "", "```",
             *(_CMD + c for c in _COMMANDS),
             "flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/sdv/bin/python "
             "benchmarks/scale_sdv.py --rows 1000000 --tvae-epochs 5", "```", "",
             "Data: rows sampled from a bayesnet of the Adult sample (15 columns) into "
             "Parquet parts of 1M rows; the smaller tables are the first rows of the larger. "
             "Peak RSS includes the imports (~0.25 GB; with torch ~0.45 GB). The copula "
             "row compares to the in-memory fit's own seed noise (next row): its tie jitter "
             "is drawn per batch (genlab.stream._copula).", "",
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
                     f"{e['peak_rss'] / _GB:.2f} |")
    lines += _render_neural(fits)
    lines += ["", "## Streamed vs in-memory", "", "| family | rows | difference |",
              "|---|---:|---|"]
    for e in sorted((e for e in entries if e["kind"] == "compare"), key=lambda e: e["family"]):
        lines.append(f"| {e['family']} | {e['rows']:,} | {e['text']} |")
    compares = [e for e in entries if e["kind"] == "compare"]
    lines += _render_reference(entries) + _render_targets(fits, compares) + NOTES
    return "\n".join(lines) + "\n"


def _render_neural(fits: list[dict[str, Any]]) -> list[str]:
    """The neural fits' budgets, rows trained on and held-out log-likelihood."""
    rows = [e for e in fits if "holdout_ll" in e]
    if not rows:
        return []
    out = ["", "## Neural fits: budget and held-out log-likelihood", "",
           f"Held-out: {HOLDOUT_ROWS:,} fresh rows of the tables' source bayesnet (seed 1), "
           "the same for every fit; mean log_prob per row (nats, higher is better).", "",
           "| family | arm | rows | first buffer (rows) | buffers; distinct rows trained on | "
           "settings | steps | stopped by | process CPU s | held-out log_prob / row |",
           "|---|---|---:|---:|---|---|---:|---|---:|---:|"]
    for e in sorted(rows, key=lambda e: (e["family"], e["arm"], e["rows"])):
        settings = ", ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}"
                             for k, v in e.get("params", {}).items())
        seen = (f"{e['buffers']}; {e['distinct_rows']:,}" if e.get("buffers") is not None
                else "")
        cpu = f"{e['cpu_seconds']:.0f}" if "cpu_seconds" in e else ""
        out.append(f"| {e['family']} | {e['arm']} | {e['rows']:,} | {e['trained_rows']:,} | "
                   f"{seen} | {settings} | {e['steps'] or ''} | {e.get('stopped_by') or ''} | "
                   f"{cpu} | {e['holdout_ll']:.3f} |")
    return out


def _render_reference(entries: list[dict[str, Any]]) -> list[str]:
    """SDV's fits beside genlab's on the 1M-row table, with SDMetrics quality."""
    refs = [e for e in entries if e["kind"] == "reference"]
    if not refs:
        return []
    fit = {(e["family"], e["rows"]): e for e in entries
           if e["kind"] == "fit" and e["arm"] == "stream"}
    out = ["", "## Reference: SDV on the 1M-row table (`scale_sdv.py`)", "",
           "SDV 2.0.0 (GaussianCopula, TVAE) in its own venv, in-memory fits of "
           "`pd.read_parquet` of the table; genlab: the streamed fits above. Quality: "
           "SDMetrics 0.32.0 QualityReport of "
           f"{refs[0]['quality_rows']:,} sampled rows against a uniform sample of as many "
           "rows of the 1M-row table (the training data of every model here). The table is "
           "sampled from a bayesnet, so genlab's bayesnet fits the generating family and is "
           "favoured; the copula is the like-for-like of SDV's GaussianCopula. TVAE's fit is "
           "mostly its preprocessing (a Bayesian GMM per numeric column on all rows); its "
           "transform runs in two joblib workers, whose memory is not in its peak RSS.", "",
           "| tool | settings | fit time (s) | peak RSS (GB) | quality | column shapes | "
           "pair trends (all pairs) |", "|---|---|---:|---:|---:|---:|---:|"]
    for e in sorted(refs, key=lambda e: e["tool"]):
        f = e if "seconds" in e else fit.get((e["tool"].split(":")[1], e["rows"]), {})
        secs = f"{f['seconds']:.1f}" if f else ""
        rss = f"{f['peak_rss'] / _GB:.2f}" if f else ""
        out.append(f"| {e['tool']} | {e['settings']} | {secs} | {rss} | {e['quality']:.4f} | "
                   f"{e['column_shapes']:.4f} | {e['pair_trends']:.4f} "
                   f"({e['pair_trends_all_pairs']:.4f}) |")
    return out


def _render_targets(fits: list[dict[str, Any]], compares: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, met or missed, from the streamed fits and the comparisons."""
    out = ["", "## Targets", "", "| target | family | measured | verdict |", "|---|---|---|---|"]
    for e in sorted(compares, key=lambda e: e["family"]):
        if " " in e["family"]:  # the copula's seed-noise row: context, not a target
            continue
        exact = "difference 0.0e+00" in e["text"] or "e-1" in e["text"].split()[-1]
        verdict = "met" if exact else (
            "met within the tie jitter's seed noise (scale.md)" if e["family"] == "copula"
            else "see scale.md")
        out.append(f"| streamed = in-memory at {e['rows'] // 1_000_000}M | {e['family']} | "
                   f"{e['text']} | {verdict} |")
    stream = {(e["family"], e["rows"]): e for e in fits if e["arm"] == "stream"}
    for family in sorted({f for f, _ in stream}):
        big, ten = stream.get((family, 100_000_000)), stream.get((family, 10_000_000))
        if big is None:
            top = max(r for f, r in stream if f == family)
            out.append(f"| 100M rows, peak RSS <= 4 GB | {family} | not run at 100M (largest: "
                       f"{top:,} rows, {stream[family, top]['peak_rss'] / _GB:.2f} GB) | "
                       "not measured |")
            continue
        gb = big["peak_rss"] / _GB
        out.append(f"| 100M rows, peak RSS <= 4 GB | {family} | {gb:.2f} GB | "
                   f"{'met' if gb <= 4 else '**missed**'} |")
        if ten is None:
            continue
        sizes = [r for f, r in stream if f == family and r >= 10_000_000]
        above = sorted(r for r in sizes if r > 10_000_000)
        dev = [stream[family, r]["peak_rss"] / ten["peak_rss"] - 1 for r in above]
        worst = max(dev, key=abs)
        shown = ", ".join(f"{r // 1_000_000}M {d:+.0%}" for r, d in zip(above, dev, strict=True))
        out.append(f"| peak RSS flat (±20 %) 10M-100M | {family} | {shown}"
                   + f" vs 10M ({ten['peak_rss'] / _GB:.2f} GB) | "
                   f"{'met' if abs(worst) <= 0.2 else '**missed**'} |")
        per = [stream[family, r]["seconds"] / r * 1e6 for r in sorted(sizes)]
        ratio = per[-1] / per[0]
        out.append(f"| time linear in rows (±20 % per row) | {family} | "
                   + " / ".join(f"{p:.1f}" for p in per) + f" s per 1M rows; 100M vs 10M "
                   f"{ratio - 1:+.0%} | {'met' if abs(ratio - 1) <= 0.2 else '**missed**'} |")
    return out


def _store(entries: list[dict[str, Any]], results: Path = RESULTS) -> None:
    """Write the figures and the table (each through a temporary file, then renamed)."""
    results.mkdir(exist_ok=True)
    for name, text in (("scale.json", json.dumps(entries, indent=1)),
                       ("scale.md", _render(entries))):
        tmp = results / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, results / name)


def _params(family: str, arm: str, args: argparse.Namespace) -> dict[str, Any]:
    """The neural families' step budget (and the streamed buffer); none for the others."""
    if family not in NEURAL:
        return {}
    train = {"max_steps": args.max_steps, "batch_size": args.batch_size, "device": "cpu"}
    return {**train, "buffer_rows": args.buffer_rows} if arm == "stream" else train


def main() -> None:
    """Make the tables, run the arms, add the figures, rewrite the results table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--families", nargs="+", default=list(CLASSICAL), choices=FAMILIES)
    parser.add_argument("--memory-at", type=int, default=None,
                        help="also fit in memory at this size, and compare")
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--max-steps", type=int, default=2000, help="neural families")
    parser.add_argument("--batch-size", type=int, default=500, help="neural families")
    parser.add_argument("--buffer-rows", type=int, default=1_000_000,
                        help="neural families: rows of the streamed training buffer")
    parser.add_argument("--data", type=Path, default=Path("/tmp/genlab-scale"))
    parser.add_argument("--render", action="store_true", help="only rewrite scale.md")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    store = args.results / "scale.json"
    entries: list[dict[str, Any]] = json.loads(store.read_text()) if store.exists() else []
    if args.render:
        return _store(entries, args.results)

    def add(entry: dict[str, Any]) -> None:
        keys = ("kind", "family", "arm", "rows")
        entries[:] = [e for e in entries if any(e.get(k) != entry.get(k) for k in keys)]
        entries.append(entry)
        _store(entries, args.results)
        print(json.dumps(entry), flush=True)

    args.data.mkdir(parents=True, exist_ok=True)
    holdout = _holdout(args.data) if set(args.families) & set(NEURAL) else None
    for rows in args.rows:
        folder, seconds = _table(rows, args.data)
        if seconds is not None:
            size = sum(p.stat().st_size for p in folder.rglob("*.parquet"))
            add({"kind": "sample", "rows": rows, "seconds": seconds, "bytes": size})
        arms = ["stream"] + (["memory"] if rows == args.memory_at else [])
        for family in args.families:
            neural = holdout if family in NEURAL else None
            for arm in arms:
                params = _params(family, arm, args)
                got = _arm(folder, family, arm, args.batch_rows,
                           args.data / f"{family}-{arm}-{rows}.genlab", params, neural)
                add({"kind": "fit", "family": family, "arm": arm, "rows": rows,
                     "batch_rows": args.batch_rows if arm == "stream" else rows,
                     **({"params": params} if params else {}), **got})
            if rows == args.memory_at:
                text = _compare(family, args.data / f"{family}-memory-{rows}.genlab",
                                args.data / f"{family}-stream-{rows}.genlab", folder)
                add({"kind": "compare", "family": family, "rows": rows, "text": text})
            if rows == args.memory_at and family == "copula":  # the jitter's own noise
                _arm(folder, family, "memory-seed1", 0, args.data / f"{family}-seed1.genlab",
                     {}, None)
                text = _compare(family, args.data / f"{family}-memory-{rows}.genlab",
                                args.data / f"{family}-seed1.genlab", folder)
                add({"kind": "compare", "family": "copula in memory, seed 0 vs seed 1",
                     "rows": rows, "text": text})


if __name__ == "__main__":
    main()
