"""DDP on one machine: the table VAE on all of UCI Adult trained by 1 and by 2 processes
(`genlab fit --ddp N`, gloo, OMP_NUM_THREADS=1 per process), and a kill -9 + --resume demo.

Measured, each from the model file's history (`seconds` at the end of every epoch):

- **time per epoch**: mean over epochs 2..E (epoch 1 also pays for DDP's first buckets);
  the wall time of the whole command (start-up, reading, encoding, saving) beside it;
- **held-out log-lik**: mean log-likelihood per row of `adult_test.csv`, so a speed-up
  that cost quality would show;
- **kill -9 + --resume**: a fit with `--checkpoint-every K --checkpoint ck.pt` is killed
  with SIGKILL (its whole process group) once the first checkpoint exists, then run again
  with `--resume`; its weights are compared with the uninterrupted run of the same seed and
  processes (max |difference| over every weight; 0 is bit-identical).

Reproduce (one benchmark at a time on this shared machine):

    flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python benchmarks/ddp.py

Writes benchmarks/results/ddp.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "adult"
OUT = ROOT / "benchmarks" / "results" / "ddp.md"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TORCH_CPP_LOG_LEVEL": "ERROR"}


def _fit_args(data: Path, out: Path, epochs: int, processes: int,
              batch: int = 500) -> list[str]:
    args = [sys.executable, "-m", "genlab", "fit", str(data), "-m", "vae", "--seed", "0",
            "-p", f"epochs={epochs}", "-p", f"batch_size={batch}", "-o", str(out)]
    return args + (["--ddp", str(processes)] if processes > 1 else [])


def _show(args: list[str]) -> str:
    shown = [Path(a).name if a.startswith("/") else a for a in args]
    return "genlab " + " ".join(shown[3:]) if shown[1:3] == ["-m", "genlab"] else " ".join(
        shown)


def timed_fit(data: Path, test: pd.DataFrame, out: Path, epochs: int,
              processes: int, batch: int) -> dict[str, float]:
    """One fit: seconds per epoch (epochs 2..E), wall seconds, held-out log-lik."""
    import genlab

    start = time.perf_counter()
    done = subprocess.run(_fit_args(data, out, epochs, processes, batch), env=ENV,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(done.stderr)
    m = genlab.load(out)
    seconds = [r["seconds"] for r in m.history_]
    per_epoch = float(np.diff(seconds).mean()) if len(seconds) > 1 else seconds[0]
    return {"batch": batch, "processes": processes, "epoch_s": per_epoch, "wall_s": wall,
            "steps": m.steps_trained_, "loglik": float(np.mean(m.log_prob(test)))}


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc), children first."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def kill_and_resume(data: Path, reference: Path, work: Path, epochs: int, processes: int,
                    every: int, batch: int) -> list[str]:
    """The demo transcript: fit, SIGKILL after the first checkpoint, resume, compare."""
    import genlab

    ck, out = work / f"ck{processes}.pt", work / f"resumed{processes}.genlab"
    args = _fit_args(data, out, epochs, processes, batch) + ["--checkpoint-every", str(every),
                                                      "--checkpoint", str(ck)]
    lines = [f"$ {_show(args)} &"]
    run = subprocess.Popen(args, env=ENV, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    while not ck.exists() and run.poll() is None:
        time.sleep(0.05)
    family = _descendants(run.pid)  # torchrun puts each rank in a session of its own
    for pid in [run.pid, *family]:
        os.kill(pid, signal.SIGKILL)  # the launcher and every rank, as a lost machine
    run.wait()
    import torch

    step = int(torch.load(ck, weights_only=True)["loop"]["step"])
    pids = " ".join(map(str, [run.pid, *family]))
    lines.append(f"$ kill -9 {pids}    # launcher and ranks, once {ck.name} exists (step "
                 f"{step}); model file written: {out.exists()}")
    resumed = subprocess.run(args + ["--resume"], env=ENV, capture_output=True, text=True)
    lines.append(f"$ {_show(args + ['--resume'])}")
    lines += [f"  {line}" for line in resumed.stdout.strip().splitlines()]
    if resumed.returncode:
        lines.append(f"  exit {resumed.returncode}: {resumed.stderr.strip()[-300:]}")
        return lines
    a, b = genlab.load(reference), genlab.load(out)
    sa, sb = a.net_.state_dict(), b.net_.state_dict()
    diff = max(float((sa[k].double() - sb[k].double()).abs().max()) for k in sa)
    same = all(torch.equal(sa[k], sb[k]) for k in sa)
    lines.append(f"# resumed vs uninterrupted ({processes} process{'es' * (processes > 1)}, "
                 f"same seed): max |weight difference| = {diff:.3g}; bit-identical: {same}; "
                 f"steps {b.steps_trained_} vs {a.steps_trained_}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--every", type=int, default=50, help="steps between checkpoints")
    parser.add_argument("--batches", default="500",
                        help="global batch sizes to time, comma-separated (the first is the "
                             "kill -9 demo's)")
    args = parser.parse_args()
    test = pd.read_csv(DATA / "adult_test.csv")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        batches = [int(b) for b in args.batches.split(",")]
        for batch in batches:
            for processes in (1, 2):
                out = work / f"full{processes}_{batch}.genlab"
                rows.append(timed_fit(DATA / "adult.csv", test, out, args.epochs, processes,
                                      batch))
                print(rows[-1], flush=True)
        demo = []
        for processes in (1, 2):
            demo += kill_and_resume(DATA / "adult.csv",
                                    work / f"full{processes}_{batches[0]}.genlab",
                                    work, args.epochs, processes, args.every, batches[0])
            demo.append("")
        print("\n".join(demo), flush=True)
    write(rows, demo, args)


def _verdict(rows: list[dict[str, float]]) -> str:
    """What the table shows, from the figures themselves."""
    lines = []
    for batch in dict.fromkeys(r["batch"] for r in rows):
        one, two = (next(r["epoch_s"] for r in rows if r["batch"] == batch and
                         r["processes"] == p) for p in (1, 2))
        verdict = "faster" if two < one else "slower: the speed-up target is missed"
        lines.append(f"- global batch {batch}: 2 processes {one / two:.2f}x the speed of 1 "
                     f"({two:.2f} vs {one:.2f} s / epoch), {verdict}.")
    return "\n".join(lines)


def write(rows: list[dict[str, float]], demo: list[str], args: argparse.Namespace) -> None:
    table = ["| global batch | processes | s / epoch | speed-up | wall s (whole command) | "
             "steps | held-out log-lik |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        one = next(q["epoch_s"] for q in rows if q["batch"] == r["batch"] and
                   q["processes"] == 1)
        table.append(f"| {r['batch']} | {r['processes']} | {r['epoch_s']:.2f} | "
                     f"{one / r['epoch_s']:.2f}x | {r['wall_s']:.1f} | {r['steps']} | "
                     f"{r['loglik']:.3f} |")
    cpus = os.cpu_count()
    text = f"""# DDP: the table VAE on Adult, 1 vs 2 processes

Measured {time.strftime('%Y-%m-%d')} by `benchmarks/ddp.py` on this machine ({cpus} CPU
cores shared with other jobs, no GPU): all of `adult.csv` (32,561 rows; 10 % held out for
validation), `vae`, seed 0, {args.epochs} epochs, gloo, one thread per process
(OMP_NUM_THREADS=1). s / epoch is the mean of epochs 2..{args.epochs} from the model's
history; held-out log-lik is per row of `adult_test.csv`.

```bash
flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python benchmarks/ddp.py \\
    --epochs {args.epochs} --every {args.every} --batches {args.batches}
```

{chr(10).join(table)}

{_verdict(rows)}

Each process trains on its half of every global batch and the gradients are all-reduced
once per step, so 2 processes take the same steps as 1 (same steps column). Where the
time goes was not measured; on this machine the two processes share 2 cores with other
jobs, and each step adds a gloo all-reduce of the weights and DDP's unused-parameter search
to a few milliseconds of compute, so these figures say what this machine gives, not what
free cores or GPUs would.

## kill -9 during a fit, then --resume

Global batch {args.batches.split(",")[0]}, checkpoints every {args.every} steps; the
launcher and every rank are killed with SIGKILL as soon as the first checkpoint exists,
then the same command is run with `--resume`.

```text
{chr(10).join(demo).rstrip()}
```
"""
    OUT.write_text(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
