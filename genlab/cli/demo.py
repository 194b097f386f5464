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
    export: Annotated[Path | None, typer.Option(
        "--export", help="Only write the embedded data (adult.csv, adult_test.csv, "
                         "adult_sample.csv, attribution) into this folder; fit nothing.")] = None,
    quiet: Quiet = False,
) -> None:
    """Fit models to the embedded UCI Adult sample, sample, and write reports
    (`--export DIR`: only write the data, so the README's adult.csv examples run)."""
    if export is not None:
        from genlab.datasets import ADULT_FILES, export_adult_sample

        for name, path in export_adult_sample(export).items():
            if not quiet:
                out.print(f"{path}: {ADULT_FILES[name]}", highlight=False, markup=False)
        return
    from genlab.demo import run_demo

    written = run_demo(folder)
    if not quiet:
        for label, path in written.items():
            out.print(f"{label:>20}: {path}", highlight=False)
        out.print(f"open {written['copula report']} in a browser to see real vs synthetic.",
                  highlight=False)
