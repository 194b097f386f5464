"""`Report`: a rendered genlab page that a notebook shows inline and a script saves.

`genlab.report(...)` returns one. The page is kept as text, so showing it costs nothing and
saving it is one atomic write; `os.fspath(report)` is the file it was last saved to, which
keeps callers that treated the old return value (a path) working.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from genlab._atomic import atomic_path
from genlab.errors import ParameterError

__all__ = ["Report"]

_IFRAME_HEIGHT = 900


class Report:
    """One self-contained HTML report page (images inline, no scripts, no network).

    Attributes:
        html: The whole page.
        title: The page title.
        path: Where the page was last saved, or None.
    """

    def __init__(self, page: str, *, title: str, path: Path | None = None) -> None:
        self.html = page
        self.title = title
        self.path = path

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the page to `path` (an .html file) atomically; returns the path."""
        if not isinstance(path, str | os.PathLike):
            raise ParameterError(f"report path must be a file path, got {type(path).__name__}")
        target = Path(path)
        with atomic_path(target) as tmp:
            tmp.write_text(self.html, encoding="utf-8")
        self.path = target
        return target

    def _repr_html_(self) -> str:
        # An iframe keeps the page's own style sheet from restyling the notebook around it.
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" title="'
                f'{html.escape(self.title, quote=True)}" style="width:100%;height:'
                f'{_IFRAME_HEIGHT}px;border:1px solid #d9dee7"></iframe>')

    def __fspath__(self) -> str:
        if self.path is None:
            raise TypeError("this report has not been saved; call report.save(path) first")
        return os.fspath(self.path)

    def __str__(self) -> str:
        return str(self.path) if self.path is not None else f"<unsaved report {self.title!r}>"

    def __repr__(self) -> str:
        where = f"saved to {str(self.path)!r}" if self.path is not None else "not saved"
        return f"Report({self.title!r}, {len(self.html):,} characters, {where})"
