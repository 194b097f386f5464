"""Tables larger than memory: chunked sampling into a partitioned Parquet dataset
(`sample_to_parquet`) and streaming fits from Parquet (`genlab.stream.fit`); the same on a
Dask cluster (`fit_dask`, `sample_dask`, `score_dask`: `genlab.stream.dask`)."""

from __future__ import annotations

from genlab.stream.dask import fit_dask, sample_dask, score_dask
from genlab.stream.sample import sample_to_parquet

__all__ = ["fit_dask", "sample_dask", "sample_to_parquet", "score_dask"]
