"""`genlab fit`: fit a family to data of any kind and save it as one .genlab file."""

from __future__ import annotations

import sys
import time as clock
from pathlib import Path
from typing import Annotated, Any

import typer

from genlab.cli.app import (
    Cluster,
    Params,
    Quiet,
    Seed,
    app,
    clean_errors,
    out,
    pairs,
    parameter_values,
)
from genlab.cli.outputs import (
    MODEL_SUFFIXES,
    MakeDirs,
    MaxBytes,
    MaxColumns,
    check_input,
    check_output,
    read_limits,
)

__all__ = ["fit"]

DataKind = Annotated[str | None, typer.Option(
    "--data-kind", help="Kind of data when detection guesses wrong: table, image, text, "
                        "molecules, music, sequence, series or audio.")]

Rate = Annotated[int | None, typer.Option(
    help="Audio: sample rate in Hz to resample every clip to (needed when they differ).")]

Ddp = Annotated[int | None, typer.Option(
    "--ddp", help="Train a neural family on N local processes with DistributedDataParallel "
                  "(torchrun's launcher; gloo on CPU, NCCL on GPUs); rank 0 writes the model.")]
CheckpointEvery = Annotated[int | None, typer.Option(
    "--checkpoint-every", help="Neural families: write a training checkpoint every N steps "
                               "(with --checkpoint).")]
CheckpointFile = Annotated[Path | None, typer.Option(
    "--checkpoint", help="Training checkpoint file (with --checkpoint-every).")]
Resume = Annotated[bool, typer.Option(
    "--resume", help="Continue training from --checkpoint (same data, seed and settings give "
                     "the model an uninterrupted fit would).")]


@app.command()
@clean_errors
def fit(
    data: Annotated[Path, typer.Argument(
        help="Training data: a table (.csv/.parquet), or another kind genlab detects "
             "(images, text, molecules, music, audio; see --data-kind).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file to write.")],
    model: Annotated[str | None, typer.Option(
        "--model", "-m", help="Family name (see `genlab models`); default per kind of data.")]
    = None,
    condition: Annotated[
        list[str], typer.Option("--condition", "-c", help="Column (or label) to condition on.")
    ] = [],  # noqa: B006 (typer reads the default)
    kind: Annotated[list[str], typer.Option(help="Override a column kind: col=kind.")] = [],  # noqa: B006
    constraint: Annotated[list[str], typer.Option(
        "--constraint", help="A rule every sampled row keeps (tables), e.g. 'last_login >= "
                             "signup_date', '0 <= age <= 120', 'a + b == total', 'city <-> "
                             "country'; repeatable. Python predicates are not taken here: "
                             "they are code, which a model file never holds.")]
    = [],  # noqa: B006
    param: Params = [],  # noqa: B006
    data_kind: DataKind = None,
    time: Annotated[str | None, typer.Option(help="Time column of a series.")] = None,
    value: Annotated[str | None, typer.Option(help="Value column of a series.")] = None,
    rate: Rate = None,
    seed: Seed = None,
    owner: Annotated[str | None, typer.Option(help="Owner recorded in the model file.")] = None,
    licence: Annotated[str | None, typer.Option(help="Licence recorded in the model file.")]
    = None,
    max_bytes: MaxBytes = None,
    max_columns: MaxColumns = None,
    inf: Annotated[str, typer.Option(
        "--inf", help="Infinite numbers in a table: error (default) or missing.")] = "error",
    mkdir: MakeDirs = False,
    epsilon: Annotated[float | None, typer.Option(
        help="Fit with differential privacy at this epsilon (see genlab models).")] = None,
    delta: Annotated[float | None, typer.Option(
        help="delta of the private fit; default 1/(10 n).")] = None,
    bound: Annotated[list[str], typer.Option(
        "--bound", help="Declared range of a numeric column for a private fit: "
                        "col=low:high (else estimated privately).")] = [],  # noqa: B006
    categories: Annotated[list[str], typer.Option(
        "--categories", help="Declared category set of a column for a private fit: "
                             "col=a|b|c (else estimated privately).")] = [],  # noqa: B006
    stream: Annotated[bool, typer.Option(
        "--stream", help="Tables: fit from Parquet (a file, a folder or a glob) in batches, "
                         "never holding the table (classical families).")] = False,
    batch_rows: Annotated[int | None, typer.Option(
        "--batch-rows", help="Rows held at once by --stream (default 100000).")] = None,
    ddp: Ddp = None,
    checkpoint_every: CheckpointEvery = None, checkpoint: CheckpointFile = None,
    resume: Resume = False,
    cluster: Cluster = None,
    quiet: Quiet = False,
) -> None:
    """Fit a model to data and save it as one .genlab file."""
    from genlab.api import fit as fit_model
    from genlab.data.detect import detect_kind

    if data_kind is not None:
        detect_kind(data, data_kind)  # an unknown --data-kind is the first thing to say
    if not stream and not cluster:  # a streamed source may be a glob, checked by its reader
        check_input(data, "training data")
    check_output(output, inputs=[data], suffixes=MODEL_SUFFIXES, what="model file", mkdir=mkdir)
    params = parameter_values(param)
    if seed is not None:
        params["seed"] = seed
    params.update({"rate": rate} if rate is not None else {})  # audio: how clips are read
    distributed = _processes(ddp, params, _checkpoints(checkpoint_every, checkpoint, resume))
    kinds = pairs(kind, "--kind") or None
    extra = {"streaming": True, "batch_rows": batch_rows} if stream or cluster else {}
    fit_model = _on_cluster(cluster) if cluster else fit_model
    with distributed.quiet_unless_main():
        source, read_seconds = (data, None) if stream or cluster else _read_with_progress(
            data, data_kind, {**read_limits(max_bytes, max_columns), "inf": inf})
        m = fit_model(source, model, conditions=condition or None, data_kind=data_kind,
                      kinds=kinds, time=time, value=value, constraints=constraint or None,
                      **extra, **_privacy_options(epsilon, delta, bound, categories), **params)
    if distributed.is_main():  # under torchrun rank 0 alone writes and speaks
        path = m.save(output, owner=owner, licence=licence)
        _ = quiet or _say(m, path, read_seconds)
    distributed.finish()


def _processes(ddp: int | None, params: dict[str, Any], checkpoints: dict[str, Any]) -> Any:
    """`genlab.distributed` once --ddp (which runs this command on N processes and exits)
    and torchrun (one seed for every process) are taken care of."""
    from genlab import distributed

    params.update(checkpoints)
    if ddp is not None:
        raise typer.Exit(distributed.launch(ddp, sys.argv[1:]))
    if distributed.launched():
        params["seed"] = distributed.shared_seed(params.get("seed"))
    return distributed


def _checkpoints(every: int | None, path: Path | None, resume: bool) -> dict[str, Any]:
    """The training settings of --checkpoint-every, --checkpoint and --resume."""
    out: dict[str, Any] = {}
    if every is not None:
        out["checkpoint_every"] = every
    if path is not None:
        out["checkpoint_path"] = str(path)
    if resume:
        out["resume"] = True
    return out


def _on_cluster(cluster: str) -> Any:
    """`genlab.api.fit` as `fit --cluster` makes it: the streamed fit plan run on the Dask
    cluster at `cluster` (`genlab.stream.dask.fit_dask`), refusing what that fit lacks."""
    from genlab.errors import ParameterError
    from genlab.stream.dask import BATCH_ROWS, fit_dask

    def fit_there(data: Path, model: str | None, *, conditions: Any, data_kind: Any, kinds: Any,
                  time: Any, value: Any, constraints: Any, batch_rows: int | None,
                  streaming: bool, **params: Any) -> Any:
        given = {"--condition": conditions, "--kind": kinds, "--constraint": constraints,
                 "--time/--value": time or value, "--epsilon": "epsilon" in params,
                 "--data-kind": data_kind not in (None, "table")}
        refused = [name for name, value in given.items() if value]
        if refused:
            raise ParameterError(f"a fit on a Dask cluster takes none of {', '.join(refused)} "
                                 "yet; drop them or fit without --cluster")
        return fit_dask(str(data), model or "bayesnet", client=cluster,
                        batch_rows=BATCH_ROWS if batch_rows is None else batch_rows, **params)

    return fit_there


def _say(m: Any, path: Path, read_seconds: float | None) -> None:
    """The summary lines of `fit`: what was fitted, how long it took, privacy, training."""
    what = "rows" if m.modality == "table" else "items"
    reading = f" (reading took {read_seconds:.1f}s)" if read_seconds is not None else ""
    out.print(f"fitted {type(m).__name__} on {m.n_rows_} {what} in {m.fit_seconds_:.1f}s"
              f"{reading} -> {path}", highlight=False)
    private = getattr(m, "privacy_summary_", None)
    if private:
        out.print(private, highlight=False)
    summary = getattr(m, "training_summary_", None)
    if summary:  # neural families: how long they trained and what stopped them
        out.print(f"training: {summary}", highlight=False)


def _privacy_options(epsilon: float | None, delta: float | None, bound: list[str],
                     categories: list[str]) -> dict[str, Any]:
    """The keyword arguments of a private fit from --epsilon, --delta, --bound, --categories."""
    from genlab.errors import ParameterError

    if epsilon is None:
        if delta is not None or bound or categories:
            raise ParameterError("--delta, --bound and --categories apply to a private fit; "
                                 "give --epsilon too")
        return {}
    bounds = {}
    for name, text in pairs(bound, "--bound").items():
        try:
            lo, hi = text.split(":")
            bounds[name] = (float(lo), float(hi))
        except ValueError:
            raise ParameterError(f"--bound {name}= takes low:high, e.g. age=17:90; got "
                                 f"{text!r}") from None
    cats = {name: text.split("|") for name, text in pairs(categories, "--categories").items()}
    return {"epsilon": epsilon, "delta": delta, "bounds": bounds or None,
            "categories": cats or None}


def _read_with_progress(data: Path, data_kind: str | None,
                        limits: dict[str, Any]) -> tuple[Any, float | None]:
    """A table file read under a progress line (so a long read is not silent) and how long
    it took; other kinds of data are returned as given, for their own readers."""
    from genlab._progress import task
    from genlab.data.detect import detect_kind

    if data_kind not in (None, "table") or not data.is_file():
        return data, None
    if detect_kind(data, data_kind)[0] != "table":
        return data, None
    from genlab.data.readers import read_table

    start = clock.perf_counter()
    with task(f"reading {data.name}", 1) as advance:
        df = read_table(data, **limits)
        advance(1, rows=len(df), columns=df.shape[1])
    return df, clock.perf_counter() - start
