"""Compact HTML cards for Jupyter: a model (`Model._repr_html_`) and an evaluation result
(`EvaluationResult._repr_html_`).

Every value that comes from the user (column names, categories, paths, parameters) goes
through `html.escape`, so a column called `<script>` shows as text. Styles are inline: a
notebook front end may drop `<style>` blocks, and a card must not restyle the page around it.
Kept light: no numpy, pandas or torch at import.
"""

from __future__ import annotations

import ast
import contextlib
import html
import os
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["evaluation_card", "loaded_path", "model_card"]

MAX_COLUMNS_SHOWN = 30  # a wide table's card lists this many columns, then "N more"
_BOX = ("font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px;"
        "line-height:1.4;border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;"
        "max-width:760px;color:#1f2328;background:#fff")
_CELL = "padding:2px 10px 2px 0;text-align:left;vertical-align:top;border:none"
_HEAD = _CELL + ";color:#57606a;font-weight:600"
_GREEN, _AMBER, _RED, _GREY = "#1a7f37", "#9a6700", "#cf222e", "#57606a"
_VERDICT_COLOURS = {"good": _GREEN, "low risk": _GREEN, "no flags": _GREEN,
                    "fair": _AMBER, "moderate risk": _AMBER, "poor": _RED, "high risk": _RED}


_RESOLUTION = {"D": "day", "s": "second", "ms": "millisecond"}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A borderless table; `rows` hold HTML that is already escaped."""
    head = "".join(f'<th style="{_HEAD}">{_e(h)}</th>' for h in header)
    body = "".join("<tr>" + "".join(f'<td style="{_CELL}">{c}</td>' for c in row) + "</tr>"
                   for row in rows)
    return (f'<table style="border-collapse:collapse;margin:6px 0"><thead><tr>{head}</tr>'
            f"</thead><tbody>{body}</tbody></table>")


def _facts(pairs: Iterable[tuple[str, str]]) -> str:
    """Label/value lines; values are escaped HTML already."""
    rows = "".join(f'<tr><th style="{_HEAD}">{_e(k)}</th><td style="{_CELL}">{v}</td></tr>'
                   for k, v in pairs)
    return f'<table style="border-collapse:collapse;margin:6px 0">{rows}</table>'


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n}"  # pragma: no cover - the loop always returns


def _card(title: str, subtitle: str, body: str) -> str:
    return (f'<div class="genlab-card" style="{_BOX}"><div style="font-size:15px;'
            f'font-weight:600">{title}</div><div style="color:#57606a;margin-bottom:4px">'
            f"{subtitle}</div>{body}</div>")


def _changed_params(model: Any) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in model.get_params().items() if v != model._default(k)]


def _training(model: Any) -> str | None:
    """How training went: the training loop's own one-line summary for networks, else the
    number of records in the history (e.g. the mixture's BIC per component count)."""
    history = list(getattr(model, "history_", None) or [])
    stopped = getattr(model, "stopped_by_", None)
    if stopped is not None:
        from genlab.train import training_summary  # only networks stop; torch is loaded

        line = training_summary(history, stopped, getattr(model, "steps_trained_", None))
        last = history[-1] if history else {}
        losses = ", ".join(f"{k} {v:.4g}" for k, v in last.items()
                           if "loss" in k and isinstance(v, int | float))
        return _e(line + (f"; last epoch: {losses}" if losses else ""))
    if history:
        keys = sorted({k for record in history for k in record})
        return _e(f"{len(history)} record(s) in history_ ({', '.join(keys)})")
    return None


def _column_rows(schema: Any) -> list[list[str]]:
    rows = []
    for spec in schema.columns[:MAX_COLUMNS_SHOWN]:
        if spec.categories is not None:
            shape = f"{len(spec.categories):,} categories"
        elif spec.kind == "integer" and spec.min is not None and spec.max is not None:
            shape = f"{int(spec.min):,} to {int(spec.max):,}"
        elif spec.kind == "continuous" and spec.min is not None and spec.max is not None:
            shape = f"{spec.min:.6g} to {spec.max:.6g}"
        elif spec.kind == "datetime":
            unit = _RESOLUTION.get(spec.datetime_resolution or "", "microsecond")
            shape = f"datetimes, to the {unit}"
        else:
            shape = ""
        missing = f"{spec.missing_rate:.1%}" if spec.missing_rate else ""
        rows.append([f"<code>{_e(spec.name)}</code>", _e(spec.kind), _e(shape), _e(missing)])
    return rows


def _columns_html(model: Any) -> str:
    schema = getattr(model, "schema_", None)
    if schema is None or not hasattr(schema, "columns"):
        return ""
    rows = _column_rows(schema)
    more = len(schema.columns) - MAX_COLUMNS_SHOWN
    if more > 0:
        rows.append([_e(f"… {more:,} more"), "", "", ""])
    return _table(["column", "kind", "values", "missing"], rows)


def _data_fact(model: Any) -> str | None:
    """What a non-table model was fitted on, in a few words (tables list their columns)."""
    codec = getattr(model, "codec_", None)
    if codec is None:
        return None
    if hasattr(codec, "height"):
        classes = f", {len(codec.classes)} classes" if codec.classes else ""
        return f"images {codec.height}×{codec.width}×{codec.channels}{classes}"
    if hasattr(codec, "vocab_size"):
        return f"{codec.kind or 'sequence'} tokens, vocabulary of {codec.vocab_size:,}"
    if isinstance(codec, dict) and "value" in codec:
        time = f", time column {codec['time']!r}" if codec.get("time") else ""
        return f"series {codec['value']!r}{time}, seasons {codec.get('periods')}"
    return None


def loaded_path(where: str) -> str | None:
    """The path `genlab.load` names a model file by (`repr(str(path))`), else None."""
    with contextlib.suppress(ValueError, SyntaxError):
        path = ast.literal_eval(where)
        return path if isinstance(path, str) and os.path.isfile(path) else None
    return None


def _file_fact(model: Any) -> tuple[str, str] | None:
    path = getattr(model, "file_path_", None)
    if path is None:
        return None
    try:
        size = os.stat(path).st_size
    except OSError:
        return ("file", f"<code>{_e(path)}</code> (no longer there)")
    return ("file", f"<code>{_e(path)}</code>, {_e(_size(size))}")


def model_card(model: Any) -> str:
    """The HTML card of a fitted or unfitted model."""
    cls = type(model)
    title = f"{_e(cls.__name__)} <span style=\"color:#57606a;font-weight:400\">" \
            f"({_e(cls.family)}, {_e(cls.modality)} model)</span>"
    likelihood = ("no likelihood" if not cls.supports_log_prob else
                  "exact log_prob" if cls.log_prob_is_exact else "log_prob is a bound/estimate")
    facts: list[tuple[str, str]] = []
    params = _changed_params(model)
    facts.append(("parameters", _e(", ".join(f"{k}={v!r}" for k, v in params) or "defaults")))
    if not hasattr(model, "fit_seconds_"):
        return _card(title, _e(f"not fitted; {likelihood}"),
                     _facts(facts) + '<div style="color:#57606a">call <code>fit(data)</code> '
                     "or <code>genlab.load(path)</code></div>")
    items = "rows" if cls.modality in ("table", "series") else "items"
    subtitle = f"fitted on {model.n_rows_:,} {items}; {likelihood}"
    facts.append(("seed", _e(getattr(model, "seed_", None))))
    conditions = list(getattr(model, "conditions_", None) or [])
    if conditions:
        facts.append(("conditions", _e(", ".join(conditions))))
    if model.fit_seconds_:
        facts.append(("fit time", _e(f"{model.fit_seconds_:.3g} s")))
    if (data := _data_fact(model)) is not None:
        facts.append(("data", _e(data)))
    if (training := _training(model)) is not None:
        facts.append(("training", training))
    if (fingerprint := getattr(model, "fingerprint_", "")):
        facts.append(("data fingerprint", f"<code>{_e(str(fingerprint)[:16])}</code>"))
    if (created := getattr(model, "created_at_", "")):
        facts.append(("created", _e(created)))
    if (file_fact := _file_fact(model)) is not None:
        facts.append(file_fact)
    return _card(title, _e(subtitle), _facts(facts) + _columns_html(model))


def _verdict(text: Any) -> str:
    words = str(text).lower()
    colour = _VERDICT_COLOURS.get(words, _RED if words.endswith(("1 flag", " flags")) else _GREY)
    return f'<b style="color:{colour};white-space:nowrap">{_e(text)}</b>'


def _value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return _e(value)


_SUMMARY_ROWS = (("quality", "quality (0-1, higher is closer)"),
                 ("utility_gap", "utility gap (real minus synthetic)"),
                 ("privacy_risk", "privacy: DCR ratio (synthetic vs hold-out)"),
                 ("bias", "bias flags"))


def evaluation_card(scores: dict[str, Any]) -> str:
    """The HTML card of an evaluation's scores: the four headline scores with verdicts."""
    summary = scores.get("summary") or {}
    rows = []
    for key, label in _SUMMARY_ROWS:
        card = summary.get(key)
        if card is None:
            continue
        rows.append([_e(label), _value(card.get("value")), _verdict(card.get("verdict", "")),
                     _e(card.get("meaning", ""))])
    meta = scores.get("meta") or {}
    counts = meta.get("rows") or {}
    subtitle = ", ".join(f"{counts[k]:,} {k}" for k in ("train", "test", "synthetic")
                         if k in counts)
    facts = []
    if meta.get("target") is not None:
        facts.append(("target", f"<code>{_e(meta['target'])}</code>"))
    if meta.get("sensitive"):
        facts.append(("sensitive", _e(", ".join(map(str, meta["sensitive"])))))
    fidelity = scores.get("fidelity") or {}
    detection = (fidelity.get("detection") or {}).get("auc")
    if detection is not None:
        facts.append(("detection AUC", _e(f"{detection:.3f} (0.5: indistinguishable)")))
    body = _table(["score", "value", "verdict", "meaning"], rows) + (_facts(facts) if facts
                                                                     else "")
    return _card("genlab evaluation", _e(f"rows: {subtitle}" if subtitle else ""), body)
