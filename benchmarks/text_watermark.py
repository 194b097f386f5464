"""The green-list text watermark (genlab.watermark_text) on tiny Shakespeare: detection AUC
and the log-likelihood cost.

Protocol: a small character transformer is fitted on the first 90 % of tiny Shakespeare for
--steps steps (a step budget, no clock); --n samples of 300 characters are drawn with the
watermark at each delta in --deltas (2 is the default) and --n without it
(`watermark=False`), same seeds; --n windows of
300 characters from the held-out last 10 % are the real text. Each text, cut to its first
100 and to all 300 characters, gets the detector's z (keyed on the model id, each distinct
character pair once). Reported: ROC AUC of z, watermarked vs plain samples and watermarked
vs real text; the share of each called watermarked at z >= 4; and the cost, the mean
negative log-likelihood per character of watermarked and plain samples under the model
(the unwatermarked distribution) and of the real held-out windows.

Run under the machine-wide lock, single thread:
    flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python \
        benchmarks/text_watermark.py
Results: benchmarks/results/text_watermark.md (printed too).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"
RESULTS = ROOT / "benchmarks" / "results"
LENGTHS = (100, 300)


def _nll(model: object, texts: list[str]) -> float:
    """Mean negative log-likelihood per character of `texts` under `model`."""
    lps = [model.token_log_prob(t) for t in texts]  # type: ignore[attr-defined]
    return float(-np.concatenate(lps).mean())


def main() -> None:
    from sklearn.metrics import roc_auc_score

    from genlab import watermark_text as wt
    from genlab.models.sequence.transformer import Transformer

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--deltas", default="1,2", help="watermark strengths to measure")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"tiny Shakespeare not found at {DATA}")
    text = DATA.read_text(encoding="utf-8")
    cut = int(len(text) * 0.9)
    train, held = text[:cut], text[cut:]
    model = Transformer(layers=2, d_model=64, heads=4, context=128, batch_size=32,
                        max_steps=args.steps, epochs=10_000, seed=args.seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit([train])
    fit_s = time.perf_counter() - start
    key = wt.text_key(model.family, model.fingerprint_, model.seed_)
    plain = list(model.sample(args.n, length=max(LENGTHS), seed=args.seed + 1,
                              watermark=False))
    rng = np.random.default_rng(args.seed)
    starts = rng.integers(0, len(held) - max(LENGTHS), args.n)
    real = [held[s:s + max(LENGTHS)] for s in starts]
    rows, costs = [], []
    nll_plain, nll_real = _nll(model, plain), _nll(model, real)
    for delta in (float(d) for d in args.deltas.split(",")):
        wt.DELTA = delta  # the sampler reads the module's delta (a benchmark-only override)
        marked = list(model.sample(args.n, length=max(LENGTHS), seed=args.seed + 1))
        for n_chars in LENGTHS:
            z = {name: np.array([wt.detect(t[:n_chars], key).z for t in texts])
                 for name, texts in (("marked", marked), ("plain", plain), ("real", real))}
            auc = {other: roc_auc_score(np.r_[np.ones(args.n), np.zeros(args.n)],
                                        np.r_[z["marked"], z[other]])
                   for other in ("plain", "real")}
            found = {name: float(np.mean(v >= wt.FOUND_AT)) for name, v in z.items()}
            rows.append(f"| {delta:g} | {n_chars} | {auc['plain']:.3f} | {auc['real']:.3f} | "
                        f"{found['marked']:.2f} | {found['plain']:.2f} | {found['real']:.2f} | "
                        f"{np.median(z['marked']):.2f} | {np.mean(z['plain']):.2f} ± "
                        f"{np.std(z['plain']):.2f} | {np.mean(z['real']):.2f} ± "
                        f"{np.std(z['real']):.2f} |")
        nll = _nll(model, marked)
        costs.append(f"| {delta:g} | {nll:.3f} | {nll_plain:.3f} | {nll - nll_plain:+.3f} | "
                     f"{nll_real:.3f} |")
    command = ("flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python "
               "benchmarks/text_watermark.py " + " ".join(sys.argv[1:])).strip()
    lines = [
        f"Reproduce: `{command}`", "",
        f"Model: character transformer (2 layers, d_model 64, context 128), {args.steps} steps "
        f"on 90 % of tiny Shakespeare, fitted in {fit_s:.0f} s; watermark gamma {wt.GAMMA}, "
        f"context {wt.CONTEXT} characters; {args.n} texts of each kind (the same seeds for "
        "marked and plain samples).", "",
        "| delta | characters | AUC marked vs plain | AUC marked vs real | found (z >= 4): "
        "marked | plain | real | median z marked | z plain (mean ± sd) | z real (mean ± sd) |",
        "|---|---|---|---|---|---|---|---|---|---|", *rows, "",
        "Log-likelihood cost under the model (nats per character, lower is likelier):", "",
        "| delta | watermarked samples | plain samples | cost | real held-out text |",
        "|---|---|---|---|---|", *costs,
    ]
    out = "\n".join(lines)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "text_watermark.md").write_text(out + "\n", encoding="utf-8")
    print(out)


if __name__ == "__main__":
    main()
