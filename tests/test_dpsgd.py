"""DP-SGD for the neural families: accountant, clipping, noise, determinism, file and card."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import genlab
from genlab.cli import app
from genlab.config import TrainConfig
from genlab.data.writers import write_samples
from genlab.errors import ParameterError, UnsupportedOperation
from genlab.privacy.budget import Budget
from genlab.privacy.dpsgd import (
    DPPlan,
    DPSGDStep,
    epsilon_spent,
    noise_multiplier_for,
    planned_steps,
)
from genlab.privacy.fit import dp_families

pytestmark = pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")
runner = CliRunner()
TINY = {"seed": 3, "epochs": 2, "max_steps": 6, "batch_size": 64}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 600
    a = rng.choice(["x", "y", "z"], n)
    return pd.DataFrame({"v": np.round(rng.normal(10, 2, n) + (a == "x") * 3, 2), "a": a,
                         "k": rng.integers(0, 50, n)})


@pytest.fixture(scope="module")
def fitted(table: pd.DataFrame) -> genlab.Model:
    return genlab.fit(table, "autoregressive", epsilon=1.0, bounds={"v": (0, 30)}, **TINY)


def test_neural_families_are_listed() -> None:
    assert {"autoregressive", "flow", "gan", "vae"} <= set(dp_families())


def test_tiny_fit_spends_at_most_epsilon_with_noise(fitted: genlab.Model) -> None:
    r = fitted.privacy_
    assert 0 < r["epsilon_spent"] <= r["epsilon"] == 1.0
    assert r["noise_multiplier"] > 0 and r["max_grad_norm"] == 1.0
    assert r["steps"] == fitted.steps_trained_ == 6
    assert r["sample_rate"] == pytest.approx(64 / 600)
    assert r["delta"] < 1 / 600
    assert "RDP" in r["accountant"] and "DP-SGD" in r["mechanism"]
    assert r["declared"] == ["v"] and r["estimated"] == ["a", "k"]
    assert all("train_loss" not in h for h in fitted.history_)  # not released
    assert fitted.sample(50, seed=0).shape == (50, 3)


def test_provenance_carries_the_dp_figures(fitted: genlab.Model) -> None:
    prov = fitted.sample(5, seed=0).attrs["provenance"]["privacy"]
    assert prov["noise_multiplier"] == fitted.privacy_["noise_multiplier"]
    assert prov["epsilon_spent"] <= 1.0 and prov["steps"] == 6


def test_cli_provenance_shows_the_dp_sgd_figures(fitted: genlab.Model, tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    write_samples(fitted.sample(5, seed=0), out)
    result = runner.invoke(app, ["provenance", str(out)])
    assert result.exit_code == 0, result.output
    assert "noise multiplier" in result.output and "clip 1" in result.output


def test_same_seed_same_model(table: pd.DataFrame, fitted: genlab.Model) -> None:
    again = genlab.fit(table, "autoregressive", epsilon=1.0, bounds={"v": (0, 30)}, **TINY)
    for (k, a), b in zip(fitted.net_.state_dict().items(), again.net_.state_dict().values(),
                         strict=True):
        assert torch.equal(a, b), k
    other = genlab.fit(table, "autoregressive", epsilon=1.0, bounds={"v": (0, 30)},
                       **{**TINY, "seed": 4})
    assert not torch.equal(next(iter(other.net_.parameters())),
                           next(iter(fitted.net_.parameters())))


def test_record_is_in_the_file_and_the_card(fitted: genlab.Model, tmp_path: Path) -> None:
    path = tmp_path / "m.genlab"
    fitted.save(path)
    loaded = genlab.load(path)
    assert loaded.privacy_ == fitted.privacy_
    result = runner.invoke(app, ["card", str(path)])
    assert result.exit_code == 0, result.output
    for label in ("noise multiplier", "max grad norm", "sample rate", "ε spent"):
        assert label in result.output, label


def test_accountant_is_monotone_and_the_multiplier_meets_the_target() -> None:
    q, steps, rho, delta = 0.01, 1000, 0.001, 1e-6
    sigma = noise_multiplier_for(1.0, delta, q, steps, rho)
    assert epsilon_spent(q, sigma, steps, rho, delta) <= 1.0
    assert epsilon_spent(q, sigma * 0.95, steps, rho, delta) > 1.0 * 0.98
    assert epsilon_spent(q, sigma, steps // 2, rho, delta) < epsilon_spent(q, sigma, steps,
                                                                           rho, delta)
    with pytest.raises(ParameterError, match="too small"):
        noise_multiplier_for(0.01, delta, q, steps, rho=1.0)


def test_planned_steps_match_the_loop() -> None:
    config = TrainConfig(batch_size=64, epochs=3, max_steps=None)
    assert planned_steps(600, config) == 3 * 10  # 9 full batches and one of 24 rows
    assert planned_steps(577, config) == 3 * 9  # the last batch of one row is skipped
    assert planned_steps(600, TrainConfig(batch_size=64, epochs=3, max_steps=7)) == 7


def _step(noise: float) -> tuple[DPSGDStep, torch.nn.Module]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    x = torch.randn(50, 3) * 100  # large inputs: large gradients

    def loss_fn(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return (net(batch[0]).squeeze(1) - 1000.0) ** 2

    budget = Budget(1.0, 1e-3, np.random.default_rng(0))
    plan = DPPlan(budget, budget.rho, max_grad_norm=0.5, n=50, noise_multiplier=noise,
                  sample_rate=0.1, steps=10)
    return DPSGDStep(net, loss_fn, [x], TrainConfig(lr=1e-3), plan,
                     np.random.default_rng(0)), net


def test_per_sample_gradients_are_exact_and_clipped() -> None:
    step, net = _step(noise=0.0)
    rows = torch.tensor([3, 7])
    grads, losses = step.per_sample_grads((step.tensors[0][rows],))
    for i, r in enumerate(rows):  # vmap's gradients equal one row's autograd gradients
        net.zero_grad()
        step.loss_fn((step.tensors[0][r:r + 1],)).sum().backward()
        for g, (_, p) in zip(grads, step.named, strict=True):
            assert torch.allclose(g[i], p.grad, rtol=1e-4, atol=1e-4)
    raw = torch.stack([g.flatten(1) for g in [torch.cat([g.flatten(1) for g in grads], 1)]]
                      ).squeeze(0).norm(dim=1)
    assert (raw > 0.5).all()  # the clipping matters here
    for r in rows:  # one row at a time: the summed (clipped) gradient has norm <= C
        step.optimizer.zero_grad(set_to_none=True)
        g1, _ = step.per_sample_grads((step.tensors[0][r:r + 1],))
        for (_, p), g in zip(step.named, g1, strict=True):
            p.grad_sample = g
        step.optimizer.pre_step()
        total = torch.cat([p.grad.flatten() for _, p in step.named]).norm()
        expected_batch = step.optimizer.expected_batch_size
        assert total * expected_batch == pytest.approx(0.5, rel=1e-3)
    step.close()


def test_noise_is_added() -> None:
    step, _ = _step(noise=1.0)
    empty = torch.zeros(0, dtype=torch.long)
    step.optimizer.zero_grad(set_to_none=True)
    grads, _ = step.per_sample_grads((step.tensors[0][empty],))
    for (_, p), g in zip(step.named, grads, strict=True):
        p.grad_sample = g
    step.optimizer.pre_step()  # no rows: the gradient is the noise alone
    noise = torch.cat([p.grad.flatten() for _, p in step.named])
    assert noise.abs().sum() > 0
    # sd sigma C / expected batch size (5), over 21 coordinates
    assert noise.std().item() == pytest.approx(1.0 * 0.5 / 5, rel=0.5)
    step.close()


@pytest.mark.parametrize("family", ["vae", "gan", "flow"])
def test_other_neural_table_families_fit_privately(table: pd.DataFrame, family: str) -> None:
    # the flow's splines make per-sample gradients slow: a smaller sample for it
    small = {**TINY, "max_steps": 2, "batch_size": 16} if family == "flow" else TINY
    m = genlab.fit(table, family, epsilon=1.0, bounds={"v": (0, 30), "k": (0, 50)}, **small)
    r = m.privacy_
    assert 0 < r["epsilon_spent"] <= 1.0 and r["noise_multiplier"] > 0
    assert r["steps"] == m.steps_trained_ * (m.discriminator_steps if family == "gan" else 1)
    s = m.sample(40, seed=0)
    assert s.shape == (40, 3) and s["v"].dropna().between(0, 30).all()
    if family == "gan":
        assert "critic" in r["mechanism"] and "post-processing" in r["mechanism"]


def test_gan_under_dp_copies_no_statistic(table: pd.DataFrame) -> None:
    m = genlab.fit(table, "gan", epsilon=1.0, bounds={"v": (0, 30), "k": (0, 50)}, **TINY)
    counts = m.meta_["counts"][0]  # noisy: not the true counts of a
    assert counts != np.bincount(m.schema_.encode(table).c[:, 0], minlength=3).tolist()
    assert all(not s for s in m.meta_["spikes"])
    means = m.normalizer_.means[0]  # equal-width modes over the declared range
    assert np.allclose(means, [3, 9, 15, 21, 27])


def test_vae_refuses_conditions_under_dp(table: pd.DataFrame) -> None:
    with pytest.raises(ParameterError, match="cannot combine conditions= with epsilon="):
        genlab.fit(table, "vae", epsilon=1.0, conditions=["a"], **TINY)


def test_families_that_cannot_refuse_naming_those_that_can(table: pd.DataFrame) -> None:
    with pytest.raises(UnsupportedOperation, match="families that can:.*autoregressive"
                       ) as err:
        genlab.fit(table, "mixture", epsilon=1.0)
    assert "\n" not in str(err.value)
    image = genlab.make_model("gan", "image")
    with pytest.raises(UnsupportedOperation,
                       match="image families that can: pixelcnn, vae; table families: "):
        image.fit(np.zeros((8, 8, 8), np.uint8), epsilon=1.0)


@pytest.mark.parametrize("family", ["vae", "pixelcnn"])
def test_image_families_fit_privately(family: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = (rng.random((40, 8, 8)) < 0.3).astype(np.uint8) * 255
    labels = np.arange(40) % 2
    data = tmp_path / "digits.npz"
    np.savez(data, images=images, labels=labels)
    small = {"epochs": 1, "max_steps": 3, "batch_size": 8, "seed": 0}
    m = genlab.make_model(family, "image", **small).fit(str(data), epsilon=2.0)
    r = m.privacy_
    assert 0 < r["epsilon_spent"] <= 2.0 and r["noise_multiplier"] > 0 and r["steps"] == 3
    assert r["delta"] < 1 / 40 and m.fingerprint_.startswith("dp-")
    assert m.class_counts_ is None and m.codec_.classes is None  # nothing of the labels
    assert m.sample(2, seed=0).shape[0] == 2
    path = tmp_path / "m.genlab"
    m.save(path)
    assert genlab.load(path).privacy_ == r
    with pytest.raises(ParameterError, match="unconditional"):
        genlab.make_model(family, "image", **small).fit(str(data), conditions=["label"],
                                                        epsilon=2.0)


def test_batchnorm_is_refused() -> None:
    from genlab.privacy.dpsgd import check_dp_module

    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    with pytest.raises(UnsupportedOperation, match="cannot fit with differential privacy"):
        check_dp_module(net, "toy")


def test_bad_max_grad_norm(table: pd.DataFrame) -> None:
    model = genlab.make_model("autoregressive", "table", **TINY)
    with pytest.raises(ParameterError, match="max_grad_norm must be a number > 0"):
        model.fit(table, epsilon=1.0, max_grad_norm=-1)
    with pytest.raises(ParameterError, match="give epsilon= too"):
        model.fit(table, max_grad_norm=1.0)
    fitted = model.fit(table, epsilon=1.0, max_grad_norm=0.25, bounds={"v": (0, 30)})
    assert fitted.privacy_["max_grad_norm"] == 0.25


def test_models_marks_the_families_that_fit_privately() -> None:
    from genlab.cli.models import _dp
    from genlab.models.registry import families

    table, image = families("table"), families("image")
    assert [n for n, c in sorted(table.items()) if _dp(c) == "yes (DP-SGD)"] == [
        "autoregressive", "flow", "gan", "vae"]
    assert _dp(table["bayesnet"]) == "yes" and _dp(table["mixture"]) == "no"
    assert _dp(image["pixelcnn"]) == _dp(image["vae"]) == "yes (DP-SGD)"
    assert _dp(image["gan"]) == "no"
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0 and "DP fit yes (DP-SGD)" in " ".join(result.output.split())


def test_audit_of_a_dp_sgd_model_stays_below_the_claim(table: pd.DataFrame) -> None:
    from genlab.privacy import audit

    train, test = table.iloc[:400], table.iloc[400:]
    model = genlab.make_model("autoregressive", "table", **TINY)
    model.fit(train, epsilon=1.0, bounds={"v": (0, 30), "k": (0, 50)},
              categories={"a": ["x", "y", "z"]})
    found = audit(model, train, test, canaries=3, seed=0)
    assert found.empirical_epsilon <= model.privacy_["epsilon_spent"]


@pytest.mark.parametrize(("key", "value"), [("noise_multiplier", "big"), ("steps", 2.5),
                                            ("sample_rate", None), ("max_grad_norm", [1])])
def test_hostile_dp_sgd_record_is_one_line_error(fitted: genlab.Model, tmp_path: Path,
                                                 key: str, value: object) -> None:
    from genlab.errors import ModelFileError

    saved = fitted.privacy_
    fitted.privacy_ = {**saved, key: value}
    try:
        path = fitted.save(tmp_path / "bad.genlab")
    finally:
        fitted.privacy_ = saved
    with pytest.raises(ModelFileError, match="differential-privacy record") as err:
        genlab.load(path)
    assert "\n" not in str(err.value)
