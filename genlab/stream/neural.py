"""Neural table families (vae, autoregressive, flow, gan) from Parquet in bounded memory.

Two streaming passes over `iter_batches`, then an ordinary fit:

1. the codec from streaming statistics (`genlab.stream.codec`): exact categories, ranges
   and missing rates over every row, so no category the sample misses is lost;
2. a seeded uniform sample of `buffer_rows` rows without replacement (bottom-k of random
   keys drawn from `default_rng([seed, 1])`, batch by batch: memory is the buffer plus one
   batch), kept in file order, with the training fingerprint over every row's hash;
3. the family's own training (`genlab.train.fit_loop`: shuffled mini-batch epochs, early
   stopping, checkpoints, DDP) on the buffer, encoded with the streamed codec.

When the buffer holds the whole table the rows are the table in file order and the fit is
`model.fit(table)` itself: the identical model (tests). With a smaller buffer the network
sees `buffer_rows` rows drawn uniformly from all of them; the marginal statistics the codec
carries come from every row. `BUFFER_ROWS` (1,000,000 rows) bounds memory at a few hundred
MB for Adult-like tables.
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


def _sample(source: Any, batch_rows: int, buffer_rows: int,
            seed: int) -> tuple[pd.DataFrame, int, str]:
    """(the sampled rows in file order, rows in all, fingerprint of every row)."""
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
    return kept.iloc[order].reset_index(drop=True), n, digest.hexdigest()


def fit_neural(source: str | os.PathLike[str], model: str, *, batch_rows: int = 100_000,
               buffer_rows: int = BUFFER_ROWS, seed: int | None = None,
               **params: Any) -> Any:
    """Fit the neural table family `model` to a Parquet file, folder or glob holding at
    most `buffer_rows` + `batch_rows` rows (module docstring); with `buffer_rows` at least
    the table's rows it is the in-memory fit."""
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
    m = make_model(model, "table", seed=seed, **params)
    m._validate_params()
    start = time.perf_counter()
    codec = stream_codec(source, batch_rows)
    m.seed_ = m.seed if m.seed is not None else draw_seed()
    rows, n, fingerprint = _sample(source, batch_rows, buffer_rows, m.seed_)
    if len(rows) == n:  # the whole table fits: the in-memory fit, exactly
        m.seed = m.seed_
        return m.fit(rows)
    rng = np.random.default_rng(m.seed_)
    m.history_, m.stopped_by_, m.file_path_, m.conditions_ = [], None, None, []
    m.constraints_, m.text_ = None, None
    m.schema_ = codec
    # every row's missing rate (the streamed codec's), as the in-memory fit's of the table
    m.missing_rate_ = np.array([s.missing_rate for s in codec.numeric], dtype=np.float64)
    m._fit_arrays(codec.encode(rows), [], rng)
    m.fit_seconds_ = time.perf_counter() - start
    m.n_rows_, m.fingerprint_, m.created_at_ = int(n), fingerprint, now()
    m.streamed_rows_ = len(rows)
    return m
