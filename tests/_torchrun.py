"""One multi-process launch (torchrun, `genlab fit --ddp`) at a time across the xdist
workers: two gloo groups bootstrapping at once on one host have aborted a rank in CI
(SIGABRT), so the tests that launch processes hold a file lock while they run."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def one_launch() -> Iterator[None]:
    """Hold the machine-wide lock of the tests' process launches."""
    lock = Path(tempfile.gettempdir()) / f"genlab-tests-torchrun-{os.getuid()}.lock"
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
