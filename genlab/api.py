"""Convenience functions over the families: fit by name, write a report."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from genlab.data.readers import TableSource, read_table
from genlab.errors import ParameterError
from genlab.models.base import Model, families

__all__ = ["fit", "make_model", "report"]


def make_model(name: str, **params: Any) -> Model:
    """An unfitted model of family `name` (e.g. "copula") with the given parameters."""
    known = families()
    if name not in known:
        raise ParameterError(f"unknown model {name!r}; choose one of {', '.join(sorted(known))}")
    return known[name].build(**params)


def fit(
    data: TableSource,
    model: str = "copula",
    *,
    conditions: list[str] | None = None,
    kinds: dict[str, str] | None = None,
    **params: Any,
) -> Model:
    """Fit the family named `model` to `data` (a CSV/Parquet path or a DataFrame)."""
    return make_model(model, **params).fit(data, conditions, kinds=kinds)


def report(
    real: TableSource,
    synthetic: TableSource,
    path: str | os.PathLike[str],
    *,
    model: Model | None = None,
    title: str = "genlab report",
) -> Path:
    """Write a self-contained HTML report comparing real and synthetic tables."""
    from genlab.report.tables import build_report

    real_df: pd.DataFrame = read_table(real)
    synth_df: pd.DataFrame = read_table(synthetic)
    info = None
    kinds = None
    history = None
    if model is not None:
        model._check_fitted()
        kinds = model.schema_.kinds
        history = model.history_ or None
        info = {
            "family": f"{type(model).__name__} ({model.family})",
            "parameters": repr(model),
            "fit seconds": f"{model.fit_seconds_:.2f}",
            "training rows": str(model.n_rows_),
            "training fingerprint": model.fingerprint_[:16],
            "log_prob": "exact" if model.log_prob_is_exact else "bound / estimate",
        }
    extra = None
    graph_html = getattr(model, "graph_html", None)
    if callable(graph_html):  # families with a structure (the Bayesian network) show it
        extra = [("Learned dependency graph", graph_html())]
    return build_report(real_df, synth_df, path, title=title, kinds=kinds, history=history,
                        model_info=info, extra_sections=extra)
