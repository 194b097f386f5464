"""WaveNet sampling speed with and without the activation cache (Paine et al. 2016).

Protocol (issue #20): WaveNet as `genlab fit` builds it by default (32 residual / gate
channels, 64 skip channels, 10 layers with dilations 1..512: a receptive field of 1,024
samples, 256 μ-law levels), at 16 kHz. Speed does not depend on the weights, so the model
is fitted for one step only on one second of tones; both samplers run the same float64
network (`genlab.nets.wavenet`). For each batch size, `--samples` samples per clip are drawn
once with the cache (`sample(..., cache=True)`, one matrix product per layer and sample)
and once without (`cache=False`: the stack rerun over the last receptive field for every
sample); samples per second count every clip of the batch, and the two runs' outputs are
compared (they must be identical). The first 1,024 samples of the naive run are cheaper
(its window is still growing), so `--samples` well above 1,024 measures the steady rate.

Run (one benchmark at a time, one thread):
    flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python \\
        benchmarks/wavenet_speed.py
Writes benchmarks/results/wavenet_speed.md and .json (read by benchmarks/audio.py).
Timings depend on the machine and its load (recorded in the json).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab._atomic import atomic_path
from genlab._machine import machine_info
from genlab._progress import quiet
from genlab.data.audio import Clips
from genlab.models.audio.wavenet import WaveNet

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RATE = 16_000
COMMAND = ("flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python "
           "benchmarks/wavenet_speed.py")


def _model(device: str) -> WaveNet:
    t = np.arange(RATE) / RATE
    clips = Clips([(0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32) for f in (220, 440)],
                  RATE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one step: the ConvergenceWarning is expected
        return WaveNet(seed=0, max_steps=1, epochs=1, epoch_size=8, device=device).fit(clips)


def _timed(model: WaveNet, n: int, samples: int, cache: bool) -> tuple[float, list[Any]]:
    start = time.perf_counter()
    out = model.sample(n, seed=1, seconds=samples / RATE, cache=cache)
    return time.perf_counter() - start, list(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2048, help="samples per clip")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--tag", default="", help="suffix of the result files")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = _model(args.device)
    rows = []
    with quiet():
        for n in args.batches:
            fast, a = _timed(model, n, args.samples, cache=True)
            slow, b = _timed(model, n, args.samples, cache=False)
            same = all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
            rows.append({"batch": n, "samples_per_clip": args.samples,
                         "cached_samples_per_s": n * args.samples / fast,
                         "naive_samples_per_s": n * args.samples / slow,
                         "speedup": slow / fast, "identical": same,
                         "cached_seconds": fast, "naive_seconds": slow})
            print(rows[-1], flush=True)
    command = COMMAND + (f" --device {args.device} --tag {args.tag}" if args.tag else "")
    record = {"command": command, "device": args.device,
              "receptive_field": model.receptive_field_, "rate": RATE, "rows": rows,
              "machine": machine_info()}
    name = "wavenet_speed" + (f"_{args.tag}" if args.tag else "")
    with atomic_path(RESULTS / f"{name}.json") as tmp:
        tmp.write_text(json.dumps(record, indent=1, default=str))
    lines = [f"WaveNet sampling speed on {args.device} (receptive field "
             f"{model.receptive_field_} samples, 16 kHz, {args.samples} samples per clip).",
             "", f"Command: `{command}`", "",
             "| batch | cached samples/s | naive samples/s | speed-up | identical samples |",
             "|---:|---:|---:|---:|:---:|"]
    lines += [f"| {r['batch']} | {r['cached_samples_per_s']:,.0f} | "
              f"{r['naive_samples_per_s']:,.0f} | {r['speedup']:.1f}x | "
              f"{'yes' if r['identical'] else 'NO'} |" for r in rows]
    with atomic_path(RESULTS / f"{name}.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
