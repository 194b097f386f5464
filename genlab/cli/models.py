"""`genlab models`: every family of every kind of data and what each supports."""

from __future__ import annotations

from typing import Any

from genlab.cli.app import Quiet, app, clean_errors, out

__all__ = ["models"]


def _log_prob(cls: Any) -> str:
    if not cls.supports_log_prob:
        return "no"
    return "exact" if cls.log_prob_is_exact else "bound"


def _family_table(modality: str, found: dict[str, Any]) -> Any:
    """A rich table of one modality's families; tables also show latents and fit times."""
    from rich.table import Table

    plural = "tables" if modality == "table" else modality
    table = Table(title=f"genlab model families: {plural}")
    extra = modality == "table"
    columns = ["name", "class", "log_prob", "conditions"]
    columns += ["latent", "fit on Adult"] if extra else []
    for col in [*columns, "when to use"]:
        table.add_column(col)
    for name, cls in sorted(found.items()):
        row = [name, cls.__name__, _log_prob(cls), cls.conditioning]
        if extra:
            row += ["yes" if cls.has_latent else "no", getattr(cls, "adult_fit_time", "")]
        table.add_row(*row, cls.when_to_use)
    return table


@app.command()
@clean_errors
def models(quiet: Quiet = False) -> None:
    """List the model families of every kind of data and what each supports."""
    from genlab.models.registry import MODALITIES, families

    for modality in MODALITIES:
        out.print(_family_table(modality, families(modality)))
