"""Progress bars: a rich bar in a terminal, nothing in CI, pipes or under `quiet()`."""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
from collections.abc import Callable, Iterator

__all__ = ["progress_enabled", "quiet", "task"]

_QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar("genlab_quiet", default=False)


def progress_enabled() -> bool:
    """True when a bar would be seen: stderr is a terminal, not CI, not silenced."""
    if _QUIET.get() or os.environ.get("CI", "").lower() in ("1", "true"):
        return False
    return sys.stderr.isatty()


@contextlib.contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """Silence progress bars inside the block (the CLI's --quiet)."""
    token = _QUIET.set(enabled)
    try:
        yield
    finally:
        _QUIET.reset(token)


@contextlib.contextmanager
def task(description: str, total: float | None) -> Iterator[Callable[..., None]]:
    """Yield `advance(step=1, **fields)`; draws a bar only when `progress_enabled()`."""
    if not progress_enabled():
        yield lambda step=1, **fields: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        tid = bar.add_task(description, total=total, info="")

        def advance(step: float = 1, **fields: object) -> None:
            info = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                             for k, v in fields.items())
            bar.update(tid, advance=step, info=info)

        yield advance
