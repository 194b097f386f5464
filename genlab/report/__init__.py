"""HTML reports: one page shell (`shell`), plots, and a section builder per kind of data.

Importing any module of this package makes Python bind the package itself to the name
`genlab.report`, where users call the function `genlab.report(real, synthetic, ...)`. The
package is therefore callable and calls that function, so `genlab.report(...)` works
whatever was imported before (an evaluation, a second report in a notebook).
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from genlab.api import report

        return report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
