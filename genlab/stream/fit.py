"""Streaming fits from Parquet (a file, a folder or a glob), memory bounded by `batch_rows`:
each family is a map-reduce plan (`genlab.stream.plan`), run here one pass per stage over
`iter_batches` (and by `genlab.stream.dask` over a cluster's partitions).

- `gaussian` (unconditional): codec; column means of the observed values; their squared
  deviations (the two-pass variance, as `numpy.nanstd`); sums and cross-products of the
  standardised, mean-imputed values. Equal to the in-memory fit within float-summation
  order (tests: parameters and log_prob within 1e-9 relative).
- `bayesnet` (max_parents <= 2): codec; every numeric column's distinct values and counts
  (bins and marginals: `genlab.stream._counts`, exact); joint counts of every
  max_parents + 1 nodes, from which BIC scores, the structure search and the CPTs are
  exactly the in-memory ones (integer counts): the identical model.
- `copula` (empirical marginals): identical marginals and category probabilities; the
  correlation within the tie-jitter noise, O(1/sqrt(rows)) (`genlab.stream._copula`).
- `mixture` (n_components given): map-reduce EM, one pass per iteration, from a k-means
  start on a bottom-k hash sample; equal to the in-memory EM from the same start within
  1e-8 (`genlab.stream._mixture`).
- `vae`, `autoregressive`, `flow`, `gan` (`genlab.stream.neural`): codec; a seeded uniform
  buffer of `buffer_rows` rows for the family's setup, validation and first epoch; every
  later epoch on a fresh seeded uniform buffer of the whole table without the validation
  rows (`refresh=False`: the first buffer only). A buffer holding the table gives the
  in-memory fit exactly.

The training fingerprint is the same sha256 over the rows' hashes as in memory.
"""

from __future__ import annotations

import os
from typing import Any

from genlab.errors import ParameterError
from genlab.stream.plan import PLANNED_FAMILIES, fit_plan, run_plan

__all__ = ["STREAMED_FAMILIES", "fit_streaming"]

STREAMED_FAMILIES = PLANNED_FAMILIES


def fit_streaming(source: str | os.PathLike[str], model: str = "gaussian", *,
                  batch_rows: int = 100_000, seed: int | None = None, **params: Any) -> Any:
    """Fit the family `model` to a Parquet file, folder or glob without holding the table:
    at most `batch_rows` rows are in memory at once; the result equals the in-memory fit
    of the same table (module docstring). Families: `STREAMED_FAMILIES`."""
    from genlab.stream.source import iter_batches

    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ParameterError(f"batch_rows must be a positive integer, got {batch_rows!r}")
    # neural families: a streamed codec and a seeded sample buffer (genlab.stream.neural)
    if model in ("vae", "autoregressive", "flow", "gan"):
        from genlab.stream.neural import fit_neural

        return fit_neural(source, model, batch_rows=batch_rows, seed=seed, **params)
    plan = fit_plan(model, seed=seed, **params)
    return run_plan(plan, lambda columns: iter_batches(source, batch_rows, columns))
