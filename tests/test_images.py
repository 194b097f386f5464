"""Images: codec and readers, the five families, likelihood bookkeeping, latent tools,
metrics, bad input (one-line errors), the command line and the report."""

from __future__ import annotations

import gzip
import importlib
import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from sklearn.datasets import load_digits
from typer.testing import CliRunner

from genlab.data.detect import detect_kind
from genlab.data.writers import write_samples
from genlab.errors import DataError, ParameterError, UnsupportedOperation
from genlab.evaluate.images import (
    ImageClassifier,
    frechet_distance,
    near_copy_share,
    prdc,
    psnr,
    ssim,
)
from genlab.images import (
    ImageCodec,
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
    read_png,
    write_png,
)
from genlab.models.image.base import dequantize, from_unit_float, to_unit_float
from genlab.models.image.flow import DEQUANT_SEED, ActNorm, InvConv1x1
from genlab.models.registry import DEFAULT_FAMILY, families, load
from genlab.nets.logistic_mixture import logistic_mixture_logp
from genlab.provenance import provenance_of
from genlab.report.images import image_report
from genlab.seeding import torch_seeded

pytestmark = pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")
runner = CliRunner()
LN2 = math.log(2.0)
TRAIN = {"epochs": 1, "max_minutes": None, "device": "cpu"}


@pytest.fixture(scope="module")
def digits() -> ImageSet:
    """400 of scikit-learn's 8x8 digits as uint8 0..255 with labels (fast tests)."""
    d = load_digits()
    imgs = np.round(d.images[:400] / 16 * 255).astype(np.uint8)[..., None]
    return ImageSet(imgs, d.target[:400].astype(np.int64), [str(k) for k in range(10)])


def one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(err.value)
    assert "\n" not in text and text
    return text


# -- codec --------------------------------------------------------------------------------------
@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=4, max_side=6)))
def test_unit_float_round_trip(arr):
    x = to_unit_float(arr)
    assert x.min(initial=0.0) >= 0.0 and x.max(initial=1.0) <= 1.0
    np.testing.assert_array_equal(from_unit_float(x), arr)


@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6)),
       st.integers(0, 2**32 - 1))
def test_dequantize_stays_in_its_cell(arr, seed):
    y = dequantize(arr, np.random.default_rng(seed))
    np.testing.assert_array_equal(np.floor(y.astype(np.float64) * 256).astype(np.uint8), arr)


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9),
                                      st.sampled_from([1, 3]))))
def test_png_round_trip(tmp_path_factory, img):
    path = tmp_path_factory.mktemp("png") / "x.png"
    write_png(path, img)
    np.testing.assert_array_equal(read_png(path), img)


def test_grid_layout():
    imgs = np.arange(6 * 2 * 3, dtype=np.uint8).reshape(6, 2, 3, 1)
    grid = make_grid(imgs, ncol=3, pad=1)
    assert grid.shape == (2 * 3 + 1, 3 * 4 + 1, 1)
    np.testing.assert_array_equal(grid[1:3, 1:4], imgs[0])
    np.testing.assert_array_equal(grid[4:6, 9:12], imgs[5])


# -- readers --------------------------------------------------------------------------------------
def _save(path: Path, arr: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode=mode).save(path)


def test_class_folders_give_labels(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        for i in range(3):
            _save(tmp_path / cls / f"{i}.png", rng.integers(0, 256, (5, 4), dtype=np.uint8))
    ds = read_images(tmp_path)
    assert ds.images.shape == (6, 5, 4, 1) and ds.classes == ["cat", "dog"]
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert detect_kind(tmp_path) == ("image", {}) and DEFAULT_FAMILY["image"] == "vae"


def test_flat_folder_jpeg_and_rgb(tmp_path):
    rng = np.random.default_rng(1)
    _save(tmp_path / "a.jpg", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    _save(tmp_path / "b.png", rng.integers(0, 256, (6, 6), dtype=np.uint8))
    ds = read_images(tmp_path)  # grey + colour -> colour
    assert ds.images.shape == (2, 6, 6, 3) and ds.labels is None


def test_npy_npz_and_idx(tmp_path, digits):
    np.save(tmp_path / "x.npy", digits.images[:10, :, :, 0])
    assert read_images(tmp_path / "x.npy").images.shape == (10, 8, 8, 1)
    np.savez(tmp_path / "x.npz", images=digits.images[:10], labels=digits.labels[:10])
    ds = read_images(tmp_path / "x.npz")
    np.testing.assert_array_equal(ds.images, digits.images[:10])
    assert [ds.classes[k] for k in ds.labels] == [str(v) for v in digits.labels[:10]]
    imgs = digits.images[:10, :, :, 0]
    (tmp_path / "idx").mkdir()
    with gzip.open(tmp_path / "idx" / "t-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">I3I", 0x803, 10, 8, 8) + imgs.tobytes())
    with gzip.open(tmp_path / "idx" / "t-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, 10) + digits.labels[:10].astype(np.uint8).tobytes())
    for path in (tmp_path / "idx" / "t-images-idx3-ubyte.gz", tmp_path / "idx"):
        ds = read_images(path)
        np.testing.assert_array_equal(ds.images[..., 0], imgs)
        assert ds.labels is not None and len(ds.classes) == len(set(digits.labels[:10]))
        assert detect_kind(path)[0] == "image"
    assert detect_kind(tmp_path / "x.npz")[0] == "image"


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red
    rgba[0, 1] = (0, 0, 0, 0)  # fully transparent -> white
    rgba[1, :] = (0, 0, 255, 128)  # half blue over white
    _save(tmp_path / "a.png", rgba, "RGBA")
    out = read_png(tmp_path / "a.png")
    assert out.shape == (2, 2, 3)
    assert out[0, 0].tolist() == [255, 0, 0] and out[0, 1].tolist() == [255, 255, 255]
    assert out[1, 0].tolist() == [127, 127, 255]


def test_mixed_sizes_refused_then_resized(tmp_path):
    _save(tmp_path / "a.png", np.zeros((8, 8), np.uint8))
    _save(tmp_path / "b.png", np.full((10, 6), 255, np.uint8))
    with pytest.raises(DataError) as err:
        read_images(tmp_path)
    assert "different sizes" in one_line(err) and "size=" in str(err.value)
    assert read_images(tmp_path, size=(4, 4)).images.shape == (2, 4, 4, 1)


@pytest.mark.parametrize("case", ["empty", "corrupt", "non-image", "npz-key", "missing"])
def test_bad_inputs_have_one_line_errors(tmp_path, case):
    folder = tmp_path / "imgs"
    folder.mkdir()
    expect = {"empty": "holds no PNG/JPEG images", "corrupt": "corrupt or not a PNG",
              "non-image": "non-image file 'notes.txt'", "npz-key": "has no 'images' array",
              "missing": "does not exist"}[case]
    target: Path = folder
    if case == "corrupt":
        _save(folder / "ok.png", np.zeros((4, 4), np.uint8))
        (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    elif case == "non-image":
        _save(folder / "ok.png", np.zeros((4, 4), np.uint8))
        (folder / "notes.txt").write_text("hello")
    elif case == "npz-key":
        target = tmp_path / "x.npz"
        np.savez(target, pixels=np.zeros((2, 4, 4), np.uint8))
    elif case == "missing":
        target = tmp_path / "nothing"
    with pytest.raises(DataError) as err:
        read_images(target)
    assert expect in one_line(err)


def test_float_arrays_refused_with_hint():
    with pytest.raises(DataError) as err:
        read_images(np.zeros((3, 4, 4), np.float32))
    assert "astype('uint8')" in one_line(err)


# -- the discretised logistic ---------------------------------------------------------------------
def test_discretised_logistic_sums_to_one_over_256_values():
    x = torch.arange(256, dtype=torch.uint8).view(256, 1, 1, 1)
    logits = torch.tensor([0.3, -1.0]).view(1, 2, 1, 1, 1).expand(256, 2, 1, 1, 1)
    means = torch.tensor([-0.2, 0.9]).view(1, 2, 1, 1, 1).expand(256, 2, 1, 1, 1)
    log_s = torch.tensor([-3.0, -1.5]).view(1, 2, 1, 1, 1).expand(256, 2, 1, 1, 1)
    total = torch.logsumexp(logistic_mixture_logp(x, logits, means, log_s), 0)
    assert abs(float(total)) < 1e-4


# -- the families ---------------------------------------------------------------------------------
FAMILIES = [
    (ImageVAE, {"latent_dim": 4, "channels": (8, 8), "hidden": 32, "iwae_samples": 4}),
    (ImageGAN, {"latent_dim": 8, "width": 8}),
    (PixelCNN, {"hidden": 8, "layers": 2, "mixtures": 2}),
    (ImageFlow, {"levels": 2, "steps": 1, "hidden": 8}),
]


@pytest.mark.parametrize(("cls", "params"), FAMILIES, ids=lambda v: getattr(v, "family", ""))
def test_family_fits_samples_saves_and_scores(tmp_path, digits, cls, params):
    m = cls(**params, **TRAIN, seed=0).fit(digits, conditions=["label"])
    seven = {"label": "7"}
    imgs = m.sample(6, conditions=seven, seed=3)
    assert imgs.shape == (6, 8, 8, 1) and imgs.dtype == np.uint8
    again = m.sample(6, conditions=seven, seed=3)
    np.testing.assert_array_equal(imgs, again)
    path = m.save(tmp_path / "m.genlab")
    loaded = load(path)
    assert type(loaded) is cls and loaded.codec_ == m.codec_
    np.testing.assert_array_equal(loaded.sample(6, conditions=seven, seed=3), imgs)
    labels = {"label": digits.labels[:20].astype(str)}
    if cls.supports_log_prob:
        lp = m.log_prob(digits.images[:20], conditions=labels)
        assert lp.shape == (20,) and np.all(np.isfinite(lp))
        np.testing.assert_allclose(loaded.log_prob(digits.images[:20], conditions=labels), lp,
                                   rtol=1e-5)
        bpd = m.bits_per_dim(digits.images[:20], conditions=labels)
        assert bpd == pytest.approx(-lp.mean() / (64 * LN2))
        assert 0 < bpd < 16  # barely trained, but a proper likelihood of 8-bit values
    else:
        with pytest.raises(UnsupportedOperation):
            m.log_prob(digits.images[:5])
    with pytest.raises(ParameterError) as err:
        m.sample(2, conditions={"label": "cat"})
    assert "unknown label" in one_line(err)


def test_unconditional_model_and_marginal_likelihood(digits):
    m = PixelCNN(hidden=8, layers=2, mixtures=2, **TRAIN, seed=0).fit(digits)
    assert m.sample(3, seed=0).shape == (3, 8, 8, 1)
    with pytest.raises(ParameterError) as err:
        m.sample(3, conditions={"label": "3"})
    assert "not class-conditional" in one_line(err)
    cond = PixelCNN(hidden=8, layers=2, mixtures=2, **TRAIN, seed=0).fit(
        digits, conditions=["label"])
    x = digits.images[:5]
    per_class = np.stack([cond.log_prob(x, conditions={"label": [str(k)] * 5})
                          for k in range(10)])
    counts = np.bincount(digits.labels, minlength=10)
    expect = np.log(np.exp(per_class - per_class.max(0)).T @ (counts / counts.sum())) \
        + per_class.max(0)
    np.testing.assert_allclose(cond.log_prob(x), expect, rtol=1e-6)  # no labels: marginal


def test_fit_is_reproducible(digits):
    a = ImageFlow(levels=1, steps=1, hidden=4, **TRAIN, seed=5).fit(digits)
    b = ImageFlow(levels=1, steps=1, hidden=4, **TRAIN, seed=5).fit(digits)
    np.testing.assert_array_equal(a.sample(4, seed=1), b.sample(4, seed=1))


def test_conditions_other_than_label_refused(digits):
    with pytest.raises(ParameterError) as err:
        ImageVAE(**TRAIN).fit(digits, conditions=["colour"])
    assert "only on 'label'" in one_line(err)
    with pytest.raises(DataError) as err:
        ImageVAE(**TRAIN).fit(digits.images, conditions=["label"])
    assert "needs labels" in one_line(err)


def test_flow_refuses_sizes_it_cannot_squeeze(digits):
    with pytest.raises(DataError) as err:
        ImageFlow(levels=2, **TRAIN).fit(digits.images[:, :6, :6])
    assert "divisible by 4" in one_line(err)


# -- the flow's change of variables, by hand ------------------------------------------------------
def test_actnorm_and_invconv_log_determinants():
    an = ActNorm(3)
    an.initialized.fill_(1.0)
    with torch.no_grad():
        an.log_scale.copy_(torch.tensor([0.5, -1.0, 0.2]).view(1, 3, 1, 1))
    x = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y, ld = an(x)
    assert torch.allclose(ld, torch.full((2,), 20 * (0.5 - 1.0 + 0.2)))
    assert torch.allclose(an.inverse(y), x, atol=1e-6)
    with torch_seeded(np.random.default_rng(0)):
        ic = InvConv1x1(3)
    with torch.no_grad():
        y, ld = ic(x)
    sign, logabs = torch.linalg.slogdet(ic.weight().detach())
    assert torch.allclose(ld, torch.full((2,), 20 * float(logabs)), atol=1e-5)
    assert torch.allclose(ic.inverse(y), x, atol=1e-5)


def test_flow_log_prob_is_the_change_of_variables():
    """On a 4x4 image (16 values) the Jacobian of the whole map y -> eps is computed by
    autograd and log p(y) = sum log N(eps) + log|det J| compared with the model's."""
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (30, 4, 4, 1), dtype=np.uint8)
    m = ImageFlow(levels=2, steps=1, hidden=4, **TRAIN, seed=0).fit(imgs)
    net = m.net_.double()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # move off the identity start so every layer matters
        for p in net.parameters():
            p.add_(0.1 * torch.randn(p.shape, dtype=p.dtype, generator=gen))
    y = torch.rand(1, 1, 4, 4, dtype=torch.float64, generator=gen)

    def to_eps(flat: torch.Tensor) -> torch.Tensor:
        eps, _ = net(flat.view(1, 1, 4, 4), None)
        return torch.cat([e.flatten() for e in eps])

    jac = torch.autograd.functional.jacobian(to_eps, y.flatten())
    eps = to_eps(y.flatten()).detach()
    by_hand = float(-0.5 * (eps**2 + math.log(2 * math.pi)).sum() + torch.linalg.slogdet(jac)[1])
    assert float(net.log_density(y, None).detach()) == pytest.approx(by_hand, abs=1e-8)
    # log_prob = log p((x + u) / 256) - D log 256 with the documented fixed noise u
    m.net_ = net.float()
    x = imgs[:3]
    u = torch.rand((3, 1, 4, 4), generator=torch.Generator().manual_seed(DEQUANT_SEED))
    yq = (torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).float() + u) / 256
    with torch.no_grad():
        expect = m.net_.log_density(yq, None).double().numpy() - 16 * math.log(256)
    np.testing.assert_allclose(m.log_prob(x), expect, rtol=1e-6)
    # the inverse is exact: sampling decodes eps back into the right dequantisation cell
    with torch.no_grad():
        eps, _ = m.net_(yq, None)
        back = m.net_.inverse(eps, None)
    assert torch.allclose(back, yq, atol=1e-4)


# -- the PixelCNN's autoregressive structure ------------------------------------------------------
def test_pixelcnn_is_causal_and_row_sampling_matches_full_pass(digits):
    m = PixelCNN(hidden=8, layers=3, mixtures=2, **TRAIN, seed=0).fit(digits)
    net = m.net_
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 8, 8, generator=gen).requires_grad_(True)
    out = net(x, None)
    i, j = 4, 3
    out[0, :, i, j].sum().backward()
    grad = x.grad[0, 0].abs()
    order = torch.arange(64).view(8, 8)
    assert grad[order >= i * 8 + j].sum() == 0  # no pixel at or after (i, j)
    assert grad[i, j - 1] > 0 and grad[i - 1, j] > 0  # left and above neighbours
    xs = torch.rand(2, 1, 8, 8, generator=gen) * 2 - 1
    with torch.no_grad():
        full = net(xs, None)
        r0 = max(0, 7 - net.reach)
        vrow = [f[:, :, -1:, :] for f in net.vertical(xs[:, :, r0:8], None)]
        part = net.horizontal(xs[:, :, 7:8, :6], [f[..., :6] for f in vrow], None)
    assert torch.allclose(part[:, :, 0, -1], full[:, :, 7, 5], atol=1e-5)


# -- VAE latent tools -----------------------------------------------------------------------------
def test_vae_latent_tools(digits):
    m = ImageVAE(latent_dim=3, channels=(8, 8), hidden=16, iwae_samples=2, **TRAIN,
                 seed=0).fit(digits, conditions=["label"])
    labels = [str(v) for v in digits.labels[:10]]
    z = m.encode(digits.images[:10], labels=labels)
    assert z.shape == (10, 3)
    strip = m.interpolate(digits.images[0], digits.images[1], steps=5,
                          labels=(labels[0], labels[1]))
    assert strip.shape == (5, 8, 8, 1)
    np.testing.assert_array_equal(strip[0], m.decode(z[:1], label=labels[0])[0])
    moved = m.transfer(digits.images[:4], "3", labels=labels[:4])
    assert moved.shape == (4, 8, 8, 1)
    same = np.flatnonzero(digits.labels == 5)[:4]  # to its own class: the reconstruction
    np.testing.assert_array_equal(
        m.transfer(digits.images[same], "5", labels=["5"] * 4),
        m.decode(m.encode(digits.images[same], labels=["5"] * 4), label="5"))
    with pytest.raises(DataError):
        m.encode(digits.images[:3])  # conditional: labels needed
    m.temperature = 0.0  # z is then the class's prior mean: one image per class
    cold = m.sample(3, conditions={"label": "4"}, seed=1)
    np.testing.assert_array_equal(cold[0], cold[2])
    mean = m.net_.prior_params(torch.eye(10)[4:5], 1)[0].detach().numpy()
    np.testing.assert_array_equal(cold[0], m.decode(mean, label="4")[0])


# -- super-resolution -----------------------------------------------------------------------------
def test_superresolution(digits):
    low = downsample(digits.images, 2)
    assert low.shape == (400, 4, 4, 1)
    np.testing.assert_allclose(low[0, 0, 0, 0], digits.images[0, :2, :2, 0].mean(), atol=0.5)
    assert bicubic_upsample(low, 2).shape == digits.images.shape
    m = SuperResolution(factor=2, hidden=8, blocks=1, **TRAIN, seed=0).fit(digits)
    out = m.superresolve(low[:5])
    assert out.shape == (5, 8, 8, 1) and out.dtype == np.uint8
    assert m.sample_given(low[:5], seed=0).shape == (5, 8, 8, 1)
    assert np.all(np.isfinite(m.log_prob(digits.images[:10])))
    with pytest.raises(DataError) as err:
        m.superresolve(digits.images[:2])
    assert "expects 4x4x1" in one_line(err)
    with pytest.raises(ParameterError):
        SuperResolution(**TRAIN).fit(digits, conditions=["label"])
    with pytest.raises(ParameterError) as err:
        m.sample(3)
    assert "low-resolution" in one_line(err)


def test_superres_save_load(tmp_path, digits):
    m = SuperResolution(factor=2, hidden=8, blocks=1, **TRAIN, seed=0).fit(digits)
    low = downsample(digits.images[:5], 2)
    loaded = load(m.save(tmp_path / "sr.genlab"))
    np.testing.assert_array_equal(loaded.superresolve(low), m.superresolve(low))
    np.testing.assert_array_equal(loaded.sample_given(low, seed=2), m.sample_given(low, seed=2))


# -- metrics --------------------------------------------------------------------------------------
def test_metrics_on_known_cases(digits):
    a = digits.images[:50]
    assert psnr(a, a) > 90 and ssim(a, a) == pytest.approx(1.0)
    noisy = np.clip(a.astype(int) + 40, 0, 255).astype(np.uint8)
    assert psnr(noisy, a) < 30 and ssim(noisy, a) < 1
    rng = np.random.default_rng(0)
    f = rng.normal(size=(300, 4))
    assert frechet_distance(f, f) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(f, f + 1.0) == pytest.approx(4.0, abs=1e-6)
    same = prdc(f, f, k=5)
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0
    far = prdc(f, f + 100.0, k=5)
    assert far["precision"] == 0.0 and far["coverage"] == 0.0
    copies = near_copy_share(digits.images[:20], digits.images[:300], digits.images[300:])
    assert copies["near_copy_share"] == 1.0


def test_classifier_learns_digits(digits):
    clf = ImageClassifier(epochs=40, width=16, max_minutes=1.0, device="cpu").fit(digits)
    assert clf.features(digits.images[:5]).shape == (5, 128)
    assert clf.accuracy(digits.images, digits.labels) > 0.8


# -- command line and report ----------------------------------------------------------------------
def run(*args: str | Path) -> tuple[int, str]:
    app = importlib.import_module("genlab.cli").app  # the command line is checked here only
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory, digits) -> Path:
    root = tmp_path_factory.mktemp("digits")
    for i, (img, lab) in enumerate(zip(digits.images[:200], digits.labels[:200], strict=True)):
        write_png(root / str(lab) / f"{i:04d}.png", img)
    return root


def test_cli_fit_sample_score_report(tmp_path, digit_folder):
    model = tmp_path / "m.genlab"
    code, text = run("fit", digit_folder, "--model", "vae", "--condition", "label", "-o", model,
                     "-p", "epochs=2", "-p", "latent_dim=4", "-p", "iwae_samples=2",
                     "-p", "channels=[8,8]", "-p", "hidden=16", "--seed", "0", "-q")
    assert code == 0, text
    code, text = run("sample", model, "-n", "16", "-o", tmp_path / "grid.png", "--where",
                     "label=7", "--seed", "1")
    assert code == 0, text
    assert "grid of 16" in text and (tmp_path / "grid.png.provenance.json").exists()
    assert read_png(tmp_path / "grid.png").shape == (4 * 10 + 2, 4 * 10 + 2, 1)
    code, text = run("sample", model, "-n", "5", "-o", tmp_path / "out", "--seed", "1")
    assert code == 0, text
    assert len(list((tmp_path / "out").glob("sample_*.png"))) == 5
    code, text = run("score", model, digit_folder)
    assert code == 0 and "200 rows scored (estimate" in text, text
    code, text = run("sample", model, "-n", "4", "-o", tmp_path / "g.png", "--where",
                     "label=cat")
    assert code == 2 and "unknown label 'cat'" in text
    report = tmp_path / "r.html"
    code, text = run("report", "--model", model, "--real", digit_folder, "-o", report)
    assert code == 0, text
    page = report.read_text()
    for needle in ("bits/dim", "Fréchet distance", "interpolations", "latent map",
                   "style transfer", "conditional accuracy", "Nearest real image"):
        assert needle in page
    from tests.test_report import assert_renders_in_chromium

    assert assert_renders_in_chromium(report) >= 6


def test_cli_bad_folder_is_one_line(tmp_path):
    (tmp_path / "imgs").mkdir()
    _save(tmp_path / "imgs" / "a.png", np.zeros((8, 8), np.uint8))
    _save(tmp_path / "imgs" / "b.png", np.zeros((9, 8), np.uint8))
    code, text = run("fit", tmp_path / "imgs", "--model", "gan", "-o", tmp_path / "m.genlab")
    assert code == 2 and text.startswith("error:") and "different sizes" in text
    assert text.strip().count("\n") == 0


def test_cli_size_param_resizes_and_gan_cannot_score(tmp_path, digits):
    folder = tmp_path / "imgs"
    for i in range(12):
        img = digits.images[i] if i % 2 else np.kron(digits.images[i, :, :, 0],
                                                     np.ones((2, 2), np.uint8))
        write_png(folder / f"{i}.png", img)
    model = tmp_path / "g.genlab"
    code, text = run("fit", folder, "--model", "gan", "-o", model, "-p", "size=[8,8]",
                     "-p", "width=4", "-p", "epochs=1", "-q")
    assert code == 0, text
    code, text = run("score", model, folder)
    assert code == 2 and "has no likelihood" in text
    code, text = run("sample", model, "-n", "3", "-o", tmp_path / "s.jpg")
    assert code == 2 and "give a .png file" in text


def test_cli_superres_and_flow_report(tmp_path, digit_folder, digits):
    model = tmp_path / "sr.genlab"
    code, text = run("fit", digit_folder, "--model", "superres", "-o", model, "-p", "factor=2",
                     "-p", "hidden=8", "-p", "blocks=1", "-p", "epochs=1", "-q")
    assert code == 0, text
    np.save(tmp_path / "low.npy", downsample(digits.images[:6], 2))
    code, text = run("sample", model, "--prompt", tmp_path / "low.npy", "-o", tmp_path / "hi")
    assert code == 0, text
    assert len(list((tmp_path / "hi").glob("*.png"))) == 6
    report = tmp_path / "sr.html"
    code, text = run("report", "--model", model, "--real", digit_folder, "-o", report)
    assert code == 0 and "PSNR bicubic" in report.read_text(), text
    flow = ImageFlow(levels=1, steps=1, hidden=4, **TRAIN, seed=0).fit(digits)
    page = image_report(flow, tmp_path / "f.html", data=digit_folder).read_text()
    assert "bits/dim" in page and "exact" in page


# -- the one contract: seeds, provenance, conditions, the writer -----------------------------------
@pytest.fixture(scope="module")
def cond_vae(digits) -> ImageVAE:
    return ImageVAE(latent_dim=3, channels=(8, 8), hidden=16, iwae_samples=2, **TRAIN,
                    seed=0).fit(digits, conditions=["label"])


def test_sample_seeds_and_provenance(cond_vae):
    a, b = cond_vae.sample(8), cond_vae.sample(8)
    assert not np.array_equal(a, b)  # a fresh seed per call, not the fit seed
    seed = provenance_of(a)["seed"]
    np.testing.assert_array_equal(cond_vae.sample(8, seed=seed), a)
    same = cond_vae.sample(8, seed=11)
    np.testing.assert_array_equal(same, cond_vae.sample(8, seed=11))
    prov = same.attrs["provenance"]
    assert prov["seed"] == 11 and prov["family"] == "vae" and prov["n"] == 8
    assert same.attrs["modality"] == "image" and same.attrs["classes"] == [str(k) for k in
                                                                            range(10)]
    assert len(same.attrs["labels"]) == 8


def test_label_conditions_by_name_code_or_per_sample(cond_vae):
    by_name = cond_vae.sample(4, conditions={"label": "7"}, seed=2)
    by_code = cond_vae.sample(4, conditions={"label": 7}, seed=2)
    np.testing.assert_array_equal(by_name, by_code)
    assert by_name.attrs["labels"].tolist() == [7] * 4
    per = cond_vae.sample(3, conditions={"label": ["1", "2", 3]}, seed=2)
    assert per.attrs["labels"].tolist() == [1, 2, 3]
    with pytest.raises(ParameterError) as err:
        cond_vae.sample(3, conditions={"label": ["1", "2"]})
    assert "2 labels given for 3 samples" in one_line(err)
    with pytest.raises(ParameterError) as err:
        cond_vae.sample(2, conditions={"colour": "red"})
    assert "only on 'label'" in one_line(err)
    with pytest.raises(ParameterError) as err:
        cond_vae.sample(2, temperature=0.5)
    assert "batch_size" in one_line(err)
    small = cond_vae.sample(5, conditions={"label": "4"}, seed=9, batch_size=2)
    np.testing.assert_array_equal(small, cond_vae.sample(5, conditions={"label": "4"}, seed=9))
    assert cond_vae.parse_where({"label": "7", "batch_size": "16"}) == (
        {"label": "7"}, {"batch_size": 16})
    with pytest.raises(ParameterError):
        cond_vae.parse_where({"colour": "red"})


def test_log_prob_conditions(cond_vae, digits):
    x = digits.images[:6]
    names = {"label": digits.labels[:6].astype(str)}
    np.testing.assert_array_equal(cond_vae.log_prob(x, conditions=names),
                                  cond_vae.log_prob(ImageSet(x, digits.labels[:6],
                                                             digits.classes)))
    one = cond_vae.log_prob(x, conditions={"label": "3"})
    np.testing.assert_array_equal(one, cond_vae.log_prob(x, conditions={"label": ["3"] * 6}))
    with pytest.raises(ParameterError) as err:
        cond_vae.log_prob(x, conditions={"label": ["3"] * 2})
    assert "2 labels given for 6 images" in one_line(err)


def test_save_load_identical_samples_and_log_prob(tmp_path, cond_vae, digits):
    loaded = load(cond_vae.save(tmp_path / "v.genlab"))
    assert loaded.conditions_ == ["label"] and loaded.codec_ == cond_vae.codec_
    assert isinstance(loaded.codec_, ImageCodec)
    for seed in (0, 5):
        np.testing.assert_array_equal(loaded.sample(7, seed=seed), cond_vae.sample(7, seed=seed))
    np.testing.assert_array_equal(loaded.log_prob(digits.images[:9]),
                                  cond_vae.log_prob(digits.images[:9]))


def test_no_global_random_state_is_touched(tmp_path, digits):
    before = torch.random.get_rng_state().clone()
    np_before = np.random.get_state()[1].copy()
    m = ImageFlow(levels=1, steps=1, hidden=4, **TRAIN, seed=1).fit(digits.images[:40])
    m.sample(3)
    load(m.save(tmp_path / "f.genlab")).log_prob(digits.images[:3])
    ImageClassifier(epochs=1, width=4, device="cpu").fit(digits)
    assert torch.equal(torch.random.get_rng_state(), before)
    np.testing.assert_array_equal(np.random.get_state()[1], np_before)


def test_writer_grid_folder_and_bad_suffix(tmp_path, cond_vae):
    samples = cond_vae.sample(6, conditions={"label": ["1", "1", "2", "2", "3", "3"]}, seed=0)
    target, text = write_samples(samples, tmp_path / "g.png")
    assert target == tmp_path / "g.png" and "a grid of 6 samples" in text
    assert read_png(target).shape == make_grid(samples).shape
    side = json.loads((tmp_path / "g.png.provenance.json").read_text())
    assert side["seed"] == 0 and side["family"] == "vae"
    target, text = write_samples(samples, tmp_path / "out")
    assert "6 PNG files" in text
    names = sorted(p.name for p in target.glob("*.png"))
    assert names[0] == "sample_00000_1.png" and names[-1] == "sample_00005_3.png"
    np.testing.assert_array_equal(read_png(target / "sample_00002_2.png"), samples[2])
    plain = PixelCNN(hidden=4, layers=1, mixtures=1, **TRAIN, seed=0).fit(samples[:4])
    target, _ = write_samples(plain.sample(2, seed=0), tmp_path / "plain")
    assert sorted(p.name for p in target.glob("*.png")) == ["sample_00000.png",
                                                            "sample_00001.png"]
    with pytest.raises(ParameterError) as err:
        write_samples(samples, tmp_path / "s.jpg")
    assert "give a .png file" in one_line(err)


def test_superres_samples_through_the_prompt_option(tmp_path, digits):
    m = SuperResolution(factor=2, hidden=8, blocks=1, **TRAIN, seed=0).fit(digits)
    low = downsample(digits.images[:6], 2)
    np.save(tmp_path / "low.npy", low)
    conditions, options = m.parse_where({"prompt": str(tmp_path / "low.npy")})
    assert conditions == {} and options == {"prompt": str(tmp_path / "low.npy")}
    high = m.sample(4, prompt=tmp_path / "low.npy")
    np.testing.assert_array_equal(high, m.superresolve(low)[:4])
    assert high.attrs["provenance"]["options"]["prompt"] == str(tmp_path / "low.npy")
    drawn = m.sample(6, prompt=tmp_path / "low.npy", draw=True, seed=4)
    np.testing.assert_array_equal(drawn, m.sample(6, prompt=tmp_path / "low.npy", draw=True,
                                                  seed=4))
    assert not np.array_equal(drawn, m.sample(6, prompt=tmp_path / "low.npy", draw=True))
    target, text = write_samples(high, tmp_path / "hi")
    assert "4 PNG files" in text
    with pytest.raises(ParameterError) as err:
        m.sample(2, prompt=low)
    assert "path of low-resolution images" in one_line(err)
    with pytest.raises(ParameterError) as err:
        m.sample(2, prompt=tmp_path / "low.npy", conditions={"label": "1"})
    assert "no conditions" in one_line(err)


def test_families_registered_and_facade_registers_nothing():
    import genlab.images as facade

    assert set(families("image")) == {"vae", "gan", "pixelcnn", "flow", "superres"}
    assert facade.ImageVAE is families("image")["vae"]
    assert not any(hasattr(facade, n) for n in ("register", "register_detector"))
