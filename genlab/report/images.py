"""HTML report of an image model: sample grids, training curves, scores on real images,
nearest real image of samples, and for the VAE interpolations, the latent map and style
transfer; for super-resolution, low / bicubic / model / true comparisons. One
self-contained page (images as data URIs) in genlab's page shell (`report.shell`)."""

from __future__ import annotations

import base64
import io
import math
import os
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from genlab.data.images import ImageSet, make_grid
from genlab.report.plots import figure_to_data_uri, training_curves
from genlab.report.shell import esc, info_table, write_page
from genlab.train import ConvergenceWarning

if TYPE_CHECKING:
    from genlab.models.image.base import ImageModel

__all__ = ["image_report"]

_MAX_REAL = 2000  # real images used for scores: bounds the report's time on big folders


_CSS = ".model-info{margin-top:.4rem}"


def _png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[2] == 1 else image).save(buf, format="PNG")
    return buf.getvalue()


def _uri(grid: np.ndarray, target_px: int = 72, height: int = 28) -> str:
    scale = max(1, int(round(target_px / max(height, 1))))
    up = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    return "data:image/png;base64," + base64.b64encode(_png_bytes(up)).decode("ascii")


def _figure_html(uri: str, caption: str) -> str:
    return (f'<figure><img src="{uri}" alt="{esc(caption)}" loading="eager">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def _card(ident: str, label: str, value: float | None, fmt: str, help_text: str) -> str:
    shown = "n/a" if value is None or not math.isfinite(value) else format(value, fmt)
    attr = "" if value is None or not math.isfinite(value) else repr(float(value))
    return (f'<div class="score"><span class="value" id="{ident}" data-value="{attr}">{shown}'
            f'</span><span class="label">{esc(label)}: {esc(help_text)}</span></div>')


def _sample_section(model: ImageModel, h: int) -> tuple[str, np.ndarray | None]:
    from genlab.models.image.superres import SuperResolution

    if isinstance(model, SuperResolution):
        return "", None
    # the PixelCNN samples pixel by pixel: fewer samples keep the report quick
    per_class = 4 if model.family == "pixelcnn" else 8
    if model.codec_.conditional:
        k = model.n_classes_
        labels = np.repeat(np.arange(k), per_class)
        classes = model.codec_.classes or []
        imgs = model.sample(len(labels), conditions={"label": [classes[j] for j in labels]},
                            seed=0)
        grid = make_grid(imgs, ncol=per_class)
        caption = f"class-conditional samples: one row per class ({', '.join(classes)})"
    else:
        n = 16 if model.family == "pixelcnn" else 64
        imgs = model.sample(n, seed=0)
        grid = make_grid(imgs)
        caption = f"{n} samples"
    return ("<h2>Samples</h2><div class=\"row\">" + _figure_html(_uri(grid, height=h), caption)
            + "</div>"), imgs


def _latent_map(z: np.ndarray, labels: np.ndarray | None, classes: list[str] | None) -> str:
    zc = z - z.mean(0)
    if z.shape[1] > 2:  # the two leading principal axes
        _, _, vt = np.linalg.svd(zc, full_matrices=False)
        xy, what = zc @ vt[:2].T, "first two principal components of the posterior means"
    else:
        xy = np.pad(zc, ((0, 0), (0, 2 - z.shape[1])))
        what = "posterior means"
    fig = Figure(figsize=(5.0, 4.2), dpi=90, layout="constrained")
    ax = fig.add_subplot()
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=4, alpha=0.6)
    else:
        for k in np.unique(labels):
            sel = labels == k
            name = classes[k] if classes else str(k)
            ax.scatter(xy[sel, 0], xy[sel, 1], s=4, alpha=0.6, label=name,
                       color=f"C{int(k) % 10}")
        ax.legend(markerscale=3, fontsize=7, ncol=2, loc="best")
    ax.set_title(f"latent map: {what}", fontsize=9)
    return figure_to_data_uri(fig)


def _vae_sections(model: Any, real: ImageSet | None, h: int) -> str:
    parts = ["<h2>Latent space</h2>"]
    if real is None:
        return parts[0] + '<p class="note">give --real images for interpolations and the map</p>'
    cond = model.codec_.conditional
    classes = real.classes or []
    labels = None
    if real.labels is not None and real.classes is not None:
        labels = [classes[j] for j in real.labels]
    if cond and labels is None:
        return parts[0] + '<p class="note">the real images have no labels: a conditional VAE ' \
                          "needs them to encode</p>"
    strips = []
    rng = np.random.default_rng(0)
    for _ in range(4):
        i, j = rng.choice(len(real), size=2, replace=False)
        pair = None if not cond else (labels[i], labels[j])  # type: ignore[index]
        strips.append(model.interpolate(real.images[i], real.images[j], steps=10, labels=pair))
    grid = make_grid(np.concatenate(strips), ncol=10)
    parts.append('<div class="row">' + _figure_html(
        _uri(grid, height=h), "interpolations between pairs of real images (rows)"))
    z = model.encode(real.images, labels=labels)
    parts.append(_figure_html(_latent_map(z, real.labels, real.classes),
                              "latent map coloured by class") + "</div>")
    if cond:
        src = real.images[:6]
        names = model.codec_.classes or []
        cols = [model.transfer(src, to, labels=labels[:6]) for to in names]  # type: ignore
        grid = make_grid(np.concatenate([src[:, None], np.stack(cols, 1)], 1).reshape(
            -1, *src.shape[1:]), ncol=len(names) + 1)
        parts.append('<div class="row">' + _figure_html(
            _uri(grid, height=h), "style transfer: first column a real image, then its style "
            f"latent decoded as each class ({', '.join(names)})") + "</div>")
    return "".join(parts)


def _superres_section(model: Any, real: ImageSet | None, h: int) -> tuple[str, list[str]]:
    from genlab.evaluate.images import psnr, ssim
    from genlab.models.image.superres import bicubic_upsample, downsample

    if real is None:
        return ('<h2>Super-resolution</h2><p class="note">give --real high-resolution images to '
                "see and score super-resolution</p>"), []
    f = model.factor
    high = real.images[:_MAX_REAL]
    low = downsample(high, f)
    bic = bicubic_upsample(low, f)
    out = model.superresolve(low)
    shown = min(8, len(high))
    low_up = low[:shown].repeat(f, axis=1).repeat(f, axis=2)
    tiles = np.stack([low_up, bic[:shown], out[:shown], high[:shown]], 1).reshape(
        -1, *high.shape[1:])
    grid = make_grid(tiles, ncol=4)
    cards = [
        _card("psnr", "PSNR", psnr(out, high), ".2f", "model vs true (dB)"),
        _card("psnr-bicubic", "PSNR bicubic", psnr(bic, high), ".2f", "bicubic vs true (dB)"),
        _card("ssim", "SSIM", ssim(out, high), ".3f", "model vs true"),
        _card("ssim-bicubic", "SSIM bicubic", ssim(bic, high), ".3f", "bicubic vs true"),
    ]
    section = ("<h2>Super-resolution</h2><div class=\"row\">" + _figure_html(
        _uri(grid, height=h), f"columns: low resolution (1/{f}, shown enlarged), bicubic, "
        "model, true image") + "</div>")
    return section, cards


def _score_cards(model: ImageModel, real: ImageSet, samples: np.ndarray | None,
                 sample_codes: np.ndarray | None) -> tuple[list[str], str]:
    from genlab.evaluate.images import ImageClassifier, frechet_distance, nearest_neighbours, prdc

    cards: list[str] = []
    extra = ""
    if model.supports_log_prob:
        bpd = model.bits_per_dim(real)
        kind = "IWAE bound" if not model.log_prob_is_exact else "exact"
        cards.append(_card("bits-per-dim", "bits/dim", bpd, ".3f",
                           f"on the real images ({kind}; lower is better)"))
        cards.append(_card("nats-per-image", "nats/image", bpd * model.codec_.dims * math.log(2),
                           ".1f", "negative log-likelihood per image"))
    if samples is None or len(samples) < 6:
        return cards, extra
    if real.labels is not None and len(real) >= 50:
        with warnings.catch_warnings():  # a quick classifier for the report, not a model
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = ImageClassifier(epochs=10, max_minutes=0.5, seed=0).fit(real)
        fr, ff = clf.features(real.images), clf.features(samples)
        cards.append(_card("frechet", "Fréchet distance", frechet_distance(fr, ff), ".2f",
                           "in the features of a classifier trained on the real images "
                           "(not FID: no Inception weights)"))
        for name, value in prdc(fr, ff, k=min(5, len(samples) - 1)).items():
            cards.append(_card(name, name, value, ".3f", "k-NN manifold estimate (k=5)"))
        if sample_codes is not None and model.codec_.classes == clf.classes_:
            acc = clf.accuracy(samples, sample_codes)
            cards.append(_card("conditional-accuracy", "conditional accuracy", acc, ".3f",
                               "share of class-conditional samples the classifier assigns "
                               "to the asked class"))
    idx, dist = nearest_neighbours(samples[:8], real.images)
    # Two rows (samples above, their nearest real images below) read across the page.
    pairs = np.concatenate([samples[:8], real.images[idx]])
    extra = ("<h2>Nearest real image</h2><div class=\"row\">" + _figure_html(
        _uri(make_grid(pairs, ncol=len(idx)), height=samples.shape[1]),
        "top row: samples; bottom row: the nearest real image of each; pixel distances "
        + ", ".join(f"{d:.2f}" for d in dist)) + "</div>")
    return cards, extra


def _real_images(model: ImageModel, data: Any) -> ImageSet | None:
    if data is None:
        return None
    real = model._read_for_scoring(data)
    if len(real) <= _MAX_REAL:
        return real
    return ImageSet(real.images[:_MAX_REAL],
                    None if real.labels is None else real.labels[:_MAX_REAL], real.classes)


def _scores_and_sections(model: ImageModel, real: ImageSet | None,
                         samples: np.ndarray | None) -> tuple[list[str], list[str], str]:
    """Score cards, family sections (super-resolution, latent space), nearest-image part."""
    from genlab.models.image.vae import ImageVAE

    c = model.codec_
    sample_codes = None
    if samples is not None and c.conditional:
        per = len(samples) // max(model.n_classes_, 1)
        sample_codes = np.repeat(np.arange(model.n_classes_), per)
    cards: list[str] = []
    sections: list[str] = []
    extra = ""
    superres = model.family == "superres"
    if superres:
        sr_html, cards = _superres_section(model, real, c.height)
        sections.append(sr_html)
    if real is not None and superres:
        cards.append(_card("bits-per-dim", "bits/dim", model.bits_per_dim(real), ".3f",
                           "-log p(high | low) per value (exact)"))
    elif real is not None:
        more, extra = _score_cards(model, real, samples, sample_codes)
        cards += more
    if isinstance(model, ImageVAE):
        sections.append(_vae_sections(model, real, c.height))
    return cards, sections, extra


def _header(model: ImageModel, title: str) -> str:
    c = model.codec_
    info = {
        "family": f"{type(model).__name__} ({model.family})",
        "images": f"{c.height}x{c.width}x{c.channels}",
        "conditioning": ("class label: " + ", ".join(c.classes or [])) if c.conditional
        else "none",
        "trained on": f"{model.n_rows_:,} images in {model.fit_seconds_:.1f}s",
        "parameters": ", ".join(f"{k}={v}" for k, v in model.get_params().items()),
    }
    created = datetime.now(UTC).isoformat(timespec="seconds")
    return (f"<header><h1>{esc(title)}</h1><p class=\"meta\">created <time datetime=\""
            f"{esc(created)}\">{esc(created)}</time></p><div class=\"model-info\">"
            f"{info_table(info)}</div></header>")


def image_report(model: ImageModel, path: str | os.PathLike[str], *,
                 data: str | os.PathLike[str] | ImageSet | None = None) -> Path:
    """Write the HTML report of a fitted image model to `path`; `data` are real images
    (for scores, the nearest real image, the VAE's latent views, super-resolution)."""
    model._check_fitted()
    real = _real_images(model, data)
    sample_html, samples = _sample_section(model, model.codec_.height)
    cards, sections, extra = _scores_and_sections(model, real, samples)
    title = f"genlab image report: {model.family}"
    body = [_header(model, title)]
    if cards:
        body.append("<h2>Scores</h2><div class=\"scores\">" + "".join(cards) + "</div>")
    elif real is None:
        body.append('<p class="note">give real images (--real) for scores</p>')
    body += [sample_html, *sections, extra]
    curves = training_curves(model.history_)
    if curves:
        body.append("<h2>Training</h2><div class=\"row\">" + _figure_html(
            curves, "loss per epoch (nats per image)") + "</div>")
    body.append('<p class="note">Fréchet distance and precision/recall use a classifier '
                "trained on the real images, not Inception (see genlab.evaluate.images).</p>")
    return write_page(path, title, body, css=_CSS)
