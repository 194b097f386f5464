"""The `genlab detect` command, added to the main typer app by `register(app)`."""

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the `detect` command to `app` (genlab's CLI calls this once)."""
    from rich.console import Console

    from genlab.cli import Quiet, _clean_errors

    out = Console(soft_wrap=True)

    @app.command("detect")
    @_clean_errors
    def detect_cmd(
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
        param: Annotated[list[str], typer.Option(
            "--param", "-p", help="Model hyperparameter: name=value.")] = [],  # noqa: B006
        report: Annotated[Path | None, typer.Option(help="HTML report to write.")] = None,
        seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
        quiet: Quiet = False,
    ) -> None:
        """Find anomalies: odd rows of a table (with the columns that make them odd), or odd
        intervals of a time series (--time/--value)."""
        from genlab.anomaly.run import detect_series, detect_table
        from genlab.cli import _pairs, _parameter_value
        from genlab.data.readers import TABLE_SUFFIXES
        from genlab.errors import ParameterError

        for path in (output, points):
            if path is not None and path.suffix.lower() not in TABLE_SUFFIXES:
                raise ParameterError(
                    f"unsupported output extension {path.suffix or '(none)'!r} for "
                    f"{str(path)!r}; use one of {', '.join(TABLE_SUFFIXES)}")
        params = {k: _parameter_value(v) for k, v in _pairs(param, "--param").items()}
        if time is not None or value is not None or window is not None:
            if context:
                raise ParameterError("--context applies to tables; a series is scored in the "
                                     "context of its past and its time of day / week")
            message = detect_series(
                data, output, model=model, time=time, value=value, window=window,
                contamination=contamination, false_alarm_rate=false_alarm_rate, fit_on=fit_on,
                points=points, params=params, report=report, seed=seed)
        else:
            if points is not None:
                raise ParameterError("--points applies to a series (give --time / --value)")
            message = detect_table(
                data, output, model=model, context=context, contamination=contamination,
                false_alarm_rate=false_alarm_rate, fit_on=fit_on, params=params, report=report,
                seed=seed)
        if not quiet:
            out.print(message, highlight=False)
