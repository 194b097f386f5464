"""Text to speech, small but real: a duration-based text-to-mel network (`nets.tts`) trained
on clips and their transcripts, feeding a WaveNet vocoder (or Griffin–Lim without one).

Training data: clips with transcripts, from a folder whose class sub-folders name what is
said (the spoken-digit corpus: `seven/…wav`), a table with a path column and a text column
(`text_column`, default `text`), or `Clips` whose labels are the transcripts.

Alignment: no aligner is learned. Each training clip's frames between its first and last
voiced frame (energy above 35 dB under the clip's loudest frame) are split evenly among
its characters (uniform monotonic alignment; the silent edges go to a leading and trailing
pause symbol). With one- or two-word transcripts that is enough for the decoder, which sees
the whole word through the encoder's BiGRU, to learn the sounds; for sentences a learned
alignment (monotonic alignment search, Kim et al. 2020) would be the next step.

`fit(data, vocoder=wavenet)` takes a fitted mel-conditioned `WaveNet` (or its `.genlab`
file; on the command line `-p vocoder=voc.genlab`) and copies its mel settings and rate; the
vocoder is saved inside this model's file, so `genlab sample tts.genlab --prompt "seven" -n 1
-o seven.wav` needs that one file. Without a vocoder, speech is made by Griffin–Lim.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

import numpy as np
import torch

from genlab.data.audio import MEL_DEFAULTS, AudioCodec, Clips, read_audio
from genlab.data.audio_features import MEL_FLOOR
from genlab.errors import DataError, ParameterError, UnsupportedOperation
from genlab.models.audio.base import AudioModel
from genlab.models.base import Conditions
from genlab.models.neural import one_thread
from genlab.params import ParamSpec
from genlab.provenance import attach

__all__ = ["TextToSpeech"]

PAUSE = "|"  # the silence before and after the words, one symbol each
_VOICED_DB = 35.0
_MAX_CHARS = 200


def _normal(text: str) -> str:
    return " ".join(str(text).lower().split())


def _voiced_span(mel: np.ndarray) -> tuple[int, int]:
    """First and one-past-last frame whose energy is within `_VOICED_DB` of the loudest."""
    energy = np.log(np.exp(mel).sum(1) + 1e-12)
    loud = np.flatnonzero(energy >= energy.max() - _VOICED_DB / (20.0 / np.log(10.0)))
    return int(loud[0]), int(loud[-1]) + 1


def uniform_durations(n_chars: int, start: int, stop: int, frames: int) -> np.ndarray:
    """Frames per symbol for `|` + n_chars characters + `|`: the pauses get the frames before
    `start` and after `stop`, the characters share the rest evenly (in order)."""
    inner = np.diff(np.floor(np.linspace(start, stop, n_chars + 1)).astype(np.int64))
    return np.concatenate([[start], inner, [frames - stop]]).astype(np.int64)


class TextToSpeech(AudioModel):
    """Characters -> log-mel frames (duration-based, non-autoregressive) -> a vocoder."""

    family: ClassVar[str] = "tts"
    supports_log_prob: ClassVar[bool] = False
    log_prob_is_exact: ClassVar[bool] = False
    summary: ClassVar[str] = "text-to-mel network with a duration predictor and a vocoder"
    when_to_use: ClassVar[str] = ("speech from text after training on clips with transcripts; "
                                  "needs a mel-conditioned WaveNet vocoder for good sound")
    conditioning: ClassVar[str] = "the text (--prompt)"
    sample_options: ClassVar[dict[str, ParamSpec]] = {
        "prompt": ("str?",), "vocoder": ("choice", ("auto", "wavenet", "griffin_lim")),
        "seconds": ("float?", 0.01, 60.0)}
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **AudioModel._parameter_constraints, "hidden": ("int", 8, 1024),
        "layers": ("int", 1, 12), "kernel": ("int", 1, 31), "dropout": ("float", 0.0, 0.9),
        "n_mels": ("int", 8, 512), "n_fft": ("int", 16, 65536), "hop": ("int", 1, 65536),
        "vocoder": ("path?", "a WaveNet vocoder's .genlab file")}
    train_defaults: ClassVar[dict[str, Any]] = {
        "epochs": 200, "batch_size": 32, "lr": 2e-3, "val_fraction": 0.05, "patience": 20,
        "grad_clip": 1.0, "max_steps": 3000}

    def __init__(self, *, hidden: int = 128, layers: int = 3, kernel: int = 5,
                 dropout: float = 0.1, n_mels: int = MEL_DEFAULTS["n_mels"],
                 n_fft: int = MEL_DEFAULTS["n_fft"], hop: int = MEL_DEFAULTS["hop"],
                 vocoder: str | None = None, seed: int | None = None,
                 **shared: Any) -> None:
        self._init_params(locals())

    # -- data -------------------------------------------------------------------------------
    def _read(self, data: Any, rate: int | None, text_column: str | None) -> Clips:
        from pathlib import Path

        table = isinstance(data, (str, Path)) and Path(data).suffix.lower() in (
            ".csv", ".parquet", ".pq")
        clips = read_audio(data, rate=rate, trim_db=self.trim_db,  # type: ignore[attr-defined]
                           label_column=(text_column or "text") if table else None)
        if not clips.labels:
            raise DataError("text to speech needs a transcript per clip: class sub-folders "
                            "named by what is said, or a table with a path and a 'text' column")
        return clips

    def _alphabet(self, texts: list[str]) -> list[str]:
        chars = sorted(set("".join(texts)) - {PAUSE})
        if not chars:
            raise DataError("the transcripts are empty; give each clip the text it says")
        return [PAUSE, *chars]

    def encode_text(self, text: str) -> np.ndarray:
        """Symbol ids (1-based; 0 pads) of `|text|`; one-line error for unknown characters."""
        t = _normal(text)
        alphabet = self.meta_["alphabet"]
        unknown = sorted(set(t) - set(alphabet))
        if not t or unknown or len(t) > _MAX_CHARS:
            why = (f"characters {''.join(unknown)!r} never occur in the training transcripts"
                   if unknown else f"it is empty or longer than {_MAX_CHARS} characters")
            raise ParameterError(f"cannot say {one(text)!r}: {why}; this model knows "
                                 f"{''.join(alphabet[1:])!r}")
        return np.asarray([alphabet.index(c) + 1 for c in PAUSE + t + PAUSE], np.int64)

    def _mel(self, wave: np.ndarray) -> np.ndarray:
        return self.codec_.mel_of(wave)

    def _tensors(self, clips: Clips) -> list[torch.Tensor]:
        ids, durs, mels = [], [], []
        for wave, text in zip(clips.waves, clips.labels or [], strict=True):
            x = self.encode_text(text)
            mel = self._mel(wave)
            start, stop = _voiced_span(mel)
            if stop - start < len(x) - 2:
                raise DataError(f"a clip saying {one(text)!r} is too short for its text "
                                f"({stop - start} voiced frames for {len(x) - 2} characters)")
            ids.append(x)
            durs.append(uniform_durations(len(x) - 2, start, stop, mel.shape[0]))
            mels.append(mel)
        length, frames = max(map(len, ids)), max(m.shape[0] for m in mels)
        n, k = len(ids), self.codec_.n_mels
        ids_a, dur_a = np.zeros((n, length), np.int64), np.zeros((n, length), np.int64)
        mel_a = np.full((n, frames, k), np.log(MEL_FLOOR), np.float32)
        for i, (x, d, m) in enumerate(zip(ids, durs, mels, strict=True)):
            ids_a[i, :len(x)], dur_a[i, :len(d)], mel_a[i, :len(m)] = x, d, m
        return [torch.from_numpy(ids_a), torch.from_numpy(dur_a), torch.from_numpy(mel_a)]

    # -- fit --------------------------------------------------------------------------------
    def _fit(self, data: Any, conditions: list[str], rng: np.random.Generator, *,
             vocoder: Any = None, text_column: str | None = None) -> tuple[int, str]:
        """Fit to clips + transcripts (`text_column` of a table, default "text"); `vocoder`
        is a fitted mel-conditioned WaveNet or the path of one (its rate and mel settings
        are then used), None for Griffin–Lim."""
        if conditions:
            raise ParameterError(f"text to speech conditions on the text alone, not "
                                 f"{conditions}; give the text at sampling (prompt=...)")
        self.vocoder_ = _check_vocoder(vocoder if vocoder is not None
                                       else self.vocoder)  # type: ignore[attr-defined]
        mel = self._mel_settings(self.vocoder_)
        clips = self._read(data, mel.pop("rate"), text_column)
        texts = [_normal(t) for t in clips.labels or []]
        self.codec_ = AudioCodec(clips.rate, **mel, mel=True,
                                 trim_db=self.trim_db)  # type: ignore[attr-defined]
        self.meta_ = {"alphabet": self._alphabet(texts), "texts": sorted(set(texts))[:50],
                      "seconds": float(np.median([w.size for w in clips.waves]) / clips.rate)}
        tensors = self._tensors(Clips(clips.waves, clips.rate, texts, clips.names))
        self.meta_["mel_mean"] = float(tensors[2].mean())
        self.net_ = self._new_net(rng)
        device = self.device_
        with one_thread(device):
            self._train(self._loss, tensors, rng)
        h = hashlib.sha256()
        for w, t in zip(clips.waves, texts, strict=True):
            h.update(t.encode())
            h.update(np.ascontiguousarray(w).tobytes())
        return len(clips), h.hexdigest()

    def _mel_settings(self, vocoder: Any) -> dict[str, Any]:
        if vocoder is None:
            return {"rate": self.rate, "n_mels": self.n_mels,  # type: ignore[attr-defined]
                    "n_fft": self.n_fft, "hop": self.hop}  # type: ignore[attr-defined]
        c = vocoder.codec_
        return {"rate": c.rate, "n_mels": c.n_mels, "n_fft": c.n_fft, "hop": c.hop}

    def _build(self, meta: dict[str, Any]) -> torch.nn.Module:
        from genlab.nets.tts import TextToMel

        return TextToMel(len(meta["alphabet"]) + 1, self.codec_.n_mels,
                         hidden=self.hidden, layers=self.layers,  # type: ignore[attr-defined]
                         kernel=self.kernel, dropout=self.dropout)  # type: ignore[attr-defined]

    def _loss(self, batch: list[torch.Tensor]) -> torch.Tensor:
        """Per clip: mean absolute error of the log-mel frames (teacher-forced durations) plus
        squared error of log(1 + frames) per symbol."""
        ids, durs, mel = batch
        frames = int(durs.sum(1).max().item())
        pred, mask, log_dur = self.net_(ids, durs, frames)
        target = mel[:, :frames] - self.meta_["mel_mean"]
        m = mask[..., None].float()
        mel_loss = ((pred - target).abs() * m).sum((1, 2)) / (m.sum((1, 2)) * mel.shape[2])
        sym = (ids > 0).float()
        dur_loss = ((log_dur - torch.log1p(durs.float())) ** 2 * sym).sum(1) / sym.sum(1)
        return mel_loss + dur_loss

    # -- sampling ---------------------------------------------------------------------------
    def text_to_mel(self, text: str) -> np.ndarray:
        """Log-mel frames (frames, n_mels) the model says `text` with (durations predicted)."""
        self._check_fitted()
        ids = torch.as_tensor(self.encode_text(text)[None], device=self.device_)
        with self._inference(), one_thread(self.device_):
            states, log_dur = self.net_.encode(ids)
            durs = torch.clamp(torch.round(torch.expm1(log_dur)), min=0).long()
            durs[:, 1:-1] = durs[:, 1:-1].clamp(min=1)  # every character is heard
            mel, _ = self.net_.decode(states, durs)
        return (mel[0].cpu().numpy() + self.meta_["mel_mean"]).astype(np.float32)

    def _sample(self, n: int, conditions: Conditions, rng: np.random.Generator, *,
                prompt: str | None = None, vocoder: str = "auto",
                seconds: float | None = None) -> list[np.ndarray]:
        """`n` waveforms saying `prompt` (float32 in [-1, 1] at the model's rate)."""
        if conditions:
            raise ParameterError("text to speech takes the text as prompt=..., not conditions "
                                 f"{sorted(conditions)}")
        if prompt is None:
            raise ParameterError("give the text to say: prompt='seven' (command line: "
                                 "--prompt 'seven')")
        if vocoder == "wavenet" and self.vocoder_ is None:
            raise ParameterError("this model was fitted without a WaveNet vocoder; use "
                                 "vocoder='griffin_lim' or refit with vocoder=...")
        mel = self.text_to_mel(prompt)
        if seconds is not None:  # pad with silence or cut to a fixed length
            frames = max(1, int(round(seconds * self.codec_.rate / self.codec_.hop)))
            mel = np.pad(mel[:frames], ((0, max(0, frames - len(mel))), (0, 0)),
                         constant_values=np.log(MEL_FLOOR))
        waves = [self._vocode(mel, int(rng.integers(2**31)), vocoder) for _ in range(n)]
        return attach(waves, {}, rate=self.codec_.rate, labels=np.zeros(n, np.int64),
                      classes=[prompt])

    def _vocode(self, mel: np.ndarray, seed: int, which: str) -> np.ndarray:
        if which != "griffin_lim" and self.vocoder_ is not None:
            return np.asarray(self.vocoder_.vocode(mel, seed=seed), np.float32)
        from genlab.audio.vocoding import griffin_lim

        c = self.codec_
        return griffin_lim(mel, c.rate, n_fft=c.n_fft, hop=c.hop, seed=seed)

    def _log_prob(self, data: Any, conditions: Conditions | None, **options: Any) -> Any:
        raise UnsupportedOperation("text to speech regresses mel frames and has no likelihood")

    # -- the model file: own net + the vocoder's file state under "vocoder." ---------------
    def _file_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, tensors = self._state()
        v = self.vocoder_
        if v is None:
            return {**meta, "vocoder": None}, tensors
        vmeta, vtensors = v._file_state()
        meta["vocoder"] = {"params": v.get_params(), "codec": v._codec_dict(),
                           "conditions": list(v.conditions_), "fitted": vmeta,
                           "history": [], "training": {"rows": v.n_rows_,
                                                       "fingerprint": v.fingerprint_},
                           "provenance": {"created_at": v.created_at_,
                                          "fit_seconds": v.fit_seconds_, "seed": v.seed_}}
        return meta, {**tensors, **{f"vocoder.{k}": a for k, a in vtensors.items()}}

    def _file_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        own = self._expected_shapes({k: v for k, v in meta.items() if k != "vocoder"})
        voc = meta.get("vocoder")
        if not voc:
            return own
        cls = _wavenet_class()
        shell = cls(**voc["params"])
        shell._codec_from_dict(voc["codec"])
        return {**own, **{f"vocoder.{k}": s for k, s in shell._file_shapes(voc["fitted"]).items()}}

    def _file_restore(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        voc = meta.get("vocoder")
        own = {k: a for k, a in tensors.items() if not k.startswith("vocoder.")}
        self._restore({k: v for k, v in meta.items() if k != "vocoder"}, own)
        self.vocoder_ = None
        if voc:
            vt = {k[len("vocoder."):]: a for k, a in tensors.items() if k.startswith("vocoder.")}
            self.vocoder_ = _wavenet_class()._rebuild(voc, vt, "the vocoder inside this model")


def one(text: Any, limit: int = 60) -> str:
    """`text` on one line, cut to `limit` characters (for messages)."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[:limit - 1] + "…"


def _wavenet_class() -> Any:
    from genlab.models.audio.wavenet import WaveNet

    return WaveNet


def _check_vocoder(vocoder: Any) -> Any:
    """A fitted mel-conditioned WaveNet from a model or a model file (or None)."""
    if vocoder is None:
        return None
    if isinstance(vocoder, (str, bytes)) or hasattr(vocoder, "__fspath__"):
        from genlab.models.registry import load

        vocoder = load(vocoder)
    if getattr(vocoder, "family", None) != "wavenet" or not hasattr(vocoder, "codec_"):
        raise ParameterError("vocoder must be a fitted WaveNet (or its .genlab file), got "
                             f"{type(vocoder).__name__}")
    if not getattr(vocoder.codec_, "mel", False):
        raise ParameterError("the vocoder WaveNet must condition on mel frames: fit it with "
                             "local='mel' (--param local=mel)")
    return vocoder
