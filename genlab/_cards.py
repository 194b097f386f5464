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
import re
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["card_html", "card_markdown", "card_sections", "evaluation_card", "loaded_path",
           "model_card"]

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


# -- the model card (`genlab card`): the notebook card plus what a reader of a release needs --
INTENDED_USE = ("Generating synthetic data that resembles the training data, for testing "
                "software and pipelines, exploring and sharing data, augmenting scarce "
                "classes, teaching and prototyping.")
OUT_OF_SCOPE = ("Decisions about real people; claims about the real population that the "
                "evaluation figures on held-out data do not back; treating the output as "
                "anonymous when no ε is shown (without differential privacy nothing bounds what "
                "it reveals about training records, and with it only within ε and δ); passing "
                "generated media off as real; use against the licence or the owner's terms.")
Section = tuple[str, list[tuple[str, str]]]


def _data_rows(model: Any) -> list[tuple[str, str]]:
    rows = [("training data fingerprint", str(getattr(model, "fingerprint_", "") or "none")),
            ("training items", f"{getattr(model, 'n_rows_', 0):,}")]
    schema = getattr(model, "schema_", None)
    if schema is not None and hasattr(schema, "columns"):
        kinds: dict[str, list[str]] = {}
        for spec in schema.columns:
            kinds.setdefault(spec.kind, []).append(spec.name)
        for kind, names in sorted(kinds.items()):
            shown = ", ".join(map(str, names[:MAX_COLUMNS_SHOWN]))
            more = len(names) - MAX_COLUMNS_SHOWN
            rows.append((f"{kind} columns", shown + (f" … {more:,} more" if more > 0 else "")))
    elif (data := _data_fact(model)) is not None:
        rows.append(("data kind", data))
    return rows


def _training_rows(model: Any) -> list[tuple[str, str]]:
    rows = [("seed", str(getattr(model, "seed_", None))),
            ("fit time", f"{getattr(model, 'fit_seconds_', 0.0):.3g} s"),
            ("created", str(getattr(model, "created_at_", "") or "not recorded"))]
    stopped = getattr(model, "stopped_by_", None)
    history = list(getattr(model, "history_", None) or [])
    if stopped is not None and any("epoch" in record for record in history):
        rows.append(("epochs", f"{len(history):,}"))
    if getattr(model, "steps_trained_", None) is not None:
        rows.append(("steps", f"{model.steps_trained_:,}"))
    elif stopped is not None:  # the model file keeps the epochs, not the step count
        rows.append(("steps", "not recorded in the model file"))
    rows.append(("stopped by", str(stopped) if stopped else
                 "not an iterative fit" if not getattr(model, "history_", None) else
                 "not recorded"))
    if (summary := _training(model)) is not None:
        rows.append(("summary", html.unescape(summary)))
    return rows


def _privacy_rows(privacy: dict[str, Any]) -> list[tuple[str, str]]:
    if not privacy:
        return [("differential privacy", "no: fitted without it, so no ε bounds what the "
                                         "outputs reveal about training records")]
    names = {"epsilon_spent": "ε spent", "epsilon": "ε budget", "delta": "δ", "rho": "ρ (zCDP)",
             "declared": "metadata declared", "estimated": "metadata estimated privately"}
    rows = [("differential privacy", "yes")]
    for key in [*names, *sorted(set(privacy) - set(names))]:
        value = privacy.get(key)
        if value is None or isinstance(value, dict):  # bounds, categories: not for a card
            continue
        text = (f"{value:g}" if isinstance(value, float) else
                ", ".join(map(str, value)) or "none" if isinstance(value, list) else str(value))
        rows.append((names.get(key, key.replace("_", " ")), text))
    return rows


def card_sections(model: Any, *, privacy: dict[str, Any] | None = None,
                  evaluation: list[tuple[str, str]] | None = None) -> list[Section]:
    """The model card as plain-text (label, value) lines per section; `privacy`: the ε/δ
    figures of the model file, `evaluation`: figures measured on test data."""
    from genlab.provenance_files import model_id

    cls = type(model)
    owner = getattr(model, "owner_", None)
    licence = getattr(model, "licence_", None)
    suited = f"This family suits: {cls.when_to_use.rstrip('.')}. " if cls.when_to_use else ""
    uses = [("intended", suited + INTENDED_USE),
            ("out of scope", OUT_OF_SCOPE)]
    return [
        ("Model", [("model id", model_id(cls.family, str(getattr(model, "fingerprint_", "")),
                                         str(getattr(model, "created_at_", "")))),
                   ("family", f"{cls.family} ({cls.__name__}, {cls.modality} model)"),
                   ("owner", owner or "not recorded"), ("licence", licence or "not recorded")]),
        ("Data", _data_rows(model)),
        ("Training", _training_rows(model)),
        ("Evaluation", evaluation or [("figures", "none: pass --test (and --train) to "
                                                  "measure them on held-out data")]),
        ("Privacy", _privacy_rows(privacy or {})),
        ("Uses", uses),
    ]


def _md(text: str) -> str:
    """A value safe inside a Markdown table cell: no pipes, no raw HTML, one line."""
    text = re.sub(r"&(?=#?\w+;)", "&amp;", text)  # an entity would render as its character
    text = text.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
    return " ".join(text.split())


def card_markdown(title: str, sections: list[Section]) -> str:
    """The model card as Markdown: a heading, then one two-column table per section."""
    lines = [f"# {_md(title)}", ""]
    for name, rows in sections:
        lines += [f"## {name}", "", "| | |", "|---|---|"]
        lines += [f"| {_md(k)} | {_md(v)} |" for k, v in rows]
        lines.append("")
    return "\n".join(lines)


def card_html(title: str, sections: list[Section], model: Any) -> str:
    """The model card as a standalone HTML page: the notebook card, then every section."""
    body = "".join(f'<h2 style="font-size:15px;margin:14px 0 2px">{_e(name)}</h2>'
                   + _facts((k, _e(v)) for k, v in rows) for name, rows in sections)
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{_e(title)}</title></head><body>"
            f'<h1 style="font-family:system-ui,sans-serif;font-size:18px">{_e(title)}</h1>'
            f"{model_card(model)}{_card('Model card', '', body)}</body></html>\n")
