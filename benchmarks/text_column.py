"""A table with a free-text column: what declaring it `text` costs the other columns, and
whether any training text comes back.

Data: the first 2,000 rows of UCI Adult (../shared/data/adult/adult.csv) with a `comment`
column of real free text: 2,000 distinct lines of tiny Shakespeare (../shared/data/
tinyshakespeare, lines of at least 15 characters with a space, in file order, 5% left
missing), plus 200 more rows of both for held-out scoring. Per family: fit with
`kinds={"comment": "text"}` (a row-conditioned character model) and on the table without
the column, sample 2,000 rows (seed 1) from each, and report
- verbatim copies: sampled comments equal to any training comment (all are unique there);
- column pair trends (SDMetrics' definition, genlab.evaluate.fidelity) of the other columns,
  with and without the text column, and their difference (target: within 0.02);
- held-out nats per character of the comments given their rows, beside a unigram model of
  the training characters (the text model's own figure, EOS included).

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/text_column.py [--families bayesnet,...]
Writes benchmarks/results/text_column.json and prints the markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import genlab
from genlab._atomic import atomic_path
from genlab._machine import machine_info
from genlab.data.kinds import infer_kinds
from genlab.evaluate.fidelity import fidelity_scores

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "text_column.json"
N_TRAIN, N_TEST = 2000, 200


def load() -> tuple[pd.DataFrame, pd.DataFrame]:
    adult = pd.read_csv(DATA / "adult" / "adult.csv").head(N_TRAIN + N_TEST)
    lines = (DATA / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8").splitlines()
    text = list(dict.fromkeys(s.strip() for s in lines if len(s.strip()) >= 15 and " " in s))
    comments = pd.Series(text[:N_TRAIN + N_TEST], dtype=object)
    comments[np.random.default_rng(0).random(len(comments)) < 0.05] = None
    df = adult.assign(comment=comments.to_numpy())
    return df.head(N_TRAIN).reset_index(drop=True), df.tail(N_TEST).reset_index(drop=True)


def unigram_nats(train: pd.Series, test: pd.Series) -> float:
    """Nats per character (EOS counted, as the model counts it) of a unigram model."""
    chars = "".join(train.dropna()) + "\0" * int(train.notna().sum())
    values, counts = np.unique(list(chars), return_counts=True)
    lp = dict(zip(values, np.log(counts / counts.sum()), strict=True))
    floor = np.log(0.5 / (counts.sum() + 0.5))
    held = [t + "\0" for t in test.dropna()]
    return -sum(lp.get(ch, floor) for t in held for ch in t) / sum(map(len, held))


def run(family: str, train: pd.DataFrame, test: pd.DataFrame) -> dict:
    plain_train = train.drop(columns="comment")
    start = time.perf_counter()
    with_text = genlab.fit(train, family, seed=0, kinds={"comment": "text"})
    seconds = time.perf_counter() - start
    without = genlab.fit(plain_train, family, seed=0)
    s_text = with_text.sample(N_TRAIN, seed=1)
    s_plain = without.sample(N_TRAIN, seed=1)
    kinds = {c: ("numerical" if k in ("continuous", "integer", "datetime") else "categorical")
             for c, k in infer_kinds(plain_train).items()}
    trends_text = fidelity_scores(plain_train, s_text.drop(columns="comment"), kinds,
                                  detect=False)[0]["column_pair_trends"]
    trends_plain = fidelity_scores(plain_train, s_plain, kinds,
                                   detect=False)[0]["column_pair_trends"]
    sampled = s_text["comment"].dropna()
    lp_text = with_text.log_prob(test) - without.log_prob(test.drop(columns="comment"))
    present = test["comment"].notna().to_numpy()
    rate = float(train["comment"].isna().mean())
    # log p(comment | row) less the presence term, per character (EOS counted)
    per_char = -(lp_text[present] - np.log1p(-rate)).sum() / (
        test["comment"].dropna().str.len().sum() + present.sum())
    return {
        "family": family, "fit_seconds_with_text": round(seconds, 1),
        "sampled_comments": int(sampled.size),
        "verbatim_copies": int(sampled.isin(set(train["comment"].dropna())).sum()),
        "pair_trends_with_text": trends_text, "pair_trends_without": trends_plain,
        "pair_trends_difference": abs(trends_text - trends_plain),
        "heldout_nats_per_char": float(per_char),
        "examples": sampled.head(5).tolist(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="bayesnet,gaussian,copula,autoregressive")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    train, test = load()
    rows = []
    for family in args.families.split(","):
        rows.append(run(family, train, test))
        print(json.dumps(rows[-1])[:300], flush=True)
    result = {"rows": rows, "unigram_nats_per_char": unigram_nats(train["comment"],
                                                                  test["comment"]),
              "machine_info": machine_info()}
    with atomic_path(RESULTS) as tmp:
        tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"| family | sampled comments | verbatim copies | pair trends with / without text "
          f"| difference | held-out nats/char (unigram {result['unigram_nats_per_char']:.3f}) "
          f"| fit s |\n|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['family']} | {r['sampled_comments']:,} | {r['verbatim_copies']} | "
              f"{r['pair_trends_with_text']:.4f} / {r['pair_trends_without']:.4f} | "
              f"{r['pair_trends_difference']:.4f} | {r['heldout_nats_per_char']:.3f} | "
              f"{r['fit_seconds_with_text']} |")


if __name__ == "__main__":
    main()
