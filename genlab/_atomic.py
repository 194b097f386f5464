"""Atomic file output: write to a temporary file beside the target, then rename.

`atomic_group()` makes several outputs one unit (a table and its provenance sidecar, a
detection table and its report): their temporary files are renamed only when the whole block
succeeded, so a failure leaves either all of them or none. Temporary files left by a killed
process (`.<name>.<8 chars>.tmp`) are swept from a folder when genlab next writes into it,
once they are older than `STALE_SECONDS`.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["STALE_SECONDS", "atomic_group", "atomic_path", "sweep_stale"]

STALE_SECONDS = 24 * 3600
# mkstemp's names: prefix, 8 characters of its alphabet, suffix
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
_GROUP: contextvars.ContextVar[list[tuple[Path, Path]] | None] = contextvars.ContextVar(
    "genlab_atomic_group", default=None)
_SWEPT: dict[str, float] = {}  # folder -> when this process last swept it
_SWEEP_EVERY = 60.0  # a folder of many outputs is scanned once a minute, not once a file


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sweep_stale(folder: str | os.PathLike[str], *, older_than: float = STALE_SECONDS) -> int:
    """Remove genlab temporary files in `folder` older than `older_than` seconds; returns how
    many. Files of other programs (other names) and fresh temps of running writers stay."""
    removed = 0
    cutoff = time.time() - older_than
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0  # an unreadable folder: the write itself will say what is wrong
    for entry in entries:
        if not _TEMP_NAME.match(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue  # gone already, or not ours to remove
    return removed


def _named(error: OSError, target: Path, tmp: Path | None) -> OSError:
    """`error` naming the target the user asked for instead of a hidden temporary name."""
    given = error.filename
    if given is not None and str(given) != str(tmp) and not _TEMP_NAME.match(Path(given).name):
        return error
    named = OSError(error.errno, error.strerror or str(error) or type(error).__name__,
                    str(target))
    named.__cause__ = error
    return named


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto `path` on success.

    A failure inside the block removes the temporary file, so `path` is never left half
    written; an OSError names `path`, not the temporary file. The folder is created if
    needed (the command line refuses a missing folder before it gets here). Inside
    `atomic_group()` the rename waits for the end of the group.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        folder = str(target.parent.resolve())
        if time.monotonic() - _SWEPT.get(folder, -_SWEEP_EVERY) >= _SWEEP_EVERY:
            _SWEPT[folder] = time.monotonic()
            sweep_stale(target.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        raise _named(error, target, None) from error
    os.close(fd)
    tmp_path = Path(tmp)
    group = _GROUP.get()
    keep = False
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs follow the umask
        if group is None:
            os.replace(tmp_path, target)
        else:
            group.append((tmp_path, target))
            keep = True
    except OSError as error:
        raise _named(error, target, tmp_path) from error
    finally:
        if not keep:
            tmp_path.unlink(missing_ok=True)


def _commit(pending: list[tuple[Path, Path]]) -> None:
    """Rename every temporary file onto its target; on a failure undo the new ones."""
    created: list[Path] = []
    current = Path()
    try:
        for tmp, current in pending:
            existed = os.path.lexists(current)
            os.replace(tmp, current)
            if not existed:
                created.append(current)
    except OSError as error:
        for target in created:  # files that did not exist before the group: remove again
            target.unlink(missing_ok=True)
        raise _named(error, current, None) from error
    finally:
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_group() -> Iterator[None]:
    """Make every `atomic_path` write inside the block one unit: all renamed at the end, or,
    if the block fails, none (their temporary files removed). Nested groups join the outer."""
    if _GROUP.get() is not None:
        yield
        return
    pending: list[tuple[Path, Path]] = []
    token = _GROUP.set(pending)
    try:
        yield
    except BaseException:
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        _GROUP.reset(token)
    _commit(pending)
