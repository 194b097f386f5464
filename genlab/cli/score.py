"""`genlab score`: the log-likelihood of each item (row, image, sequence) under a model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genlab.cli.app import Cluster, ModelFile, Quiet, app, clean_errors, out
from genlab.cli.outputs import MakeDirs, MaxMemory, model_for_data

__all__ = ["score"]


@app.command()
@clean_errors
def score(
    model_file: ModelFile,
    data: Annotated[Path, typer.Argument(
        help="Data to score, of the model's kind (a table with the model's columns, images, "
             "sequences).")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Scores table (columns item, log_prob).")] = None,
    max_memory: MaxMemory = None,
    mkdir: MakeDirs = False,
    cluster: Cluster = None,
    stream: Annotated[bool, typer.Option(
        "--stream", help="Tables: read DATA as Parquet (a file, a folder or a glob) in batches "
                         "and write the scores as Parquet batch by batch, never holding the "
                         "table.")] = False,
    batch_rows: Annotated[int, typer.Option(
        "--batch-rows", help="Rows held at once by --stream.")] = 100_000,
    quiet: Quiet = False,
) -> None:
    """Log-likelihood of each row / item under the model (natural log; higher: more typical)."""
    import numpy as np
    import pandas as pd

    from genlab.data.readers import write_table

    if cluster:
        _score_on_cluster(model_file, data, output, cluster, max_memory, mkdir, quiet,
                          batch_rows)
        return
    if stream:
        _score_streamed(model_file, data, output, batch_rows, mkdir, max_memory, quiet)
        return
    m = model_for_data(model_file, data, output, what="scores table", mkdir=mkdir,
                       max_memory=max_memory)
    lp = m.log_prob(data)
    if output is not None:
        write_table(pd.DataFrame({"item": np.arange(lp.size), "log_prob": lp}), output)
    if not quiet:
        finite = np.isfinite(lp)
        kind = "exact" if m.log_prob_is_exact else "estimate"
        mean = lp[finite].mean() if finite.any() else float("nan")
        out.print(f"{lp.size} rows scored ({kind} log-likelihood): mean {mean:.4f}, "
                  f"{int((~finite).sum())} not finite" + (f" -> {output}" if output else ""),
                  highlight=False)


def _score_on_cluster(model_file: Path, data: Path, output: Path | None, cluster: str,
                      max_memory: str | None, mkdir: bool, quiet: bool,
                      batch_rows: int) -> None:
    """`score --cluster`: the workers read the Parquet `data` and write the scores as a
    Parquet dataset folder (`genlab.stream.dask.score_dask`)."""
    import numpy as np
    import pyarrow.dataset as ds

    from genlab.cli.outputs import check_input, check_output, load_model
    from genlab.errors import ParameterError
    from genlab.stream.dask import score_dask

    check_input(model_file, "model file", folder_ok=False)
    if output is None:
        raise ParameterError("--cluster writes the scores as a Parquet dataset folder; give "
                             "-o, e.g. -o scores.parquet")
    check_output(output, inputs=[model_file, data], suffixes=(".parquet",), what="scores",
                 mkdir=mkdir, folder_ok=True)
    m = load_model(model_file, max_memory)
    if m.modality != "table":
        raise ParameterError(f"--cluster scores tables; {type(m).__name__} is a {m.modality} "
                             "model")
    target = score_dask(m, str(data), output, client=cluster, batch_rows=batch_rows)
    if not quiet:
        rows, finite, total = 0, 0, 0.0
        for batch in ds.dataset(target, format="parquet").to_batches(columns=["log_prob"]):
            lp = batch.column(0).to_numpy()
            ok = np.isfinite(lp)
            rows, finite, total = rows + lp.size, finite + int(ok.sum()), total + lp[ok].sum()
        kind = "exact" if m.log_prob_is_exact else "estimate"
        mean = total / finite if finite else float("nan")
        out.print(f"{rows} rows scored ({kind} log-likelihood) on the cluster: mean "
                  f"{mean:.4f}, {rows - finite} not finite -> {target}/", highlight=False)


def _score_streamed(model_file: Path, data: Path, output: Path | None, batch_rows: int,
                    mkdir: bool, max_memory: str | None, quiet: bool) -> None:
    """`score --stream`: the batches of a Parquet dataset (`genlab.stream.score`)."""
    from genlab.cli.outputs import check_input, check_output, load_model
    from genlab.errors import DataError
    from genlab.stream.score import score_to_parquet

    check_input(model_file, "model file", folder_ok=False)
    check_output(output, inputs=[model_file, data], suffixes=(".parquet",), what="scores table",
                 mkdir=mkdir)
    m = load_model(model_file, max_memory)
    if m.modality != "table":
        raise DataError(f"--stream scores tables; {str(model_file)!r} is a {m.modality} model")
    got = score_to_parquet(m, data, output, batch_rows)
    if not quiet:
        kind = "exact" if m.log_prob_is_exact else "estimate"
        out.print(f"{got['rows']} rows scored in batches ({kind} log-likelihood): mean "
                  f"{got['mean']:.4f}, {got['not_finite']} not finite"
                  + (f" -> {output}" if output else ""), highlight=False)
