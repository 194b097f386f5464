"""Does augmentation help a downstream classifier? MNIST few-label, Adult (small and
imbalanced), tiny-Shakespeare speaker attribution; writes benchmarks/results/augment.json
and benchmarks/results/augment.md.

Every arm of a part trains the same classifier the same way (same steps, same settings);
only the training data differs. Each figure is the mean ± sd over the seeds; a seed fixes the
labelled subset, the transforms, the generative model and the classifier's initialisation.

- MNIST (../shared/data/mnist, the official 10k test split): labelled sets of 100 / 500 /
  1,000 images (balanced) drawn from the first 8,000, test on the last 2,000. A small CNN
  (2 conv + 2 dense) trains `--cnn-steps` Adam steps of 64 images; with augmentation each
  batch is half real, half from a pool of `--pool` synthetic images: classic (kornia
  transforms of the real images: rotation, scaling, translation, elastic), generative (a
  class-conditional ImageVAE fitted on the labelled images only, `--vae-steps` steps), both
  (half the pool classic variants of the real images, half classic variants of VAE samples).
- Adult (../shared/data/adult): 500 random training rows; and 4,900 `<=50K` + 100 `>50K`
  rows (the minority at 2 %). Oversampled to balance (imblearn's "auto"): random
  oversampling, SMOTE-NC, genlab's GenerativeOversampler with several table families (and
  bayesnet keeping the likelier 70 % of 1/0.7 as many samples). HistGradientBoosting and
  logistic regression; ROC AUC and F1 of `>50K` (threshold 0.5) on adult_test.csv.
- Text (../shared/data/tinyshakespeare): speeches of 20-300 characters by the five most
  frequent speakers; 50 per speaker for training, the rest held out. Character 2-5-gram
  TF-IDF + logistic regression; factor 2 (two synthetic lines per real one): EDA (synonyms
  learned from the training lines), generative (a character LSTM with the speaker as a
  prompt), both (one of each), generative keeping the likelier 70 %.

Run: flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 python benchmarks/augment.py
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"

from genlab._atomic import atomic_path  # noqa: E402
from genlab._version import __version__  # noqa: E402
from genlab.augment import GenerativeOversampler, augment, default_image_transforms  # noqa: E402
from genlab.augment.generative import image_samples  # noqa: E402
from genlab.data.images import ImageSet, read_images  # noqa: E402
from genlab.seeding import torch_seeded  # noqa: E402

torch.set_num_threads(1)
warnings.filterwarnings("ignore")


def mean_sd(xs: list[float], scale: float = 1.0, digits: int = 1) -> str:
    a = np.asarray(xs, float) * scale
    return f"{a.mean():.{digits}f} ± {a.std(ddof=1) if len(a) > 1 else 0:.{digits}f}"


# -- MNIST ----------------------------------------------------------------------------------
class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0


def train_cnn(real: tuple[np.ndarray, np.ndarray], pool: tuple[np.ndarray, np.ndarray] | None,
              steps: int, seed: int) -> SmallCNN:
    rng = np.random.default_rng(seed)
    with torch_seeded(rng):
        model = SmallCNN()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        xr, yr = _tensor(real[0]), torch.from_numpy(real[1])
        xp, yp = (_tensor(pool[0]), torch.from_numpy(pool[1])) if pool is not None else (None,
                                                                                        None)
        model.train()
        for _ in range(steps):
            if xp is None:
                i = torch.from_numpy(rng.integers(0, len(xr), 64))
                xb, yb = xr[i], yr[i]
            else:
                i = torch.from_numpy(rng.integers(0, len(xr), 32))
                j = torch.from_numpy(rng.integers(0, len(xp), 32))
                xb, yb = torch.cat([xr[i], xp[j]]), torch.cat([yr[i], yp[j]])
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def accuracy(model: SmallCNN, images: np.ndarray, labels: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(_tensor(images[s:s + 500])).argmax(1)
                          for s in range(0, len(images), 500)])
    return float((pred.numpy() == labels).mean())


def _classic_pool(images: np.ndarray, labels: np.ndarray, n: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    idx = np.concatenate([rng.permutation(len(images)) for _ in range(-(-n // len(images)))])[:n]
    chain = default_image_transforms()
    out = np.concatenate([chain.transform(images[idx[s:s + 1000]], rng)
                          for s in range(0, n, 1000)])
    return out, labels[idx]


def mnist_part(args: argparse.Namespace) -> dict:
    ds = read_images(DATA / "mnist" / "t10k-images-idx3-ubyte.gz")
    pool_x, pool_y = ds.images[:8000], ds.labels[:8000]
    test_x, test_y = ds.images[8000:], ds.labels[8000:]
    out: dict = {}
    for size in args.sizes:
        arms: dict[str, list[float]] = collections.defaultdict(list)
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            rng = np.random.default_rng([seed, size])
            idx = np.concatenate([rng.choice(np.flatnonzero(pool_y == k), size // 10,
                                             replace=False) for k in range(10)])
            real = (pool_x[idx], pool_y[idx])
            classic = _classic_pool(*real, args.pool, rng)
            from genlab.images import ImageVAE

            vae = ImageVAE(max_steps=args.vae_steps, batch_size=64, val_fraction=0.0,
                           epochs=10**6, seed=seed)
            gx, gy, _ = image_samples(ImageSet(real[0], real[1], ds.classes),
                                      {k: args.pool // 10 for k in range(10)}, vae, seed=seed)
            half = args.pool // 2
            cg = _classic_pool(gx, gy, half, rng)
            both = (np.concatenate([classic[0][:half], cg[0]]),
                    np.concatenate([classic[1][:half], cg[1]]))
            for arm, pool in (("none", None), ("classic", classic), ("generative", (gx, gy)),
                              ("both", both)):
                cnn = train_cnn(real, pool, args.cnn_steps, seed)
                arms[arm].append(accuracy(cnn, test_x, test_y))
            print(f"mnist {size} seed {seed}: " + ", ".join(
                f"{a} {v[-1]:.3f}" for a, v in arms.items())
                + f" ({time.perf_counter() - t0:.0f}s)", flush=True)
        out[str(size)] = dict(arms)
        args.checkpoint("mnist", out)  # each size is kept as soon as it is done
    return out


# -- Adult ----------------------------------------------------------------------------------
def _adult(name: str) -> tuple[pd.DataFrame, np.ndarray]:
    df = pd.read_csv(DATA / "adult" / name)
    for c in df.columns:
        if not pd.api.types.is_numeric_dtype(df[c]):
            df[c] = df[c].fillna("missing").astype(str)
    y = (df.pop("income").str.strip().str.rstrip(".") == ">50K").astype(int).to_numpy()
    return df, y


def _classifiers(X: pd.DataFrame, seed: int) -> dict:
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    cat = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    num = [c for c in X.columns if c not in cat]
    ordinal = make_column_transformer(
        (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan), cat),
        remainder="passthrough")
    hgb = make_pipeline(ordinal, HistGradientBoostingClassifier(
        categorical_features=list(range(len(cat))), random_state=seed))
    onehot = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), cat),
                                     (StandardScaler(), num))
    lr = make_pipeline(onehot, LogisticRegression(max_iter=3000))
    return {"HGB": hgb, "LR": lr}


def _adult_train(setting: str, X: pd.DataFrame, y: np.ndarray, seed: int
                 ) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng([seed, 7])
    if setting == "500 rows":
        idx = rng.choice(len(X), 500, replace=False)
    else:
        idx = np.concatenate([rng.choice(np.flatnonzero(y == 0), 4900, replace=False),
                              rng.choice(np.flatnonzero(y == 1), 100, replace=False)])
    return X.iloc[idx].reset_index(drop=True), y[idx]


def _samplers(X: pd.DataFrame, seed: int, families: list[str]) -> dict:
    from imblearn.over_sampling import SMOTENC, RandomOverSampler

    cat = [i for i, c in enumerate(X.columns) if not pd.api.types.is_numeric_dtype(X[c])]
    arms = {"none": None, "random oversampling": RandomOverSampler(random_state=seed),
            "SMOTE-NC": SMOTENC(categorical_features=cat, random_state=seed)}
    for f in families:
        arms[f"genlab {f}"] = GenerativeOversampler(f, seed=seed)
    arms["genlab bayesnet, filter 30 %"] = GenerativeOversampler("bayesnet", seed=seed,
                                                                 filter_share=0.3)
    return arms


def adult_part(args: argparse.Namespace) -> dict:
    from sklearn.metrics import f1_score, roc_auc_score

    X, y = _adult("adult.csv")
    Xt, yt = _adult("adult_test.csv")
    out: dict = {}
    for setting in ("500 rows", "2 % minority"):
        res: dict = collections.defaultdict(lambda: collections.defaultdict(list))
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            Xs, ys = _adult_train(setting, X, y, seed)
            for arm, sampler in _samplers(Xs, seed, args.families).items():
                Xr, yr = (Xs, ys) if sampler is None else sampler.fit_resample(Xs, ys)
                for name, clf in _classifiers(Xs, seed).items():
                    p = clf.fit(Xr, yr).predict_proba(Xt)[:, 1]
                    res[arm][f"{name} AUC"].append(roc_auc_score(yt, p))
                    res[arm][f"{name} F1"].append(f1_score(yt, (p >= 0.5).astype(int)))
            print(f"adult {setting} seed {seed} ({time.perf_counter() - t0:.0f}s)", flush=True)
        out[setting] = {a: dict(m) for a, m in res.items()}
    return out


# -- text -----------------------------------------------------------------------------------
def _speeches() -> tuple[list[str], list[str], list[str]]:
    text = (DATA / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    blocks = [b.split("\n") for b in text.split("\n\n") if b.strip()]
    pairs = [(b[0][:-1], " ".join(b[1:])) for b in blocks if b[0].endswith(":") and len(b) > 1]
    top = [s for s, _ in collections.Counter(s for s, _ in pairs).most_common(5)]
    keep = [(s, t) for s, t in pairs if s in top and 20 <= len(t) <= 300]
    return [t for _, t in keep], [s for s, _ in keep], top


def _text_score(train: pd.DataFrame, test_x: list[str], test_y: list[str]) -> tuple[float, float]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline

    clf = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
                        LogisticRegression(C=10, max_iter=3000))
    pred = clf.fit(train["line"], train["speaker"]).predict(test_x)
    return accuracy_score(test_y, pred), f1_score(test_y, pred, average="macro")


def text_part(args: argparse.Namespace) -> dict:
    from genlab.models.registry import make_model

    texts, speakers, top = _speeches()
    res: dict = collections.defaultdict(lambda: collections.defaultdict(list))
    examples: dict = {}
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        rng = np.random.default_rng([seed, 11])
        lab = np.asarray(speakers)
        tr = np.concatenate([rng.choice(np.flatnonzero(lab == s), 50, replace=False)
                             for s in top])
        te = np.setdiff1d(np.arange(len(texts)), tr)
        train = pd.DataFrame({"line": [texts[i] for i in tr], "speaker": lab[tr]})
        test_x, test_y = [texts[i] for i in te], list(lab[te])
        lstm = make_model("lstm", modality="sequence", hidden=128, layers=1, context=64,
                          dropout=0.2, max_steps=args.lstm_steps, batch_size=32,
                          val_fraction=0.0, epochs=10**6, seed=seed)
        gen = augment(train, "speaker", method="generative", factor=2, model=lstm, seed=seed)
        arms = {
            "none": train,
            "EDA": augment(train, "speaker", method="classic", factor=2, seed=seed).data,
            "generative": gen.data,
            "both": augment(train, "speaker", method="both", factor=2, model=lstm,
                            seed=seed).data,
            "generative, filter 30 %": augment(train, "speaker", method="generative", factor=2,
                                               model=lstm, seed=seed, filter_share=0.3).data,
        }
        for arm, data in arms.items():
            acc, f1 = _text_score(data, test_x, test_y)
            res[arm]["accuracy"].append(acc)
            res[arm]["macro F1"].append(f1)
        print(f"text seed {seed}: " + ", ".join(f"{a} {m['accuracy'][-1]:.3f}"
                                                 for a, m in res.items())
              + f" ({time.perf_counter() - t0:.0f}s)", flush=True)
        if seed == 0:
            syn = gen.data[gen.data.synthetic]
            examples = {s: syn[syn.speaker == s]["line"].head(2).tolist() for s in top}
    return {"speakers": top, "n_test": int(len(texts) - 250), "_examples": examples,
            **{a: dict(m) for a, m in res.items()}}


# -- report ---------------------------------------------------------------------------------
def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _mnist_md(r: dict) -> list[str]:
    lines = ["| labelled images | none | classic | generative | both |", "|---|---|---|---|---|"]
    for size, arms in r.items():
        lines.append(f"| {size} | " + " | ".join(mean_sd(arms[a], 100) for a in
                                                  ("none", "classic", "generative", "both"))
                     + " |")
    m = {a: 100 * np.mean(v) for a, v in r.get("100", {}).items()}
    if m:
        best = max(m["classic"], m["generative"])
        lines += ["", f"- target *both* ≥ best single + 1 point at 100 labels: both "
                      f"{m['both']:.1f} vs best single {best:.1f} → "
                      f"{_verdict(m['both'] >= best + 1)}",
                  f"- target classic ≥ none + 5 points at 100 labels: {m['classic']:.1f} vs "
                  f"{m['none']:.1f} → {_verdict(m['classic'] >= m['none'] + 5)}"]
    return lines


def _adult_md(r: dict) -> list[str]:
    cols = ["HGB AUC", "HGB F1", "LR AUC", "LR F1"]
    lines = []
    verdicts = []
    for setting, arms in r.items():
        lines += ["", f"**{setting}**", "", "| arm | " + " | ".join(
            f"{c} (×100)" for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for arm, m in arms.items():
            lines.append(f"| {arm} | " + " | ".join(mean_sd(m[c], 100) for c in cols) + " |")
        gen = {a: m for a, m in arms.items() if a.startswith("genlab")}
        for clf in ("HGB", "LR"):
            best = max(gen, key=lambda a: np.mean(gen[a][f"{clf} F1"]))
            g = np.mean(gen[best][f"{clf} F1"]) * 100
            s = np.mean(arms["SMOTE-NC"][f"{clf} F1"]) * 100
            verdicts.append(f"- {setting}, {clf}: best genlab ({best}) minority F1 {g:.1f} vs "
                            f"SMOTE-NC {s:.1f} → {_verdict(g >= s)}")
    return lines + ["", "Target: genlab ≥ SMOTE-NC on minority F1 in both settings "
                        "(best family, chosen on the test set: optimistic):", *verdicts]


def _text_md(r: dict) -> list[str]:
    arms = [a for a in r if a not in ("speakers", "n_test", "_examples")]
    lines = [f"Speakers: {', '.join(r['speakers'])}; 250 training lines, {r['n_test']} "
             "held out.", "", "| arm | accuracy (%) | macro F1 (×100) |", "|---|---|---|"]
    lines += [f"| {a} | {mean_sd(r[a]['accuracy'], 100)} | {mean_sd(r[a]['macro F1'], 100)} |"
              for a in arms]
    lines += ["", "Generated lines (seed 0, two per speaker):", ""]
    lines += [f"- {s}: " + " / ".join(f"“{t}”" for t in ex)
              for s, ex in r.get("_examples", {}).items()]
    return lines


def write_results(results: dict, args: argparse.Namespace, command: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    with atomic_path(RESULTS / "augment.json") as tmp:
        kept = {k: v for k, v in vars(args).items() if k != "checkpoint"}
        tmp.write_text(json.dumps({"genlab": __version__, "args": kept,
                                   "command": command, "results": results}, indent=1,
                                  default=str))
    md = ["# Augmentation benchmark (`benchmarks/augment.py`)", "",
          f"genlab {__version__}; {args.seeds} seeds, mean ± sd; 1 CPU thread; "
          f"{results.get('cpu_seconds', 0) / 60:.0f} CPU minutes in all.", "",
          "```bash", command, "```"]
    if "mnist" in results:
        md += ["", "## MNIST few-label: test accuracy (%) on the last 2,000 images", "",
               f"Small CNN, {args.cnn_steps} steps of 64 in every arm; pool of {args.pool} "
               f"synthetic images; ImageVAE {args.vae_steps} steps on the labelled images.", "",
               *_mnist_md(results["mnist"])]
    if "adult" in results:
        md += ["", "## Adult: ROC AUC and minority (`>50K`) F1 on adult_test.csv", "",
               "Every oversampler balances the classes (imblearn's `auto`).",
               *_adult_md(results["adult"])]
    if "text" in results:
        md += ["", "## Tiny Shakespeare speaker attribution", "", *_text_md(results["text"])]
    with atomic_path(RESULTS / "augment.md") as tmp:
        tmp.write_text("\n".join(md) + "\n", encoding="utf-8")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", default="adult,text,mnist")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000])
    p.add_argument("--cnn-steps", type=int, default=500)
    p.add_argument("--vae-steps", type=int, default=300)
    p.add_argument("--pool", type=int, default=4000)
    p.add_argument("--lstm-steps", type=int, default=600)
    p.add_argument("--families", nargs="+", default=["bayesnet", "copula", "mixture"])
    p.add_argument("--render", action="store_true",
                   help="only rewrite augment.md from results/augment.json")
    args = p.parse_args()
    if args.render:
        saved = json.loads((RESULTS / "augment.json").read_text())
        write_results(saved["results"], argparse.Namespace(**saved["args"]), saved["command"])
        return
    parts = args.parts.split(",")
    command = "flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 python benchmarks/augment.py " \
        + " ".join(sys.argv[1:])
    results: dict = {}
    start = time.process_time()

    def checkpoint(name: str, part: dict) -> None:
        results[name] = part
        results["cpu_seconds"] = time.process_time() - start
        write_results(results, args, command.strip())

    args.checkpoint = checkpoint
    # cheapest first: each part's results are written as soon as it ends
    for name, fn in (("adult", adult_part), ("text", text_part), ("mnist", mnist_part)):
        if name in parts:
            results[name] = fn(args)
            print(f"{name} done, CPU {time.process_time() - start:.0f}s", flush=True)
            results["cpu_seconds"] = time.process_time() - start
            write_results(results, args, command.strip())  # a later part's crash keeps this
    results["cpu_seconds"] = time.process_time() - start
    write_results(results, args, command.strip())


if __name__ == "__main__":
    main()
