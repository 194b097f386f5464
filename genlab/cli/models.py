"""`genlab models`: every family of every kind of data and what each supports.

A terminal wide enough for the whole table gets the table; a narrower one (80 columns, a
pipe) gets one stacked block per family, wrapped to the width, so no cell is cut short.
The modality's default family (what `genlab fit` uses without `--model`) is marked, and the
families that can fit with differential privacy (`--epsilon`) say how ("DP fit").
"""

from __future__ import annotations

import textwrap
from typing import Any

from genlab.cli.app import Quiet, app, clean_errors, out

__all__ = ["models"]

DEFAULT_MARK = "(default)"


def _log_prob(cls: Any) -> str:
    if not cls.supports_log_prob:
        return "no"
    return "exact" if cls.log_prob_is_exact else "bound"


def _dp(cls: Any) -> str:
    """How a family fits with differential privacy (`fit(..., epsilon=)`), if it can."""
    from genlab.privacy._sgd_fit import PrivateSGD
    from genlab.privacy._sgd_image import PrivateImageSGD
    from genlab.privacy.fit import PrivateFit

    if issubclass(cls, (PrivateSGD, PrivateImageSGD)):
        return "yes (DP-SGD)"
    return "yes" if issubclass(cls, PrivateFit) else "no"


def _title(modality: str, default: str) -> str:
    plural = "tables" if modality == "table" else modality
    return f"genlab model families: {plural} (default: {default})"


def _facts(modality: str, cls: Any) -> list[tuple[str, str]]:
    facts = [("log_prob", _log_prob(cls)), ("conditions", cls.conditioning)]
    if modality == "table":
        facts += [("latent", "yes" if cls.has_latent else "no"),
                  ("fit on Adult", getattr(cls, "adult_fit_time", ""))]
    return [*facts, ("DP fit", _dp(cls)), ("when to use", cls.when_to_use)]


def _family_table(modality: str, found: dict[str, Any], default: str) -> Any:
    """A rich table of one modality's families; tables also show latents and fit times."""
    from rich.table import Table

    table = Table(title=_title(modality, default))
    table.add_column("name", no_wrap=True)
    table.add_column("class", no_wrap=True)
    for label, _ in _facts(modality, next(iter(found.values()))):
        table.add_column(label)
    for name, cls in sorted(found.items()):
        shown = f"{name} {DEFAULT_MARK}" if name == default else name
        table.add_row(shown, cls.__name__, *(value for _, value in _facts(modality, cls)))
    return table


def _stacked(modality: str, found: dict[str, Any], default: str, width: int) -> str:
    """One block per family: name and class on a line, then each fact wrapped to `width`."""
    title = _title(modality, default)
    lines = [*textwrap.wrap(title, width), "-" * min(width, len(title))]
    for name, cls in sorted(found.items()):
        head = f"{name}  {cls.__name__}" + (f"  {DEFAULT_MARK}" if name == default else "")
        lines += textwrap.wrap(head, width)
        short = [f"{k} {v}" for k, v in _facts(modality, cls)
                 if k in ("log_prob", "latent", "fit on Adult", "DP fit") and v]
        lines += textwrap.wrap(" · ".join(short), width, initial_indent="  ",
                               subsequent_indent="    ")
        for label in ("conditions", "when to use"):
            value = dict(_facts(modality, cls))[label]
            if value:
                lines += textwrap.wrap(f"{label}: {value}", width, initial_indent="  ",
                                       subsequent_indent="    ")
    return "\n".join(lines) + "\n"


def _fits(table: Any) -> bool:
    from rich.measure import Measurement

    unbounded = out.options.update_width(10**6)  # the table's natural width, unclamped
    return Measurement.get(out, unbounded, table).maximum <= out.width


@app.command()
@clean_errors
def models(quiet: Quiet = False) -> None:
    """List the model families of every kind of data and what each supports; the default
    family of each kind is marked."""
    from genlab.models.registry import DEFAULT_FAMILY, MODALITIES, families

    for modality in MODALITIES:
        found, default = families(modality), DEFAULT_FAMILY[modality]
        table = _family_table(modality, found, default)
        if _fits(table):
            out.print(table)
        else:
            out.print(_stacked(modality, found, default, max(out.width, 40)), markup=False,
                      highlight=False)
