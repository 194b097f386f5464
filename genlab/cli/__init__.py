"""The `genlab` command line: a thin layer over the Python API.

`genlab.cli.app` (the attribute) is the typer app; its module is `genlab/cli/app.py`.
Importing this package adds every command to the app by importing its module.
"""

from __future__ import annotations

import importlib

from genlab.cli.app import app, main

__all__ = ["COMMAND_MODULES", "app", "main"]

# each module adds its command(s) to `app` when imported; this order is `genlab --help`'s
COMMAND_MODULES = ("fit", "sample", "score", "report", "inspect", "models", "demo", "detect",
                   "evaluate", "augment", "classify", "embed",
                   "provenance", "card", "audit")
for _name in COMMAND_MODULES:
    importlib.import_module(f"genlab.cli.{_name}")
