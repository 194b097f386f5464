"""The typer app every `genlab` command hangs on, its shared option types, and the one
place where errors become one line on stderr with exit code 2.

Kept light on purpose: nothing here (and nothing at the top of a command module) imports
numpy, pandas, torch or a modality, so `genlab --help` starts at once. The command modules
import this module and add their commands to `app`; `genlab/cli/__init__.py` imports them.
"""

from __future__ import annotations

import errno
import functools
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from genlab._progress import quiet as quiet_progress
from genlab.cli.voice import cli_text, cli_warnings
from genlab.errors import GenlabError, ParameterError

try:  # typer >= 0.24 ships its own copy of click
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - older typer on the real click
    from click.exceptions import NoArgsIsHelpError, UsageError  # type: ignore[no-redef]

__all__ = [
    "Cluster",
    "ModelFile",
    "Params",
    "Quiet",
    "Seed",
    "app",
    "check_table_output",
    "clean_errors",
    "err",
    "main",
    "os_error_message",
    "out",
    "pairs",
    "parameter_values",
]

F = TypeVar("F", bound=Callable[..., Any])
EXIT_ERROR = 2

out = Console(soft_wrap=True)  # never break a printed path across lines
err = Console(stderr=True, soft_wrap=True)


def print_error(message: str) -> None:
    """Write `error: message` as one line on stderr."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, markup=True)


def _one_line(error: UsageError) -> str:
    """A click usage error as one line: what is wrong, then where the help is."""
    text = " ".join(error.format_message().split()).rstrip(".")
    where = error.ctx.command_path if error.ctx is not None else "genlab"
    return f"{text}; see `{where} --help`"


class _OneLineErrors(TyperGroup):
    """The command group: bad values on the command line (`-n abc`, an unknown option)
    become one `error:` line with exit code 2 instead of typer's usage box."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        """Run the command line; in standalone mode exit with the command's status."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            status = super().main(args, prog_name, complete_var, False, **extra)
        except NoArgsIsHelpError as error:
            # `genlab` alone shows the help, as typer does; rich has printed it already
            if error.format_message().strip():
                typer.echo(error.format_message())
            sys.exit(EXIT_ERROR)
        except UsageError as error:
            print_error(_one_line(error))
            sys.exit(EXIT_ERROR)
        except typer.Abort:
            print_error("aborted")
            sys.exit(1)
        sys.exit(status if isinstance(status, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    help="Fit generative models to your own data and put them to work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        from genlab._version import __version__

        typer.echo(f"genlab {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True,
        help="Print genlab's version and exit.")] = False,
) -> None:
    """Fit generative models to your own data and put them to work."""


Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or chatter.")]
Seed = Annotated[int | None, typer.Option(help="Random seed.")]
Params = Annotated[
    list[str], typer.Option("--param", "-p", help="Model hyperparameter: name=value.")]
ModelFile = Annotated[Path, typer.Argument(help="A .genlab model file.")]
Cluster = Annotated[str | None, typer.Option(
    "--cluster", help="Run on a Dask cluster: its scheduler's address, e.g. "
                      "tcp://scheduler:8786 (tables; paths on storage every worker sees).")]


_OS_REASONS = {
    errno.ENOSPC: "no space left on the device while writing{at}; free some space or write "
                  "to another disk",
    errno.EDQUOT: "disk quota exceeded while writing{at}; free some space or write elsewhere",
    errno.EACCES: "permission denied on{at}; check its permissions (and its folder's) or use "
                  "another path",
    errno.EPERM: "operation not permitted on{at}; check its permissions or use another path",
    errno.EROFS: "{at_} is on a read-only file system; write somewhere else",
    errno.EISDIR: "{at_} is a folder, not a file; give a file path",
    errno.ENOTDIR: "a part of the path{at} is a file, not a folder; fix the path",
    errno.ENOENT: "no such file or folder{at}; check the path",
    errno.ENAMETOOLONG: "the path{at} is too long; choose a shorter one",
    errno.EMFILE: "too many open files{at}; close some programs or raise `ulimit -n`",
}


def os_error_message(error: OSError) -> str:
    """An operating-system error as one line naming the path and what to do about it."""
    where = error.filename if error.filename is not None else error.filename2
    at = f" {str(where)!r}" if where is not None else ""
    template = _OS_REASONS.get(error.errno) if error.errno is not None else None
    if template is not None:
        return template.format(at=at, at_=(at.strip() or "the path"))
    reason = error.strerror or str(error) or type(error).__name__
    return f"{reason}{' on' + at if at else ''}; check the path and try again"


def clean_errors(func: F) -> F:
    """Run a command with --quiet honoured, turning genlab errors and operating-system
    errors (full disk, read-only folder, permission denied) into one line on stderr and
    exit code 2 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        quiet = bool(kwargs.get("quiet", False))
        try:
            with quiet_progress(quiet), cli_warnings(quiet, print_warning):
                return func(*args, **kwargs)
        except GenlabError as error:
            print_error(cli_text(str(error)))
            raise typer.Exit(EXIT_ERROR) from None
        except OSError as error:
            print_error(" ".join(os_error_message(error).split()))
            raise typer.Exit(EXIT_ERROR) from None
        except MemoryError:
            print_error("out of memory; ask for less (a smaller -n, a smaller table) or run "
                        "on a machine with more memory")
            raise typer.Exit(EXIT_ERROR) from None

    return wrapper  # type: ignore[return-value]


def print_warning(message: str) -> None:
    """One `warning: ...` line on stderr, in the same voice as errors."""
    err.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False, soft_wrap=True)


def pairs(items: list[str], what: str) -> dict[str, str]:
    """Parse repeated `name=value` options; the same name twice with different values is
    refused rather than silently keeping the last."""
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise ParameterError(f"{what} must look like name=value, got {item!r}")
        if key in found and found[key] != value:
            raise ParameterError(
                f"{what} {key}= is given twice ({found[key]!r} and {value!r}); give it once")
        found[key] = value
    return found


def _parameter_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # not JSON: a plain string such as a family or codec name


def parameter_values(items: list[str], what: str = "--param") -> dict[str, Any]:
    """Hyperparameters written as `name=value`, each value read as JSON, else a string."""
    return {k: _parameter_value(v) for k, v in pairs(items, what).items()}


def check_table_output(path: Path | None) -> None:
    """Refuse an output table path whose extension genlab cannot write, before any work."""
    from genlab.data.readers import TABLE_SUFFIXES, table_suffix

    if path is not None and table_suffix(path) not in TABLE_SUFFIXES:
        raise ParameterError(
            f"unsupported output extension {path.suffix or '(none)'!r} for {str(path)!r}; "
            f"use one of {', '.join(TABLE_SUFFIXES)}")


def main() -> None:
    """Console entry point (`genlab`)."""
    app()
