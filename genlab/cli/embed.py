"""`genlab embed`: the learned features of each item (row, image, sequence) under a model
with a latent space (VAE means, flow base-space values, transformer hidden states)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genlab.cli.app import ModelFile, Quiet, app, clean_errors, out
from genlab.cli.outputs import MakeDirs, MaxMemory, model_for_data

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

    from genlab.data.readers import write_table

    m = model_for_data(model_file, data, output, what="features table", mkdir=mkdir,
                       max_memory=max_memory)
    z = m.encode(data)
    write_table(pd.DataFrame(z, columns=[f"z{i}" for i in range(z.shape[1])]), output)
    if not quiet:
        out.print(f"{z.shape[0]} items encoded by {m.family} ({z.shape[1]} features) -> "
                  f"{output}", highlight=False)
