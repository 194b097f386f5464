"""How the command line speaks: errors and warnings as one line each, in the words of the
command line (`--kind zip=categorical`, not `kinds={'zip': 'categorical'}`); warnings are
silent with `--quiet`."""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from typing import Any

__all__ = ["cli_text", "cli_warnings"]

_KINDS = re.compile(r"kinds=\{\s*'([^']+)'\s*:\s*'([^']+)'\s*\}")
_CONDITIONS = re.compile(r"conditions=\[\s*'([^']+)'\s*\]")
_PARAM = re.compile(r"\b(max_minutes|epochs|max_steps)=(?=\s|$|[,;)])")


def cli_text(message: str) -> str:
    """`message` on one line, with Python spellings of options turned into their flags."""
    text = " ".join(str(message).split())
    text = _KINDS.sub(lambda m: f"--kind {m.group(1)}={m.group(2)}", text)
    text = _CONDITIONS.sub(lambda m: f"--condition {m.group(1)}", text)
    return _PARAM.sub(lambda m: f"-p {m.group(1)}=", text)


@contextlib.contextmanager
def cli_warnings(quiet: bool, emit: Any) -> Iterator[None]:
    """Inside the block every warning is printed once through `emit` as one CLI line
    (`warning: ...`), with no file path or source line; nothing at all when `quiet`."""
    seen: set[str] = set()

    def show(message: Warning | str, category: type[Warning], *args: Any,
             **kwargs: Any) -> None:
        line = cli_text(str(message))
        if not quiet and line not in seen:
            seen.add(line)
            emit(line)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show  # restored by catch_warnings on exit
        yield
