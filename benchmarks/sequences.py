"""Sequences: tiny Shakespeare, MOSES molecules and JSB chorales with genlab.sequences.

Protocol (issue #7), on a 2-core CPU (torch threads for training: --threads, default 2;
decoding always uses one thread, see genlab.models.sequence.sampling.one_thread):
- shakespeare: character transformer trained for a fixed step budget (what 10 minutes
  bought on the reference run)
  on the first 90% of input.txt; validation loss on the last 10% (nats and bits per
  character; with a 256-character context every character but the first 256 is scored
  with >= 128 characters before it); time to generate 500 characters after "ROMEO:" with
  and without the KV cache (batch 1, one thread, best of 3 runs each).
- molecules: a random subset of MOSES train.csv.gz, transformer conditioned on logP, 15
  minutes; 10,000 samples (with the SMILES syntax mask, the default; the same without it
  beside) (conditions drawn from training molecules, i.e. the marginal):
  validity, uniqueness@10k, novelty against the full MOSES training set, internal diversity
  (2,000-molecule subset), Wasserstein-1 distances of logP / QED / MW to 10,000 molecules
  of test.csv; the same at temperature 0.8; property-conditioned hit rate (logP between
  the 85th and 95th percentiles of training molecules) against the unconditioned rate.
- chorales: transformer on the JSB train split (8-bar segments, 4 voices), 10 minutes;
  30 samples of 8 bars; total-variation distances of pitch-class, interval and duration
  histograms to the test split (train vs test as the floor); .mid files re-opened with
  music21 and their bars counted; two examples (MIDI + piano roll) in results/sequences/.

Run:
    .venv/bin/python benchmarks/sequences.py [--only shakespeare|molecules|chorales]
Results are merged into benchmarks/results/sequences.json; a markdown table is printed.
Timings depend on what else runs on the machine's 2 cores (the load is recorded).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from genlab._atomic import atomic_path
from genlab._machine import machine_info

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "sequences.json"
EXAMPLES = ROOT / "benchmarks" / "results" / "sequences"
THREADS = 2
MOSES_PAPER = {  # Polykovskiy et al. 2020, MOSES README table (test set, mean over seeds)
    "CharRNN": {"validity": 0.975, "uniqueness": 0.999, "novelty": 0.842, "int_div": 0.856},
    "VAE": {"validity": 0.977, "uniqueness": 0.998, "novelty": 0.695, "int_div": 0.856},
}


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _torch_setup(threads: int = THREADS) -> None:
    import torch

    torch.set_num_threads(threads)
    warnings.filterwarnings("ignore", category=UserWarning)


# Budgets are counted in epochs (identical on every machine and under any load): the
# numbers the former wall-clock budgets reached on the reference runs (10 minutes for
# Shakespeare and the chorales, 15 for molecules; benchmarks/README.md), so figures compare.
SHAKESPEARE_EPOCHS = 87  # x 25 training steps x 12 x 256 characters = 6.68M characters
MOLECULE_EPOCHS = 68  # x 100 steps x 32 molecules = 217,600 molecules
CHORALE_EPOCHS = 32


def shakespeare(epochs: int = SHAKESPEARE_EPOCHS) -> dict[str, Any]:
    """Character model on tiny Shakespeare: held-out loss after a fixed number of steps."""
    from genlab.sequences import Transformer

    text = (DATA / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    cut = int(0.9 * len(text))
    train, val = text[:cut], text[cut:]
    batch, context = 12, 256
    # measured on this shared 2-core box (1 thread): 4 layers x 128 train ~6,000 chars/s,
    # 6 x 192 ~2,400, torch.compile no faster; the budget buys ~3M characters, where the
    # smaller model wins. Context 256 (not 128): without a cache each new character then
    # recomputes up to 256 positions, which is what the cache saves. An epoch of 25 steps
    # keeps the budget check fine-grained; 4 validation batches pick the best weights.
    # (Batches of 8 with lr 3e-3 did worse: 1.913 against 1.842, see previous_runs.)
    model = Transformer(layers=4, d_model=128, heads=4, context=context, dropout=0.0,
                        batch_size=batch, epoch_size=batch * 29, val_fraction=4 / 29,
                        epochs=epochs, patience=100_000, lr=2e-3, weight_decay=0.1,
                        warmup_steps=50, bf16=True, seed=0)
    start = time.perf_counter()
    _log("shakespeare: training")
    model.fit([train])
    train_s = time.perf_counter() - start
    _log(f"shakespeare: trained {train_s:.0f}s, {len(model.history_)} epochs; scoring val")
    steps = len(model.history_) * 25
    unseen = sorted({c for c in val if c not in model.codec_.index})
    start = time.perf_counter()
    nats = model.nats_per_token([val])
    eval_s = time.perf_counter() - start
    _log(f"shakespeare: val {nats:.4f} nats/char; timing generation")
    timings = {}
    for cache in (True, False):
        model.sample(1, prompt="ROMEO:", length=20, seed=0, use_cache=cache)  # warm-up
        runs = []
        for _ in range(3):  # best of 3, as timeit: the least disturbed by other jobs
            t0 = time.perf_counter()
            model.sample(1, prompt="ROMEO:", length=500, seed=0, use_cache=cache)
            runs.append(time.perf_counter() - t0)
        timings[cache] = min(runs)
    sample = model.sample(1, prompt="ROMEO:", length=300, seed=1)[0]
    return {
        "val_loss": nats,
        "val_bits_per_char": nats / math.log(2),
        "train_seconds": train_s,
        "train_tokens": steps * batch * context,
        "train_tokens_per_s": steps * batch * context / train_s,
        "bf16_used": bool(getattr(model, "bf16_used_", False)),
        "epochs": len(model.history_),
        "stopped_by": getattr(model, "stopped_by_", ""),
        "eval_seconds": eval_s,
        "unseen_val_chars": unseen,
        "gen500_cache_s": timings[True],
        "gen500_nocache_s": timings[False],
        "cache_speedup": timings[False] / timings[True],
        "params": {k: v for k, v in model.get_params().items() if v is not None},
        "n_parameters": int(sum(p.numel() for p in model.net_.parameters())),
        "curve": [{k: round(v, 4) for k, v in h.items()} for h in model.history_[::4]],
        "sample": sample,
    }


def molecules(epochs: int = MOLECULE_EPOCHS, n_train: int = 200_000, n_samples: int = 10_000,
              tokens: str = "smiles") -> dict[str, Any]:
    """Transformer on MOSES SMILES, conditioned on logP; MOSES metrics and hit rates.
    `tokens`: the model reads SMILES tokens (with the syntax mask when sampling) or
    SELFIES tokens (valid by construction)."""
    import pandas as pd

    from genlab.data.sequences.molecules import canonical, molecule_metrics, properties
    from genlab.sequences import Transformer

    full = pd.read_csv(DATA / "molecules" / "train.csv.gz")["SMILES"].astype(str)
    rng = np.random.default_rng(0)
    subset = list(full.iloc[np.sort(rng.choice(len(full), n_train, replace=False))])
    test = pd.read_csv(DATA / "molecules" / "test.csv")["SMILES"].astype(str)
    reference = list(test.iloc[rng.choice(len(test), 10_000, replace=False)])
    # a small, fast model: SMILES grammar is learnt from many molecules more than from a
    # large network, so updates are what is scarce (earlier runs on a busy box: batches of
    # 128 gave validity 0.45, of 32 0.77, of 16 0.745; see previous_runs). bfloat16 matrix
    # products buy ~1.3x the steps. An epoch is 100 steps plus 4 validation batches.
    batch = 32
    model = Transformer(layers=4, d_model=128, heads=4, context=64, compile=False,
                        batch_size=batch, epoch_size=batch * 104, val_fraction=4 / 104,
                        epochs=epochs, patience=10_000, lr=3e-3, weight_decay=0.1,
                        warmup_steps=100, codec="smiles", bf16=True,
                        molecule_tokens=tokens, seed=0)
    start = time.perf_counter()
    _log(f"molecules: training on {len(subset)} molecules")
    model.fit(subset, conditions=["logp"])
    fit_s = time.perf_counter() - start
    _log(f"molecules: trained {fit_s:.0f}s, {len(model.history_)} epochs; sampling")
    # conditioned range: the band between the 85th and 95th percentiles of training logP
    # (about a tenth of the molecules, in the upper tail), rounded to 0.1
    train_logp = model._bank[:, 0]
    lo, hi = (round(float(q), 1) for q in np.quantile(train_logp, [0.85, 0.95]))
    base_rate = float(((train_logp >= lo) & (train_logp <= hi)).mean())
    start = time.perf_counter()
    samples = model.sample(n_samples, seed=1)
    sample_s = time.perf_counter() - start
    _log(f"molecules: sampled in {sample_s:.0f}s; metrics")
    start = time.perf_counter()
    train_set = set(full)  # MOSES stores canonical SMILES
    metrics = molecule_metrics(samples, reference=reference, training=train_set)
    metric_s = time.perf_counter() - start

    def hit_rate(smiles: list[str]) -> float:
        logp = properties(smiles, ["logp"])[:, 0]  # NaN (a miss) for invalid molecules
        return float(((logp >= lo) & (logp <= hi)).sum() / len(smiles))

    # the model without the SMILES syntax mask: what it learnt on its own
    free_metrics = None
    if tokens == "smiles":
        free = model.sample(n_samples, seed=1, grammar=False)
        free_metrics = molecule_metrics(free, training=train_set, diversity_subset=500)
    # a lower temperature trades diversity for validity; reported beside, not instead
    cool = model.sample(n_samples, seed=3, temperature=0.8)
    cool_metrics = molecule_metrics(cool, training=train_set, diversity_subset=500)
    conditioned = model.sample(2000, seed=2, conditions={"logp": (lo, hi)})
    uncond_rate = hit_rate(samples)
    cond_rate = hit_rate(conditioned)
    cond_valid = sum(c is not None for c in canonical(conditioned)) / len(conditioned)
    return {
        **{k: v for k, v in metrics.items() if k != "n"},
        "n_samples": n_samples,
        "n_train_subset": n_train,
        "train_molecules_seen": len(model.history_) * batch * 100,
        "fit_seconds": fit_s,
        "sample_seconds_10k": sample_s,
        "metric_seconds": metric_s,
        "condition": f"logp in [{lo}, {hi}]",
        "condition_training_share": base_rate,
        "hit_rate_unconditioned": uncond_rate,
        "hit_rate_conditioned": cond_rate,
        "hit_rate_ratio": cond_rate / max(uncond_rate, 1e-12),
        "conditioned_validity": cond_valid,
        "temperature_0.8": {k: v for k, v in cool_metrics.items() if k != "n"},
        **({"without_grammar": {k: v for k, v in free_metrics.items() if k != "n"}}
           if free_metrics else {}),
        "molecule_tokens": tokens,
        "epochs": len(model.history_),
        "stopped_by": getattr(model, "stopped_by_", ""),
        "params": {k: v for k, v in model.get_params().items() if v is not None},
        "n_parameters": int(sum(p.numel() for p in model.net_.parameters())),
        "examples": samples[:8],
        "moses_paper": MOSES_PAPER,
    }


def chorales(epochs: int = CHORALE_EPOCHS, n_samples: int = 30, bars: int = 8) -> dict[str, Any]:
    """Transformer on JSB chorales; histogram distances and bar counts of written MIDI."""
    from music21 import converter

    from genlab.data.sequences.music import histogram_distances, piano_roll_figure
    from genlab.data.sequences.readers import _read_jsb_tgz
    from genlab.report.plots import figure_to_data_uri
    from genlab.sequences import Transformer, write_piece

    tgz = DATA / "jsb_chorales" / "jsb_chorales.tgz"
    train, test = _read_jsb_tgz(tgz, "train"), _read_jsb_tgz(tgz, "test")
    model = Transformer(layers=4, d_model=128, heads=4, context=512, segment_bars=8,
                        compile=False, batch_size=16, epochs=epochs, val_fraction=0.05,
                        patience=200, lr=2e-3, weight_decay=0.1, warmup_steps=50,
                        sample_bars=bars, bf16=True, seed=0)
    start = time.perf_counter()
    _log(f"chorales: training on {len(train)} chorales")
    model.fit(train)
    fit_s = time.perf_counter() - start
    _log(f"chorales: trained {fit_s:.0f}s; sampling")
    start = time.perf_counter()
    samples = model.sample(n_samples, seed=0, bars=bars)
    sample_s = time.perf_counter() - start
    test_nats = model.nats_per_token(test)
    EXAMPLES.mkdir(parents=True, exist_ok=True)
    bar_counts = []
    for i, piece in enumerate(samples):
        path = EXAMPLES / f"chorale-{i + 1}.mid" if i < 2 else Path(
            os.environ.get("TMPDIR", "/tmp")) / f"genlab-bench-chorale-{i}.mid"
        write_piece(piece, path)
        score = converter.parse(str(path))
        bar_counts.append(max(len(p.getElementsByClass("Measure")) for p in score.parts))
        if i < 2:
            uri = figure_to_data_uri(piano_roll_figure(piece, title=f"generated chorale {i + 1}"))
            import base64

            (EXAMPLES / f"chorale-{i + 1}.png").write_bytes(
                base64.b64decode(uri.split(",", 1)[1]))
        else:
            path.unlink()
    return {
        **{f"generated_{k}": v for k, v in histogram_distances(test, samples).items()},
        **{f"train_vs_test_{k}": v for k, v in histogram_distances(test, train).items()},
        "test_nats_per_event": test_nats,
        "requested_bars": bars,
        "bars_in_midi": sorted(set(bar_counts)),
        "all_midi_have_requested_bars": all(b == bars for b in bar_counts),
        "n_samples": n_samples,
        "fit_seconds": fit_s,
        "sample_seconds": sample_s,
        "epochs": len(model.history_),
        "params": {k: v for k, v in model.get_params().items() if v is not None},
        "examples": [f"benchmarks/results/sequences/chorale-{i}.{ext}" for i in (1, 2)
                     for ext in ("mid", "png")],
    }


def _table(results: dict[str, Any]) -> str:
    rows = ["| benchmark | metric | genlab | target / reference |", "| --- | --- | --- | --- |"]
    s = results.get("shakespeare")
    if s:
        rows += [
            f"| tiny Shakespeare | val loss (nats/char) | {s['val_loss']:.3f} | <= 1.75 "
            "(nanoGPT small CPU config: 1.88) |",
            f"| | val loss (bits/char) | {s['val_bits_per_char']:.3f} | |",
            f"| | training (s) / characters seen | {s['train_seconds']:.0f} / "
            f"{s['train_tokens']:,} | 600 s budget |",
            f"| | 500 chars with / without KV cache (s) | {s['gen500_cache_s']:.2f} / "
            f"{s['gen500_nocache_s']:.2f} | |",
            f"| | cache speedup | {s['cache_speedup']:.1f}x | >= 5x |",
        ]
    m = results.get("molecules")
    if m:
        p = MOSES_PAPER
        rows += [
            f"| MOSES (10k samples) | validity | {m['validity']:.3f} | >= 0.95 (CharRNN "
            f"{p['CharRNN']['validity']}, VAE {p['VAE']['validity']}) |",
            f"| | uniqueness@10k | {m['uniqueness']:.4f} | >= 0.99 (CharRNN "
            f"{p['CharRNN']['uniqueness']}, VAE {p['VAE']['uniqueness']}) |",
            f"| | novelty | {m['novelty']:.3f} | >= 0.80 (CharRNN {p['CharRNN']['novelty']}, "
            f"VAE {p['VAE']['novelty']}) |",
            f"| | internal diversity | {m['int_div']:.3f} | CharRNN {p['CharRNN']['int_div']}, "
            f"VAE {p['VAE']['int_div']} |",
            f"| | W1 logP / QED / MW vs test | {m['logp_w1']:.3f} / {m['qed_w1']:.4f} / "
            f"{m['mw_w1']:.2f} | |",
            f"| | hit rate {m['condition']}: conditioned / unconditioned | "
            f"{m['hit_rate_conditioned']:.3f} / {m['hit_rate_unconditioned']:.3f} "
            f"({m['hit_rate_ratio']:.1f}x) | >= 2x |",
            *([f"| | without the syntax mask: validity / uniqueness / novelty | "
               f"{m['without_grammar']['validity']:.3f} / "
               f"{m['without_grammar']['uniqueness']:.4f} / "
               f"{m['without_grammar']['novelty']:.3f} | |"] if "without_grammar" in m else []),
            f"| | at temperature 0.8: validity / uniqueness / novelty | "
            f"{m['temperature_0.8']['validity']:.3f} / {m['temperature_0.8']['uniqueness']:.4f}"
            f" / {m['temperature_0.8']['novelty']:.3f} | |",
            f"| | fit (s) / 10k samples (s) | {m['fit_seconds']:.0f} / "
            f"{m['sample_seconds_10k']:.0f} | |",
        ]
    m = results.get("molecules_selfies")
    if m:
        rows += [
            f"| MOSES, SELFIES tokens (10k samples) | validity / uniqueness@10k / novelty | "
            f"{m['validity']:.3f} / {m['uniqueness']:.4f} / {m['novelty']:.3f} | >= 0.95 / "
            ">= 0.99 / >= 0.80 |",
            f"| | internal diversity; W1 logP / QED / MW vs test | {m['int_div']:.3f}; "
            f"{m['logp_w1']:.3f} / {m['qed_w1']:.4f} / {m['mw_w1']:.2f} | |",
            f"| | hit rate {m['condition']}: conditioned / unconditioned | "
            f"{m['hit_rate_conditioned']:.3f} / {m['hit_rate_unconditioned']:.3f} "
            f"({m['hit_rate_ratio']:.1f}x) | >= 2x |",
            f"| | fit (s) / 10k samples (s) | {m['fit_seconds']:.0f} / "
            f"{m['sample_seconds_10k']:.0f} | |",
        ]
    c = results.get("chorales")
    if c:
        rows += [
            f"| JSB chorales | TVD pitch class / interval / duration (generated vs test) | "
            f"{c['generated_pitch_class_tvd']:.3f} / {c['generated_interval_tvd']:.3f} / "
            f"{c['generated_duration_tvd']:.3f} | train vs test: "
            f"{c['train_vs_test_pitch_class_tvd']:.3f} / {c['train_vs_test_interval_tvd']:.3f}"
            f" / {c['train_vs_test_duration_tvd']:.3f} |",
            f"| | .mid files with the requested {c['requested_bars']} bars (music21) | "
            f"{'all' if c['all_midi_have_requested_bars'] else c['bars_in_midi']} of "
            f"{c['n_samples']} | all |",
        ]
    return "\n".join(rows)


def main() -> None:
    """Run the chosen benchmarks, merge into the results file, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["shakespeare", "molecules", "molecules_selfies",
                                           "chorales"])
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="torch threads for training (default 2; on an oversubscribed "
                             "machine 1 thread trains faster)")
    parser.add_argument("--label", help="store the run under this name instead (e.g. "
                                         "shakespeare_avx2 for a run on other CPU kernels)")
    args = parser.parse_args()
    _torch_setup(args.threads)
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    todo = [args.only] if args.only else ["shakespeare", "molecules", "molecules_selfies",
                                          "chorales"]
    runners = {"shakespeare": shakespeare, "molecules": molecules, "chorales": chorales,
               "molecules_selfies": lambda: molecules(tokens="selfies")}
    for bench in todo:
        name = args.label or bench
        start = time.perf_counter()
        if name in results:  # keep earlier runs' headline numbers: nothing silently replaced
            old = results[name]
            results.setdefault("previous_runs", []).append({
                "benchmark": name,
                **{k: old.get(k) for k in ("val_loss", "cache_speedup", "validity", "uniqueness",
                                           "novelty", "hit_rate_ratio", "params", "machine")
                   if k in old}})
        fresh = runners[bench]()
        # re-read: another run of this script may have written its part meanwhile
        results = {**(json.loads(RESULTS.read_text()) if RESULTS.exists() else {}),
                   "previous_runs": results.get("previous_runs", [])}
        results[name] = fresh
        results[name]["wall_seconds"] = time.perf_counter() - start
        results[name]["machine_info"] = machine_info()
        results[name]["machine"] = (f"{platform.processor() or platform.machine()}, "
                                    f"{args.threads} torch thread(s) for training, 1 for "
                                    f"decoding, 2 cores "
                                    f"(load average {os.getloadavg()[0]:.1f} at the end)")
        for key in ("val_loss", "cache_speedup"):
            if key in results.get("shakespeare", {}):
                results[key] = results["shakespeare"][key]
        # the molecule headline: the tokenisation with the higher validity, named
        runs = [k for k in ("molecules", "molecules_selfies") if k in results]
        if runs:
            best = max(runs, key=lambda k: results[k]["validity"])
            results["molecules_headline"] = best
            for key in ("validity", "uniqueness", "novelty"):
                results[key] = results[best][key]
        with atomic_path(RESULTS) as tmp:  # a run killed mid-write keeps the last results
            tmp.write_text(json.dumps(results, indent=1, default=str) + "\n")
        print(f"{name} done in {results[name]['wall_seconds']:.0f}s", flush=True)
    print(_table(results))


if __name__ == "__main__":
    main()
