"""The `genlab evaluate` command, added to the main typer app by `register(app)`."""

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the `evaluate` command to `app` (genlab's CLI calls this once)."""
    from rich.console import Console

    from genlab.cli import Quiet, _clean_errors

    out = Console(soft_wrap=True)

    @app.command("evaluate")
    @_clean_errors
    def evaluate_cmd(
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
        quiet: Quiet = False,
    ) -> None:
        """Score synthetic data for fidelity, utility, privacy and bias; write an HTML report."""
        from genlab.evaluate.suite import evaluate

        result = evaluate(train=train, test=test, synthetic=synthetic, target=target,
                          sensitive=sensitive, report=output, seed=seed)
        if json_out:
            typer.echo(result.to_json())
            return
        if quiet:
            return
        for label, card in result.summary.items():
            value = card["value"]
            shown = "n/a" if value is None else (f"{value:.3f}" if isinstance(value, float)
                                                 else str(value))
            out.print(f"{label:>13}: {shown:>6}  {card['verdict']}: {card['meaning']}",
                      highlight=False)
        if output is not None:
            out.print(f"report -> {output}", highlight=False)
