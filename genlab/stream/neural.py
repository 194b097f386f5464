"""Neural table families (vae, autoregressive, flow, gan) from Parquet in bounded memory.

Two streaming passes over `iter_batches`, then the family's training with one more pass
per epoch:

1. the codec from streaming statistics (`genlab.stream.codec`): exact categories, ranges
   and missing rates over every row, so no category a sample misses is lost;
2. a seeded uniform sample of `buffer_rows` rows without replacement (bottom-k of random
   keys drawn from `default_rng([seed, 1])`, batch by batch: memory is the buffer plus one
   batch), kept in file order, with the training fingerprint over every row's hash. From
   it the family fits its setup (marginals, mode normaliser, initial weights, output
   biases) and `genlab.train.fit_loop` splits off the validation rows (`val_fraction`);
3. training: shuffled mini-batch epochs, early stopping, checkpoints, DDP. The first
   epoch trains on the first buffer's training rows; with `refresh` (the default) every
   later epoch e trains on a fresh uniform sample of as many rows from the whole table
   but the validation rows (bottom-k of keys from `default_rng([seed, 1, e])`, chosen
   from the keys alone, then read in one pass), encoded with the codec and the setup of
   the first buffer. Over the epochs the network sees rows from all of the table, and
   every mini-batch is an iid uniform draw of it: better shuffled than a shuffle buffer
   over a file sorted by some column, whose batches come from one stretch of the sort.
   Validation stays on the first buffer's held-out rows, which no later buffer holds, so
   early stopping watches rows training never saw. An epoch's buffer is a function of
   the seed and the epoch alone: DDP ranks draw the same, and `resume` draws it again.

Memory is the first buffer (setup and validation), the current epoch's buffer and one
batch. When the first buffer holds the whole table the rows are the table in file order
and the fit is `model.fit(table)` itself: the identical model (tests). `refresh=False`
trains every epoch on the first buffer. The model records `streamed_rows_` (rows of the
first buffer), `streamed_buffers_` (training buffers drawn, one per epoch trained) and
`streamed_distinct_rows_` (distinct table rows in those buffers' training rows).
`BUFFER_ROWS` (1,000,000 rows) bounds memory at a few hundred MB for Adult-like tables.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import numpy as np
import pandas as pd

from genlab.errors import DataError, ParameterError

__all__ = ["BUFFER_ROWS", "NEURAL_FAMILIES", "fit_neural"]

NEURAL_FAMILIES = ("vae", "autoregressive", "flow", "gan")
BUFFER_ROWS = 1_000_000
_KEY_CHUNK = 1 << 20  # keys drawn at a time when choosing an epoch's rows


def _first_buffer(source: Any, batch_rows: int, buffer_rows: int,
                  seed: int) -> tuple[pd.DataFrame, np.ndarray, int, str]:
    """(the sampled rows in file order, their row numbers, rows in all, fingerprint of
    every row)."""
    from genlab._progress import task
    from genlab.stream.source import iter_batches

    rng = np.random.default_rng([seed, 1])
    kept: pd.DataFrame | None = None
    keys = np.zeros(0)
    where = np.zeros(0, np.int64)
    digest = hashlib.sha256()
    n = 0
    with task("streaming: drawing the training buffer", None) as advance:
        for batch in iter_batches(source, batch_rows):
            if n == 0:
                digest.update("\x1f".join(map(str, batch.columns)).encode())
            digest.update(pd.util.hash_pandas_object(batch, index=False).to_numpy().tobytes())
            pool = batch if kept is None else pd.concat([kept, batch], ignore_index=True)
            keys = np.concatenate([keys, rng.random(len(batch))])
            where = np.concatenate([where, np.arange(n, n + len(batch))])
            n += len(batch)
            if len(pool) > buffer_rows:  # keep the buffer_rows smallest keys
                keep = np.sort(np.argpartition(keys, buffer_rows - 1)[:buffer_rows])
                pool, keys, where = pool.iloc[keep].reset_index(drop=True), keys[keep], where[keep]
            kept = pool
            advance(len(batch))
    if kept is None:
        raise DataError("the table has 0 rows; give at least 2 rows to fit a model")
    order = np.argsort(where, kind="stable")
    return kept.iloc[order].reset_index(drop=True), where[order], n, digest.hexdigest()


def _sample(source: Any, batch_rows: int, buffer_rows: int,
            seed: int) -> tuple[pd.DataFrame, int, str]:
    """(the sampled rows in file order, rows in all, fingerprint of every row)."""
    rows, _, n, fingerprint = _first_buffer(source, batch_rows, buffer_rows, seed)
    return rows, n, fingerprint


def _pick(n: int, k: int, seed: int, epoch: int, exclude: np.ndarray) -> np.ndarray:
    """Sorted row numbers of epoch `epoch`'s buffer: the k smallest of n keys from
    `default_rng([seed, 1, epoch])`, rows in `exclude` (sorted) never among them. Keys
    alone, no rows: memory k + `_KEY_CHUNK`."""
    rng = np.random.default_rng([seed, 1, epoch])
    keys, where = np.zeros(0), np.zeros(0, np.int64)
    for start in range(0, n, _KEY_CHUNK):
        index = np.arange(start, min(start + _KEY_CHUNK, n))
        fresh = rng.random(index.size)
        fresh[np.isin(index, exclude, assume_unique=True)] = 2.0  # above every key < 1
        keys, where = np.concatenate([keys, fresh]), np.concatenate([where, index])
        if keys.size > k:
            keep = np.argpartition(keys, k - 1)[:k]
            keys, where = keys[keep], where[keep]
    return np.sort(where)


def _rows_at(source: Any, batch_rows: int, index: np.ndarray) -> pd.DataFrame:
    """The rows with sorted row numbers `index`, in file order, in one pass."""
    from genlab.stream.source import iter_batches

    parts, n = [], 0
    for batch in iter_batches(source, batch_rows):
        lo, hi = np.searchsorted(index, [n, n + len(batch)])
        if hi > lo:
            parts.append(batch.iloc[index[lo:hi] - n])
        n += len(batch)
    return pd.concat(parts, ignore_index=True)


class _Refresh:
    """`fit_loop`'s refresh for a streamed fit: epoch e's training tensors from a fresh
    uniform buffer of the table without the validation rows (module docstring)."""

    def __init__(self, model: Any, source: Any, batch_rows: int, codec: Any,
                 where: np.ndarray, n: int) -> None:
        self.model, self.source, self.batch_rows, self.codec = model, source, batch_rows, codec
        self.where, self.n = where, n
        self.held: np.ndarray | None = None  # row numbers of the validation rows
        self.seen = np.zeros((n + 7) // 8, np.uint8)  # a bit per row: in a training buffer
        self.drawn: set[int] = set()

    def rows(self, epoch: int) -> np.ndarray:
        """Row numbers of epoch `epoch`'s training rows."""
        held = np.zeros(0, np.int64) if self.held is None else self.held
        if epoch == 0:
            return np.setdiff1d(self.where, held, assume_unique=True)
        return _pick(self.n, self.where.size - held.size, self.model.seed_, epoch, held)

    def mark(self, rows: np.ndarray) -> None:
        np.bitwise_or.at(self.seen, rows >> 3, (1 << (rows & 7)).astype(np.uint8))

    def __call__(self, epoch: int, held_out: Any) -> list[Any]:
        self.held = np.sort(self.where[held_out.cpu().numpy()])
        index = self.rows(epoch)
        self.mark(index)
        self.drawn.add(epoch)
        enc = self.codec.encode(_rows_at(self.source, self.batch_rows, index))
        return self.model._train_tensors(enc, np.random.default_rng([self.model.seed_, 2,
                                                                     epoch]))

    def record(self, m: Any, refreshed: bool) -> None:
        """`streamed_*_` on the model, and a clause of its training summary."""
        from genlab.train import validation_rows

        epochs = max(len(m.history_), 1) if refreshed else 1
        distinct: int | None = None
        if epochs == 1:  # the first buffer's training split, whose size is enough
            distinct = self.where.size - validation_rows(self.where.size,
                                                         m.train_config().val_fraction)
        elif self.held is not None:  # else resumed after the last epoch: rows unknown
            for epoch in set(range(epochs)) - self.drawn:  # the first, those before a resume
                self.mark(self.rows(epoch))
            distinct = int(np.bitwise_count(self.seen).sum())
        m.streamed_buffers_, m.streamed_distinct_rows_ = epochs, distinct
        if distinct is not None:
            m.training_summary_ = (f"{getattr(m, 'training_summary_', 'trained')}; trained on "
                                   f"{distinct:,} distinct rows of {self.n:,} in {epochs:,} "
                                   f"streamed buffer{'s' * (epochs != 1)}")


def fit_neural(source: str | os.PathLike[str], model: str, *, batch_rows: int = 100_000,
               buffer_rows: int = BUFFER_ROWS, seed: int | None = None, refresh: bool = True,
               **params: Any) -> Any:
    """Fit the neural table family `model` to a Parquet file, folder or glob, holding two
    buffers of `buffer_rows` rows and one batch of `batch_rows` (module docstring); with
    `buffer_rows` at least the table's rows it is the in-memory fit. `refresh`: each
    epoch after the first trains on a fresh uniform buffer of the table (False: every
    epoch on the first buffer)."""
    from genlab.models.registry import make_model
    from genlab.provenance import now
    from genlab.seeding import draw_seed
    from genlab.stream.codec import stream_codec

    if model not in NEURAL_FAMILIES:
        raise ParameterError(f"a streamed neural fit takes {list(NEURAL_FAMILIES)}, not "
                             f"{model!r}")
    if isinstance(buffer_rows, bool) or not isinstance(buffer_rows, int) or buffer_rows < 2:
        raise ParameterError(f"buffer_rows must be an integer of at least 2, got "
                             f"{buffer_rows!r}")
    if not isinstance(refresh, bool):
        raise ParameterError(f"refresh must be True or False, got {refresh!r}")
    m = make_model(model, "table", seed=seed, **params)
    m._validate_params()
    start = time.perf_counter()
    codec = stream_codec(source, batch_rows)
    m.seed_ = m.seed if m.seed is not None else draw_seed()
    rows, where, n, fingerprint = _first_buffer(source, batch_rows, buffer_rows, m.seed_)
    if len(rows) == n:  # the whole table fits: the in-memory fit, exactly
        m.seed = m.seed_
        return m.fit(rows)
    rng = np.random.default_rng(m.seed_)
    m.history_, m.stopped_by_, m.file_path_, m.conditions_ = [], None, None, []
    m.constraints_, m.text_ = None, None
    m.schema_ = codec
    # every row's missing rate (the streamed codec's), as the in-memory fit's of the table
    m.missing_rate_ = np.array([s.missing_rate for s in codec.numeric], dtype=np.float64)
    fresh = _Refresh(m, source, batch_rows, codec, where, n)
    if refresh:
        m._refresh = fresh
    try:
        m._fit_arrays(codec.encode(rows), [], rng)
    finally:
        m.__dict__.pop("_refresh", None)
    m.fit_seconds_ = time.perf_counter() - start
    m.n_rows_, m.fingerprint_, m.created_at_ = int(n), fingerprint, now()
    m.streamed_rows_ = len(rows)
    fresh.record(m, refresh)
    return m
