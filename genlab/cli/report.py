"""`genlab report`: one self-contained HTML page about tables or a model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from genlab.cli.app import Quiet, app, clean_errors, out
from genlab.cli.outputs import (
    HTML_SUFFIXES,
    MakeDirs,
    MaxMemory,
    check_input,
    check_output,
    parse_bytes,
)
from genlab.errors import ParameterError

__all__ = ["report"]


def _model_report(m: Any, output: Path, real: Path | None) -> Path:
    """The report of an image or sequence model, which is the report's subject."""
    if m.modality == "image":
        from genlab.report.images import image_report

        return Path(image_report(m, output, data=real))
    if m.modality == "sequence":
        from genlab.report.sequences import sequence_report

        return Path(sequence_report(m, output, data=real))
    if m.modality == "audio":
        from genlab.report.audio import audio_report

        return Path(audio_report(m, output, data=real))
    raise ParameterError(
        f"genlab report covers table, image, sequence and audio models, not {m.modality} models; "
        "for a series, `genlab detect --time ... --report page.html` writes one")


@app.command("report")
@clean_errors
def report(
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")],
    real: Annotated[Path | None, typer.Option(help="Real data (table, or images/sequences for "
                                                   "those models).")] = None,
    synthetic: Annotated[Path | None, typer.Option(help="Synthetic table.")] = None,
    model_file: Annotated[Path | None, typer.Option("--model", help="Model file, for its info "
                                                    "(images/sequences: the report's subject).")]
    = None,
    max_memory: MaxMemory = None,
    mkdir: MakeDirs = False,
    quiet: Quiet = False,
) -> None:
    """Write a self-contained HTML report: real vs synthetic tables, or an image / sequence
    model's samples, scores and latent views."""
    from genlab.models.registry import load

    check_input(model_file, "model file", folder_ok=False)
    check_input(real, "real data")
    check_input(synthetic, "synthetic data")
    check_output(output, inputs=[real, synthetic, model_file], suffixes=HTML_SUFFIXES,
                 what="report", mkdir=mkdir)
    budget = parse_bytes(max_memory) if max_memory else None
    m = load(model_file, max_memory=budget) if model_file is not None else None
    if m is not None and m.modality != "table":
        path = _model_report(m, output, real)
    else:
        if real is None or synthetic is None:
            raise ParameterError("a table report needs --real and --synthetic tables")
        from genlab.api import report as table_report

        path = Path(table_report(real, synthetic, output, model=m))
    if not quiet:
        out.print(f"report -> {path}", highlight=False)
