"""Hostile model files: every crafted file refused fast and in bounded memory.

The builders below write hostile `.genlab` files from small valid ones; the cases (id,
builder, expected phrase, load options) live in `tests/test_model_file_hostile.py`, which
checks each refusal. Run from the repository root:

    nice -n 19 .venv/bin/python benchmarks/hostile_model_files.py

writes every crafted file to a temporary folder, loads each in a fresh process under
`/usr/bin/time -v .venv/bin/python -c "import genlab; genlab.load(PATH)"`, and prints a
markdown table (seconds, peak RSS, the one-line refusal) with the maxima.
"""

from __future__ import annotations

import json
import pickle
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors

from genlab.store import _canonical, _digest

Bases = dict[str, Path]
Builder = Callable[[Bases, Path], Path]
NEURAL = {"epochs": 1, "batch_size": 16, "device": "cpu"}


def make_bases(folder: Path) -> Bases:
    """Valid model files of each modality, tiny and fitted in about a second."""
    import warnings

    import pandas as pd

    import genlab
    from genlab.models.registry import make_model

    rng = np.random.default_rng(0)
    t = np.arange(400)
    data = {
        "table": ("table", "gaussian", {"shrinkage": 10.0}, pd.DataFrame(
            {"x": rng.normal(size=60).round(3), "g": rng.choice(["a", "b"], 60)})),
        "image": ("image", "vae", {"latent_dim": 2, "channels": (4, 8), "hidden": 8,
                                   "iwae_samples": 2},
                  (rng.random((24, 8, 8, 1)) * 255).astype(np.uint8)),
        "pixelcnn": ("image", "pixelcnn", {"hidden": 4, "layers": 1, "mixtures": 1},
                     (rng.random((24, 8, 8, 1)) * 255).astype(np.uint8)),
        "text": ("sequence", "autoregressive", {"layers": 1, "d_model": 8, "heads": 2,
                                                "context": 16, "epoch_size": 32},
                 ["to be or not to be that is the question " * 6]),
        "series": ("series", "autoregressive", {"lags": 4, "periods": [24], "hidden": 8,
                                                "layers": 1, "components": 2},
                   pd.DataFrame({"value": np.sin(2 * np.pi * t / 24)
                                 + 0.1 * rng.normal(size=400)})),
    }
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch does not converge
        for name, (modality, family, params, items) in data.items():
            extra = NEURAL if modality != "table" else {}
            model = make_model(family, modality, seed=0, **params, **extra).fit(items)
            out[name] = model.save(folder / f"{name}.genlab")
    assert genlab.load(out["table"]).n_rows_ == 60
    return out


def members(path: Path) -> dict[str, bytes]:
    """The members of a zip by name."""
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write_zip(path: Path, items: list[tuple[str, bytes]], **kw: Any) -> Path:
    """A zip of `items` (duplicates allowed) written by zipfile."""
    import warnings

    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", **kw) as zf:
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        for name, data in items:
            zf.writestr(name, data)
    return path


def raw_zip(path: Path, entries: list[dict[str, Any]]) -> Path:
    """A zip written by hand, so that its directory may lie: each entry has name, data
    (as stored), method, crc, size (declared unpacked size) and flags."""
    local, central = bytearray(), bytearray()
    for e in entries:
        name = e["name"].encode()
        offset = len(local)
        fields = (20, e.get("flags", 0), e.get("method", 0), 0, 0, e["crc"], len(e["data"]),
                  e["size"], len(name), 0)
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields) + name + e["data"]
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0,
                               offset) + name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                      len(central), len(local), 0)
    path.write_bytes(bytes(local + central + end))
    return path


def entry(name: str, data: bytes, *, deflate: bool = True, **over: Any) -> dict[str, Any]:
    """A raw zip entry holding `data`, deflated unless told otherwise."""
    packed = data
    if deflate:
        co = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = co.compress(data) + co.flush()
    return {"name": name, "data": packed, "method": 8 if deflate else 0,
            "crc": zlib.crc32(data), "size": len(data), **over}


def config_of(path: Path) -> dict[str, Any]:
    """The parsed config.json of a model file."""
    return json.loads(members(path)["config.json"])


def tensors_of(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a model file."""
    return load_tensors(members(path)["weights.safetensors"])


def resigned(config: dict[str, Any], weights: bytes) -> bytes:
    """`config` as JSON with checksums recomputed, as anyone who read genlab can."""
    config = dict(config)
    config["integrity"] = {"config_sha256": _digest(_canonical(config)),
                           "weights_sha256": _digest(weights)}
    return json.dumps(config).encode()


def edited(base: str, edit: Callable[[dict[str, Any]], Any] | None = None,
           tensors: Callable[[dict[str, np.ndarray]], Any] | None = None,
           resign: bool = True) -> Builder:
    """A builder re-zipping a base file with an edited config and/or tensors."""
    def build(bases: Bases, out: Path) -> Path:
        m = members(bases[base])
        config = json.loads(m["config.json"])
        weights = m["weights.safetensors"]
        if tensors is not None:
            t = load_tensors(weights)
            tensors(t)
            weights = save_tensors(t)
        if edit is not None:
            edit(config)
        text = resigned(config, weights) if resign else json.dumps(config).encode()
        return write_zip(out, [("config.json", text), ("weights.safetensors", weights)])
    return build


def raw_config(base: str, text: Callable[[dict[str, Any]], bytes]) -> Builder:
    """A builder replacing config.json by raw bytes made from the base config."""
    def build(bases: Bases, out: Path) -> Path:
        m = members(bases[base])
        data = text(json.loads(m["config.json"]))
        return write_zip(out, [("config.json", data),
                               ("weights.safetensors", m["weights.safetensors"])])
    return build


def zipped(make: Callable[[dict[str, bytes]], list[tuple[str, bytes]]], base: str = "table",
           **kw: Any) -> Builder:
    """A builder re-zipping the base members as `make` lists them."""
    def build(bases: Bases, out: Path) -> Path:
        return write_zip(out, make(members(bases[base])), **kw)
    return build


def raw(make: Callable[[dict[str, bytes]], list[dict[str, Any]]],
        base: str = "table") -> Builder:
    """A builder writing a hand-made zip from the base members."""
    def build(bases: Bases, out: Path) -> Path:
        return raw_zip(out, make(members(bases[base])))
    return build


def patched(patch: Callable[[bytearray, zipfile.ZipFile], None],
            base: str = "table") -> Builder:
    """A builder copying the base file and patching its bytes."""
    def build(bases: Bases, out: Path) -> Path:
        data = bytearray(bases[base].read_bytes())
        with zipfile.ZipFile(bases[base]) as zf:
            patch(data, zf)
        out.write_bytes(bytes(data))
        return out
    return build


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("echo pwned > /tmp/genlab-pwned",))


EVIL_PICKLE = pickle.dumps(_Evil())  # built, never loaded


def bomb_entry(gib: float = 1.5, declared: int | None = None) -> dict[str, Any]:
    """A deflated weights member of `gib` GiB of zeros in about 1.5 MB (the repeated
    block of a deflate stream of zeros is the same, so it is built in well under a second)."""
    chunk = bytes(64 * 2**20)
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    first, again = co.compress(chunk), co.compress(chunk)
    n = int(gib * 16)
    data = first + again * (n - 1) + co.flush()
    return {"name": "weights.safetensors", "data": data, "method": 8, "crc": 0,
            "size": n * len(chunk) if declared is None else declared}




def _measure(path: Path, options: dict[str, Any]) -> tuple[float, float, float, str]:
    """(process wall seconds, seconds inside genlab.load, peak RSS MB, refusal) of loading
    `path` in a fresh interpreter under /usr/bin/time -v."""
    import subprocess

    call = ("import time, genlab\nt = time.perf_counter()\ntry:\n"
            f"    genlab.load({str(path)!r}, **{options!r})\n    print('LOADED')\n"
            "except genlab.GenlabError as e:\n    print(time.perf_counter() - t)\n    print(e)")
    run = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-c", call],
                         capture_output=True, text=True, check=False)
    stats = dict(line.strip().rsplit(": ", 1) for line in run.stderr.splitlines()
                 if line.startswith("\t") and ": " in line)
    wall = stats["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":")
    out = run.stdout.splitlines()
    inside, message = (float(out[0]), out[1]) if len(out) == 2 else (float("nan"), str(out))
    return (float(wall[-1]) + 60 * float(wall[-2]), inside,
            int(stats["Maximum resident set size (kbytes)"]) / 1024, message)


def main() -> None:
    """Write every crafted file, load each in a fresh process, print the table."""
    import tempfile

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    from tests.test_model_file_hostile import CASES

    rows, worst = [], [0.0, 0.0, 0.0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bases = make_bases(folder)
        for name, build, _phrase, options in CASES:
            path = build(bases, folder / f"{name}.genlab")
            *figures, message = _measure(path, options)
            worst = [max(w, f) for w, f in zip(worst, figures, strict=True)]
            wall, inside, mb = figures
            text = message.split(".genlab' ", 1)[-1].split(".genlab': ", 1)[-1][:80]
            rows.append(f"| {name} | {wall:.2f} | {inside:.3f} | {mb:.0f} | {text} |")
    print(f"{len(rows)} crafted model files, each loaded in a fresh process\n")
    print("| file | process s | load() s | peak RSS MB | refusal |\n|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"| **max** | **{worst[0]:.2f}** | **{worst[1]:.3f}** | **{worst[2]:.0f}** | |")


if __name__ == "__main__":
    main()
