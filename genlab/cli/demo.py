"""`genlab demo`: the main job on the embedded UCI Adult sample."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genlab.cli.app import Quiet, app, clean_errors, out

__all__ = ["demo"]


@app.command()
@clean_errors
def demo(
    folder: Annotated[Path, typer.Option("--out", help="Folder for the outputs.")] = Path(
        "genlab-demo"
    ),
    quiet: Quiet = False,
) -> None:
    """Fit models to the embedded UCI Adult sample, sample, and write reports."""
    from genlab.demo import run_demo

    written = run_demo(folder)
    if not quiet:
        for label, path in written.items():
            out.print(f"{label:>20}: {path}", highlight=False)
        out.print(f"open {written['copula report']} in a browser to see real vs synthetic.",
                  highlight=False)
