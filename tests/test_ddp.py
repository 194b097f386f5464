"""Training on two processes (gloo on CPU, started by torchrun's launcher): every rank ends
with the same weights (a table VAE, an image GAN, a text transformer), they equal a
one-process run of the same global batch up to float summation order, rank 0 alone writes
the model file, and bad launches fail in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from genlab import distributed
from genlab.errors import ParameterError
from genlab.train import TrainConfig, fit_loop
from tests._torchrun import one_launch

# a regression the loop trains the same way on 1 or 2 processes (no noise in the loss),
# and a VAE through the public API (noise per rank, DDP wrapper, early stopping)
WORKER = '''
import hashlib, json, os, sys, warnings
import torch
from torch import nn
warnings.simplefilter("ignore")
import genlab
import genlab.errors
from genlab.datasets import load_adult_sample
from genlab.train import TrainConfig, fit_loop

out = sys.argv[1]
rank = int(os.environ["RANK"])
torch.manual_seed(0)
x = torch.randn(203, 3)
net = nn.Linear(3, 1)
y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
loss = lambda b: (net(b[0]) - b[1]).pow(2).sum(1)
config = TrainConfig(epochs=6, batch_size=40, val_fraction=0.1, warmup_steps=2, lr=0.05)
result = fit_loop(net, loss, [x, y], config, seed=5)
try:  # each process with its own seed would train a different model
    fit_loop(net, loss, [x, y], config, seed=rank)
    refused = ""
except genlab.errors.ParameterError as error:
    refused = str(error)
df = load_adult_sample("train").head(300)
m = genlab.fit(df, "vae", seed=2, epochs=2, batch_size=60)
if rank == 0:
    m.save(os.path.join(out, "vae.genlab"))
digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in m.net_.state_dict().values()))
# other modalities: images (a GAN's own step, batch-norm buffers) and a text transformer
import numpy as np
from sklearn.datasets import load_digits
from genlab.data.images import ImageSet
from genlab.images import ImageGAN
from genlab.sequences import Transformer
d = load_digits()
digits = ImageSet(np.round(d.images[:100] / 16 * 255).astype(np.uint8)[..., None],
                  d.target[:100].astype(np.int64), [str(k) for k in range(10)])
gan = ImageGAN(latent_dim=8, width=8, epochs=1, batch_size=50, device="cpu", seed=0)
text = Transformer(layers=1, d_model=16, heads=2, context=24, epochs=1, batch_size=16,
                   epoch_size=64, seed=0)
text.fit(["ROMEO: But soft, what light through yonder window breaks?\\n" * 20])
for other in (gan.fit(digits), text):
    for v in other.net_.state_dict().values():
        digest.update(v.numpy().tobytes())
with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
    json.dump({"linear": [float(v) for v in torch.cat([p.detach().reshape(-1)
                                                       for p in net.parameters()])],
               "history": result.history and [r["train_loss"] for r in result.history],
               "val": [r["val_loss"] for r in result.history],
               "vae": digest.hexdigest(), "vae_steps": m.steps_trained_,
               "refused": refused}, f)
'''

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TORCH_CPP_LOG_LEVEL": "ERROR"}


def _torchrun(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    with one_launch():
        return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                               "--nproc-per-node", "2", *args], capture_output=True, text=True,
                              env=ENV, timeout=timeout)


def test_two_gloo_processes_train_one_model_equal_to_one_process(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    done = _torchrun(str(script), str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    # identical on both ranks, bit for bit: weights, history, the VAE
    assert ranks[0] == ranks[1]
    assert ranks[0]["refused"] == ("the 2 processes have different seeds; give every process "
                                   "the same seed (--seed, seed=) and data")
    assert sorted(p.name for p in tmp_path.glob("*.genlab")) == ["vae.genlab"]
    # one process, same global batch of 40 and seed: equal up to the order of float sums
    torch.manual_seed(0)
    x = torch.randn(203, 3)
    net = nn.Linear(3, 1)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    config = TrainConfig(epochs=6, batch_size=40, val_fraction=0.1, warmup_steps=2, lr=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit_loop(net, lambda b: (net(b[0]) - b[1]).pow(2).sum(1), [x, y], config,
                          seed=5)
    one = torch.cat([p.detach().reshape(-1) for p in net.parameters()]).numpy()
    np.testing.assert_allclose(ranks[0]["linear"], one, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ranks[0]["val"], [r["val_loss"] for r in result.history],
                               rtol=1e-5)
    import genlab
    from genlab.datasets import load_adult_sample

    m = genlab.load(tmp_path / "vae.genlab")
    assert m.steps_trained_ == ranks[0]["vae_steps"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isfinite(m.log_prob(load_adult_sample("test").head(50))).all()


def test_cli_ddp_trains_a_gan_on_two_processes_and_rank_0_writes_one_file(
        tmp_path: Path) -> None:
    import genlab
    from genlab.datasets import load_adult_sample

    data = tmp_path / "t.csv"
    load_adult_sample("train").head(200).to_csv(data, index=False)
    out = tmp_path / "gan.genlab"
    # a custom train_step (critic and generator, gradient penalty): gradients averaged
    with one_launch():
        done = subprocess.run([sys.executable, "-m", "genlab", "fit", str(data), "-m", "gan",
                               "-o", str(out), "--seed", "4", "-p", "epochs=2", "-p",
                               "batch_size=50", "--ddp", "2"], capture_output=True,
                              text=True, env=ENV, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gan.genlab", "t.csv"]
    assert done.stdout.count("fitted GAN on 200 rows") == 1  # rank 0 alone speaks
    m = genlab.load(out)
    assert len(m.sample(20, seed=0)) == 20


def test_bad_launches_fail_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ParameterError, match=r"--ddp takes a number of processes"):
        distributed.launch(0, ["fit", "--ddp", "0"])
    with pytest.raises(ParameterError, match="from Python start the processes with torchrun"):
        distributed.launch(2, ["fit"])
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(ParameterError, match="RANK is not; start the processes with torchrun"):
        distributed.group()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(ParameterError, match="inside torchrun"):
        distributed.launch(2, ["fit", "--ddp", "2"])


def test_one_process_is_a_no_op_group() -> None:
    g = distributed.group()
    assert (g.rank, g.world, g.active) == (0, 1, False)
    rows = torch.arange(7)
    assert torch.equal(g.share(rows), rows)
    assert g.sum([1.5, 2.0]) == [1.5, 2.0]
    assert g.gather_bytes(b"abc") == [b"abc"]
    assert distributed.shared_seed(None) is None and distributed.is_main()


def test_cli_ddp_zero_processes_is_a_one_line_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from genlab.cli import app

    data = tmp_path / "t.csv"
    data.write_text("a,b\n1,2\n3,4\n")
    result = CliRunner().invoke(app, ["fit", str(data), "-m", "vae", "-o",
                                      str(tmp_path / "m.genlab"), "--ddp", "0"])
    assert result.exit_code == 2
    assert "--ddp takes a number of processes" in result.output
    assert "Traceback" not in result.output
