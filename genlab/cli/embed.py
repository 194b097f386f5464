"""`genlab embed`: the learned features of each item (row, image, sequence) under a model
with a latent space (VAE means, flow base-space values, transformer hidden states)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genlab.cli.app import ModelFile, Quiet, app, clean_errors, out
from genlab.cli.outputs import MakeDirs, MaxMemory, check_input, check_output, parse_bytes

__all__ = ["embed"]


@app.command()
@clean_errors
def embed(
    model_file: ModelFile,
    data: Annotated[Path, typer.Argument(
        help="Data to encode, of the model's kind (a table with the model's columns, images, "
             "sequences).")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Features table (CSV / Parquet): columns z0, z1, ...")],
    max_memory: MaxMemory = None,
    mkdir: MakeDirs = False,
    quiet: Quiet = False,
) -> None:
    """Encode every item of DATA with the model's latent space and write the features."""
    import pandas as pd

    from genlab.data.readers import TABLE_SUFFIXES, write_table
    from genlab.models.registry import load

    check_input(model_file, "model file", folder_ok=False)
    check_input(data, "data")
    check_output(output, inputs=[model_file, data], suffixes=TABLE_SUFFIXES,
                 what="features table", mkdir=mkdir)
    m = load(model_file, max_memory=parse_bytes(max_memory) if max_memory else None)
    z = m.encode(data)
    write_table(pd.DataFrame(z, columns=[f"z{i}" for i in range(z.shape[1])]), output)
    if not quiet:
        out.print(f"{z.shape[0]} items encoded by {m.family} ({z.shape[1]} features) -> "
                  f"{output}", highlight=False)
