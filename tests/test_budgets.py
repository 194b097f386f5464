"""Training budgets that do not depend on the machine: no family defaults to a time budget,
the same data and seed give the same weights on a quiet and on a loaded machine (and under a
clock that jumps), the model says and records why training stopped, and bf16 runs only where
the hardware runs it natively."""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.numpy import load as load_safetensors

import genlab
from genlab import _machine
from genlab.models import registry
from genlab.models.sequence import training
from genlab.train import ConvergenceWarning

_rng = np.random.default_rng(0)
TABLE = pd.DataFrame({
    "x": _rng.normal(size=80).round(3),
    "y": _rng.gamma(2.0, size=80).round(2),
    "g": _rng.choice(["a", "b", "c"], size=80),
})
TEXT = ["to be or not to be that is the question whether tis nobler in the mind " * 6]
TINY = {"epochs": 3, "batch_size": 16, "device": "cpu"}
TINY_TRANSFORMER = {**TINY, "layers": 1, "d_model": 8, "heads": 2, "context": 16,
                    "epoch_size": 32}
NEURAL = [(m, f) for m in registry.MODALITIES for f, cls in sorted(registry.families(m).items())
          if cls.trains]


@pytest.mark.parametrize("modality, family", NEURAL, ids=[f"{m}-{f}" for m, f in NEURAL])
def test_no_family_defaults_to_a_time_budget(modality, family):
    cls = registry.families(modality)[family]
    assert cls._default("max_minutes") is None
    assert 1 <= cls._default("epochs") <= 1000
    if modality in ("table", "image"):  # large data: the step budget bounds the fit
        assert 1_000 <= cls._default("max_steps") <= 20_000


def _state(model: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.net_.state_dict().items()}


def _file_tensors(model: Any, path: Path) -> dict[str, np.ndarray]:
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        return load_safetensors(archive.read("weights.safetensors"))


def _busy_cores(n: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def test_same_weights_and_samples_on_a_loaded_machine(tmp_path):
    quiet = genlab.fit(TABLE, "flow", seed=0, **TINY)
    burners = _busy_cores(2)  # both cores of the benchmark machine, for the whole fit
    try:
        time.sleep(0.2)
        loaded = genlab.fit(TABLE, "flow", seed=0, **TINY)
    finally:
        for proc in burners:
            proc.kill()
            proc.wait()
    a, b = _state(quiet), _state(loaded)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    fa, fb = _file_tensors(quiet, tmp_path / "a.genlab"), _file_tensors(loaded, tmp_path / "b")
    assert fa.keys() == fb.keys() and all(np.array_equal(fa[k], fb[k]) for k in fa)
    pd.testing.assert_frame_equal(quiet.sample(50, seed=7), loaded.sample(50, seed=7))
    assert quiet.stopped_by_ == loaded.stopped_by_
    assert len(quiet.history_) == len(loaded.history_)


CLOCK_CASES = [
    pytest.param("table", "vae", TABLE, {"latent_dim": 2, "hidden": (8,)}, id="table-vae"),
    pytest.param("table", "gan", TABLE, {"generator_dim": (8,), "discriminator_dim": (8,),
                                         "embedding_dim": 4, "pac": 2}, id="table-gan"),
    pytest.param("table", "flow", TABLE, {}, id="table-flow"),
    pytest.param("table", "autoregressive", TABLE, {}, id="table-autoregressive"),
    pytest.param("sequence", "autoregressive", TEXT,
                 {k: v for k, v in TINY_TRANSFORMER.items() if k not in TINY},
                 id="sequence-transformer"),
]


@pytest.mark.parametrize("modality, family, data, params", CLOCK_CASES)
def test_default_training_never_reads_the_clock(monkeypatch, modality, family, data, params):
    """A clock that jumps an hour per reading (a machine stalled by load) changes nothing:
    no default budget, schedule or cap uses the time."""
    def fit() -> dict[str, torch.Tensor]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = genlab.fit(data, family, data_kind=modality, seed=0, **TINY, **params)
        assert model.stopped_by_ != "time budget"
        return _state(model)

    quiet = fit()
    ticks = iter(range(10**9))
    monkeypatch.setattr(time, "perf_counter", lambda: 3600.0 * next(ticks))
    stalled = fit()
    assert all(torch.equal(quiet[k], stalled[k]) for k in quiet)


def test_time_cap_is_recorded_warned_and_summarised(tmp_path):
    with pytest.warns(ConvergenceWarning) as record:
        model = genlab.fit(TABLE, "flow", seed=0, **{**TINY, "max_minutes": 1e-6})
    assert model.stopped_by_ == "time budget"
    (message,) = [str(w.message) for w in record.list if w.category is ConvergenceWarning]
    assert "\n" not in message and "results depend on the machine" in message
    summary = model.training_summary_
    assert summary.startswith("trained 1 epoch (1 step); stopped by the time budget")
    assert "raise max_minutes or leave it unset" in summary and "\n" not in summary
    model.save(tmp_path / "m.genlab")
    assert genlab.load(tmp_path / "m.genlab").stopped_by_ == "time budget"


def test_step_budget_is_recorded_in_the_model_file(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = genlab.fit(TABLE, "flow", seed=0, **{**TINY, "epochs": 50, "max_steps": 7})
    assert model.stopped_by_ == "steps" and model.steps_trained_ == 7
    assert model.training_summary_.startswith("trained 2 epochs (7 steps); stopped by the "
                                              "step budget (max_steps)")
    model.save(tmp_path / "m.genlab")
    loaded = genlab.load(tmp_path / "m.genlab")
    assert loaded.stopped_by_ == "steps" and loaded.steps_trained_ == 7  # the card shows it


def test_sequence_schedule_follows_the_step_budget(monkeypatch):
    seen: list[float] = []
    real = training.cosine_lr

    def spy(step: int, frac: float, lr: float, warmup: int) -> float:
        seen.append(frac)
        return real(step, frac, lr, warmup)

    monkeypatch.setattr(training, "cosine_lr", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = genlab.fit(TEXT, "autoregressive", data_kind="sequence", seed=0,
                           **{**TINY_TRANSFORMER, "epochs": 50, "max_steps": 4})
    assert model.stopped_by_ == "steps"
    assert seen == [0.0, 0.25, 0.5, 0.75]


# -- bf16 only where it is native -------------------------------------------------------------
def _fake_cpu(monkeypatch, tmp_path: Path, flags: str, capability: str = "avx512") -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: {flags}\n")
    monkeypatch.setattr(_machine, "_CPUINFO", info)
    monkeypatch.setattr(_machine, "torch_cpu_capability", lambda: capability)
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)


@pytest.mark.parametrize("flags, capability, env, native", [
    pytest.param("avx2 avx512f avx512_bf16", "avx512", None, True, id="avx512-bf16"),
    pytest.param("avx2 avx512f amx_bf16", "avx512", None, True, id="amx-bf16"),
    pytest.param("avx2 avx512f avx512_bf16", "avx512", "avx2", False, id="forced-avx2"),
    pytest.param("avx2 avx512f avx512_bf16", "default", "default", False, id="forced-default"),
    pytest.param("avx2 avx512f avx512_bf16", "avx2", None, False, id="torch-picked-avx2"),
    pytest.param("avx2 avx512f", "avx512", None, False, id="avx512-without-bf16"),
    pytest.param("avx2", "avx2", None, False, id="avx2-only"),
])
def test_bf16_native_cpu_detection(monkeypatch, tmp_path, flags, capability, env, native):
    _fake_cpu(monkeypatch, tmp_path, flags, capability)
    if env is not None:
        monkeypatch.setenv("ATEN_CPU_CAPABILITY", env)
    assert _machine.bf16_native_cpu() is native
    assert _machine.bf16_native("cpu") is native


@pytest.mark.parametrize("supported", [True, False], ids=["cuda-bf16", "cuda-without-bf16"])
def test_bf16_native_cuda_detection(monkeypatch, supported):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)
    assert _machine.bf16_native("cuda") is supported


def _transformer(bf16: bool) -> Any:
    return genlab.fit(TEXT, "autoregressive", data_kind="sequence", seed=0, bf16=bf16,
                      **TINY_TRANSFORMER)


@pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")
def test_bf16_falls_back_to_float32_with_one_warning(monkeypatch):
    monkeypatch.setattr(training, "bf16_native", lambda device_type: False)
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    with pytest.warns(UserWarning, match="not native") as record:
        emulated = _transformer(bf16=True)
    lines = [str(w.message) for w in record.list if "bf16" in str(w.message)]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "training in float32" in lines[0] and "ATEN_CPU_CAPABILITY=avx2" in lines[0]
    assert emulated.bf16_used_ is False
    plain = _transformer(bf16=False)
    a, b = _state(emulated), _state(plain)
    assert all(torch.equal(a[k], b[k]) for k in a)  # exactly the float32 fit


@pytest.mark.filterwarnings("ignore::genlab.train.ConvergenceWarning")
def test_bf16_is_used_where_native(monkeypatch):
    monkeypatch.setattr(training, "bf16_native", lambda device_type: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = _transformer(bf16=True)
    assert model.bf16_used_ is True


# -- what benchmarks record beside every figure ----------------------------------------------
def test_machine_info_names_cpu_flags_and_kernels(monkeypatch, tmp_path):
    _fake_cpu(monkeypatch, tmp_path, "fpu avx2 avx512f", "avx512")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    info = _machine.machine_info()
    assert info["cpu_model"] == "Test CPU 9000"
    assert info["cores"] >= 1
    assert info["cpu_flags"] == {"avx2": True, "avx512f": True, "avx512_bf16": False,
                                 "amx_bf16": False}
    assert info["torch_cpu_capability"] == "avx512"
    assert info["aten_cpu_capability"] == "avx2"
    assert info["bf16_native_cpu"] is False


def test_machine_info_without_cpuinfo(monkeypatch, tmp_path):
    monkeypatch.setattr(_machine, "_CPUINFO", tmp_path / "missing")
    assert _machine.cpu_flags() == dict.fromkeys(_machine.FLAGS, False)
    assert isinstance(_machine.machine_info()["cpu_model"], str)


def test_real_torch_capability_is_a_lowercase_name():
    capability = _machine.torch_cpu_capability()
    assert isinstance(capability, str) and capability == capability.lower() and capability
