"""`genlab sample`: draw samples from a model file of any modality and write them."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from genlab.cli.app import Cluster, ModelFile, Quiet, Seed, app, clean_errors, out, pairs
from genlab.cli.outputs import (
    MakeDirs,
    MaxMemory,
    check_input,
    check_output,
    format_bytes,
    load_model,
    parse_bytes,
)
from genlab.errors import ParameterError

__all__ = ["DEFAULT_MAX_MEMORY", "sample"]

DEFAULT_MAX_MEMORY = 4 * 10**9
PROBE_ABOVE = 10_000  # below this many samples the budget cannot be the problem
OVERHEAD = 3  # the samples, the model's working arrays and the writer's copy


@app.command()
@clean_errors
def sample(
    model_file: ModelFile,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Where to write: a table for table models; for others e.g. a "
                               "grid .png, a folder, a .txt or .mid file.")],
    n: Annotated[int | None, typer.Option(
        "-n", help="Number of rows / samples [default: 1 into a single .wav, else 1000].")]
    = None,
    where: Annotated[list[str], typer.Option(
        help="Condition (column=value, label=7) or sampling option (temperature=0.8); "
             "repeatable.")] = [],  # noqa: B006
    prompt: Annotated[str | None, typer.Option(
        help="Prefix every sample starts with (models with a prompt option: sequences).")]
    = None,
    seed: Seed = None,
    rows_per_part: Annotated[int | None, typer.Option(
        "--rows-per-part", help="Table models: write a partitioned Parquet dataset (a folder "
                                "of part-00000.parquet, ...) of this many rows per part, in "
                                "bounded memory; the default for an -o without extension.")]
    = None,
    max_memory: MaxMemory = None,
    mkdir: MakeDirs = False,
    no_watermark: Annotated[bool, typer.Option(
        "--no-watermark", help="Images: leave out the invisible watermark of the model id; "
        "text: sample without the green-list watermark.")]
    = False,
    cluster: Cluster = None,
    quiet: Quiet = False,
) -> None:
    """Draw synthetic samples from a model; the format follows the output's extension."""
    from genlab.data.readers import TABLE_SUFFIXES
    from genlab.data.writers import write_samples
    budget = parse_bytes(max_memory) if max_memory is not None else DEFAULT_MAX_MEMORY
    check_input(model_file, "model file", folder_ok=False)
    if rows_per_part is None:  # a dataset folder may carry a suffix (out.parquet/)
        check_output(output, inputs=[model_file], suffixes=None, mkdir=mkdir, folder_ok=True)
    m = load_model(model_file, max_memory)
    if n is None:  # `sample tts.genlab --prompt hi -o hi.wav` says one thing, not 1000
        n = 1 if m.modality == "audio" and output.suffix.lower() == ".wav" else 1000
    conditions, options = m.parse_where(pairs(where, "--where"))
    if prompt is not None:
        if "prompt" not in m.sample_options:
            raise ParameterError(
                f"--prompt applies to models with a prompt option (sequence and tts models); "
                f"{type(m).__name__} ({m.modality}) has none")
        options["prompt"] = prompt
    if m.modality == "table" and (rows_per_part is not None or not output.suffix or cluster):
        _sample_dataset(m, n, output, conditions, seed, rows_per_part, mkdir, quiet, cluster)
        return
    if rows_per_part is not None or cluster:
        raise ParameterError(f"{'--cluster' if cluster else '--rows-per-part'} applies to "
                             f"table models; {type(m).__name__} is a {m.modality} model")
    if m.modality in ("table", "series"):  # fail before sampling, not after
        check_output(output, suffixes=TABLE_SUFFIXES)
    if no_watermark and "watermark" in m.sample_options:  # text: drawn into the sampling
        options["watermark"] = False
    check_budget(m, n, conditions, options, budget)
    samples = m.sample(n, conditions=conditions or None, seed=seed, **options)
    if no_watermark:  # read by the image writer (genlab.watermark.watermarker)
        samples.attrs["watermark"] = False
    _, summary = write_samples(samples, output)
    if not quiet:
        out.print(summary, highlight=False)


def _sample_dataset(m: Any, n: int, output: Path, conditions: dict[str, Any],
                    seed: int | None, rows_per_part: int | None, mkdir: bool,
                    quiet: bool, cluster: str | None = None) -> None:
    """The partitioned-Parquet branch of `sample` (`genlab.stream.sample_to_parquet`, or
    `genlab.stream.dask.sample_dask` with --cluster): memory is bounded by the block size,
    so no --max-memory probe is needed."""
    from genlab.cli.outputs import _check_folder
    from genlab.stream.dask import sample_dask
    from genlab.stream.sample import ROWS_PER_PART, sample_to_parquet

    _check_folder(output, "output", mkdir)
    options = {"client": cluster} if cluster else {}
    target = (sample_dask if cluster else sample_to_parquet)(
        m, n, output, seed=seed, conditions=conditions or None,
        rows_per_part=rows_per_part or ROWS_PER_PART, **options)
    if not quiet:
        parts = len(list(target.glob("part-*.parquet")))
        out.print(f"wrote {n} rows in {parts} Parquet part{'s' if parts != 1 else ''} -> "
                  f"{target}/ (provenance: {target.name}.provenance.json)", highlight=False)


def _nbytes(samples: Any) -> int:
    """Memory held by what `sample` returned: a DataFrame, an array or a list of items."""
    if hasattr(samples, "memory_usage"):
        return int(samples.memory_usage(deep=True).sum())
    if hasattr(samples, "nbytes"):
        return int(samples.nbytes)
    return sum(sys.getsizeof(x) + len(str(x)) for x in samples)


def check_budget(m: Any, n: int, conditions: dict[str, Any], options: dict[str, Any],
                 budget: int) -> None:
    """Refuse `n` samples whose estimated memory (a few probe samples' size times `n`, times
    the working copies) is above `budget`, before sampling grows until the machine runs out."""
    from genlab._progress import quiet
    from genlab.models.base import check_count

    count = check_count(n)
    if count <= PROBE_ABOVE:
        return
    k = 64 if m.modality in ("table", "series") else 4
    with quiet():
        probe = m.sample(k, conditions=conditions or None, seed=0, **options)
    per_item = max(_nbytes(probe) / k, 1.0)
    need = per_item * count * OVERHEAD
    if need > budget:
        raise ParameterError(
            f"-n {count} needs about {format_bytes(need)} of memory ({format_bytes(per_item)} "
            f"per sample), above the budget of {format_bytes(budget)}; lower -n or raise the "
            f"budget with --max-memory (e.g. --max-memory {math.ceil(need * 1.1 / 1e9)}GB)")
