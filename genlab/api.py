"""The public functions over the families: fit any kind of data by name, load, report."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from genlab.data.detect import detect_kind
from genlab.models.registry import families, family_class, load, make_model

if TYPE_CHECKING:
    from genlab.report.document import Report

__all__ = ["families", "fit", "load", "make_model", "report"]


def fit(
    data: Any,
    model: str | None = None,
    *,
    conditions: list[str] | str | None = None,
    data_kind: str | None = None,
    kinds: dict[str, str] | None = None,
    time: str | None = None,
    value: str | None = None,
    constraints: Any = None,
    epsilon: float | None = None,
    delta: float | None = None,
    bounds: dict[str, Any] | None = None,
    categories: dict[str, list[Any]] | None = None,
    streaming: bool = False,
    batch_rows: int | None = None,
    **params: Any,
) -> Any:
    """Fit the family named `model` to `data` of any kind: a table (CSV/Parquet path or
    DataFrame), images (folder, .npz, idx), text, molecules, music or a series (with
    `data_kind="series"`). The kind is detected as `genlab fit` detects it; `data_kind`
    overrides it (`table`, `image`, `text`, `molecules`, `music`, `sequence`, `series`).

    `kinds` overrides table column kinds; `time` / `value` name a series' columns;
    `constraints` are a table's rules (`genlab.constraints`); the other keyword arguments
    are the family's hyperparameters. `epsilon` (with `delta`, `bounds`, `categories`)
    fits with differential privacy (`genlab.privacy`). `streaming=True` fits a Parquet file,
    folder or glob holding at most `batch_rows` rows at once (`genlab.stream.fit`)."""
    if streaming:
        return _fit_streaming(data, model, batch_rows, conditions=conditions, kinds=kinds,
                              constraints=constraints, epsilon=epsilon, data_kind=data_kind,
                              **params)
    modality, implied = detect_kind(data, data_kind)
    cls = family_class(modality, model) if model else None
    accepted = set(cls._param_names()) if cls is not None else set()
    params = {**{k: v for k, v in implied.items() if not accepted or k in accepted}, **params}
    m = make_model(model, modality, **params)
    options = {k: v for k, v in (("kinds", kinds), ("time", time), ("value", value),
                                 ("constraints", constraints), ("epsilon", epsilon),
                                 ("delta", delta), ("bounds", bounds),
                                 ("categories", categories)) if v is not None}
    return m.fit(data, conditions, **options)


def _fit_streaming(data: Any, model: str | None, batch_rows: int | None, **params: Any) -> Any:
    from genlab.errors import ParameterError
    from genlab.stream.fit import fit_streaming
    from genlab.stream.source import BATCH_ROWS

    if not isinstance(data, str | os.PathLike):
        raise ParameterError(f"streaming=True reads Parquet from a path, folder or glob, not a "
                             f"{type(data).__name__}; write the table to Parquet first")
    unsupported = [k for k in ("conditions", "kinds", "constraints", "epsilon", "data_kind")
                   if params.pop(k) is not None]
    if unsupported:
        raise ParameterError(f"a streamed fit takes none of {unsupported} yet; fit in memory "
                             "(streaming=False) to use them")
    return fit_streaming(data, model or "gaussian",
                         batch_rows=BATCH_ROWS if batch_rows is None else batch_rows, **params)


def report(
    real: Any,
    synthetic: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    model: Any = None,
    title: str = "genlab report",
) -> Report:
    """The self-contained HTML report comparing real and synthetic tables, as a `Report`:
    shown inline in Jupyter, saved with `.save(path)` (atomically). With `path` it is saved
    there at once; `os.fspath(report)` is then that path, as the old return value was."""
    from genlab.report.tables import table_report

    return table_report(real, synthetic, path, model=model, title=title)
