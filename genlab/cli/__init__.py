"""The `genlab` command line: a thin layer over the Python API."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from genlab._progress import quiet as quiet_progress
from genlab.api import make_model, report
from genlab.data.readers import TABLE_SUFFIXES, write_table
from genlab.errors import GenlabError, ParameterError
from genlab.models.base import families, load
from genlab.provenance import write_output

__all__ = ["app", "main"]

app = typer.Typer(
    help="Fit generative models to your own data and put them to work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_out = Console(soft_wrap=True)  # never break a printed path across lines
_err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or chatter.")]


def _clean_errors(func: F) -> F:
    """Turn genlab errors into one line on stderr and exit code 2 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with quiet_progress(bool(kwargs.get("quiet", False))):
                return func(*args, **kwargs)
        except GenlabError as err:
            _err.print(f"[red]error:[/red] {err}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _pairs(items: list[str], what: str) -> dict[str, str]:
    """Parse repeated `key=value` options."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ParameterError(f"{what} must look like name=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _parameter_value(text: str) -> Any:
    """Read a hyperparameter value written on the command line (JSON, else a string)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _condition_values(model: Any, where: dict[str, str]) -> dict[str, Any]:
    """Map `--where col=value` text to the column's own value type (e.g. 13 for an int)."""
    conditions: dict[str, Any] = {}
    for name, text in where.items():
        j = model.schema_.categorical_index(name)
        cats = model.schema_.categorical[j].categories or []
        match = [c for c in cats if str(c) == text]
        conditions[name] = match[0] if match else text
    return conditions


def _check_output(path: Path) -> None:
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise ParameterError(
            f"unsupported output extension {path.suffix or '(none)'!r} for {str(path)!r}; "
            f"use one of {', '.join(TABLE_SUFFIXES)}"
        )


@app.command()
@_clean_errors
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
    param: Annotated[list[str], typer.Option("--param", "-p", help="Hyperparameter: name=value.")]
    = [],  # noqa: B006
    data_kind: Annotated[str | None, typer.Option(
        "--data-kind", help="Kind of data when detection guesses wrong (e.g. table, image).")]
    = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    owner: Annotated[str | None, typer.Option(help="Owner recorded in the model file.")] = None,
    licence: Annotated[str | None, typer.Option(help="Licence recorded in the model file.")]
    = None,
    quiet: Quiet = False,
) -> None:
    """Fit a model to data and save it as one .genlab file."""
    from genlab.models.registry import TABLE, detect_modality, make_data_model

    params = {k: _parameter_value(v) for k, v in _pairs(param, "--param").items()}
    if seed is not None:
        params["seed"] = seed
    modality, default_family = detect_modality(data, data_kind)
    family = model or default_family
    if modality == TABLE:
        m: Any = make_model(family, **params)
        m.fit(data, condition or None, kinds=_pairs(kind, "--kind") or None)
    else:
        if kind:
            raise ParameterError(f"--kind applies to table columns, not to {modality} data")
        m = make_data_model(modality, family, **params)
        m.fit(data, conditions=condition or None)
    path = m.save(output, owner=owner, licence=licence)
    if not quiet:
        what = "rows" if modality == TABLE else "items"
        _out.print(f"fitted {type(m).__name__} on {m.n_rows_} {what} in {m.fit_seconds_:.1f}s "
                   f"-> {path}", highlight=False)


@app.command()
@_clean_errors
def sample(
    model_file: Annotated[Path, typer.Argument(help="A .genlab model file.")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Where to write: a table for table models; for others e.g. a "
                               "grid .png, a folder, a .txt or .mid file.")],
    n: Annotated[int, typer.Option("-n", help="Number of rows / samples.")] = 1000,
    where: Annotated[list[str], typer.Option(help="Condition: column=value (repeatable).")] = [],  # noqa: B006
    prompt: Annotated[str | None, typer.Option(help="Prefix every sample starts with "
                                                    "(sequence models).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    quiet: Quiet = False,
) -> None:
    """Draw synthetic samples from a model; the format follows the output's extension."""
    m = load(model_file)
    if getattr(m, "modality", "table") != "table":
        message = m.write_samples(output, n, seed=seed, where=_pairs(where, "--where"),
                                  prompt=prompt)
        if not quiet:
            _out.print(message, highlight=False)
        return
    if prompt is not None:
        raise ParameterError("--prompt applies to sequence models, not to table models")
    _check_output(output)
    df = m.sample(n, conditions=_condition_values(m, _pairs(where, "--where")) or None, seed=seed)
    path = write_output(df, output)
    if not quiet:
        _out.print(f"wrote {len(df)} rows -> {path} (provenance: {path.name}.provenance.json)",
                   highlight=False)


@app.command()
@_clean_errors
def score(
    model_file: Annotated[Path, typer.Argument(help="A .genlab model file.")],
    data: Annotated[Path, typer.Argument(help="Table to score (the model's columns).")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Scores table.")] = None,
    quiet: Quiet = False,
) -> None:
    """Log-likelihood of each row under the model (natural log; higher is more typical)."""
    if output is not None:
        _check_output(output)
    m = load(model_file)
    lp = m.log_prob(data)
    if output is not None:
        write_table(pd.DataFrame({"row": np.arange(lp.size), "log_prob": lp}), output)
    if not quiet:
        finite = np.isfinite(lp)
        kind = "exact" if m.log_prob_is_exact else "estimate"
        _out.print(f"{lp.size} rows scored ({kind} log-likelihood): mean "
                   f"{lp[finite].mean() if finite.any() else float('nan'):.4f}, "
                   f"{int((~finite).sum())} not finite"
                   + (f" -> {output}" if output else ""), highlight=False)


@app.command("report")
@_clean_errors
def report_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")],
    real: Annotated[Path | None, typer.Option(help="Real data (table, or images/sequences for "
                                                   "those models).")] = None,
    synthetic: Annotated[Path | None, typer.Option(help="Synthetic table.")] = None,
    model_file: Annotated[Path | None, typer.Option("--model", help="Model file, for its info "
                                                    "(images/sequences: the report's subject).")]
    = None,
    quiet: Quiet = False,
) -> None:
    """Write a self-contained HTML report: real vs synthetic tables, or an image / sequence
    model's samples, scores and latent views."""
    m = load(model_file) if model_file is not None else None
    if m is not None and getattr(m, "modality", "table") != "table":
        path = m.write_report(output, data=real)
    else:
        if real is None or synthetic is None:
            raise ParameterError("a table report needs --real and --synthetic tables")
        path = report(real, synthetic, output, model=m)
    if not quiet:
        _out.print(f"report -> {path}", highlight=False)


@app.command()
@_clean_errors
def models(quiet: Quiet = False) -> None:
    """List the model families and what each supports."""
    table = Table(title="genlab model families: tables")
    for col in ("name", "class", "log_prob", "conditions", "latent", "fit on Adult",
                "when to use"):
        table.add_column(col)
    for name, cls in sorted(families().items()):
        lp = ("exact" if cls.log_prob_is_exact else "bound") if cls.supports_log_prob else "no"
        table.add_row(name, cls.__name__, lp, cls.conditioning, "yes" if cls.has_latent else "no",
                      cls.adult_fit_time, cls.when_to_use)
    _out.print(table)
    from genlab.models.registry import modalities, modality_families

    for modality in modalities()[1:]:
        table = Table(title=f"genlab model families: {modality}")
        for col in ("name", "class", "log_prob", "conditions", "when to use"):
            table.add_column(col)
        for name, dcls in sorted(modality_families(modality).items()):
            lp = (("exact" if dcls.log_prob_is_exact else "bound") if dcls.supports_log_prob
                  else "no")
            table.add_row(name, dcls.__name__, lp, dcls.conditioning, dcls.when_to_use)
        _out.print(table)


@app.command()
@_clean_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the outputs.")] = Path(
        "genlab-demo"
    ),
    quiet: Quiet = False,
) -> None:
    """Fit models to the embedded UCI Adult sample, sample, and write reports."""
    from genlab.demo import run_demo

    written = run_demo(out)
    if not quiet:
        for label, path in written.items():
            _out.print(f"{label:>20}: {path}", highlight=False)
        _out.print(f"open {written['copula report']} in a browser to see real vs synthetic.",
                   highlight=False)


def _register_extensions() -> None:
    # commands that live with their feature; imported here so `genlab --help` lists them
    from genlab.cli.detect import register as register_detect
    from genlab.cli.evaluate import register as register_evaluate

    register_evaluate(app)
    register_detect(app)


_register_extensions()


def main() -> None:
    """Console entry point."""
    app()

