"""`genlab inspect DATA`: what genlab sees in the data before fitting anything — the kind
of data and, for a table, the kind inferred for every column (the rule `fit`, `report`,
`evaluate` and `detect` share), with the flag that overrides it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genlab.cli.app import Quiet, app, clean_errors, out

__all__ = ["inspect"]


@app.command()
@clean_errors
def inspect(
    data: Annotated[Path, typer.Argument(help="Data to look at: a table, images, text, ...")],
    data_kind: Annotated[str | None, typer.Option(
        "--data-kind", help="Kind of data, when detection guesses wrong.")] = None,
    quiet: Quiet = False,
) -> None:
    """Show the kind of data and, for a table, each column's inferred kind."""
    from rich.table import Table

    from genlab.data.detect import detect_kind

    modality, implied = detect_kind(data, data_kind)
    if modality != "table":
        extra = ", ".join(f"{k}={v}" for k, v in implied.items())
        out.print(f"{data}: {modality} data{f' ({extra})' if extra else ''}; "
                  f"`genlab fit {data}` fits the default {modality} model", highlight=False)
        return
    from genlab.data.kinds import infer_kinds
    from genlab.data.readers import read_table

    df = read_table(data)
    kinds = infer_kinds(df)
    table = Table(title=f"{data}: {len(df)} rows x {df.shape[1]} columns")
    for col in ("column", "kind", "missing", "distinct", "example"):
        table.add_column(col)
    for name, kind in kinds.items():
        col = df[name]
        present = col.dropna()
        example = str(present.iloc[0]) if len(present) else ""
        table.add_row(name, kind, f"{col.isna().mean():.1%}", str(present.nunique()),
                      example[:40])
    out.print(table)
    if not quiet:
        out.print("override a kind with `genlab fit DATA --kind column=kind` (kinds: "
                  "continuous, integer, categorical, boolean, datetime, id, constant)",
                  highlight=False)
