"""Training checkpoints: a fit killed with SIGKILL after its first checkpoint and resumed
ends bit for bit where an uninterrupted fit of the same seed ends (CPU); the file is
tensors and plain containers (torch.load(weights_only=True)); a checkpoint of other data,
other settings or no checkpoint at all is refused in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from genlab.config import TrainConfig
from genlab.errors import ParameterError
from genlab.train import fit_loop

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _weights(path: Path) -> dict[str, torch.Tensor]:
    import genlab

    return genlab.load(path).net_.state_dict()


def test_kill_9_after_a_checkpoint_then_resume_equals_an_uninterrupted_fit(
        tmp_path: Path) -> None:
    from genlab.datasets import load_adult_sample

    data = tmp_path / "t.csv"
    load_adult_sample("train").head(300).to_csv(data, index=False)
    ck = tmp_path / "ck.pt"
    base = [sys.executable, "-m", "genlab", "fit", str(data), "-m", "vae", "--seed", "1",
            "-p", "epochs=40", "-p", "batch_size=50", "-q"]
    saving = ["--checkpoint-every", "10", "--checkpoint", str(ck)]
    full = subprocess.run([*base, "-o", str(tmp_path / "full.genlab")], env=ENV, timeout=240,
                          capture_output=True, text=True)
    assert full.returncode == 0, full.stderr
    run = subprocess.Popen([*base, "-o", str(tmp_path / "cut.genlab"), *saving], env=ENV,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not ck.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ck.exists(), "the fit wrote no checkpoint"
        os.kill(run.pid, signal.SIGKILL)
    finally:
        run.wait()
    assert not (tmp_path / "cut.genlab").exists()  # killed before the end
    stored = torch.load(ck, weights_only=True)
    assert stored["loop"]["step"] >= 10 and stored["loop"]["step"] < 200
    resumed = subprocess.run([*base, "-o", str(tmp_path / "cut.genlab"), *saving, "--resume"],
                             env=ENV, timeout=240, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    a, b = _weights(tmp_path / "full.genlab"), _weights(tmp_path / "cut.genlab")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


class _Stop(Exception):
    pass


def _fit(x: torch.Tensor, config: TrainConfig, stop_at: int | None = None,
         seed: int = 3) -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.2), nn.Linear(8, 1))
    calls = [0]
    noise = torch.Generator().manual_seed(9)

    def loss(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if net.training:
            calls[0] += 1
            if stop_at is not None and calls[0] > stop_at:
                raise _Stop  # as if killed between two steps
        wiggle = 0.01 * torch.randn(batch[0].shape[0], 1, generator=noise)
        return (net(batch[0]) + wiggle - batch[0].sum(1, keepdim=True)).pow(2).sum(1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_loop(net, loss, [x], config, seed=seed)
    return net


def _config(path: Path, **extra: object) -> TrainConfig:
    return TrainConfig(epochs=6, batch_size=16, patience=2, warmup_steps=3,
                       checkpoint_every=4, checkpoint_path=str(path), **extra)


def test_resume_inside_an_epoch_restores_order_noise_dropout_and_early_stopping(
        tmp_path: Path) -> None:
    x = torch.randn(150, 3, generator=torch.Generator().manual_seed(1))
    plain = TrainConfig(epochs=6, batch_size=16, patience=2, warmup_steps=3)
    expected = _fit(x, plain).state_dict()
    ck = tmp_path / "ck.pt"
    with pytest.raises(_Stop):
        _fit(x, _config(ck), stop_at=19)  # 9 steps an epoch: stopped in the third
    stored = torch.load(ck, weights_only=True)
    assert stored["loop"]["step"] == 16 and stored["loop"]["offset"] > 0
    assert stored["stopper"]["best_state"] is not None
    got = _fit(x, _config(ck, resume=True)).state_dict()
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_a_checkpoint_of_other_data_or_settings_is_refused_in_one_line(
        tmp_path: Path) -> None:
    x = torch.randn(150, 3, generator=torch.Generator().manual_seed(1))
    ck = tmp_path / "ck.pt"
    with pytest.raises(_Stop):
        _fit(x, _config(ck), stop_at=5)
    with pytest.raises(ParameterError, match="written for other data") as err:
        _fit(x + 1, _config(ck, resume=True))
    assert "\n" not in str(err.value)
    with pytest.raises(ParameterError, match="written with other settings"):
        _fit(x, _config(ck, resume=True, lr=1e-3))
    with pytest.raises(ParameterError, match="written with other settings"):
        _fit(x, _config(ck, resume=True), seed=4)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ParameterError, match="is not a genlab checkpoint"):
        _fit(x, _config(bad, resume=True))
    torch.save({"a": torch.zeros(1)}, bad)
    with pytest.raises(ParameterError, match="is not a genlab checkpoint"):
        _fit(x, _config(bad, resume=True))


def test_resume_without_a_checkpoint_yet_trains_from_the_start(tmp_path: Path) -> None:
    x = torch.randn(60, 3, generator=torch.Generator().manual_seed(1))
    config = TrainConfig(epochs=2, batch_size=16, checkpoint_every=100,
                         checkpoint_path=str(tmp_path / "none.pt"), resume=True)
    net = nn.Linear(3, 1)
    with pytest.warns(UserWarning, match="no checkpoint at .* yet; training from the start"):
        result = fit_loop(net, lambda b: net(b[0]).pow(2).sum(1), [x], config, seed=0)
    assert len(result.history) == 2


@pytest.mark.parametrize("settings, message", [
    ({"checkpoint_every": 5}, "need checkpoint_path"),
    ({"resume": True}, "need checkpoint_path"),
    ({"checkpoint_path": "ck.pt"}, "needs checkpoint_every"),
    ({"checkpoint_every": 0, "checkpoint_path": "ck.pt"}, r"checkpoint_every must be in"),
])
def test_checkpoint_settings_are_checked(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        TrainConfig(**settings)  # type: ignore[arg-type]


def test_cli_refuses_resume_without_a_checkpoint_file_in_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from genlab.cli import app

    data = tmp_path / "t.csv"
    data.write_text("a,b\n1,2\n3,4\n5,6\n")
    result = CliRunner().invoke(app, ["fit", str(data), "-m", "vae", "-o",
                                      str(tmp_path / "m.genlab"), "--resume"])
    assert result.exit_code == 2
    assert "resume need checkpoint_path" in result.output
    assert "Traceback" not in result.output


def test_a_family_refuses_a_checkpoint_of_other_hyperparameters(tmp_path: Path) -> None:
    import genlab
    from genlab.datasets import load_adult_sample

    df = load_adult_sample("train").head(120)
    ck = str(tmp_path / "ck.pt")
    settings = {"seed": 1, "epochs": 2, "batch_size": 40, "checkpoint_every": 2,
                "checkpoint_path": ck}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = genlab.fit(df, "vae", **settings)
        again = genlab.fit(df, "vae", **settings, resume=True)  # from the last checkpoint
        with pytest.raises(ParameterError, match="written with other settings"):
            genlab.fit(df, "vae", **settings, resume=True, beta=0.25)
    a, b = first.net_.state_dict(), again.net_.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_private_fit_refuses_checkpoints_and_torchrun(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    import pandas as pd

    import genlab

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"v": np.round(rng.normal(10, 2, 200), 2),
                          "a": rng.choice(["x", "y"], 200)})
    private = {"epsilon": 1.0, "bounds": {"v": (0, 30)}, "seed": 3, "epochs": 1,
               "batch_size": 64}
    with pytest.raises(ParameterError, match="DP-SGD.*takes no checkpoints"):
        genlab.fit(table, "autoregressive", **private, checkpoint_every=2,
                   checkpoint_path=str(tmp_path / "ck.pt"))
    for name, value in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ParameterError, match="DP-SGD.*runs in one process"):
        genlab.fit(table, "autoregressive", **private)


def test_a_sequence_family_resumes_bit_for_bit(tmp_path: Path) -> None:
    # its step creates its noise generator on the first call: the checkpoint restores it
    from genlab.sequences import Transformer

    text = ("ROMEO: But soft, what light through yonder window breaks?\n") * 30
    small = {"layers": 1, "d_model": 16, "heads": 2, "context": 24, "epochs": 4,
             "batch_size": 16, "epoch_size": 64, "warmup_steps": 5, "seed": 0}
    ck = {"checkpoint_every": 7, "checkpoint_path": str(tmp_path / "ck.pt")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = Transformer(**small).fit([text]).net_.state_dict()
        Transformer(**small, **ck).fit([text])  # leaves its step-14 checkpoint
        resumed = Transformer(**small, **ck, resume=True).fit([text]).net_.state_dict()
    assert torch.load(tmp_path / "ck.pt", weights_only=True)["loop"]["step"] == 14
    assert all(torch.equal(full[k], resumed[k]) for k in full)
