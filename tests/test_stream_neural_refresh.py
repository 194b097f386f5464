"""Streamed neural fits over the whole table (genlab.stream.neural): each epoch after the
first trains on a fresh seeded uniform buffer of the table, the validation rows of the
first buffer stay out of every later one, and a checkpointed fit resumes bit for bit."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

import genlab.checkpoint
import genlab.stream.neural as neural
from genlab.datasets import load_adult_sample
from genlab.errors import ParameterError
from genlab.stream.fit import fit_streaming
from genlab.train import validation_rows

QUICK = {"epochs": 3, "batch_size": 100, "seed": 4}
FAMILIES = ["vae", "autoregressive", "flow", "gan"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    df = load_adult_sample("train").head(500).drop(columns=["fnlwgt"])
    out = tmp_path / "parts"
    out.mkdir()
    df.iloc[:230].to_parquet(out / "a.parquet", index=False)
    df.iloc[230:].to_parquet(out / "b.parquet", index=False)
    return out


def _fit(folder: Path, family: str, **extra: Any) -> Any:
    if family == "gan":  # the generator trains from the second step (a critic warm-up of 1)
        extra = {"warmup_steps": 1, **extra}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_streaming(folder, family, batch_rows=64, buffer_rows=150,
                             **{**QUICK, **extra})


def _same(a: Any, b: Any) -> bool:
    sa, sb = a.net_.state_dict(), b.net_.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def picks(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every later epoch's buffer as drawn: its epoch, the rows kept out, the rows."""
    drawn: list[dict[str, Any]] = []
    pick = neural._pick

    def recording(n: int, k: int, seed: int, epoch: int, exclude: np.ndarray) -> np.ndarray:
        rows = pick(n, k, seed, epoch, exclude)
        drawn.append({"epoch": epoch, "exclude": exclude.copy(), "rows": rows, "k": k})
        return rows

    monkeypatch.setattr(neural, "_pick", recording)
    return drawn


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_trains_on_fresh_buffers_and_stays_seeded(
        folder: Path, family: str, picks: list[dict[str, Any]]) -> None:
    m = _fit(folder, family)
    assert [p["epoch"] for p in picks] == [1, 2]  # one fresh buffer per later epoch
    assert m.streamed_rows_ == 150 and m.streamed_buffers_ == 3 and m.n_rows_ == 500
    held = validation_rows(150, m.train_config().val_fraction)
    assert all(p["k"] == 150 - held and p["rows"].size == 150 - held for p in picks)
    # the network saw rows of the whole table, beyond what one buffer holds
    assert m.streamed_distinct_rows_ > 150
    union = np.unique(np.concatenate([p["rows"] for p in picks]))
    assert m.streamed_distinct_rows_ >= union.size and union.max() >= 400
    assert f"{m.streamed_distinct_rows_:,} distinct rows of 500" in m.training_summary_
    rows = m.sample(20, seed=0)
    assert len(rows) == 20 and rows.notna().any().all()
    if family != "gan":
        test = load_adult_sample("test").head(20).drop(columns=["fnlwgt"])
        with warnings.catch_warnings():  # a value outside the buffers is smoothed
            warnings.simplefilter("ignore")
            assert np.isfinite(m.log_prob(test)).all()
    again = _fit(folder, family)
    assert _same(m, again)  # same seed, same buffers, same model
    assert not _same(m, _fit(folder, family, refresh=False))


def test_validation_rows_are_never_in_a_training_buffer(
        folder: Path, picks: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    first: list[np.ndarray] = []
    draw = neural._first_buffer

    def keep(*args: Any) -> Any:
        out = draw(*args)
        first.append(out[1])
        return out

    monkeypatch.setattr(neural, "_first_buffer", keep)
    m = _fit(folder, "vae", val_fraction=0.2)
    held = picks[0]["exclude"]
    assert held.size == 30 and np.isin(held, first[0]).all()  # 20 % of the first buffer
    for p in picks:
        np.testing.assert_array_equal(p["exclude"], held)  # one validation set throughout
        assert not np.isin(p["rows"], held).any()
        assert np.unique(p["rows"]).size == p["rows"].size == 120
    assert m.streamed_distinct_rows_ <= 500 - 30


def test_the_validation_rows_are_those_the_loop_scores(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import genlab.train as train

    seen: dict[str, Any] = {}
    original = train._loss_sums

    def scored(loss_fn: Any, data: Any, idx: torch.Tensor, batch_size: int) -> list[float]:
        seen.setdefault("val", (data, idx.clone()))
        return original(loss_fn, data, idx, batch_size)

    calls: list[tuple[int, torch.Tensor]] = []
    refresh_call = neural._Refresh.__call__

    def spy(self: Any, epoch: int, held_out: Any) -> Any:
        calls.append((epoch, held_out.clone()))
        return refresh_call(self, epoch, held_out)

    monkeypatch.setattr(train, "_loss_sums", scored)
    monkeypatch.setattr(neural._Refresh, "__call__", spy)
    _fit(folder, "flow", epochs=2)
    data, idx = seen["val"]
    assert data[0].shape[0] == 150  # validation scores the first buffer ...
    assert calls and torch.equal(calls[0][1], idx)  # ... at the rows kept out of refreshes


def test_refresh_false_is_the_single_buffer_fit(folder: Path,
                                                 picks: list[dict[str, Any]]) -> None:
    from genlab.models.registry import make_model
    from genlab.stream.codec import stream_codec

    m = _fit(folder, "vae", refresh=False)
    assert not picks and m.streamed_buffers_ == 1 and m.streamed_distinct_rows_ == 135
    # the fit before refreshing existed: the buffer's rows only, every epoch
    rows, _, _ = neural._sample(folder, 64, 150, QUICK["seed"])
    old = make_model("vae", "table", **QUICK)
    old.seed_, old.history_, old.conditions_ = QUICK["seed"], [], []
    old.constraints_, old.text_ = None, None
    codec = old.schema_ = stream_codec(folder, 64)
    old.missing_rate_ = np.array([s.missing_rate for s in codec.numeric])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old._fit_arrays(codec.encode(rows), [], np.random.default_rng(QUICK["seed"]))
    assert _same(m, old)


class _Killed(Exception):
    pass


@pytest.mark.parametrize("family", ["vae", "gan"])
def test_a_refreshed_fit_resumes_bit_for_bit(folder: Path, tmp_path: Path, family: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    full = _fit(folder, family)
    ck = tmp_path / "ck.pt"
    saving = {"checkpoint_every": 3, "checkpoint_path": str(ck)}
    save = genlab.checkpoint.save

    def save_then_die(*args: Any, **kwargs: Any) -> None:
        save(*args, **kwargs)
        raise _Killed  # as if killed right after the checkpoint

    monkeypatch.setattr(genlab.checkpoint, "save", save_then_die)
    with pytest.raises(_Killed):
        _fit(folder, family, **saving)
    monkeypatch.setattr(genlab.checkpoint, "save", save)
    stored = torch.load(ck, weights_only=True)
    # two steps an epoch: step 3 is inside the second epoch, on its refreshed buffer
    assert stored["loop"]["epoch"] == 1 and stored["loop"]["offset"] > 0
    resumed = _fit(folder, family, **saving, resume=True)
    assert _same(full, resumed)
    assert resumed.streamed_distinct_rows_ == full.streamed_distinct_rows_


def test_a_single_buffer_checkpoint_is_refused_by_a_refreshed_resume(
        folder: Path, tmp_path: Path) -> None:
    ck = {"checkpoint_every": 2, "checkpoint_path": str(tmp_path / "ck.pt")}
    _fit(folder, "vae", refresh=False, **ck)
    with pytest.raises(ParameterError, match="written with other settings"):
        _fit(folder, "vae", resume=True, **ck)


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_bad_refresh_is_one_line(folder: Path, value: object) -> None:
    with pytest.raises(ParameterError, match=r"refresh must be True or False, got"):
        fit_streaming(folder, "vae", buffer_rows=150, refresh=value, **QUICK)


def test_an_epoch_buffer_is_a_uniform_draw_without_the_held_rows() -> None:
    held = np.arange(0, 1000, 10)
    a = neural._pick(1000, 200, 7, 3, held)
    assert a.size == 200 and np.all(np.diff(a) > 0) and not np.isin(a, held).any()
    np.testing.assert_array_equal(a, neural._pick(1000, 200, 7, 3, held))
    assert not np.array_equal(a, neural._pick(1000, 200, 7, 4, held))  # fresh per epoch
    # over many epochs every row but the held ones is drawn equally often
    counts = np.bincount(np.concatenate([neural._pick(1000, 200, 7, e, held)
                                         for e in range(1, 201)]), minlength=1000)
    assert counts[held].sum() == 0
    free = np.delete(counts, held)
    assert abs(free.mean() - 200 * 200 / 900) < 1e-9 and free.std() < 0.2 * free.mean()


def test_rows_at_reads_the_asked_rows_in_file_order(folder: Path) -> None:
    whole = pd.concat([pd.read_parquet(folder / "a.parquet"),
                       pd.read_parquet(folder / "b.parquet")], ignore_index=True)
    index = np.array([0, 5, 229, 230, 231, 499])
    got = neural._rows_at(folder, 64, index)
    pd.testing.assert_frame_equal(got, whole.iloc[index].reset_index(drop=True))


WORKER = '''
import hashlib, json, os, sys, warnings
warnings.simplefilter("ignore")
import genlab.stream.neural as neural
from genlab.stream.fit import fit_streaming
picks, pick = hashlib.sha256(), neural._pick
def recording(*args):
    rows = pick(*args)
    picks.update(rows.tobytes())
    return rows
neural._pick = recording
m = fit_streaming(sys.argv[1], "vae", batch_rows=64, buffer_rows=150, epochs=3,
                  batch_size=100, seed=4)
digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in m.net_.state_dict().values()))
with open(os.path.join(sys.argv[2], "rank" + os.environ["RANK"] + ".json"), "w") as f:
    json.dump({"net": digest.hexdigest(), "picks": picks.hexdigest(),
               "distinct": m.streamed_distinct_rows_, "buffers": m.streamed_buffers_}, f)
'''


def test_two_ddp_processes_draw_the_same_buffers(folder: Path, tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    from tests._torchrun import one_launch

    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TORCH_CPP_LOG_LEVEL": "ERROR"}
    with one_launch():
        done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                               "--nproc-per-node", "2", str(script), str(folder),
                               str(tmp_path)], capture_output=True, text=True, env=env,
                              timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1] and ranks[0]["buffers"] == 3 and ranks[0]["distinct"] > 150
