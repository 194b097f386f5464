"""Image families on MNIST, each on a budget of optimiser steps; writes
benchmarks/results/images.json and sample grids under benchmarks/results/images/.

Data: ../shared/data/mnist (the official 10,000-image test split, as its SOURCE.md says):
train on the first 8,000 images, evaluate on the last 2,000. Every family is class-
conditional (--condition label) and trains for a fixed number of optimiser steps (`STEPS`,
about what each reached in 10 CPU minutes here; `--steps-scale` scales them all), so the
result depends on the data and the seed, not on how busy the machine is.

Scores, side by side:
- bits/dim on the 2,000 held-out images, log p(x | true label) in bits per pixel value of the
  8-bit image (the VAE's is the IWAE bound, the flow's the dequantised density, the
  PixelCNN's exact; the GAN has none). The label-marginal p(x) is at most log2(10)/784 =
  0.0042 bits/dim worse than this conditional figure;
- Fréchet distance, precision, recall, density, coverage in the 128-d feature space of a
  small CNN classifier genlab trains on the 8,000 training images (not FID: no Inception
  weights here; only comparable within this table); samples vs the held-out images;
- conditional accuracy: the same classifier's accuracy on samples asked to be each digit;
- sampling time per image; share of near-copies (samples closer to a training image than
  the closest 1% of held-out images are);
- super-resolution 7x7 -> 28x28 (block means, uint8): PSNR and SSIM of the model vs bicubic.

Run: .venv/bin/python benchmarks/images.py [--steps-scale 1] (OMP_NUM_THREADS=2 on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genlab._atomic import atomic_path  # noqa: E402
from genlab._machine import machine_info  # noqa: E402
from genlab._version import __version__  # noqa: E402
from genlab.evaluate.images import (  # noqa: E402
    ImageClassifier,
    frechet_distance,
    near_copy_share,
    prdc,
    psnr,
    ssim,
)
from genlab.images import (  # noqa: E402
    ImageFlow,
    ImageGAN,
    ImageSet,
    ImageVAE,
    PixelCNN,
    SuperResolution,
    bicubic_upsample,
    downsample,
    make_grid,
    read_images,
    write_png,
)

DATA = ROOT.parent / "shared" / "data" / "mnist" / "t10k-images-idx3-ubyte.gz"
RESULTS = ROOT / "benchmarks" / "results"
N_TRAIN = 8000

# Optimiser steps per family: about what each reached in 10 CPU minutes on this machine in
# the wall-clock version of this benchmark (vae 4,281, gan 4,797, pixelcnn 2,906, flow
# 5,707, superres 3,451), rounded
STEPS = {"vae": 4000, "gan": 5000, "pixelcnn": 3000, "flow": 6000, "superres": 3500}
CLASSIFIER_EPOCHS = 20  # early stopping (patience 3) usually ends it sooner

# Architectures picked to learn within a few CPU minutes (see the family docstrings).
FAMILIES = {
    # beta 3 and 8 latents: the decoder then leans on the label, and class-conditional
    # samples are far more reliable than with the ELBO's beta 1 (0.32 accuracy in a first run)
    "vae": (ImageVAE, {"latent_dim": 8, "beta": 3.0, "channels": (32, 64), "hidden": 256,
                       "iwae_samples": 32, "batch_size": 64}),
    "gan": (ImageGAN, {"latent_dim": 64, "width": 32, "batch_size": 64}),
    "pixelcnn": (PixelCNN, {"hidden": 32, "layers": 6, "mixtures": 5, "batch_size": 16}),
    "flow": (ImageFlow, {"levels": 2, "steps": 6, "hidden": 64, "batch_size": 32}),
}


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _bpd_kind(model: object) -> str:
    return {"vae": "IWAE bound (k=32)", "pixelcnn": "exact",
            "flow": "dequantised density (exact)"}.get(getattr(model, "family", ""), "")


def run_family(name: str, train: ImageSet, test: ImageSet, clf: ImageClassifier,
               test_feats: np.ndarray, steps: int, per_class: int, seed: int) -> dict:
    cls, params = FAMILIES[name]
    model = cls(**params, epochs=10_000, max_steps=steps, seed=seed, device="cpu")
    _log(f"{name}: fitting for {steps} steps")
    model.fit(train, conditions=["label"])
    out: dict = {"class": cls.__name__, "params": {k: v for k, v in params.items()},
                 "fit_seconds": round(model.fit_seconds_, 1),
                 "epochs": len(model.history_), "steps": model.steps_trained_,
                 "stopped_by": model.stopped_by_}
    if model.supports_log_prob:
        _log(f"{name}: held-out likelihood")
        labels = [test.classes[k] for k in test.labels]  # type: ignore[index]
        lp = model.log_prob(test, conditions={"label": labels})
        out["nats_per_image"] = float(-lp.mean())
        out["bits_per_dim"] = float(-lp.mean() / (784 * math.log(2)))
        out["bits_per_dim_kind"] = _bpd_kind(model)
    else:
        out["bits_per_dim"] = None
        out["bits_per_dim_kind"] = "no likelihood"
    _log(f"{name}: sampling {10 * per_class}")
    asked = np.repeat(np.arange(10), per_class)
    t = time.perf_counter()
    samples = model.sample(len(asked), conditions={"label": [str(k) for k in asked]},
                           seed=seed + 1, batch_size=100)
    out["sample_ms_per_image"] = 1000 * (time.perf_counter() - t) / len(asked)
    out["n_samples"] = len(asked)
    out["conditional_accuracy"] = clf.accuracy(samples, asked)
    if hasattr(model, "temperature"):  # reduced-temperature samples: cleaner, not the model's
        model.temperature = 0.7
        cold = model.sample(len(asked), conditions={"label": [str(k) for k in asked]},
                            seed=seed + 1, batch_size=100)
        out["conditional_accuracy_t0.7"] = clf.accuracy(cold, asked)
        grid = make_grid(cold.reshape(10, per_class, 28, 28, 1)[:, :10].reshape(-1, 28, 28, 1),
                         ncol=10)
        write_png(RESULTS / "images" / f"{name}_t0.7.png", grid)
        model.temperature = 1.0
    # Fréchet distance and PRDC depend on the sample count: every family is scored on the
    # same 100 samples (the first 10 per digit), the PixelCNN's sampling speed sets it
    first = samples.reshape(10, per_class, 28, 28, 1)[:, :10].reshape(-1, 28, 28, 1)
    feats = clf.features(first)
    out["frechet_distance"] = frechet_distance(test_feats, feats)
    out.update(prdc(test_feats, feats, k=5))
    if per_class > 10:
        out["frechet_distance_all_samples"] = frechet_distance(test_feats, clf.features(samples))
    copies = near_copy_share(samples, train.images, test.images)
    out["near_copy_share"] = copies["near_copy_share"]
    grid = make_grid(samples.reshape(10, per_class, 28, 28, 1)[:, :10].reshape(-1, 28, 28, 1),
                     ncol=min(10, per_class))
    write_png(RESULTS / "images" / f"{name}.png", grid)
    _log(f"{name}: {json.dumps({k: v for k, v in out.items() if k != 'params'})}")
    return out


def run_superres(train: ImageSet, test: ImageSet, steps: int, seed: int) -> dict:
    model = SuperResolution(factor=4, hidden=64, blocks=4, epochs=10_000, max_steps=steps,
                            seed=seed, device="cpu")
    _log(f"superres: fitting for {steps} steps")
    model.fit(train)
    low = downsample(test.images, 4)
    bic = bicubic_upsample(low, 4)
    t = time.perf_counter()
    out_img = model.superresolve(low)
    ms = 1000 * (time.perf_counter() - t) / len(low)
    res = {
        "class": "SuperResolution", "factor": 4, "fit_seconds": round(model.fit_seconds_, 1),
        "epochs": len(model.history_), "steps": model.steps_trained_,
        "psnr_db": psnr(out_img, test.images), "psnr_bicubic_db": psnr(bic, test.images),
        "ssim": ssim(out_img, test.images), "ssim_bicubic": ssim(bic, test.images),
        "bits_per_dim": float(model.bits_per_dim(test)), "ms_per_image": ms,
    }
    res["psnr_gain_db"] = res["psnr_db"] - res["psnr_bicubic_db"]
    low_up = low[:10].repeat(4, axis=1).repeat(4, axis=2)
    tiles = np.stack([low_up, bic[:10], out_img[:10], test.images[:10]], 0).reshape(-1, 28, 28, 1)
    write_png(RESULTS / "images" / "superres.png", make_grid(tiles, ncol=10))
    _log(f"superres: {json.dumps(res)}")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps-scale", type=float, default=1.0,
                        help="multiplies every family's step budget (STEPS)")
    parser.add_argument("--families", default="vae,gan,pixelcnn,flow")
    parser.add_argument("--per-class", type=int, default=50,
                        help="samples per digit (the PixelCNN draws 10: it samples pixel by "
                             "pixel)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-superres", action="store_true")
    parser.add_argument("--out", default=str(RESULTS / "images.json"))
    parser.add_argument("--merge", action="store_true",
                        help="update the families run here in an existing results file")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    start = time.perf_counter()
    steps = {k: max(1, round(v * args.steps_scale)) for k, v in STEPS.items()}
    ds = read_images(DATA)
    assert ds.labels is not None
    train = ImageSet(ds.images[:N_TRAIN], ds.labels[:N_TRAIN], ds.classes)
    test = ImageSet(ds.images[N_TRAIN:], ds.labels[N_TRAIN:], ds.classes)
    _log(f"MNIST: {len(train)} train, {len(test)} test images")
    clf = ImageClassifier(width=32, epochs=CLASSIFIER_EPOCHS, seed=args.seed,
                          device="cpu").fit(train)
    test_feats = clf.features(test.images)
    clf_acc = clf.accuracy(test.images, test.labels)
    _log(f"metric classifier: held-out accuracy {clf_acc:.4f}")
    # real training images, 10 per digit: the floor of the sample scores
    pick = np.concatenate([np.flatnonzero(train.labels == k)[:10] for k in range(10)])
    real_ref = train.images[pick]
    ref_feats = clf.features(real_ref)
    reference = {"frechet_distance": frechet_distance(test_feats, ref_feats),
                 **prdc(test_feats, ref_feats, k=5),
                 "conditional_accuracy": clf.accuracy(real_ref, train.labels[pick])}
    previous = json.loads(Path(args.out).read_text()) if args.merge else {}
    results: dict = {**previous, **{
        "benchmark": "MNIST t10k: first 8,000 train, last 2,000 held out; class-conditional",
        "genlab_version": __version__,
        "steps_per_family": steps,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                   f"torch {torch.__version__} with {torch.get_num_threads()} threads",
        "metric_classifier": {"test_accuracy": clf_acc, "epochs": CLASSIFIER_EPOCHS,
                              "features": 128, "note": "genlab CNN trained on the 8,000 "
                              "training images; Fréchet/PRDC in its features are not FID"},
        "real_images_reference": reference,
    }}
    if args.merge:
        for key in ("metric_classifier", "real_images_reference"):
            results[key] = previous.get(key, results[key])  # the rows already scored with it
        results.setdefault("reruns", []).append({
            "families": args.families, "steps_per_family": steps,
            "metric_classifier_test_accuracy": clf_acc,
            "note": "re-run in a second invocation; its metric classifier was retrained "
                    "(same seed and budget)"})
    out = Path(args.out)

    def save() -> None:  # after every family: a late failure keeps the earlier results
        results["machine_info"] = machine_info()
        results["total_minutes" if not args.merge else "rerun_minutes"] = round(
            (time.perf_counter() - start) / 60, 1)
        with atomic_path(out) as tmp:
            tmp.write_text(json.dumps(results, indent=1, default=float) + "\n", encoding="utf-8")

    for name in [f for f in args.families.split(",") if f]:
        per_class = 10 if name == "pixelcnn" else args.per_class
        results[name] = run_family(name, train, test, clf, test_feats, steps[name], per_class,
                                   args.seed)
        save()
    if not args.no_superres:
        results["superres"] = run_superres(train, test, steps["superres"], args.seed)
    save()
    print(table(results))


def table(results: dict) -> str:
    """The markdown table of a results dict."""
    def f(v: object, fmt: str) -> str:
        return "–" if v is None else format(v, fmt)

    rows = ["| family | bits/dim (held out) | conditional accuracy | Fréchet (clf, 100) "
            "| precision | recall | density | coverage | near-copies | ms / sample | train s |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    ref = results["real_images_reference"]
    rows.append(f"| real images (100 train) | – | {ref['conditional_accuracy']:.3f} | "
                f"{ref['frechet_distance']:.2f} | {ref['precision']:.3f} | {ref['recall']:.3f} | "
                f"{ref['density']:.3f} | {ref['coverage']:.3f} | – | – | – |")
    for name in FAMILIES:
        r = results.get(name)
        if r is None:
            continue
        bpd = "–" if r["bits_per_dim"] is None else (
            f"{r['bits_per_dim']:.3f}" + (" (IWAE bound)" if name == "vae" else ""))
        acc = f"{r['conditional_accuracy']:.3f}" + (
            f" ({r['conditional_accuracy_t0.7']:.3f} at T=0.7)"
            if "conditional_accuracy_t0.7" in r else "")
        rows.append(
            f"| {name} | {bpd} | {acc} | "
            f"{r['frechet_distance']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} | "
            f"{r['density']:.3f} | {r['coverage']:.3f} | {r['near_copy_share']:.3f} | "
            f"{f(r['sample_ms_per_image'], '.1f')} | {r['fit_seconds']:.0f} |")
    sr = results.get("superres")
    if sr:
        rows.append("")
        rows.append(f"Super-resolution 7x7 -> 28x28: PSNR {sr['psnr_db']:.2f} dB vs bicubic "
                    f"{sr['psnr_bicubic_db']:.2f} dB (gain {sr['psnr_gain_db']:.2f} dB); SSIM "
                    f"{sr['ssim']:.3f} vs {sr['ssim_bicubic']:.3f}; "
                    f"trained {sr['fit_seconds']:.0f} s")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
