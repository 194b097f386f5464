"""`genlab score`: the log-likelihood of each item (row, image, sequence) under a model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genlab.cli.app import ModelFile, Quiet, app, clean_errors, out
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
    quiet: Quiet = False,
) -> None:
    """Log-likelihood of each row / item under the model (natural log; higher: more typical)."""
    import numpy as np
    import pandas as pd

    from genlab.data.readers import write_table

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
