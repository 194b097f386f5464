"""`genlab evaluate`: fidelity, utility, privacy and bias of a synthetic table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genlab.cli.app import Quiet, app, clean_errors, out
from genlab.cli.outputs import HTML_SUFFIXES, MakeDirs, check_input, check_output

__all__ = ["evaluate", "register"]


@app.command("evaluate")
@clean_errors
def evaluate(
    train: Annotated[Path, typer.Option(help="Real table the generator was fitted on.")],
    test: Annotated[Path, typer.Option(help="Real hold-out table, never used in training.")],
    synthetic: Annotated[Path, typer.Option(help="Synthetic table to evaluate.")],
    target: Annotated[str | None, typer.Option(help="Column to predict (utility, bias).")]
    = None,
    sensitive: Annotated[
        str | None, typer.Option(help="Comma-separated sensitive columns, e.g. sex,race.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="HTML report to write.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the scores as JSON on stdout.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of subsamples, splits and models.")] = 0,
    mkdir: MakeDirs = False,
    quiet: Quiet = False,
) -> None:
    """Score synthetic data for fidelity, utility, privacy and bias; write an HTML report."""
    from genlab.evaluate.suite import evaluate as run_evaluation

    for path, what in ((train, "training table"), (test, "hold-out table"),
                       (synthetic, "synthetic table")):
        check_input(path, what, folder_ok=False)
    check_output(output, inputs=[train, test, synthetic], suffixes=HTML_SUFFIXES,
                 what="report", mkdir=mkdir)

    result = run_evaluation(train=train, test=test, synthetic=synthetic, target=target,
                            sensitive=sensitive, report=output, seed=seed)
    if json_out:
        typer.echo(result.to_json())
        return
    if quiet:
        return
    for label, card in result.summary.items():
        shown = card["value"]
        text = "n/a" if shown is None else (f"{shown:.3f}" if isinstance(shown, float)
                                            else str(shown))
        out.print(f"{label:>13}: {text:>6}  {card['verdict']}: {card['meaning']}",
                  highlight=False)
    if output is not None:
        out.print(f"report -> {output}", highlight=False)


def register(target: typer.Typer) -> None:
    """Add `evaluate` to another typer app (genlab's own app has it already)."""
    target.command("evaluate")(evaluate)
