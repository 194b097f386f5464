"""`genlab detect`: odd rows of a table, or odd intervals of a time series."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genlab.cli.app import (
    Params,
    Quiet,
    Seed,
    app,
    clean_errors,
    out,
    parameter_values,
)
from genlab.cli.outputs import (
    HTML_SUFFIXES,
    MakeDirs,
    MaxBytes,
    MaxColumns,
    MaxMemory,
    check_input,
    check_output,
    check_outputs_differ,
    parse_bytes,
    read_limits,
)
from genlab.errors import ParameterError

__all__ = ["detect"]


@app.command("detect")
@clean_errors
def detect(
    data: Annotated[Path, typer.Argument(help="Table or series to score (.csv/.parquet).")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Table to write: rows with score, flag and explanation; "
                               "for a series, the flagged intervals.")],
    model: Annotated[str, typer.Option(
        "--model", "-m", help="Family with a likelihood, or a saved .genlab model.")]
    = "autoregressive",
    context: Annotated[list[str], typer.Option(
        help="Context column: score -log p(x | context) (repeatable).")] = [],  # noqa: B006
    contamination: Annotated[float | None, typer.Option(
        help="Expected share of anomalies in the fit data, in (0, 0.5); without --fit-on "
             "it defaults to --false-alarm-rate.")] = None,
    false_alarm_rate: Annotated[float, typer.Option(
        help="Share of normal rows allowed to be flagged, set on held-out rows of "
             "--fit-on data.")] = 0.01,
    fit_on: Annotated[Path | None, typer.Option(
        help="Normal data to fit on (default: the data itself).")] = None,
    time: Annotated[str | None, typer.Option(help="Time column: DATA is a time series.")]
    = None,
    value: Annotated[str | None, typer.Option(help="Value column of the series.")] = None,
    window: Annotated[int | None, typer.Option(
        help="Points per scoring window of a series (default: from its seasons).")] = None,
    points: Annotated[Path | None, typer.Option(
        help="Also write per-point scores and flags of a series here.")] = None,
    param: Params = [],  # noqa: B006
    report: Annotated[Path | None, typer.Option(help="HTML report to write.")] = None,
    seed: Seed = None,
    max_memory: MaxMemory = None,
    max_bytes: MaxBytes = None,
    max_columns: MaxColumns = None,
    mkdir: MakeDirs = False,
    stream: Annotated[bool, typer.Option(
        "--stream", help="Tables: read DATA as Parquet (a file, a folder or a glob) in batches "
                         "and write the rows with their flags as Parquet, never holding the "
                         "table; the detector is fitted on --fit-on (needed).")] = False,
    batch_rows: Annotated[int, typer.Option(
        "--batch-rows", help="Rows held at once by --stream.")] = 100_000,
    quiet: Quiet = False,
) -> None:
    """Find anomalies: odd rows of a table (with the columns that make them odd), or odd
    intervals of a time series (--time/--value)."""
    from genlab.anomaly.run import detect_series, detect_table
    from genlab.data.readers import TABLE_SUFFIXES

    saved = Path(model) if model.endswith(".genlab") or Path(model).is_file() else None
    if stream:
        return _detect_streamed(dict(locals()))
    check_input(data, "data", folder_ok=False)
    check_input(fit_on, "--fit-on data", folder_ok=False)
    check_input(saved, "model file", folder_ok=False)
    inputs = [data, fit_on, saved]
    for path, suffixes, what in ((output, TABLE_SUFFIXES, "output"),
                                 (points, TABLE_SUFFIXES, "--points table"),
                                 (report, HTML_SUFFIXES, "report")):
        check_output(path, inputs=inputs, suffixes=suffixes, what=what, mkdir=mkdir)
    check_outputs_differ(output, points, report)
    params = parameter_values(param)
    common = dict(model=model, contamination=contamination, false_alarm_rate=false_alarm_rate,
                  fit_on=fit_on, params=params, report=report, seed=seed,
                  max_memory=parse_bytes(max_memory) if max_memory else None,
                  limits=read_limits(max_bytes, max_columns))
    if time is not None or value is not None or window is not None:
        if context:
            raise ParameterError("--context applies to tables; a series is scored in the "
                                 "context of its past and its time of day / week")
        message = detect_series(data, output, time=time, value=value, window=window,
                                points=points, **common)
    else:
        if points is not None:
            raise ParameterError("--points applies to a series (give --time / --value)")
        message = detect_table(data, output, context=context, **common)
    if not quiet:
        out.print(message, highlight=False)


def _detect_streamed(o: dict) -> None:
    """`detect --stream`, given the command's options (`genlab.stream.score`)."""
    from genlab.stream.score import detect_streamed

    message = detect_streamed(
        o["data"], o["output"], model=o["model"], saved=o["saved"], context=o["context"],
        fit_on=o["fit_on"], contamination=o["contamination"],
        false_alarm_rate=o["false_alarm_rate"], params=parameter_values(o["param"]),
        seed=o["seed"], batch_rows=o["batch_rows"], mkdir=o["mkdir"],
        max_memory=parse_bytes(o["max_memory"]) if o["max_memory"] else None,
        refused={k: o[k.strip("-")] for k in ("--time", "--value", "--window", "--points",
                                               "--report")})
    if not o["quiet"]:
        out.print(message, highlight=False)
