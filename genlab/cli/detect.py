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
    check_table_output,
    clean_errors,
    out,
    parameter_values,
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
    quiet: Quiet = False,
) -> None:
    """Find anomalies: odd rows of a table (with the columns that make them odd), or odd
    intervals of a time series (--time/--value)."""
    from genlab.anomaly.run import detect_series, detect_table

    check_table_output(output)
    check_table_output(points)
    params = parameter_values(param)
    common = dict(model=model, contamination=contamination, false_alarm_rate=false_alarm_rate,
                  fit_on=fit_on, params=params, report=report, seed=seed)
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
