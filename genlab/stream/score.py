"""Scoring and anomaly detection of a table larger than memory: the rows of a Parquet file,
folder or glob are read `batch_rows` at a time (`genlab.stream.source.iter_batches`),
scored, and appended to one Parquet file through `pyarrow.parquet.ParquetWriter`, written
to a temporary file renamed onto the output only when every batch is done
(`genlab._atomic.atomic_path`): memory is one batch, and a failure leaves no partial output.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genlab.errors import ParameterError

__all__ = ["detect_streamed", "detect_to_parquet", "score_to_parquet"]


def _check_parquet(output: str | os.PathLike[str]) -> Path:
    path = Path(output)
    if path.suffix.lower() not in (".parquet", ".pq"):
        raise ParameterError(f"a streamed output is written as Parquet; give a .parquet "
                             f"output, not {path.name!r}")
    return path


@contextlib.contextmanager
def _writer(output: Path, schema: Any) -> Iterator[Any]:
    """A function appending DataFrames (cast to `schema`) to `output`, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from genlab._atomic import atomic_path

    with atomic_path(output) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        def write(df: pd.DataFrame) -> None:
            writer.write_table(pa.Table.from_pandas(df, schema=schema, preserve_index=False))

        yield write


def score_to_parquet(model: Any, source: str | os.PathLike[str],
                     output: str | os.PathLike[str] | None, batch_rows: int) -> dict[str, Any]:
    """Write `item` (row number) and `log_prob` of every row of `source` under `model` to
    `output` (Parquet; None: only count); returns rows, mean finite log_prob, not finite."""
    import pyarrow as pa

    from genlab._progress import task
    from genlab.stream.source import iter_batches

    path = None if output is None else _check_parquet(output)
    schema = pa.schema([("item", pa.int64()), ("log_prob", pa.float64())])
    rows, total, finite_rows = 0, 0.0, 0
    with contextlib.ExitStack() as stack, task("scoring (streamed)", None) as advance:
        write = stack.enter_context(_writer(path, schema)) if path is not None else None
        for batch in iter_batches(source, batch_rows):
            lp = np.asarray(model.log_prob(batch), dtype=np.float64)
            if write is not None:
                write(pd.DataFrame({"item": np.arange(rows, rows + lp.size), "log_prob": lp}))
            finite = np.isfinite(lp)
            rows, total, finite_rows = rows + lp.size, total + lp[finite].sum(), \
                finite_rows + int(finite.sum())
            advance(lp.size)
    return {"rows": rows, "mean": total / finite_rows if finite_rows else float("nan"),
            "not_finite": rows - finite_rows}


def detect_to_parquet(detector: Any, source: str | os.PathLike[str],
                      output: str | os.PathLike[str], batch_rows: int) -> dict[str, int]:
    """Score, flag and explain every row of `source` with a fitted `AnomalyDetector`, as
    `genlab detect` does in memory (the rows, then anomaly_score, anomaly_flag and
    anomaly_columns), batch by batch into `output`; returns rows and flagged."""
    import pyarrow as pa

    from genlab._progress import task
    from genlab.stream.source import dataset_schema, iter_batches

    path = _check_parquet(output)
    fields = {f.name: f for f in dataset_schema(source)}
    taken = [c for c in ("anomaly_score", "anomaly_flag", "anomaly_columns") if c in fields]
    if taken:
        from genlab.errors import DataError

        raise DataError(f"the data already has column {taken[0]!r}, which detect writes; "
                        "rename it")
    rows = flagged = 0
    schema = None
    with contextlib.ExitStack() as stack, task("detecting (streamed)", None) as advance:
        for batch in iter_batches(source, batch_rows):
            df = detector._frame(batch)
            if schema is None:
                schema = pa.schema([fields[c] for c in df.columns] + [
                    ("anomaly_score", pa.float64()), ("anomaly_flag", pa.int64()),
                    ("anomaly_columns", pa.string())])
                write = stack.enter_context(_writer(path, schema))
            scores = detector.score(df)
            explained = detector._explain_rows(df, scores, top=3, only_flagged=True)
            result = df.copy()
            result["anomaly_score"] = scores
            result["anomaly_flag"] = (scores > detector.threshold_).astype(np.int64)
            result["anomaly_columns"] = ""
            result.loc[explained["row"].to_numpy(), "anomaly_columns"] = (
                explained["columns"].to_numpy())
            write(result)
            rows, flagged = rows + len(df), flagged + int(result["anomaly_flag"].sum())
            advance(len(df))
    return {"rows": rows, "flagged": flagged}


def detect_streamed(data: Any, output: Any, *, model: str, saved: Path | None,
                    context: list[str], fit_on: Path | None, contamination: float | None,
                    false_alarm_rate: float, params: dict[str, Any], seed: int | None,
                    batch_rows: int, mkdir: bool, max_memory: int | None,
                    refused: dict[str, Any]) -> str:
    """`genlab detect --stream`: the detector fitted in memory on `fit_on` (the threshold
    from its held-out rows, as in memory), then `detect_to_parquet` over `data`; one-line
    summary. Options that need every row at once (`refused`) are refused."""
    from genlab.anomaly.detector import AnomalyDetector
    from genlab.anomaly.run import _saved
    from genlab.cli.outputs import check_input, check_output
    from genlab.data.readers import read_table

    given = [name for name, value in refused.items() if value is not None]
    if given:
        raise ParameterError(f"{given[0]} does not work with --stream (it needs every row at "
                             "once); drop it or detect in memory")
    if fit_on is None:
        raise ParameterError("--stream needs --fit-on NORMAL (a table read in memory) to fit "
                             "the detector and set its threshold; the streamed rows are only "
                             "scored")
    check_input(fit_on, "--fit-on data", folder_ok=False)
    check_input(saved, "model file", folder_ok=False)
    check_output(Path(output), inputs=[Path(data), fit_on, saved], suffixes=(".parquet",),
                 what="output", mkdir=mkdir)
    loaded = _saved(model, max_memory)
    if loaded is not None and loaded.modality != "table":
        from genlab.errors import DataError

        raise DataError(f"{model!r} is a {loaded.modality} model; detecting in a table needs "
                        "a table model")
    detector = AnomalyDetector(
        loaded if loaded is not None else model, context=context or None,
        contamination=contamination, false_alarm_rate=false_alarm_rate,
        model_params=params, seed=seed).fit(read_table(fit_on))
    got = detect_to_parquet(detector, data, output, batch_rows)
    return f"{got['flagged']} of {got['rows']} rows flagged (streamed) -> {output}"
