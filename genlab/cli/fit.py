"""`genlab fit`: fit a family to data of any kind and save it as one .genlab file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genlab.cli.app import Params, Quiet, Seed, app, clean_errors, out, pairs, parameter_values

__all__ = ["fit"]

DataKind = Annotated[str | None, typer.Option(
    "--data-kind", help="Kind of data when detection guesses wrong: table, image, text, "
                        "molecules, music, sequence or series.")]


@app.command()
@clean_errors
def fit(
    data: Annotated[Path, typer.Argument(
        help="Training data: a table (.csv/.parquet), or another kind genlab detects "
             "(images, text, molecules, music; see --data-kind).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file to write.")],
    model: Annotated[str | None, typer.Option(
        "--model", "-m", help="Family name (see `genlab models`); default per kind of data.")]
    = None,
    condition: Annotated[
        list[str], typer.Option("--condition", "-c", help="Column (or label) to condition on.")
    ] = [],  # noqa: B006 (typer reads the default)
    kind: Annotated[list[str], typer.Option(help="Override a column kind: col=kind.")] = [],  # noqa: B006
    param: Params = [],  # noqa: B006
    data_kind: DataKind = None,
    time: Annotated[str | None, typer.Option(help="Time column of a series.")] = None,
    value: Annotated[str | None, typer.Option(help="Value column of a series.")] = None,
    seed: Seed = None,
    owner: Annotated[str | None, typer.Option(help="Owner recorded in the model file.")] = None,
    licence: Annotated[str | None, typer.Option(help="Licence recorded in the model file.")]
    = None,
    quiet: Quiet = False,
) -> None:
    """Fit a model to data and save it as one .genlab file."""
    from genlab.api import fit as fit_model

    params = parameter_values(param)
    if seed is not None:
        params["seed"] = seed
    m = fit_model(data, model, conditions=condition or None, data_kind=data_kind,
                  kinds=pairs(kind, "--kind") or None, time=time, value=value, **params)
    path = m.save(output, owner=owner, licence=licence)
    if not quiet:
        what = "rows" if m.modality == "table" else "items"
        out.print(f"fitted {type(m).__name__} on {m.n_rows_} {what} in {m.fit_seconds_:.1f}s "
                  f"-> {path}", highlight=False)
