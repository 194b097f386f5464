"""HTML report of an audio model (WaveNet, its vocoder use, text to speech): waveform and
log-mel spectrogram of real and generated clips side by side, an `<audio controls>` player
for every clip (the WAV embedded as a base64 data URI, so the page stays one file), scores
and training curves; in genlab's one page shell (`report.shell`)."""

from __future__ import annotations

import base64
import io
import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from genlab.data.audio_features import MEL_FLOOR
from genlab.errors import ParameterError
from genlab.report.figure_base import figure_to_data_uri
from genlab.report.plots import training_curves
from genlab.report.shell import esc, info_table, write_page

__all__ = ["audio_report", "wav_bytes", "wav_data_uri"]

_MAX_REAL = 3  # real clips shown (and vocoded): each vocoding samples every audio sample
_MAX_SECONDS = 2.0  # generated clips are cut to this: sampling is one step per sample
_MAX_SCORED = 8  # real clips scored for bits per sample
_MEL_RANGE = (math.log(MEL_FLOOR), 2.0)  # ln mel magnitude: digital silence .. full scale
_CSS = (".clip{display:flex;flex-direction:column;gap:.3rem}.clip audio{width:100%}"
        ".clips{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));"
        "gap:1rem}")


def wav_bytes(wave: np.ndarray, rate: int) -> bytes:
    """A mono waveform in [-1, 1] as the bytes of a 16-bit PCM WAV file."""
    import soundfile as sf

    buf = io.BytesIO()
    x = np.clip(np.asarray(wave, dtype=np.float32).reshape(-1), -1.0, 1.0)
    sf.write(buf, x, int(rate), subtype="PCM_16", format="WAV")
    return buf.getvalue()


def wav_data_uri(wave: np.ndarray, rate: int) -> str:
    """`data:audio/wav;base64,...` of `wav_bytes`, the `src` of an embedded player."""
    return "data:audio/wav;base64," + base64.b64encode(wav_bytes(wave, rate)).decode("ascii")


def _clip_figure(wave: np.ndarray, codec: Any, title: str) -> str:
    """Waveform over time above its log-mel spectrogram (the codec's mel settings)."""
    rate = codec.rate
    fig = Figure(figsize=(4.2, 3.0), dpi=90, layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=(1, 1.6))
    t = np.arange(wave.size) / rate
    top.plot(t, wave, linewidth=0.5)
    top.set_xlim(0, max(t[-1] if t.size else 0.0, 1.0 / rate))
    top.set_ylim(-1.05, 1.05)
    top.set_title(title, fontsize=9)
    top.tick_params(labelsize=7)
    mel = codec.mel_of(wave) if wave.size else np.zeros((1, codec.n_mels))
    # one colour scale on every clip of the page (silence to loud), so they compare by eye
    bottom.imshow(mel.T, origin="lower", aspect="auto", cmap="magma", vmin=_MEL_RANGE[0],
                  vmax=_MEL_RANGE[1], extent=(0, mel.shape[0] * codec.hop / rate, 0,
                                              codec.n_mels))
    bottom.set_xlabel("seconds", fontsize=7)
    bottom.set_ylabel("mel band", fontsize=7)
    bottom.tick_params(labelsize=7)
    return figure_to_data_uri(fig)


def _clip_html(wave: np.ndarray, codec: Any, caption: str) -> str:
    uri = _clip_figure(wave, codec, caption)
    return (f'<figure class="clip"><img src="{uri}" alt="{esc(caption)}" loading="eager">'
            f'<audio controls preload="metadata" src="{wav_data_uri(wave, codec.rate)}" '
            f'title="{esc(caption)}"></audio><figcaption>{esc(caption)} '
            f"({wave.size / codec.rate:.2f} s)</figcaption></figure>")


def _card(ident: str, label: str, value: float | None, fmt: str, help_text: str) -> str:
    ok = value is not None and math.isfinite(value)
    shown = format(value, fmt) if ok else "n/a"
    attr = repr(float(value)) if ok else ""  # type: ignore[arg-type]
    return (f'<div class="score"><span class="value" id="{ident}" data-value="{attr}">{shown}'
            f'</span><span class="label">{esc(label)}: {esc(help_text)}</span></div>')


def _vocoder_part(model: Any, real: Any) -> tuple[list[str], list[str]]:
    """Each real clip, the WaveNet's vocoding of its mel frames and Griffin–Lim's."""
    from genlab.audio import griffin_lim, log_spectral_distance, mel_cepstral_distortion

    c = model.codec_
    clips, scores = [], {"wavenet": [], "griffin_lim": []}
    for i, wave in enumerate(real.waves[:_MAX_REAL]):
        wave = wave[:int(_MAX_SECONDS * c.rate)]
        mel = c.mel_of(wave)
        outs = {"wavenet": model.vocode(mel, seed=i),
                "griffin_lim": griffin_lim(mel, c.rate, n_fft=c.n_fft, hop=c.hop, seed=i)}
        clips.append(_clip_html(wave, c, f"real clip {i + 1}"))
        for name, out in outs.items():
            clips.append(_clip_html(out, c, f"clip {i + 1}: {name.replace('_', '–')}"))
            scores[name].append((mel_cepstral_distortion(wave, out, c.rate),
                                 log_spectral_distance(wave, out, c.rate)))
    cards = []
    for name, pairs in scores.items():
        mcd, lsd = np.mean(pairs, axis=0)
        cards += [_card(f"mcd-{name}", f"MCD {name}", float(mcd), ".2f",
                        "mel-cepstral distortion to the real clip (dB; lower is better)"),
                  _card(f"lsd-{name}", f"LSD {name}", float(lsd), ".2f",
                        "log-spectral distance to the real clip (dB; lower is better)")]
    return clips, cards


def _generated(model: Any, prompts: list[str] | None) -> list[str]:
    """Players for what the model makes on its own: a clip per class, or per prompt."""
    c = model.codec_
    seconds = min(float(model.meta_.get("seconds", 1.0)), _MAX_SECONDS)
    if model.family == "tts":
        texts = prompts or list(model.meta_.get("texts") or [])[:10]
        return [_clip_html(model.sample(1, prompt=t, seed=0)[0], c, f"“{t}”") for t in texts]
    if c.conditional:
        classes = list(c.classes or [])
        waves = model.sample(len(classes), conditions={"label": classes}, seconds=seconds,
                             seed=0)
        return [_clip_html(w, c, f"generated: {k}") for w, k in zip(waves, classes,
                                                                    strict=True)]
    waves = model.sample(4, seconds=seconds, seed=0)
    return [_clip_html(w, c, f"generated {i + 1}") for i, w in enumerate(waves)]


def _header(model: Any, title: str) -> str:
    c = model.codec_
    info = {
        "family": f"{type(model).__name__} ({model.family})",
        "audio": f"{c.rate} Hz mono, {c.levels} μ-law levels; log-mel {c.n_mels} bands, "
                 f"n_fft {c.n_fft}, hop {c.hop}",
        "conditioning": ("class label: " + ", ".join(c.classes or [])) if c.conditional
        else ("text" if model.family == "tts" else ("mel frames (vocoder)" if c.mel
                                                     else "none")),
        "trained on": f"{model.n_rows_:,} clips in {model.fit_seconds_:.1f}s",
        "parameters": ", ".join(f"{k}={v}" for k, v in model.get_params().items()),
    }
    created = datetime.now(UTC).isoformat(timespec="seconds")
    return (f"<header><h1>{esc(title)}</h1><p class=\"meta\">created <time datetime=\""
            f"{esc(created)}\">{esc(created)}</time></p>{info_table(info)}</header>")


def _likelihood_cards(model: Any, real: Any) -> list[str]:
    from genlab.data.audio import Clips

    if not model.supports_log_prob:
        return []
    part = Clips(real.waves[:_MAX_SCORED], real.rate,
                 None if real.labels is None else real.labels[:_MAX_SCORED],
                 real.names[:_MAX_SCORED])
    bps = model.bits_per_sample(part)
    return [_card("bits-per-sample", "bits/sample", bps, ".3f",
                  f"of the real clips' μ-law tokens ({len(part)} clips; lower is better)"),
            _card("nats-per-second", "nats/s", bps * math.log(2) * model.codec_.rate, ".0f",
                  "negative log-likelihood per second of audio")]


def audio_report(model: Any, path: str | os.PathLike[str], *, data: Any = None,
                 prompts: list[str] | None = None) -> Path:
    """Write the HTML report of a fitted audio model to `path`; `data` are real clips (for
    the real side, bits per sample, and for a vocoder what it vocodes); `prompts` the texts
    a text-to-speech model says (default: its training transcripts, at most 10)."""
    model._check_fitted()
    if prompts is not None and (not isinstance(prompts, list) or not all(
            isinstance(p, str) and p.strip() for p in prompts)):
        raise ParameterError("prompts must be a list of non-empty texts")
    real = model.read_clips(data) if data is not None else None
    title = f"genlab audio report: {model.family}"
    body = [_header(model, title)]
    cards: list[str] = []
    if model.family != "tts" and model.codec_.mel:
        if real is None:
            body.append('<p class="note">give real clips (--real) to hear and score the '
                        "vocoder against Griffin–Lim on their mel frames</p>")
            clips: list[str] = []
        else:
            clips, cards = _vocoder_part(model, real)
    else:
        clips = _generated(model, prompts)
        if real is not None:
            cards = _likelihood_cards(model, real)
    if real is not None and model.family != "tts" and model.codec_.mel:
        cards += _likelihood_cards(model, real)
    if cards:
        body.append("<h2>Scores</h2><div class=\"scores\">" + "".join(cards) + "</div>")
    body.append("<h2>Generated</h2><div class=\"clips\">" + "".join(clips) + "</div>")
    if real is not None and not (model.family != "tts" and model.codec_.mel):
        shown = [_clip_html(w[:int(_MAX_SECONDS * real.rate)], model.codec_,
                            f"real: {real.labels[i]}" if real.labels else f"real {i + 1}")
                 for i, w in enumerate(real.waves[:_MAX_REAL])]
        body.append("<h2>Real</h2><div class=\"clips\">" + "".join(shown) + "</div>")
    curves = training_curves(model.history_)
    if curves:
        body.append(f'<h2>Training</h2><div class="row"><figure><img src="{curves}" '
                    'alt="training curves"><figcaption>loss per epoch (nats per sample; '
                    "text to speech: mel L1 + duration error)</figcaption></figure></div>")
    return write_page(path, title, body, css=_CSS)
