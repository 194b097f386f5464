"""What `genlab.stream.dask` runs on: a `distributed.Client` (given, or connected from an
address with a short timeout), the partitions of the data, and the model as its `.genlab`
bytes.

Partitions of a Parquet file, folder or glob are *pieces*: runs of whole row groups of one
file, cut from the Parquet footers alone (no row read), after `genlab.stream.source`
checked that every file has the first one's columns and types. A worker reads its piece
in batches of at most `batch_rows` rows, as `iter_batches` would, so its memory is bounded
by the batch, not the piece. A `dask.dataframe.DataFrame` is used as its own partitions.

A model reaches the workers as the bytes of its model file (`Model.save`), sent once,
and each worker process loads it with `genlab.load` (checked like any file, never
unpickled) and keeps the latest few by their sha256.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genlab.errors import DataError, ParameterError

__all__ = ["CONNECT_TIMEOUT", "Piece", "connect", "is_dask_frame", "model_blob",
           "model_from_blob", "parquet_pieces", "read_piece"]

CONNECT_TIMEOUT = 10.0  # seconds; a wrong address should fail fast, not hang
TIMEOUT_ENV = "GENLAB_DASK_TIMEOUT"  # the command line's way to change it
PIECE_ROWS = 1_000_000  # rows of row groups a task reads at most (bar one larger group)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


@contextlib.contextmanager
def connect(cluster: Any = None, *, timeout: float | None = None) -> Iterator[Any]:
    """The client for `cluster`: a `distributed.Client` (used as is), a scheduler address
    such as 'tcp://host:8786' (connected for the block, then closed), or None (the current
    default client). An unreachable scheduler is a one-line ParameterError after `timeout`
    seconds (default: $GENLAB_DASK_TIMEOUT, else `CONNECT_TIMEOUT`)."""
    try:
        import distributed
    except ImportError:
        raise ParameterError("a Dask cluster needs the dask extra: pip install "
                             "'genlab[dask]'") from None
    if isinstance(cluster, distributed.Client):
        yield cluster
        return
    if cluster is None:
        try:
            yield distributed.default_client()
        except ValueError:
            raise ParameterError("no Dask client is running; pass client=distributed.Client"
                                 "(...) or a scheduler address such as 'tcp://host:8786'"
                                 ) from None
        return
    if not isinstance(cluster, str) or not cluster.strip():
        raise ParameterError(f"a Dask cluster is a distributed.Client or a scheduler address "
                             f"such as 'tcp://host:8786', got {cluster!r}")
    if timeout is None:
        timeout = _env_timeout()
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ParameterError(f"the connection timeout is a positive number of seconds, got "
                             f"{timeout!r}")
    try:
        client = distributed.Client(cluster, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        why = "" if "timed out" in str(err).lower() else f" ({_one_line(err)})"
        raise ParameterError(
            f"cannot reach a Dask scheduler at {cluster!r} within {timeout:g}s{why}; start "
            f"one there (`dask scheduler`, then `dask worker {cluster}` on each machine), "
            f"fix the address, or allow longer ({TIMEOUT_ENV}=seconds)") from None
    try:
        yield client
    finally:
        client.close()


def _env_timeout() -> float:
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return CONNECT_TIMEOUT
    try:
        return float(text)
    except ValueError:
        raise ParameterError(f"{TIMEOUT_ENV} is a number of seconds, got {text!r}") from None


def is_dask_frame(data: Any) -> bool:
    """True for a `dask.dataframe.DataFrame`, without importing dask for other data."""
    if "dask" not in type(data).__module__.split(".")[0]:
        return False
    import dask.dataframe as dd

    return isinstance(data, dd.DataFrame)


@dataclass(frozen=True)
class Piece:
    """Row groups `groups` of the Parquet file `path`; its rows are `start`, ... of the
    whole source in `iter_batches` order."""

    index: int
    path: str
    groups: tuple[int, ...]
    start: int
    rows: int


def parquet_pieces(source: str | os.PathLike[str],
                   piece_rows: int = PIECE_ROWS) -> tuple[list[Piece], list[str]]:
    """The pieces of a Parquet file, folder or glob, and its column names; every file's
    schema is checked first (a one-line DataError names the file and column)."""
    import pyarrow.parquet as pq

    from genlab.stream.source import _check_schemas, parquet_files

    files = parquet_files(source)
    schema = _check_schemas(files)
    pieces: list[Piece] = []
    start = 0
    for path in files:
        meta = pq.read_metadata(path)
        where = str(path.absolute())  # a worker's working folder need not be ours
        groups: list[int] = []
        rows = 0
        for g in range(meta.num_row_groups):
            n = meta.row_group(g).num_rows
            if groups and rows + n > piece_rows:
                pieces.append(Piece(len(pieces), where, tuple(groups), start, rows))
                start, groups, rows = start + rows, [], 0
            if n:
                groups.append(g)
                rows += n
        if groups:
            pieces.append(Piece(len(pieces), where, tuple(groups), start, rows))
            start += rows
    if not pieces:
        raise DataError(f"{os.fspath(source)!r} holds no rows; give a table with rows")
    return pieces, list(schema.names)


def read_piece(piece: Piece, names: list[str], batch_rows: int) -> Iterator[Any]:
    """The rows of `piece` as pandas batches of at most `batch_rows` rows, cut and converted
    exactly as `genlab.stream.source.iter_batches` does (the copula's random draws are
    seeded by the batch, so the same batches give the same fit)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from genlab.stream.source import file_batches

    try:
        schema = pq.read_schema(piece.path).remove_metadata()
        schema = pa.schema([schema.field(n) for n in names])
        yield from file_batches(piece.path, schema, batch_rows, piece.groups)
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"cannot read {piece.path!r} as Parquet ({_one_line(err)}); was it "
                        "changed while the cluster read it?") from None


def model_blob(model: Any) -> bytes:
    """The bytes of `model`'s `.genlab` file, what the workers load it from."""
    model._check_fitted()
    with tempfile.TemporaryDirectory(prefix="genlab-dask-") as folder:
        keep = getattr(model, "file_path_", None)
        path = model.save(Path(folder) / "model.genlab")
        blob = path.read_bytes()
        if hasattr(model, "file_path_"):
            model.file_path_ = keep  # the temporary copy is not where the model lives
    return blob


_LOADED: dict[str, Any] = {}
_LOCK = threading.Lock()
_KEEP = 2  # models kept per worker process: one job's, and the next one's


def model_from_blob(blob: bytes) -> Any:
    """The model of a `.genlab` file's bytes, loaded once per worker process."""
    import genlab

    key = hashlib.sha256(blob).hexdigest()
    with _LOCK:
        if key not in _LOADED:
            with tempfile.TemporaryDirectory(prefix="genlab-dask-") as folder:
                path = Path(folder) / "model.genlab"
                path.write_bytes(blob)
                model = genlab.load(path, max_memory=max(len(blob) * 64, 2**30))
            while len(_LOADED) >= _KEEP:
                _LOADED.pop(next(iter(_LOADED)))
            _LOADED[key] = model
        return _LOADED[key]
