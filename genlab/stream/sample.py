"""Chunked sampling of a table model into a partitioned Parquet dataset, in bounded memory.

The rows are one stream cut into *blocks* of `block_rows` rows; block `k` is drawn from
its own generator `np.random.default_rng([seed, k])`, so row `i` is the same whatever the
part size or how many parts are written at once (a worker can draw any block alone). The
parts `part-00000.parquet`, ... hold `rows_per_part` rows each (the last fewer) and are
written block slice by block slice with `pyarrow.parquet.ParquetWriter`, so at most one
block is held in memory. Every part carries the provenance in its schema metadata; the
folder is written as `.<name>.<random>.tmp/` beside the target and renamed onto it when
complete, then `<folder>.provenance.json` is written beside it (`genlab.provenance`'s rule,
which `genlab provenance <folder>` reads).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from genlab.errors import ParameterError

__all__ = ["BLOCK_ROWS", "ROWS_PER_PART", "sample_to_parquet"]

BLOCK_ROWS = 65_536  # rows drawn from one generator; part of what fixes the rows for a seed
ROWS_PER_PART = 1_000_000


def _positive(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ParameterError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _check_target(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise ParameterError(f"output {str(path)!r} exists and is not a folder; a partitioned "
                             "dataset is written to a folder; choose another path")
    if path.is_dir() and any(path.iterdir()):
        raise ParameterError(f"output folder {str(path)!r} is not empty; give a new or empty "
                             "folder (genlab never mixes its parts with other files)")


def _blocks(start: int, stop: int, block_rows: int) -> list[tuple[int, int, int]]:
    """(block index, first, last) row slices inside each block covering rows [start, stop)."""
    out = []
    for k in range(start // block_rows, (stop - 1) // block_rows + 1):
        lo, hi = max(start, k * block_rows), min(stop, (k + 1) * block_rows)
        out.append((k, lo - k * block_rows, hi - k * block_rows))
    return out


class _BlockSource:
    """Draws block k of the stream once, keeping only the latest block."""

    def __init__(self, model: Any, n: int, seed: int, block_rows: int,
                 conditions: dict[str, Any]) -> None:
        self.model, self.n, self.seed, self.block_rows = model, n, seed, block_rows
        self.conditions = conditions
        self.key, self.frame = -1, None

    def rows(self, k: int, lo: int, hi: int) -> Any:
        if k != self.key:
            self.frame = None  # free the old block before drawing the next one
            first = k * self.block_rows
            m = min(self.block_rows, self.n - first)
            rng = np.random.default_rng([self.seed, k])
            with self.model._inference():
                self.frame = self.model._sample(m, dict(self.conditions), rng, row_offset=first)
            self.key = k
        return self.frame.iloc[lo:hi]


def _write_part(source: _BlockSource, start: int, stop: int, path: Path,
                schema: Any, meta: bytes) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from genlab.provenance_files import KEY

    writer = None
    try:
        for k, lo, hi in _blocks(start, stop, source.block_rows):
            frame = source.rows(k, lo, hi)
            try:
                table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
                raise ParameterError(f"sampled block {k} does not fit the dataset's schema "
                                     f"({str(err).splitlines()[0]})") from None
            if schema is None:
                schema = table.schema.with_metadata(
                    {**(table.schema.metadata or {}), KEY.encode(): meta})
                table = table.replace_schema_metadata(schema.metadata)
            if writer is None:
                writer = pq.ParquetWriter(path, schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return schema


def sample_to_parquet(model: Any, n: int, path: str | os.PathLike[str], *,
                      seed: int | None = None, rows_per_part: int = ROWS_PER_PART,
                      block_rows: int = BLOCK_ROWS,
                      conditions: dict[str, Any] | None = None) -> Path:
    """Sample `n` rows of a fitted table model into the folder `path` as Parquet parts
    (`part-00000.parquet`, ...), holding at most `block_rows` rows in memory at once.

    The same `seed` and `block_rows` give the same rows whatever `rows_per_part`; the
    folder appears only once complete. Returns the folder."""
    job = _prepare(model, n, path, seed, rows_per_part, block_rows, conditions)
    return _write_dataset(model, *job)


def _prepare(model: Any, n: int, path: str | os.PathLike[str], seed: int | None,
             rows_per_part: int, block_rows: int, conditions: dict[str, Any] | None
             ) -> tuple[int, Path, dict[str, Any], int, int, int, dict[str, Any]]:
    """The checked arguments of `sample_to_parquet` and the dataset's provenance, as
    `_write_dataset` takes them (shared with `genlab.stream.dask.sample_dask`)."""
    from genlab.models.base import check_count
    from genlab.seeding import check_seed, draw_seed

    model._check_fitted()
    if getattr(model, "modality", None) != "table":
        raise ParameterError(f"a partitioned Parquet dataset is sampled from table models; "
                             f"{type(model).__name__} is a {model.modality} model")
    count = check_count(n)
    per_part = _positive(rows_per_part, "rows_per_part")
    block = _positive(block_rows, "block_rows")
    given = check_seed(seed)
    used = given if given is not None else draw_seed()
    if conditions is not None and not isinstance(conditions, dict):
        raise ParameterError(f"conditions must be a dict of name to value, got "
                             f"{type(conditions).__name__}")
    target = Path(path)
    _check_target(target)
    parts = -(-count // per_part)
    prov = model.provenance(seed=used, n=count, conditions=conditions or None,
                            dataset={"parts": parts, "rows_per_part": per_part,
                                     "block_rows": block, "generator": "default_rng([seed, "
                                     "block])"})
    return count, target, prov, used, per_part, block, conditions or {}


def _write_dataset(model: Any, count: int, target: Path, prov: dict[str, Any], seed: int,
                   per_part: int, block: int, conditions: dict[str, Any],
                   write_parts: Any = None) -> Path:
    """Write the parts into a temporary folder, rename it onto `target`, then write the
    provenance; `write_parts(folder, meta)` replaces the part loop (a Dask cluster)."""
    from genlab._progress import task
    from genlab.provenance import write_provenance
    from genlab.provenance_files import _dump

    source = _BlockSource(model, count, seed, block, conditions)
    meta = _dump(prov).encode("utf-8")
    with folder_in_place(target) as tmp:
        schema = None
        if write_parts is not None:
            write_parts(tmp, meta)
        else:
            with task(f"sampling {type(model).__name__} to Parquet", count) as advance:
                for p, start in enumerate(range(0, count, per_part)):
                    stop = min(count, start + per_part)
                    schema = _write_part(source, start, stop, tmp / f"part-{p:05d}.parquet",
                                         schema, meta)
                    advance(stop - start)
    try:
        write_provenance(target, prov)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    model.__dict__.pop("_constraint_info", None)
    return target


@contextlib.contextmanager
def folder_in_place(target: Path) -> Iterator[Path]:
    """A temporary folder beside `target`, renamed onto it (an empty folder there is
    replaced) when the block ends without error and removed otherwise, so a reader never
    sees a partial dataset."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if target.is_dir():
            target.rmdir()  # empty (checked): replaced by the complete folder
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
