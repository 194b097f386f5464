"""`genlab audit`: an empirical privacy check of a table model (`genlab.privacy.audit`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genlab.cli.app import ModelFile, Quiet, app, clean_errors, out
from genlab.cli.outputs import MakeDirs, check_input, check_output

__all__ = ["audit"]


@app.command()
@clean_errors
def audit(
    model_file: ModelFile,
    train: Annotated[Path, typer.Option("--train", help="The table the model was fitted on.")],
    test: Annotated[Path, typer.Option("--test", help="Held-out rows of the same population.")],
    canaries: Annotated[int, typer.Option(
        help="Unique rows inserted for the canary test (refits the model once); 0: skip.")]
    = 50,
    seed: Annotated[int, typer.Option(help="Seed of the attacks and the refit.")] = 0,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the figures as JSON here.")] = None,
    mkdir: MakeDirs = False,
    quiet: Quiet = False,
) -> None:
    """Membership inference and canaries: an empirical epsilon lower bound beside the claimed
    epsilon of a private fit."""
    import json

    from genlab._atomic import atomic_path
    from genlab.models.registry import load
    from genlab.privacy.auditing import audit as run_audit

    check_input(model_file, "model file", folder_ok=False)
    check_input(train, "training data")
    check_input(test, "held-out data")
    check_output(output, inputs=[model_file, train, test], suffixes=(".json",),
                 what="audit file", mkdir=mkdir)
    result = run_audit(load(model_file), train, test, canaries=canaries, seed=seed)
    if output is not None:
        with atomic_path(output) as tmp:
            tmp.write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")
    if not quiet:
        for line in result.lines():
            out.print(line, highlight=False)
