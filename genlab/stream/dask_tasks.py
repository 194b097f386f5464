"""What the Dask workers run for `genlab.stream.dask`. Every task is pure (its result depends
on its arguments only), so a task lost with its worker is run again elsewhere and the result
is unchanged. The functions live at module level: a task names them, and a worker imports
them from its own genlab. Only plain values travel: partitions (or where to read them),
the fit's family, parameters and seed, the stage totals, and models as `.genlab` bytes; a
worker rebuilds the fit plan from the family and the totals of the stages before
(`_Replay`), so neither a model object nor a stage's closures are ever pickled.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from genlab.errors import DataError

__all__ = ["combine_totals", "fit_part", "hash_part", "sample_part", "score_part", "value"]


def _check_frame(frame: Any, dtypes: dict[str, str], index: int) -> None:
    """A partition of a dask DataFrame must have its meta's columns and types."""
    got = {str(k): str(v) for k, v in frame.dtypes.items()}
    for name, dtype in dtypes.items():
        if name not in got:
            raise DataError(f"partition {index} of the dask DataFrame has no column {name!r}, "
                            "which its meta has; give every partition the same columns")
        if got[name] != dtype:
            raise DataError(f"partition {index} of the dask DataFrame: column {name!r} is "
                            f"{got[name]}, but {dtype} in its meta; give every partition the "
                            "same types (ddf.astype(...))")
    extra = [n for n in got if n not in dtypes]
    if extra:
        raise DataError(f"partition {index} of the dask DataFrame has column {extra[0]!r}, "
                        "which its meta has not; give every partition the same columns")


def batches(part: Any, names: list[str] | None, batch_rows: int,
            check: tuple[dict[str, str], int] | None = None) -> Iterator[Any]:
    """The rows of a partition (a `Piece` of Parquet files, or a pandas partition of a dask
    DataFrame checked against `check` = (meta dtypes, partition index)) in batches."""
    from genlab.stream.dask_parts import Piece, read_piece

    if isinstance(part, Piece):
        yield from read_piece(part, names or [], batch_rows)
        return
    if check is not None:
        _check_frame(part, *check)
    frame = part if names is None else part[names]
    frame = frame.reset_index(drop=True)  # the index is the partition's, not the table's
    for start in range(0, len(frame), batch_rows):
        yield frame.iloc[start:start + batch_rows]


class _Replay:
    """A worker's copy of one fit plan, advanced by finishing the stage totals the client
    sent, so a stage's functions are made on the worker and never travel."""

    def __init__(self, spec: tuple[str, dict[str, Any], int]) -> None:
        from genlab.stream.plan import fit_plan

        family, params, seed = spec
        self.plan = fit_plan(family, seed=seed, **params)
        self.done, self.stage = 0, None

    def stage_after(self, totals: list[Any]) -> Any:
        while self.done < len(totals):
            stage = self.stage or self.plan.next_stage()
            stage.finish(totals[self.done])
            self.done, self.stage = self.done + 1, None
        if self.stage is None:
            self.stage = self.plan.next_stage()
        return self.stage


_PLANS: dict[str, _Replay] = {}
_LOCK = threading.Lock()


def _stage(job: str, spec: tuple[str, dict[str, Any], int], totals: list[Any]) -> Any:
    """Stage `len(totals)` of the fit `job` (family, parameters, seed = `spec`), replayed
    on this worker from the earlier stages' totals (one copy per job and worker process)."""
    with _LOCK:
        replay = _PLANS.get(job)
        if replay is None or replay.done > len(totals):
            while len(_PLANS) >= 2:  # this job's and the next one's
                _PLANS.pop(next(iter(_PLANS)))
            replay = _PLANS[job] = _Replay(spec)
        return replay.stage_after(totals)


def fit_part(part: Any, *, job: str, spec: tuple[str, dict[str, Any], int],
             totals: list[Any], names: list[str] | None, batch_rows: int,
             check: tuple[dict[str, str], int] | None = None) -> Any:
    """Stage `len(totals)` over one partition: the combine of its batches' partials (None
    for a partition without rows)."""
    stage = _stage(job, spec, totals)
    total = None
    for batch in batches(part, names, batch_rows, check):
        piece = stage.partial(batch)
        total = piece if total is None else stage.combine(total, piece)
    return total


def hash_part(part: Any, *, names: list[str] | None, batch_rows: int,
              check: tuple[dict[str, str], int] | None = None) -> np.ndarray:
    """The 8-byte hash of every row of a partition, in order (the fingerprint's input)."""
    from genlab.stream.plan import row_hashes

    found = [row_hashes(batch) for batch in batches(part, names, batch_rows, check)]
    return np.concatenate(found) if found else np.zeros(0, np.uint64)


def combine_totals(a: Any, b: Any, *, job: str, spec: tuple[str, dict[str, Any], int],
                   totals: list[Any]) -> Any:
    """The stage's `combine` of two partitions' totals (None: a partition without rows)."""
    if a is None or b is None:
        return b if a is None else a
    return _stage(job, spec, totals).combine(a, b)


def value(x: Any) -> Any:
    """`x` itself: a task holding a value the client sends once (stage totals, a model's
    bytes); unlike scattered data it has a lineage, so a copy lost with its worker is
    made again from the task."""
    return x


def sample_part(p: int, *, blob: bytes, count: int, seed: int, block: int,
                conditions: dict[str, Any], per_part: int, folder: str, schema: bytes,
                meta: bytes) -> int:
    """Write part `p` (rows p * per_part, ...) of a sampled dataset into `folder`, drawing
    its blocks as `genlab.stream.sample` does; returns its row count."""
    import pyarrow as pa

    from genlab.stream.dask_parts import model_from_blob
    from genlab.stream.sample import _BlockSource, _write_part

    model = model_from_blob(blob)
    source = _BlockSource(model, count, seed, block, conditions)
    start = p * per_part
    stop = min(count, start + per_part)
    shape = pa.ipc.read_schema(pa.py_buffer(schema))
    _write_part(source, start, stop, Path(folder) / f"part-{p:05d}.parquet", shape, meta)
    return stop - start


def score_part(part: Any, p: int, start: int, *, blob: bytes, names: list[str] | None,
               batch_rows: int, folder: str,
               check: tuple[dict[str, str], int] | None = None) -> int:
    """Write the log-likelihood of each row of a partition, as columns item (the row's
    number in the whole table) and log_prob, to `folder`/part-<p>.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from genlab.stream.dask_parts import model_from_blob

    model = model_from_blob(blob)
    schema = pa.schema([("item", pa.int64()), ("log_prob", pa.float64())])
    item = start
    with pq.ParquetWriter(Path(folder) / f"part-{p:05d}.parquet", schema) as writer:
        for batch in batches(part, names, batch_rows, check):
            lp = np.asarray(model.log_prob(batch), dtype=np.float64)
            items = np.arange(item, item + len(batch), dtype=np.int64)
            writer.write_table(pa.table({"item": items, "log_prob": lp}, schema=schema))
            item += len(batch)
    return item - start
