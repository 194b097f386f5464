"""`genlab sample`: draw samples from a model file of any modality and write them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genlab.cli.app import ModelFile, Quiet, Seed, app, check_table_output, clean_errors, out, pairs
from genlab.errors import ParameterError

__all__ = ["sample"]


@app.command()
@clean_errors
def sample(
    model_file: ModelFile,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Where to write: a table for table models; for others e.g. a "
                               "grid .png, a folder, a .txt or .mid file.")],
    n: Annotated[int, typer.Option("-n", help="Number of rows / samples.")] = 1000,
    where: Annotated[list[str], typer.Option(
        help="Condition (column=value, label=7) or sampling option (temperature=0.8); "
             "repeatable.")] = [],  # noqa: B006
    prompt: Annotated[str | None, typer.Option(
        help="Prefix every sample starts with (models with a prompt option: sequences).")]
    = None,
    seed: Seed = None,
    quiet: Quiet = False,
) -> None:
    """Draw synthetic samples from a model; the format follows the output's extension."""
    from genlab.data.writers import write_samples
    from genlab.models.registry import load

    m = load(model_file)
    conditions, options = m.parse_where(pairs(where, "--where"))
    if prompt is not None:
        if "prompt" not in m.sample_options:
            raise ParameterError(
                f"--prompt applies to models with a prompt option (sequence models); "
                f"{type(m).__name__} ({m.modality}) has none")
        options["prompt"] = prompt
    if m.modality == "table":
        check_table_output(output)  # fail before sampling, not after
    samples = m.sample(n, conditions=conditions or None, seed=seed, **options)
    _, summary = write_samples(samples, output)
    if not quiet:
        out.print(summary, highlight=False)
