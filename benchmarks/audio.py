"""Audio and speech (issue #20): class-conditional spoken digits, WaveNet vs Griffin–Lim as a
mel vocoder, sampling speed with and without the activation cache, and text to speech.

Corpus: formant-synthesised speech, not recordings. `genlab.datasets.spoken` has espeak-ng
say the ten digits in 12 English voices / variants x 2 speeds (130, 175 wpm) x 2 pitches
(35, 65): 480 clips, 8 kHz 16-bit mono (8 kHz because every WaveNet sample is one network
step on the CPU; 16 kHz doubles every cost), built once into benchmarks/.cache/ (outside
git). Split by voice: 3 voices (en-gb-x-rp, en-us+f4, en-gb+m5; 120 clips) are held out,
9 voices (360 clips) train everything. Log-mel everywhere: 40 bands, n_fft 256, hop 64.

- Judge: logistic regression (scikit-learn) on the clip's log-mel frames resampled to 24
  time steps plus per-band mean and std, trained on the real training clips; its accuracy
  on the real held-out clips is the reference.
- (1) WaveNet conditioned on the digit (32 channels, 8 layers, receptive field 256
  samples = 32 ms; the class gate bias learned per 256-sample position step since the
  clip's start, `position_hop=256`, so the net knows where in the word it is),
  `--wavenet-steps` steps of 16 windows of 512 samples (lr 6e-3 after 50 warm-up steps);
  3 clips per digit of the median training length; the judge's accuracy on them (target
  >= 0.9).
- (2) WaveNet vocoder (local="mel", 24 channels, 8 layers: 4 mel frames of receptive
  field), `--vocoder-steps` steps of 32 windows of 256 samples; on one held-out clip per
  digit: vocode(mel of the clip) and Griffin–Lim (librosa, 64 iterations, the same mel
  frames); mel-cepstral distortion and log-spectral distance to the clip (`genlab.audio`;
  target: WaveNet lower on both). The WaveNet models the residual of a 16th-order linear
  predictor read from the mel frames (`lpc=16`, LPCNet's idea), so its sampling noise
  follows the spectral envelope. For reference, the clip itself through 8-bit μ-law and
  back (the floor of a vocoder whose output is 8-bit μ-law: 13 dB MCD, above Griffin-Lim,
  since the white quantisation noise fills the quiet bands), and the clip's residual
  through 8-bit μ-law and the synthesis filter (this vocoder's floor).
- (3) Speed of the (1) model: 1,600 samples of one clip with and without the cache (the two
  must agree); the batch sweep of benchmarks/wavenet_speed.py is quoted when its json exists.
- (4) TextToSpeech (duration-based, 128 hidden, uniform alignment), `--tts-steps` steps, on
  the training clips with the digit names as transcripts, vocoded by the (2) WaveNet and by
  Griffin–Lim; the judge's accuracy on the ten words (3 clips each per vocoder, the
  WaveNet's drawn with different seeds). With the digit names as transcripts this is also a
  class-conditional generator (label -> mel -> waveform), judged like (1).

    flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python benchmarks/audio.py
    .venv/bin/python benchmarks/audio.py --quick      # a smoke run of the script (minutes)
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
from genlab.audio import griffin_lim, log_spectral_distance, mel_cepstral_distortion
from genlab.data.audio import Clips, log_mel, mu_law_decode, mu_law_encode, read_audio
from genlab.datasets.spoken import make_spoken_digits, voice_of

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CACHE = ROOT / "benchmarks" / ".cache" / "spoken8k"
RATE = 8000
MEL = {"n_mels": 40, "n_fft": 256, "hop": 64}
HELD_OUT = ("en-gb-x-rp", "en-us+f4", "en-gb+m5")
# sized for one CPU thread at 8 kHz: 8 layers (receptive field 256 samples = 32 ms = 4 mel
# frames), short windows in big batches, a larger learning rate after a warm-up
RUN = {"epochs": 10_000, "patience": 10_000, "seed": 0, "epoch_size": 2048, "lr": 6e-3,
       "warmup_steps": 50, "layers": 8, "cycle": 8}
NET = {**RUN, "channels": 32, "skip_channels": 64, "window": 512, "batch_size": 16,
       "position_hop": 256}
VOC = {**RUN, "channels": 24, "skip_channels": 48, "window": 256, "batch_size": 32,
       "lpc": 16}
STEPS = (1600, 2000, 300)  # conditional WaveNet, vocoder, TTS
COMMAND = ("flock /tmp/genlab-bench.lock env OMP_NUM_THREADS=1 /tmp/bv/bin/python "
           "benchmarks/audio.py")


def _corpus() -> tuple[Clips, Clips]:
    if not any(CACHE.rglob("*.wav")):
        make_spoken_digits(CACHE, rate=RATE, speeds=(130, 175), pitches=(35, 65))
    clips = read_audio(CACHE)
    held = np.asarray([voice_of(n) in HELD_OUT for n in clips.names])
    parts = []
    for keep in (~held, held):
        idx = np.flatnonzero(keep)
        parts.append(Clips([clips.waves[i] for i in idx], clips.rate,
                           [clips.labels[i] for i in idx],  # type: ignore[index]
                           [clips.names[i] for i in idx]))
    return parts[0], parts[1]


def _trim(wave: np.ndarray, db: float = 40.0) -> np.ndarray:
    """The read_audio rule for generated clips: cut what is `db` below the peak at the ends."""
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    loud = np.flatnonzero(np.abs(wave) > peak * 10 ** (-db / 20)) if peak > 0 else []
    return wave[loud[0]:loud[-1] + 1] if len(loud) > 1 else wave


def _features(wave: np.ndarray) -> np.ndarray:
    m = log_mel(_trim(np.asarray(wave, np.float32)), RATE, **MEL).astype(np.float64)
    grid = np.linspace(0, len(m) - 1, 24)
    fixed = np.stack([np.interp(grid, np.arange(len(m)), m[:, j]) for j in range(m.shape[1])])
    return np.concatenate([fixed.ravel(), m.mean(0), m.std(0)])


class Judge:
    """The spoken-digit classifier every generated clip is played to."""

    def __init__(self, train: Clips) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        x = np.stack([_features(w) for w in train.waves])
        self.model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
        self.model.fit(x, np.asarray(train.labels))

    def accuracy(self, waves: list[np.ndarray], labels: list[str]) -> float:
        pred = self.model.predict(np.stack([_features(w) for w in waves]))
        return float(np.mean(pred == np.asarray(labels)))

    def predict(self, waves: list[np.ndarray]) -> list[str]:
        return [str(p) for p in self.model.predict(np.stack([_features(w) for w in waves]))]


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def conditional(train: Clips, judge: Judge, steps: int, per_class: int) -> dict[str, Any]:
    from genlab.models.audio.wavenet import WaveNet

    model, fit_s = _timed(lambda: WaveNet(**NET, max_steps=steps).fit(train,
                                                                      conditions="label"))
    classes = list(model.codec_.classes or [])
    labels = [c for c in classes for _ in range(per_class)]
    waves, sample_s = _timed(lambda: model.sample(len(labels), conditions={"label": labels},
                                                  seed=1, batch_size=len(labels)))
    pred = judge.predict(list(waves))
    per = {c: float(np.mean([p == c for p, t in zip(pred, labels, strict=True) if t == c]))
           for c in classes}
    return {"model": model, "fit_s": fit_s, "steps": model.steps_trained_,
            "summary": model.training_summary_, "accuracy": float(np.mean(
                np.asarray(pred) == np.asarray(labels))), "per_label": per,
            "n": len(labels), "sample_s": sample_s,
            "samples_per_s": sum(w.size for w in waves) / sample_s}


def vocoder(train: Clips, held: Clips, steps: int, clips_per_digit: int) -> dict[str, Any]:
    from genlab.models.audio.wavenet import WaveNet

    model, fit_s = _timed(lambda: WaveNet(**VOC, **MEL, local="mel", cond_channels=64,
                                          max_steps=steps).fit(train))
    rng = np.random.default_rng(0)
    picks = [int(i) for c in sorted(set(held.labels or []))
             for i in rng.choice([j for j, lab in enumerate(held.labels or []) if lab == c],
                                 clips_per_digit, replace=False)]
    rows: dict[str, list[tuple[float, float]]] = {"wavenet": [], "griffin_lim": [],
                                                  "mu_law": [], "lpc_floor": []}
    start = time.perf_counter()
    for k, i in enumerate(picks):
        wave = held.waves[i]
        mel = log_mel(wave, RATE, **MEL)
        outs = {"wavenet": model.vocode(mel, seed=k),
                "griffin_lim": griffin_lim(mel, RATE, n_fft=MEL["n_fft"], hop=MEL["hop"],
                                           length=wave.size, seed=k),
                # the clip itself through 8-bit μ-law: the best any 8-bit vocoder can do
                "mu_law": mu_law_decode(mu_law_encode(wave)),
                # its residual through 8-bit μ-law and the synthesis filter: the floor of
                # this vocoder (perfect tokens)
                "lpc_floor": _lpc_floor(model, wave, mel)}
        for name, out in outs.items():
            rows[name].append((mel_cepstral_distortion(wave, out, RATE, **MEL),
                               log_spectral_distance(wave, out, RATE, n_fft=MEL["n_fft"],
                                                     hop=MEL["hop"])))
    out: dict[str, Any] = {"model": model, "fit_s": fit_s, "steps": model.steps_trained_,
                           "summary": model.training_summary_, "clips": len(picks),
                           "vocode_s": time.perf_counter() - start}
    for name, pairs in rows.items():
        a = np.asarray(pairs)
        out[name] = {"mcd": float(a[:, 0].mean()), "mcd_sd": float(a[:, 0].std()),
                     "lsd": float(a[:, 1].mean()), "lsd_sd": float(a[:, 1].std())}
    w, g = np.asarray(rows["wavenet"]), np.asarray(rows["griffin_lim"])
    out["wavenet_wins"] = {"mcd": int((w[:, 0] < g[:, 0]).sum()),
                           "lsd": int((w[:, 1] < g[:, 1]).sum())}
    return out


def _lpc_floor(model: Any, wave: np.ndarray, mel: np.ndarray) -> np.ndarray:
    from genlab.data.audio_lpc import lpc_synthesis

    gain = model.meta_["lpc_gain"]
    tokens = model._tokens_of(wave, mel)
    return lpc_synthesis(mu_law_decode(tokens) * gain, model._lpc_coeffs(mel), MEL["hop"])


def speed(model: Any, samples: int) -> dict[str, Any]:
    seconds = samples / RATE
    runs = {}
    for cache in (True, False):
        waves, took = _timed(lambda c=cache: model.sample(1, conditions={"label": "seven"},
                                                          seconds=seconds, seed=2, cache=c))
        runs[cache] = (waves[0], took)
    same = bool(np.array_equal(runs[True][0], runs[False][0]))
    quoted = None
    sweep = RESULTS / "wavenet_speed.json"
    if sweep.exists():
        quoted = json.loads(sweep.read_text())
    return {"samples": samples, "cached_per_s": samples / runs[True][1],
            "naive_per_s": samples / runs[False][1],
            "speedup": runs[False][1] / runs[True][1], "identical": same, "sweep": quoted}


def tts(train: Clips, judge: Judge, vocoder_model: Any, steps: int,
        per_word: int) -> dict[str, Any]:
    from genlab.models.audio.tts import TextToSpeech

    model, fit_s = _timed(lambda: TextToSpeech(hidden=128, layers=3, max_steps=steps,
                                               epochs=10_000, patience=10_000, seed=0).fit(
        train, vocoder=vocoder_model))
    words = sorted(set(train.labels or []))
    out: dict[str, Any] = {"fit_s": fit_s, "steps": model.steps_trained_,
                           "summary": model.training_summary_, "per_word": per_word}
    said = [w for w in words for _ in range(per_word)]
    for which in ("wavenet", "griffin_lim"):
        waves, took = _timed(lambda v=which: [x for w in words for x in model.sample(
            per_word, prompt=w, seed=3, vocoder=v)])
        pred = judge.predict(list(waves))
        heard = {w: ", ".join(p for p, s in zip(pred, said, strict=True) if s == w)
                 for w in words}
        out[which] = {"accuracy": float(np.mean(np.asarray(pred) == np.asarray(said))),
                      "heard": heard, "seconds": took, "n": len(said)}
    return out


def _table(r: dict[str, Any]) -> str:
    c, v, s, t = r["conditional"], r["vocoder"], r["speed"], r["tts"]
    met = lambda ok: "met" if ok else "**missed**"  # noqa: E731
    w, g, u, f = v["wavenet"], v["griffin_lim"], v["mu_law"], v["lpc_floor"]
    lines = [
        "| measure | value | target |", "|---|---|---|",
        f"| judge accuracy, real held-out voices ({r['held_clips']} clips) | "
        f"{r['judge_real']:.3f} | reference |",
        f"| judge accuracy, class-conditional WaveNet, position steps ({c['n']} clips, "
        f"{c['steps']} steps) | "
        f"{c['accuracy']:.3f} | ≥ 0.9: {met(c['accuracy'] >= 0.9)} |",
        f"| MCD dB, WaveNet vocoder ({v['steps']} steps) vs Griffin–Lim, {v['clips']} held-out "
        f"clips | {w['mcd']:.2f} ± {w['mcd_sd']:.2f} vs {g['mcd']:.2f} ± {g['mcd_sd']:.2f} "
        f"(WaveNet lower on {v['wavenet_wins']['mcd']}) | WaveNet lower: "
        f"{met(w['mcd'] < g['mcd'])} |",
        f"| LSD dB, WaveNet vs Griffin–Lim | {w['lsd']:.2f} ± {w['lsd_sd']:.2f} vs "
        f"{g['lsd']:.2f} ± {g['lsd_sd']:.2f} (WaveNet lower on {v['wavenet_wins']['lsd']}) | "
        f"WaveNet lower: {met(w['lsd'] < g['lsd'])} |",
        f"| MCD / LSD dB, the held-out clip itself through 8-bit μ-law (floor of any 8-bit "
        f"vocoder) | {u['mcd']:.2f} ± {u['mcd_sd']:.2f} / {u['lsd']:.2f} ± {u['lsd_sd']:.2f} "
        "| reference |",
        f"| MCD / LSD dB, the clip's LPC residual through 8-bit μ-law and the synthesis "
        f"filter (floor of this vocoder) | {f['mcd']:.2f} ± {f['mcd_sd']:.2f} / "
        f"{f['lsd']:.2f} ± {f['lsd_sd']:.2f} | reference |",
        f"| sampling, 1 clip, {s['samples']} samples: cached / naive samples/s | "
        f"{s['cached_per_s']:.0f} / {s['naive_per_s']:.0f} ({s['speedup']:.1f}x; identical: "
        f"{s['identical']}) | faster with cache: {met(s['speedup'] > 1 and s['identical'])} |",
        f"| sampling, {c['n']} clips in one batch (cached) samples/s | "
        f"{c['samples_per_s']:.0f} | — |",
        f"| judge accuracy, TTS ({t['steps']} steps) + WaveNet vocoder, ten words x "
        f"{t['per_word']} ({t['wavenet']['n']} clips): class-conditional through mel | "
        f"{t['wavenet']['accuracy']:.3f} | ≥ 0.9: {met(t['wavenet']['accuracy'] >= 0.9)} |",
        f"| judge accuracy, TTS + Griffin–Lim, ten words x {t['per_word']} | "
        f"{t['griffin_lim']['accuracy']:.3f} | — |",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--wavenet-steps", type=int, default=STEPS[0])
    p.add_argument("--vocoder-steps", type=int, default=STEPS[1])
    p.add_argument("--tts-steps", type=int, default=STEPS[2])
    p.add_argument("--quick", action="store_true", help="tiny budgets: checks the script")
    p.add_argument("--sweep", type=int, nargs="+", metavar="STEPS",
                   help="only the class-conditional WaveNet, at each step budget: "
                        "results/audio_conditional.md")
    a = p.parse_args()
    if a.sweep:
        return sweep(a.sweep)
    steps = (5, 5, 5) if a.quick else (a.wavenet_steps, a.vocoder_steps, a.tts_steps)
    torch.set_num_threads(1)
    with quiet(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        train, held = _corpus()
        judge = Judge(train)
        r: dict[str, Any] = {"train_clips": len(train), "held_clips": len(held),
                             "judge_real": judge.accuracy(held.waves, held.labels or [])}
        r["conditional"] = conditional(train, judge, steps[0], 1 if a.quick else 3)
        r["vocoder"] = vocoder(train, held, steps[1], 1)
        r["speed"] = speed(r["conditional"]["model"], 200 if a.quick else 1600)
        r["tts"] = tts(train, judge, r["vocoder"]["model"], steps[2], 1 if a.quick else 3)
        r["total_s"] = time.perf_counter() - start
    for key in ("conditional", "vocoder"):
        r[key].pop("model")
    r["machine"] = machine_info()
    text = _report(r, a)
    print(text)
    if not a.quick:
        RESULTS.mkdir(parents=True, exist_ok=True)
        with atomic_path(RESULTS / "audio.md") as tmp:
            tmp.write_text(text, encoding="utf-8")
        with atomic_path(RESULTS / "audio.json") as tmp:
            tmp.write_text(json.dumps(r, indent=1, default=str), encoding="utf-8")


def sweep(budgets: list[int]) -> None:
    """The class-conditional WaveNet's judge accuracy by training steps (same seed, data and
    network as (1); each budget a fresh fit)."""
    torch.set_num_threads(1)
    rows = ["| steps | judge accuracy (30 clips) | per digit | fit s |", "|---:|---:|---|---:|"]
    with quiet(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, _ = _corpus()
        judge = Judge(train)
        for steps in budgets:
            c = conditional(train, judge, steps, 3)
            per = ", ".join(f"{k} {v:.2f}" for k, v in c["per_label"].items())
            rows.append(f"| {c['steps']:,} | {c['accuracy']:.3f} | {per} | {c['fit_s']:.0f} |")
            print(rows[-1], flush=True)
    text = ("# Class-conditional WaveNet by training steps (issue #20)\n\nThe network and "
            "protocol of (1) in `benchmarks/audio.py`; target >= 0.9.\n\n```\n" + COMMAND
            + " --sweep " + " ".join(map(str, budgets)) + "\n```\n\n" + "\n".join(rows)
            + f"\n\nMachine: {machine_info().get('cpu_model', 'this CPU')}, 1 thread.\n")
    with atomic_path(RESULTS / "audio_conditional.md") as tmp:
        tmp.write_text(text, encoding="utf-8")


def _report(r: dict[str, Any], a: argparse.Namespace) -> str:
    c, t = r["conditional"], r["tts"]
    per = ", ".join(f"{k} {v:.2f}" for k, v in c["per_label"].items())
    heard = ", ".join(f"{k}→{v}" for k, v in t["wavenet"]["heard"].items())
    heard_gl = ", ".join(f"{k}→{v}" for k, v in t["griffin_lim"]["heard"].items())
    cmd = COMMAND + ("" if (a.wavenet_steps, a.vocoder_steps, a.tts_steps) == STEPS
                     else f" --wavenet-steps {a.wavenet_steps} --vocoder-steps "
                          f"{a.vocoder_steps} --tts-steps {a.tts_steps}")
    return (
        "# Audio and speech (issue #20)\n\n"
        "Formant-synthesised speech (espeak-ng), not recordings: 10 digits x 12 voices x 2 "
        f"speeds x 2 pitches at {RATE} Hz; {r['train_clips']} training clips (9 voices), "
        f"{r['held_clips']} held-out clips (3 other voices). Protocol: the docstring of "
        "`benchmarks/audio.py`.\n\n"
        f"```\n{cmd}\n```\n\n{_table(r)}\n\n"
        f"- WaveNet per label (judge accuracy): {per}\n"
        f"- TTS + WaveNet, what the judge heard: {heard}\n"
        f"- TTS + Griffin–Lim, what the judge heard: {heard_gl}\n"
        f"- fits: WaveNet {c['fit_s']:.0f} s ({c['summary']}); vocoder "
        f"{r['vocoder']['fit_s']:.0f} s ({r['vocoder']['summary']}); TTS {t['fit_s']:.0f} s "
        f"({t['summary']}); whole run {r['total_s'] / 60:.1f} min on "
        f"{r['machine'].get('cpu_model', 'this CPU')}, 1 thread.\n"
        "- The judge is a 10-way classifier trained on the same synthetic voices: its "
        "accuracy says a clip is recognisably that digit, not that it sounds natural.\n")


if __name__ == "__main__":
    main()
