"""The Dask driver (`genlab.stream.dask`) on clusters the tests start themselves.

The main cluster is `LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`: two
worker processes, so every task, stage total and model really travels serialised (and no
model object may be pickled: `Model.__reduce_ex__` raises during those tests). The
fault test uses in-process workers (`processes=False`), where a test can hold one task
and close its worker under it. Fits equal the sequential streamed fit (same batches, so the
copula's batch-seeded draws are the same; floats within 1e-9 relative, the plan's stated
tolerance) and, for gaussian and bayesnet, the in-memory fit.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import genlab
from genlab.errors import DataError, ParameterError

distributed = pytest.importorskip("distributed", reason="the Dask tests need the dask extra "
                                  "(pip install 'genlab[dask]')")
dd = pytest.importorskip("dask.dataframe", reason="the Dask tests need dask[dataframe]")

from genlab.stream.dask import fit_dask, sample_dask, score_dask  # noqa: E402
from genlab.stream.fit import fit_streaming  # noqa: E402
from genlab.stream.sample import sample_to_parquet  # noqa: E402

RTOL = 1e-9
BATCH, PIECE = 40, 120  # several batches per task, several tasks per file


def _table(n: int = 480) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    group = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    x1 = rng.normal(pd.Series(group).map({"a": 0.0, "b": 2.0, "c": -2.0}).to_numpy(), 1.0)
    df = pd.DataFrame({"x1": x1.round(3), "x2": (0.8 * x1 + rng.normal(0, 0.5, n)).round(3),
                       "count": rng.poisson(20, n).astype(np.int64), "group": group,
                       "city": rng.choice(["north", "south", "east"], size=n)})
    df.loc[rng.random(n) < 0.05, "x2"] = np.nan
    return df


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    """Three Parquet files of row groups of 50 rows (what an in-memory fit reads back)."""
    folder = tmp_path_factory.mktemp("dask") / "table"
    folder.mkdir()
    df = _table()
    for k, start in enumerate(range(0, len(df), 160)):
        df.iloc[start:start + 160].to_parquet(folder / f"part-{k:05d}.parquet", index=False,
                                              row_group_size=50)
    return pd.read_parquet(folder), folder


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster, set_as_default=False) as c:
        yield c  # not the default client: every call must use the one it is given


@pytest.fixture
def no_model_pickle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to pickle a model object fails the test (models travel as file bytes)."""
    from genlab.models.base import Model

    def refuse(self, protocol):  # noqa: ANN001, ANN202
        raise AssertionError(f"a {type(self).__name__} was pickled")

    monkeypatch.setattr(Model, "__reduce_ex__", refuse, raising=False)


def _same_model(a, b, df: pd.DataFrame, rtol: float = RTOL) -> None:  # noqa: ANN001
    assert a.n_rows_ == b.n_rows_ == len(df)
    assert a.schema_.to_dict() == b.schema_.to_dict()
    np.testing.assert_allclose(a.log_prob(df), b.log_prob(df), rtol=rtol)
    pd.testing.assert_frame_equal(a.sample(30, seed=4), b.sample(30, seed=4),
                                  check_exact=False, rtol=1e-6)


@pytest.mark.parametrize("family", ["bayesnet", "copula", "gaussian", "mixture"])
def test_fit_equals_streamed_fit(client, data, no_model_pickle, family: str) -> None:
    df, folder = data
    params = {"n_components": 2, "max_iter": 2} if family == "mixture" else {}
    got = fit_dask(folder, family, client=client, batch_rows=BATCH, piece_rows=PIECE, seed=0,
                   **params)
    seq = fit_streaming(folder, family, batch_rows=BATCH, seed=0, **params)
    assert got.fingerprint_ == seq.fingerprint_
    _same_model(got, seq, df)
    if family in ("bayesnet", "gaussian"):  # these streamed fits are the in-memory ones
        mem = genlab.fit(df, family, seed=0)
        assert got.fingerprint_ == mem.fingerprint_
        _same_model(got, mem, df)


def test_same_model_whatever_the_workers(client, data) -> None:
    df, folder = data
    two = fit_dask(str(folder / "*.parquet"), "copula", client=client, batch_rows=BATCH,
                   piece_rows=PIECE, seed=3)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        one = fit_dask(folder, "copula", client=cluster.scheduler_address, batch_rows=BATCH,
                       piece_rows=PIECE, seed=3)  # an address string: connected and closed
    np.testing.assert_array_equal(one.correlation_, two.correlation_)  # same tree of sums
    np.testing.assert_array_equal(one.log_prob(df), two.log_prob(df))


def test_fit_a_dask_dataframe(client, data, no_model_pickle) -> None:
    df, _ = data
    ddf = dd.from_pandas(df, npartitions=4)
    got = fit_dask(ddf, "bayesnet", client=client, batch_rows=BATCH, seed=0)
    mem = genlab.fit(ddf.compute(), "bayesnet", seed=0)
    assert got.fingerprint_ == mem.fingerprint_
    _same_model(got, mem, df)


def _parts(folder: Path) -> dict[str, object]:
    import pyarrow.parquet as pq

    from genlab.provenance_files import KEY

    out = {}
    for path in sorted(folder.glob("part-*.parquet")):
        table = pq.read_table(path)
        meta = {k: v for k, v in (table.schema.metadata or {}).items() if k != KEY.encode()}
        out[path.name] = (table.replace_schema_metadata(meta), meta)
    return out


def test_sample_identical_on_one_or_two_workers(client, data, tmp_path: Path,
                                                no_model_pickle) -> None:
    df, _ = data
    m = genlab.fit(df, "bayesnet", seed=0)
    args = {"seed": 11, "rows_per_part": 130, "block_rows": 64}
    seq = _parts(sample_to_parquet(m, 500, tmp_path / "seq", **args))
    two = _parts(sample_dask(m, 500, tmp_path / "two", client=client, **args))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster, set_as_default=False) as one_client:
        one = _parts(sample_dask(m, 500, tmp_path / "one", client=one_client, **args))
    assert list(seq) == list(two) == list(one) == [f"part-{p:05d}.parquet" for p in range(4)]
    for name in seq:
        assert seq[name][0].equals(two[name][0]) and seq[name][0].equals(one[name][0])
        assert seq[name][1] == two[name][1] == one[name][1]  # the pandas metadata too
    assert (tmp_path / "two.provenance.json").is_file()


def test_score_files_and_dataframes(client, data, tmp_path: Path, no_model_pickle) -> None:
    df, folder = data
    m = genlab.fit(df, "gaussian", seed=0)
    want = m.log_prob(df)
    for name, source in (("files", folder), ("frame", dd.from_pandas(df, npartitions=3))):
        got = pd.read_parquet(score_dask(m, source, tmp_path / name, client=client,
                                         batch_rows=BATCH, piece_rows=PIECE))
        got = got.sort_values("item")
        np.testing.assert_array_equal(got["item"].to_numpy(), np.arange(len(df)))
        np.testing.assert_allclose(got["log_prob"].to_numpy(), want, rtol=1e-12)


def test_cli_fit_sample_score_on_the_cluster(client, data, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from genlab.cli import app

    df, folder = data
    address = client.scheduler.address
    run = CliRunner().invoke
    out = tmp_path / "m.genlab"
    result = run(app, ["fit", str(folder), "--cluster", address, "--model", "bayesnet",
                       "--batch-rows", "40", "--seed", "0", "-o", str(out)])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(genlab.load(out).log_prob(df),
                               genlab.fit(df, "bayesnet", seed=0).log_prob(df), rtol=RTOL)
    result = run(app, ["sample", str(out), "-n", "300", "-o", str(tmp_path / "s"),
                       "--cluster", address, "--seed", "2", "--rows-per-part", "100"])
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(tmp_path / "s")) == 300
    seq = sample_to_parquet(genlab.load(out), 300, tmp_path / "seq", seed=2, rows_per_part=100)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "s"), pd.read_parquet(seq))
    result = run(app, ["score", str(out), str(folder), "--cluster", address,
                       "-o", str(tmp_path / "scores.parquet")])
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(tmp_path / "scores.parquet")) == len(df)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler(data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from genlab.cli import app

    _, folder = data
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(ParameterError, match=r"cannot reach a Dask scheduler at 'tcp://127"
                       r"\.0\.0\.1:\d+' within 0\.5s; start one there \(`dask scheduler`"):
        fit_dask(folder, "bayesnet", client=address, timeout=0.5)
    monkeypatch.setenv("GENLAB_DASK_TIMEOUT", "0.5")
    result = CliRunner().invoke(app, ["fit", str(folder), "--cluster", address,
                                      "-o", str(tmp_path / "m.genlab")])
    assert result.exit_code == 2
    assert "cannot reach a Dask scheduler" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(app, ["fit", str(folder), "--cluster", address, "--condition",
                                      "group", "-o", str(tmp_path / "m.genlab")])
    assert result.exit_code == 2 and "takes none of --condition yet" in result.output
    model = genlab.fit(_table(40), "gaussian", seed=0).save(tmp_path / "g.genlab")
    result = CliRunner().invoke(app, ["score", str(model), str(folder), "--cluster", address])
    assert result.exit_code == 2 and "give -o, e.g. -o scores.parquet" in result.output
    monkeypatch.setenv("GENLAB_DASK_TIMEOUT", "soon")
    with pytest.raises(ParameterError, match="GENLAB_DASK_TIMEOUT is a number of seconds"):
        fit_dask(folder, "bayesnet", client=address)


def test_bad_input(client, data, tmp_path: Path) -> None:
    df, folder = data
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    df.to_parquet(mixed / "a.parquet", index=False)
    df.assign(count=df["count"].astype(str)).to_parquet(mixed / "b.parquet", index=False)
    with pytest.raises(DataError, match=r"b\.parquet'?: column 'count' is (large_)?string"):
        fit_dask(mixed, "bayesnet", client=client)
    import dask

    halves = [dask.delayed(df.iloc[:200]),
              dask.delayed(df.iloc[200:].assign(count=df["count"].iloc[200:] * 0.5))]
    ddf = dd.from_delayed(halves, meta=df.iloc[:0])
    with pytest.raises(DataError, match=r"partition 1 of the dask DataFrame: column 'count' "
                       r"is float64, but int64 in its meta"):
        fit_dask(ddf, "bayesnet", client=client)
    with pytest.raises(ParameterError, match="not a DataFrame; write the table to Parquet"):
        fit_dask(df, "bayesnet", client=client)
    with pytest.raises(ParameterError, match="does not support|supports the families"):
        fit_dask(folder, "vae", client=client)
    with pytest.raises(ParameterError, match="batch_rows must be a positive integer"):
        fit_dask(folder, "bayesnet", client=client, batch_rows=0)
    with pytest.raises(ParameterError, match="no Dask client is running; pass client="):
        fit_dask(folder, "bayesnet")  # no client given and no default one


_HOLD: dict[str, object] = {}  # shared with the in-process workers of the fault test


def _held_fit_part(part, **kwargs):  # noqa: ANN001, ANN003, ANN202
    """`fit_part`, where the first run of one piece's second stage waits for a release.
    At module level, so a task names it (pickled by reference)."""
    if part.index == 2 and len(kwargs["totals"]) == 1:
        calls = _HOLD["calls"]
        calls.append(distributed.get_worker().address)  # type: ignore[attr-defined]
        if len(calls) == 1:  # type: ignore[arg-type]
            _HOLD["held"].set()  # type: ignore[attr-defined]
            _HOLD["release"].wait(30)  # type: ignore[attr-defined]
    return _HOLD["real"](part, **kwargs)  # type: ignore[operator]


def test_worker_lost_mid_fit(data, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker closed while it runs a task of the fit: Dask runs the task again on the
    other worker, and the model is still the sequential fit's."""
    from genlab.stream import dask_tasks

    df, folder = data
    held, release = threading.Event(), threading.Event()
    _HOLD.update(real=dask_tasks.fit_part, held=held, release=release, calls=[])
    monkeypatch.setattr(dask_tasks, "fit_part", _held_fit_part)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster, set_as_default=False) as c:
        result: dict[str, object] = {}
        fitting = threading.Thread(target=lambda: result.update(m=fit_dask(
            folder, "bayesnet", client=c, batch_rows=BATCH, piece_rows=PIECE, seed=0)))
        fitting.start()
        assert held.wait(60), "the held task never started"
        victim = next(w for w in cluster.workers.values() if w.address == _HOLD["calls"][0])
        cluster.sync(victim.close, executor_wait=False)
        release.set()
        fitting.join(60)
        assert len(c.scheduler_info()["workers"]) == 1
    first, again = _HOLD["calls"]  # type: ignore[misc]  # the lost task ran again,
    assert first != again  # on the other worker
    seq = fit_streaming(folder, "bayesnet", batch_rows=BATCH, seed=0)
    assert result["m"].fingerprint_ == seq.fingerprint_  # type: ignore[attr-defined]
    _same_model(result["m"], seq, df)
