"""`genlab augment`: add synthetic examples per class to a table, a text table or images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genlab.cli.app import Quiet, app, clean_errors, out
from genlab.cli.outputs import HTML_SUFFIXES, MakeDirs, check_input, check_output
from genlab.errors import ParameterError

__all__ = ["augment"]


def _size(text: str | None) -> tuple[int, int] | None:
    """`--size HxW` as (height, width)."""
    if text is None:
        return None
    h, sep, w = text.lower().partition("x")
    if not sep or not h.strip().isdigit() or not w.strip().isdigit():
        raise ParameterError(f"--size must look like HxW, e.g. 28x28, got {text!r}")
    return int(h), int(w)


@app.command("augment")
@clean_errors
def augment(
    data: Annotated[Path, typer.Argument(
        help="A table (CSV/Parquet), a text table (text + label columns), an image folder "
             "with class sub-folders, or a .npz of images= and labels=.")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Where to write: a table for tables; a .npz or a new folder for "
                               "images.")],
    target: Annotated[str, typer.Option(
        help="The class column (images: 'label', their class).")] = "label",
    method: Annotated[str, typer.Option(
        help="classic (transforms), generative (a class-conditional model) or both.")]
    = "generative",
    factor: Annotated[float | None, typer.Option(
        help="Synthetic examples per real one, per class (default 1).")] = None,
    balance: Annotated[bool, typer.Option(
        "--balance", help="Instead of --factor: bring every class up to the largest.")] = False,
    model: Annotated[str | None, typer.Option(
        help="Generative model: a family name (e.g. bayesnet, copula, vae, lstm) or a "
             ".genlab file.")] = None,
    text_column: Annotated[str | None, typer.Option(
        help="The column of texts (found by itself in a two-column text table).")] = None,
    filter_share: Annotated[float, typer.Option(
        help="Share of generated samples drawn extra and dropped as least likely.")] = 0.0,
    report: Annotated[Path | None, typer.Option(
        help="Also write an HTML page of real vs augmented examples per class.")] = None,
    size: Annotated[str | None, typer.Option(
        help="Images: resize every image to HxW (e.g. 28x28), for folders of mixed sizes.")]
    = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    mkdir: MakeDirs = False,
    quiet: Quiet = False,
) -> None:
    """Augment DATA: classic transforms and/or samples from a class-conditional model; the
    output has the input's layout and marks the synthetic examples."""
    from genlab.augment.api import augment as run
    from genlab.augment.output import check_augment_output, write_augmented
    from genlab.data.images import is_image_input

    check_input(data, "data")
    if factor is not None and factor <= 0:
        raise ParameterError(f"--factor must be > 0 (synthetic examples per real one), got "
                             f"{factor:g}")
    check_output(output, inputs=[data], suffixes=None, mkdir=mkdir, folder_ok=True)
    check_augment_output("image" if is_image_input(data) else "table", output)
    if report is not None:
        check_output(report, inputs=[data, output], suffixes=HTML_SUFFIXES, what="report",
                     mkdir=mkdir)
    shape = _size(size)
    given = Path(model) if model is not None and model.endswith(".genlab") else None
    check_input(given, "model file", folder_ok=False)
    res = run(data, target, method=method, factor=factor, balance=balance,
              model=str(given) if given is not None else model, seed=seed,
              filter_share=filter_share, text_column=text_column, size=shape)
    res.provenance["input"] = str(data)
    _, summary = write_augmented(res, output, report)
    if not quiet:
        out.print(summary, highlight=False)
