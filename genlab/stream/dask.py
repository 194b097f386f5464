"""Tables larger than one machine, on an existing Dask cluster (`distributed`): the streamed
fit plan (`genlab.stream.plan`) run as map-reduce over partitions, and sampling / scoring
with one task per Parquet part.

    from distributed import Client
    client = Client("tcp://scheduler:8786")                       # or an address string
    m = fit_dask("big/*.parquet", "bayesnet", client=client)      # or a dask DataFrame
    sample_dask(m, 100_000_000, "synthetic/", client=client, seed=0)
    score_dask(m, "big/", "scores/", client=client)

Fit: each stage of the plan is one task per partition (the combine of its batches'
`partial`s, memory bounded by `batch_rows`) and a tree of `combine` tasks in partition
order, so the total, and the model, are the same whatever the number of workers and equal
to the sequential streamed fit up to the order of float additions (the plan's stated
tolerance); counts are exact. Beside the first stage, a task per partition hashes its
rows, fed to the fingerprint in table order, so the fingerprint is the in-memory one.

Sampling draws rows in the blocks of `genlab.stream.sample` (block k from
`np.random.default_rng([seed, k])`), one task per part, so the dataset is the one
`sample_to_parquet` writes for the same seed, whatever the number of workers.

Workers read the data and write the parts themselves: on a real cluster the paths must be
on storage every worker sees (a shared or network file system).
"""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path
from typing import Any

from genlab.errors import ParameterError
from genlab.stream.dask_parts import PIECE_ROWS, connect, is_dask_frame

__all__ = ["fit_dask", "sample_dask", "score_dask"]

BATCH_ROWS = 100_000


def _rows_arg(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


class _Partitions:
    """The data as partitions for tasks: Parquet pieces, or a dask DataFrame's partitions
    (with its meta's types, checked on the workers)."""

    def __init__(self, data: Any, piece_rows: int) -> None:
        from genlab.stream.dask_parts import parquet_pieces

        self.frame = data if is_dask_frame(data) else None
        if self.frame is not None:
            self.columns = [str(c) for c in data.columns]
            self.dtypes = {str(k): str(v) for k, v in data.dtypes.items()}
            self.count = int(data.npartitions)
            self.pieces: list[Any] = []
        elif isinstance(data, str | os.PathLike):
            self.pieces, self.columns = parquet_pieces(data, piece_rows)
            self.count, self.dtypes = len(self.pieces), {}
        else:
            raise ParameterError(f"a Dask fit reads a Parquet file, folder or glob, or a "
                                 f"dask.dataframe.DataFrame, not a {type(data).__name__}; "
                                 "write the table to Parquet or use dd.from_pandas")

    def map(self, client: Any, func: Any, **kwargs: Any) -> list[Any]:
        """One task `func(partition, ..., check=...)` per partition, as futures in order."""
        import dask

        if self.frame is None:
            return client.map(func, self.pieces, pure=False, **kwargs)
        parts = self.frame.to_delayed()
        tasks = [dask.delayed(func, pure=False)(part, check=(self.dtypes, i), **kwargs)
                 for i, part in enumerate(parts)]
        return client.compute(tasks)


def _send(client: Any, data: Any) -> Any:
    """A future of `data` on the cluster, sent once, that survives the loss of the worker
    holding it (`client.scatter` data has no lineage, and a broadcast fails when a worker
    dies during it)."""
    from genlab.stream.dask_tasks import value

    return client.submit(value, data, pure=False)


class _Job:
    """One fit on the cluster: its id, what a worker rebuilds the plan from, and the
    totals of the stages finished so far (sent once, fetched by the workers)."""

    def __init__(self, client: Any, plan: Any) -> None:
        import uuid

        m = plan.model
        params = {k: v for k, v in m.get_params().items() if k != "seed"}
        self.client, self.id = client, uuid.uuid4().hex
        self.spec = (m.family, params, int(m.seed_))
        self.totals: list[Any] = []
        self.pending: list[Any] = []

    def context(self) -> dict[str, Any]:
        """The keyword arguments of a stage's tasks (the totals sent when first needed)."""
        for total in self.pending:
            self.totals.append(_send(self.client, total))
        self.pending = []
        return {"job": self.id, "spec": self.spec, "totals": list(self.totals)}

    def finished(self, total: Any) -> None:
        self.pending.append(total)


def _tree(job: _Job, futures: list[Any]) -> Any:
    """The total of `futures` by a balanced tree of combines, pairing in partition order
    (the same float additions whatever the workers). Every future of the tree is held
    until the total is in: a result lost with its worker is then made again from its
    inputs, which Dask could not do once they were released."""
    from genlab.stream.dask_tasks import combine_totals

    level, held = list(futures), list(futures)
    while len(level) > 1:
        nxt = [job.client.submit(combine_totals, level[i], level[i + 1], pure=False,
                                 **job.context()) for i in range(0, len(level) - 1, 2)]
        level = nxt + ([level[-1]] if len(level) % 2 else [])
        held += nxt
    return level[0].result()


def _run_stage(job: _Job, stage: Any, parts: _Partitions, batch_rows: int,
               fingerprint: Any) -> Any:
    """One stage over every partition; with `fingerprint` (the first stage), the rows'
    hashes are computed beside it and fed to it in table order, one partition at a time."""
    from genlab._progress import task
    from genlab.stream.dask_tasks import fit_part, hash_part

    client = job.client
    names = stage.columns or (parts.columns if parts.frame is None else None)
    futures = parts.map(client, fit_part, names=names, batch_rows=batch_rows, **job.context())
    with task(f"dask: {stage.name}", parts.count) as advance:
        if fingerprint is not None:
            hashes = parts.map(client, hash_part, batch_rows=batch_rows,
                               names=parts.columns if parts.frame is None else None)
            fingerprint.start(parts.columns)
            for i in range(len(hashes)):  # in table order; later partitions run meanwhile
                fingerprint.update_hashes(hashes[i].result())
                hashes[i] = None  # released: its rows' hashes are no longer needed
                advance(1)
        total = _tree(job, futures)
        if fingerprint is None:
            advance(parts.count)
    return total


def fit_dask(data: Any, model: Any = "bayesnet", *, client: Any = None,
             batch_rows: int = BATCH_ROWS, piece_rows: int = PIECE_ROWS,
             seed: int | None = None, timeout: float | None = None,
             **params: Any) -> Any:
    """Fit the family `model` (`genlab.stream.plan.PLANNED_FAMILIES`) on a Dask cluster to
    a Parquet file, folder or glob (read by the workers, `piece_rows` rows of row groups a
    task) or to a `dask.dataframe.DataFrame`. `client`: a `distributed.Client`, a scheduler
    address ('tcp://host:8786') or None for the current client. The model equals the
    sequential streamed fit within the plan's tolerance, whatever the number of workers."""
    from genlab.stream.plan import fit_plan

    batch = _rows_arg(batch_rows, "batch_rows")
    _rows_arg(piece_rows, "piece_rows")
    plan = fit_plan(model, seed=seed, **params)
    parts = _Partitions(data, piece_rows)
    if not parts.count:
        from genlab.errors import DataError

        raise DataError("the dask DataFrame has no partitions; give a table with rows")
    with connect(client, timeout=timeout) as c:
        job = _Job(c, plan)
        while (stage := plan.next_stage()) is not None:
            first = not job.totals and not job.pending
            total = _run_stage(job, stage, parts, batch, plan.fingerprint if first else None)
            stage.finish(total)
            job.finished(total)
    return plan.result()


def _first_schema(model: Any, count: int, seed: int, block: int,
                  conditions: dict[str, Any], per_part: int, meta: bytes) -> bytes:
    """The dataset's Arrow schema as the sequential writer fixes it (from the first slice
    of part 0), serialised for the workers, so every part is written with the same one."""
    from genlab.stream.sample import _BlockSource, _write_part

    source = _BlockSource(model, count, seed, block, conditions)
    with tempfile.TemporaryDirectory(prefix="genlab-dask-") as folder:
        schema = _write_part(source, 0, min(count, per_part, block),
                             Path(folder) / "probe.parquet", None, meta)
    return schema.serialize().to_pybytes()


def sample_dask(model: Any, n: int, path: str | os.PathLike[str], *, client: Any = None,
                seed: int | None = None, rows_per_part: int | None = None,
                block_rows: int | None = None, conditions: dict[str, Any] | None = None,
                timeout: float | None = None) -> Path:
    """`genlab.stream.sample_to_parquet` on a Dask cluster: one task per part, each worker
    loading the model from its `.genlab` bytes; the same seed gives the same parts whatever
    the number of workers. `path` must be on storage the workers share. Returns the folder."""
    from genlab.stream.dask_parts import model_blob
    from genlab.stream.dask_tasks import sample_part
    from genlab.stream.sample import BLOCK_ROWS, ROWS_PER_PART, _prepare, _write_dataset

    job = _prepare(model, n, path, seed, ROWS_PER_PART if rows_per_part is None
                   else rows_per_part, BLOCK_ROWS if block_rows is None else block_rows,
                   conditions)
    count, _, _, used, per_part, block, conds = job
    with connect(client, timeout=timeout) as c:
        def write_parts(folder: Path, meta: bytes) -> None:
            schema = _first_schema(model, count, used, block, conds, per_part, meta)
            blob = _send(c, model_blob(model))
            futures = c.map(sample_part, range(-(-count // per_part)), blob=blob,
                            count=count, seed=used, block=block, conditions=conds,
                            per_part=per_part, folder=str(folder.absolute()), schema=schema,
                            meta=meta,
                            pure=False)
            _follow(c, futures, f"sampling {type(model).__name__} on Dask", count)

        return _write_dataset(model, *job, write_parts=write_parts)


def _follow(client: Any, futures: list[Any], what: str, total: int) -> None:
    """Wait for `futures` (each returning its row count), in order, under a progress bar; a
    failure is raised as the worker raised it."""
    from genlab._progress import task

    with task(what, total) as advance:
        for f in futures:
            advance(f.result())


def score_dask(model: Any, data: Any, out: str | os.PathLike[str], *, client: Any = None,
               batch_rows: int = BATCH_ROWS, piece_rows: int = PIECE_ROWS,
               timeout: float | None = None) -> Path:
    """The log-likelihood of every row of a Parquet source or dask DataFrame, written by
    the workers as a Parquet dataset folder `out` (part-00000.parquet, ...: columns item,
    the row's number in the table, and log_prob). Returns the folder."""
    from genlab.stream.dask_parts import model_blob
    from genlab.stream.sample import _check_target, folder_in_place

    batch = _rows_arg(batch_rows, "batch_rows")
    _rows_arg(piece_rows, "piece_rows")
    model._check_fitted()
    target = Path(out)
    _check_target(target)
    parts = _Partitions(data, piece_rows)
    with connect(client, timeout=timeout) as c:
        if parts.frame is None:
            starts = [p.start for p in parts.pieces]
            rows = sum(p.rows for p in parts.pieces)
        else:  # a pass for the partitions' lengths numbers the rows before they are scored
            lengths = c.compute(parts.frame.map_partitions(len)).result().tolist()
            starts = [0, *itertools.accumulate(lengths)][:-1]
            rows = sum(lengths)
        with folder_in_place(target) as tmp:
            blob = _send(c, model_blob(model))
            futures = _score_tasks(c, parts, blob, starts, batch, tmp.absolute())
            _follow(c, futures, f"scoring with {type(model).__name__} on Dask", rows)
    return target


def _score_tasks(client: Any, parts: _Partitions, blob: Any, starts: list[int],
                 batch_rows: int, folder: Path) -> list[Any]:
    import dask

    from genlab.stream.dask_tasks import score_part

    if parts.frame is None:
        return client.map(score_part, parts.pieces, range(parts.count), starts, blob=blob,
                          names=parts.columns, batch_rows=batch_rows, folder=str(folder),
                          pure=False)
    tasks = [dask.delayed(score_part, pure=False)(
        part, i, starts[i], blob=blob, names=None, batch_rows=batch_rows, folder=str(folder),
        check=(parts.dtypes, i)) for i, part in enumerate(parts.frame.to_delayed())]
    return client.compute(tasks)

