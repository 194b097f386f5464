"""The audio modality on the one contract: clips in (`genlab.data.audio.read_audio`), lists of
float32 waveforms out.

A family subclasses `AudioModel` and fills only these hooks (plus `_build` of `TorchModule`):

- `_fit_clips(clips, codes, rng)`: `clips` read at one rate, `codes` int64 class codes or None
  (unconditional); sets `self.meta_`, builds `self.net_ = self._new_net(rng)` and trains;
- `_sample_waves(codes, length, generator, cache) -> list of float32 waves` (codes: one class
  per clip, or None);
- `_log_prob_wave(wave, code) -> nats`: log p of the clip's μ-law tokens (likelihood families).

Samples are a list (`SampleList`) of float32 mono waveforms in [-1, 1]; `attrs` carries their
`rate` and, for a class-conditional model, their `labels` and `classes`, read by the writer
(`.wav` files, `genlab.data.audio_writers`). Class-conditioning follows the images: switched
on with `fit(data, conditions="label")` (command line: `--condition label`) on clips with
labels (class sub-folders, or a table's `label_column`); `sample(n, conditions={"label": "7"})`.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, ClassVar

import numpy as np

from genlab._progress import task
from genlab.data.audio import AudioCodec, Clips, bin_widths_16bit, read_audio
from genlab.errors import DataError, ParameterError
from genlab.models.base import Conditions, Model
from genlab.models.labels import LABEL, ClassLabels
from genlab.models.neural import TorchModule, torch_generator
from genlab.params import ParamSpec
from genlab.provenance import attach

__all__ = ["LABEL", "AudioModel"]

_LN2 = math.log(2.0)


def _fingerprint(clips: Clips) -> str:
    h = hashlib.sha256(f"{clips.rate}:{len(clips)}".encode())
    for w in clips.waves:
        h.update(np.ascontiguousarray(w, dtype=np.float32).tobytes())
    h.update(repr(clips.labels).encode())
    return h.hexdigest()


class AudioModel(ClassLabels, TorchModule, Model):
    """Base of the audio families (see the module docstring)."""

    modality: ClassVar[str] = "audio"
    conditioning: ClassVar[str] = "class label (--condition label); log-mel frames (vocoder)"
    sample_options: ClassVar[dict[str, ParamSpec]] = {
        "seconds": ("float", 0.001, 3600.0),  # default: the median training clip
        "batch_size": ("int", 1, 65536),
        "cache": ("bool",),
    }
    # every audio family reads clips the same way: resampled to `rate` (None: the clips'
    # own, which must then agree), silence below `trim_db` under the peak trimmed
    modality_params: ClassVar[dict[str, Any]] = {"rate": None, "trim_db": 40.0}
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **Model._parameter_constraints,
        "rate": ("int?", 100, 768_000),
        "trim_db": ("float?", 0.1, 200.0),
    }
    codec_: AudioCodec

    # -- fitting ----------------------------------------------------------------------------
    def _codec_settings(self) -> dict[str, Any]:
        """The family's codec fields (levels, mel settings) besides rate and classes."""
        return {}

    def _fit(self, data: Any, conditions: list[str], rng: np.random.Generator,
             label_column: str | None = None) -> tuple[int, str]:
        """Fit to clips (a file, a folder, a table of paths or `Clips`)."""
        if any(c != LABEL for c in conditions):
            raise ParameterError(f"audio models condition only on 'label', got {conditions}; "
                                 "use conditions='label' (command line: --condition label)")
        clips = read_audio(data, rate=self.rate, trim_db=self.trim_db,  # type: ignore[attr-defined]
                           label_column=label_column)
        if len(clips) < 1:
            raise DataError("need at least one clip to fit")
        conditional = bool(conditions)
        if conditional and clips.labels is None:
            raise DataError("conditions='label' needs labels: put the clips in class "
                            "sub-folders, or give a table's label_column")
        classes = sorted(set(clips.labels)) if clips.labels is not None else None
        self.codec_ = AudioCodec(clips.rate, classes=classes, conditional=conditional,
                                 trim_db=self.trim_db, **self._codec_settings())  # type: ignore[attr-defined]
        codes = (np.asarray([classes.index(v) for v in clips.labels], np.int64)
                 if conditional and classes and clips.labels is not None else None)
        self._fit_clips(clips, codes, rng)
        self.meta_["class_counts"] = (None if codes is None else
                                      np.bincount(codes, minlength=len(classes or [])).tolist())
        self.meta_["seconds"] = float(np.median([w.size for w in clips.waves]) / clips.rate)
        return len(clips), _fingerprint(clips)

    # -- the codec in the model file ------------------------------------------------------
    def _codec_dict(self) -> dict[str, Any]:
        return self.codec_.to_dict()

    def _codec_from_dict(self, data: dict[str, Any]) -> None:
        self.codec_ = AudioCodec.from_dict(data)

    # -- sampling ---------------------------------------------------------------------------
    def _sample(self, n: int, conditions: Conditions, rng: np.random.Generator,
                seconds: float | None = None, batch_size: int = 64,
                cache: bool = True) -> list[np.ndarray]:
        """`n` clips of `seconds` each (default: the median training clip), float32 in
        [-1, 1]; `conditions={"label": ...}` as for images; `cache=False` samples the naive
        way (identical samples, slower)."""
        codes = self._label_codes(n, self._label_of(conditions), rng)
        length = max(1, int(round((seconds or self.meta_["seconds"]) * self.codec_.rate)))
        gen = torch_generator(rng, self.device_)
        waves: list[np.ndarray] = []
        for s in range(0, n, batch_size):
            part = None if codes is None else codes[s:s + batch_size]
            waves += self._sample_waves(part if part is not None else min(batch_size, n - s),
                                        length, gen, cache)
        extra = {} if codes is None else {"labels": codes,
                                          "classes": list(self.codec_.classes or [])}
        return attach(waves, {}, rate=self.codec_.rate, **extra)

    # -- scores -----------------------------------------------------------------------------
    def _score_codes(self, clips: Clips, label: Any) -> list[int | None] | None:
        """One class code per clip (given, or the data's labels), or None to marginalise."""
        if not self.codec_.conditional:
            if label is not None:
                self.label_code(label)
            return [None] * len(clips)
        if label is not None:
            many = isinstance(label, (list, tuple, np.ndarray))
            values = list(np.asarray(label).reshape(-1)) if many else [label] * len(clips)
            if len(values) != len(clips):
                raise ParameterError(f"{len(values)} labels given for {len(clips)} clips; give "
                                     "one label, or one per clip")
            return [self.label_code(v) for v in values]
        if clips.labels is None:
            return None
        return [self.label_code(v) for v in clips.labels]

    def read_clips(self, data: Any) -> Clips:
        """`data` read as the model reads it: at its rate, trimmed as in training."""
        return read_audio(data, rate=self.codec_.rate, trim_db=self.codec_.trim_db)

    def _log_prob(self, data: Any, conditions: Conditions | None,
                  bits: int = 8) -> np.ndarray:
        """Nats per clip: log p of its 8-bit μ-law tokens (`bits=8`), or of its 16-bit PCM
        values (`bits=16`: each μ-law bin's probability spread evenly over the 16-bit values
        in it, so log p16 = log p8 - sum log(bin width)). A conditional model scores
        log p(x | label) with the given or the data's labels, else log sum_y p(x | y) p(y)."""
        if bits not in (8, 16):
            raise ParameterError(f"bits must be 8 (μ-law tokens) or 16 (16-bit PCM), got "
                                 f"{bits!r}")
        clips = self.read_clips(data)
        codes = self._score_codes(clips, self._label_of(conditions))
        out = np.empty(len(clips))
        with task(f"scoring with {type(self).__name__}", len(clips)) as advance:
            for i, wave in enumerate(clips.waves):
                if codes is None:
                    out[i] = self._marginal(wave)
                else:
                    out[i] = self._log_prob_wave(wave, codes[i])
                if bits == 16:
                    out[i] -= self._bits16_correction(wave)
                advance(1)
        return out

    def _bits16_correction(self, wave: np.ndarray) -> float:
        """sum over samples of log(16-bit values in the sample's μ-law bin)."""
        widths = np.log(bin_widths_16bit(self.codec_.levels).astype(np.float64))
        return float(widths[self.codec_.tokens(wave)].sum())

    def _marginal(self, wave: np.ndarray) -> float:
        counts = np.asarray(self.meta_["class_counts"], np.float64)
        terms = [self._log_prob_wave(wave, k) + math.log(c / counts.sum())
                 for k, c in enumerate(counts) if c > 0]
        top = max(terms)
        return top + math.log(sum(math.exp(t - top) for t in terms))

    def bits_per_sample(self, data: Any, conditions: Conditions | None = None,
                        bits: int = 8) -> float:
        """Mean negative log-likelihood in bits per audio sample (of the μ-law tokens, or of
        the 16-bit values with `bits=16`)."""
        lp = self.log_prob(data, conditions=conditions, bits=bits)
        n = sum(w.size for w in self.read_clips(data).waves)
        return float(-lp.sum() / (n * _LN2))

    def nats_per_second(self, data: Any, conditions: Conditions | None = None,
                        bits: int = 8) -> float:
        """Negative log-likelihood in nats per second of audio (μ-law tokens, or 16-bit
        values with `bits=16`): bits_per_sample * ln 2 * rate."""
        lp = self.log_prob(data, conditions=conditions, bits=bits)
        return float(-lp.sum() / self.read_clips(data).seconds)

    # -- family hooks ---------------------------------------------------------------------
    def _fit_clips(self, clips: Clips, codes: np.ndarray | None,
                   rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _sample_waves(self, codes: np.ndarray | int, length: int, generator: Any,
                      cache: bool) -> list[np.ndarray]:
        raise NotImplementedError

    def _log_prob_wave(self, wave: np.ndarray, code: int | None) -> float:
        raise NotImplementedError
