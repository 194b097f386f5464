"""Tables larger than memory: chunked sampling into a partitioned Parquet dataset
(`sample_to_parquet`) and streaming fits from Parquet (`genlab.stream.fit`)."""

from __future__ import annotations

from genlab.stream.sample import sample_to_parquet

__all__ = ["sample_to_parquet"]
