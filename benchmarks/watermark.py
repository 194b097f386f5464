"""Watermark benchmark: what genlab's image watermark (`genlab.watermark`, the 64-bit model id
by invisible-watermark's DWT-DCT embedding on luma) costs in PSNR and how many of its bits
survive JPEG q=75, resizing to half size and a 10 % crop; on MNIST digits one by one (28 x 28)
and in the grids `genlab sample` writes (8 x 8 and 16 x 16 digits, and the 8 x 8 grid drawn
twice as large). The package's own `WatermarkEncoder` (dwtDct on its default chroma
channels, 256 x 256 and up only) is measured beside it on the grids large enough for it.

Real MNIST digits (../shared/data/mnist, the 10k test split) stand in for generated ones: the
watermark only sees pixels. Each configuration is measured on `--images` different grids
(disjoint digits), each with its own random 64-bit payload; "found" counts images with at
least 56 of 64 bits right (the detector's threshold), "false" counts unmarked images on which
the detector claims the payload.

    OMP_NUM_THREADS=1 /tmp/bv/bin/python benchmarks/watermark.py --images 20 \
        --out benchmarks/results/watermark.md
"""

from __future__ import annotations

import argparse
import io
import shlex
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "mnist"
ATTACKS = ("none", "jpeg q=75", "resize x0.5", "resize x0.5 and back", "crop 10%")


def _pil(img: np.ndarray) -> Image.Image:
    return Image.fromarray(img[..., 0] if img.shape[2] == 1 else img)


def _arr(pil: Image.Image, channels: int) -> np.ndarray:
    a = np.asarray(pil.convert("L" if channels == 1 else "RGB"))
    return a[..., None] if a.ndim == 2 else a


def attack(img: np.ndarray, name: str) -> np.ndarray:
    """The image after one of the `ATTACKS`."""
    h, w, c = img.shape
    if name == "none":
        return img
    if name == "jpeg q=75":
        buf = io.BytesIO()
        _pil(img).save(buf, "JPEG", quality=75)
        return _arr(Image.open(buf), c)
    half = _pil(img).resize((w // 2, h // 2), Image.Resampling.BICUBIC)
    if name == "resize x0.5":
        return _arr(half, c)
    if name == "resize x0.5 and back":
        return _arr(half.resize((w, h), Image.Resampling.BICUBIC), c)
    dy, dx = round(0.05 * h), round(0.05 * w)  # keep the central 90 % of each side
    return img[dy:h - dy, dx:w - dx]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _package_codec():
    """The invisible-watermark package's own dwtDct encode/decode on RGB images."""
    import cv2
    from imwatermark import WatermarkDecoder, WatermarkEncoder

    def encode(img: np.ndarray, payload: bytes) -> np.ndarray:
        enc = WatermarkEncoder()
        enc.set_watermark("bytes", payload)
        bgr = cv2.cvtColor(np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img,
                           cv2.COLOR_RGB2BGR)
        return cv2.cvtColor(enc.encode(bgr, "dwtDct"), cv2.COLOR_BGR2RGB)

    def accuracy(img: np.ndarray, payload: bytes) -> float | None:
        if img.shape[0] * img.shape[1] < 256 * 256:
            return None  # the package refuses such images
        rgb = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
        got = WatermarkDecoder("bytes", 64).decode(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                                                   "dwtDct")
        want = np.unpackbits(np.frombuffer(payload, np.uint8))
        return float(np.mean(np.unpackbits(np.frombuffer(got, np.uint8)) == want))

    return encode, accuracy


def measure(images: list[np.ndarray], method: str, rng: np.random.Generator) -> dict:
    """PSNR and per-attack bit accuracy / detections of one method on `images`."""
    from genlab import watermark

    enc, acc_pkg = _package_codec()
    rows: dict[str, list[float]] = {a: [] for a in ATTACKS}
    found = dict.fromkeys(ATTACKS, 0)
    false_pos, psnrs = 0, []
    for img in images:
        payload = rng.bytes(8)
        ident = payload.hex()
        if method == "genlab":
            if not watermark.can_mark(img.shape):
                return {"supported": False}
            marked = watermark.embed(img, ident)
            false_pos += int(watermark.detect(img, ident)[0])
        else:
            if img.shape[0] * img.shape[1] < 256 * 256:
                return {"supported": False}
            img = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
            marked = enc(img, payload)  # it marks chroma, so the grey digits stay RGB
        psnrs.append(psnr(img, marked))
        for name in ATTACKS:
            seen = attack(marked, name)
            if method == "genlab":
                acc = (watermark.bit_accuracy(seen, ident) if watermark.can_mark(seen.shape)
                       else 0.5)
            else:
                acc = acc_pkg(seen, payload)
                acc = 0.5 if acc is None else acc
            rows[name].append(acc)
            found[name] += int(acc >= watermark.FOUND_AT)
    return {"supported": True, "psnr": float(np.mean(psnrs)), "psnr_min": float(min(psnrs)),
            "acc": {k: float(np.mean(v)) for k, v in rows.items()}, "found": found,
            "false": false_pos, "n": len(images)}


def configurations(digits: np.ndarray, n: int) -> dict[str, list[np.ndarray]]:
    """Image sets: single digits, and grids as `genlab sample -o grid.png` writes them."""
    from genlab.data.images import make_grid

    return {
        "one digit 28x28": [digits[i] for i in range(n)],
        "grid 8x8 (242x242)": [make_grid(digits[64 * i: 64 * i + 64]) for i in range(n)],
        "grid 8x8 drawn x2 (484x484)": [make_grid(digits[64 * i: 64 * i + 64], scale=2)
                                        for i in range(n)],
        "grid 16x16 (482x482)": [make_grid(digits[256 * i: 256 * i + 256]) for i in range(n)],
    }


def table(results: dict[tuple[str, str], dict]) -> str:
    head = ("| images | method | PSNR dB (min) | " + " | ".join(ATTACKS)
            + " | false detections |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for (config, method), r in results.items():
        if not r["supported"]:
            lines.append(f"| {config} | {method} | not supported (too small) |"
                         + " |" * (len(ATTACKS) + 1))
            continue
        cells = [f"{r['acc'][a]:.3f} ({r['found'][a]}/{r['n']})" for a in ATTACKS]
        fp = f"{r['false']}/{r['n']}" if method == "genlab" else "–"
        lines.append(f"| {config} | {method} | {r['psnr']:.1f} ({r['psnr_min']:.1f}) | "
                     + " | ".join(cells) + f" | {fp} |")
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark and write the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20, help="images per configuration")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"MNIST not found at {DATA}")
    from genlab.data.images import read_images

    digits = np.asarray(read_images(DATA).images)
    if 256 * args.images > len(digits):
        sys.exit(f"--images at most {len(digits) // 256}")
    rng = np.random.default_rng(args.seed)
    results = {}
    for config, images in configurations(digits, args.images).items():
        for method in ("genlab", "invisible-watermark WatermarkEncoder"):
            results[(config, method)] = measure(images, method, rng)
            print(config, method, results[(config, method)], flush=True)
    command = "OMP_NUM_THREADS=1 /tmp/bv/bin/python benchmarks/watermark.py " + shlex.join(
        sys.argv[1:])
    text = ("# Watermark benchmark (`benchmarks/watermark.py`)\n\n"
            "Mean bit accuracy of the 64-bit payload (images with >= 56/64 bits right, i.e. "
            "detected) per attack; PSNR of the marked image against the unmarked one. "
            "MNIST test digits; 'resize x0.5' decodes the half-size image as it is, 'and "
            "back' first resizes it to the original size; 'crop 10%' keeps the central 90% "
            "of each side. False detections: unmarked images the detector claims.\n\n"
            + table(results) + f"\n\nReproduce:\n\n```bash\n{command}\n```\n")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
