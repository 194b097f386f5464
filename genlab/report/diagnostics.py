"""Diagnostics of a synthetic table: quantiles, validity checks and rows to read.

Quantiles (min, 1 %, 25 %, 50 %, 75 %, 99 %, max) real against synthetic say what a
histogram hides in its tails; the validity checks count what a consumer of the table would
reject (values out of the real range, unseen categories, fractional integers, repeated or
copied keys, missing values where the real table has none, broken constraints); and a few
rows of each table, side by side, show what the data looks like.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from genlab.report.kinds import NUMERIC_KINDS
from genlab.report.shell import esc
from genlab.report.table_stats import _EPOCH

__all__ = ["QUANTILES", "Check", "checks_html", "quantiles_html", "sample_rows_html",
           "validity_checks"]

QUANTILES = (0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0)
SAMPLE_ROWS = 5


def _fmt(x: float, datetime: bool) -> str:
    if not math.isfinite(x):
        return "—"
    if datetime:
        stamp = (_EPOCH + pd.Timedelta(days=x)).tz_localize(None).round("s")
        return stamp.date().isoformat() if stamp == stamp.normalize() else str(stamp)
    return f"{x:,.4g}" if abs(x) < 1e4 else f"{x:,.0f}"


def quantiles_html(columns: Sequence[tuple[str, np.ndarray, np.ndarray, bool]]) -> str:
    """A table of quantiles per numeric column, real row above synthetic row.

    `columns`: (name, real values, synthetic values, is_datetime), values finite."""
    if not columns:
        return ""
    head = "".join(f"<th>{'min' if q == 0 else 'max' if q == 1 else f'{100 * q:g}%'}</th>"
                   for q in QUANTILES)
    body = []
    for name, real, synth, is_date in columns:
        for k, (label, values) in enumerate((("real", real), ("synthetic", synth))):
            qs = np.quantile(values, QUANTILES) if values.size else np.full(len(QUANTILES),
                                                                           np.nan)
            first = (f'<th rowspan="2" scope="rowgroup">{esc(name)}</th>' if k == 0 else "")
            cells = "".join(f'<td class="num">{esc(_fmt(float(v), is_date))}</td>' for v in qs)
            body.append(f'<tr class="{label}" data-column="{esc(name)}">{first}'
                        f"<td>{label}</td>{cells}</tr>")
    return ('<h3>Quantiles</h3><div class="table-wrap"><table class="quantiles"><thead><tr>'
            f"<th>Column</th><th>Table</th>{head}</tr></thead><tbody>{''.join(body)}"
            "</tbody></table></div>")


@dataclass(frozen=True)
class Check:
    """One validity check of the synthetic table: what, where, the finding, and whether
    it passed."""

    check: str
    column: str
    finding: str
    passed: bool | None  # None: could not be checked


def _range_check(name: str, r: pd.Series, s: pd.Series, kind: str) -> Check | None:
    if kind == "datetime":
        r = pd.to_datetime(r, errors="coerce", utc=True)
        s = pd.to_datetime(s, errors="coerce", utc=True)
    else:
        r, s = pd.to_numeric(r, errors="coerce"), pd.to_numeric(s, errors="coerce")
    r, s = r.dropna(), s.dropna()
    if r.empty or s.empty:
        return None
    out = int(((s < r.min()) | (s > r.max())).sum())
    lo, hi = (r.min().date(), r.max().date()) if kind == "datetime" else (r.min(), r.max())
    return Check("within the real range", name,
                 f"{out:,} of {len(s):,} values outside [{lo}, {hi}]", out == 0)


def _category_check(name: str, r: pd.Series, s: pd.Series) -> Check:
    seen = set(r.dropna().astype(str))
    values = s.dropna().astype(str)
    unseen = values[~values.isin(seen)]
    examples = ", ".join(repr(v) for v in unseen.unique()[:3])
    finding = (f"{len(unseen):,} rows with {unseen.nunique():,} categories not in the real "
               f"table ({examples})" if len(unseen) else "every category occurs in the real table")
    return Check("known categories", name, finding, unseen.empty)


def _integer_check(name: str, s: pd.Series) -> Check:
    v = pd.to_numeric(s, errors="coerce").dropna().astype(float)
    bad = int((v != np.round(v)).sum())
    return Check("whole numbers", name, f"{bad:,} fractional values", bad == 0)


def _key_checks(name: str, r: pd.Series, s: pd.Series) -> list[Check]:
    values = s.dropna().astype(str)
    dupes = int(values.duplicated().sum())
    copied = int(values.isin(set(r.dropna().astype(str))).sum())
    return [Check("unique keys", name, f"{dupes:,} repeated keys", dupes == 0),
            Check("keys not copied", name, f"{copied:,} keys copied from the real table",
                  copied == 0)]


def _describe(c: Any) -> str:
    return str(c.describe()) if callable(getattr(c, "describe", None)) else str(c)


def _masks(found: Any, synth: pd.DataFrame) -> list[tuple[str, np.ndarray | None, str]]:
    """(description, rows that keep it or None, why not checked) per constraint."""
    items = getattr(found, "items", None)
    if callable(getattr(found, "check", None)) and isinstance(items, list):
        # genlab's table constraints: `check` gives per constraint the rows that keep it
        return [(_describe(c), np.asarray(m, dtype=bool), "")
                for c, m in zip(items, found.check(synth), strict=True)]
    out = []
    for c in found if isinstance(found, list | tuple) else [found]:
        test = next((getattr(c, m) for m in ("is_valid", "valid", "holds", "check")
                     if callable(getattr(c, m, None))), None)
        if test is None:
            out.append((_describe(c), None, "not checked (no test on the object)"))
            continue
        try:
            out.append((_describe(c), np.asarray(test(synth), dtype=bool), ""))
        except Exception as exc:  # a rule that cannot read this table: say so, go on
            out.append((_describe(c), None, f"not checked: {exc}"))
    return out


def _constraint_checks(synth: pd.DataFrame, model: Any) -> list[Check]:
    # Constraints are optional on a model: read them where the family has them.
    found = getattr(model, "constraints_", None) or getattr(model, "constraints", None)
    if not found or isinstance(found, str):
        return []
    checks = []
    for text, ok, why in _masks(found, synth):
        if ok is None:
            checks.append(Check("constraint", text, why, None))
        else:
            bad = int((~ok).sum()) if ok.ndim else int(not ok)
            checks.append(Check("constraint", text, f"{bad:,} of {len(synth):,} rows break it",
                                bad == 0))
    return checks


def validity_checks(real: pd.DataFrame, synth: pd.DataFrame, kinds: dict[object, str],
                    model: Any = None) -> list[Check]:
    """Ranges, categories, integers, keys and missing values of every column, then the
    model's constraints (if it has any)."""
    checks: list[Check] = []
    for column in real.columns:
        name, kind = str(column), kinds[column]
        r, s = real[column], synth[column]
        if kind in NUMERIC_KINDS:
            found = _range_check(name, r, s, kind)
            if found is not None:
                checks.append(found)
            if kind == "integer":
                checks.append(_integer_check(name, s))
        elif kind in ("categorical", "boolean"):
            checks.append(_category_check(name, r, s))
        elif kind == "id":
            checks += _key_checks(name, r, s)
        if not r.isna().any() and s.isna().any():
            checks.append(Check("no missing values", name,
                                f"{int(s.isna().sum()):,} missing; the real column has none",
                                False))
    return checks + _constraint_checks(synth, model)


def checks_html(checks: Sequence[Check]) -> str:
    """The checks as a table, failures first."""
    if not checks:
        return '<p class="note">No column to check.</p>'
    ordered = sorted(checks, key=lambda c: {False: 0, None: 1, True: 2}[c.passed])
    failed = sum(c.passed is False for c in checks)
    rows = "".join(
        f'<tr class="check {"ok" if c.passed else "bad" if c.passed is False else "warn"}">'
        f'<td>{"pass" if c.passed else "FAIL" if c.passed is False else "n/a"}</td>'
        f"<td>{esc(c.check)}</td><td>{esc(c.column)}</td><td>{esc(c.finding)}</td></tr>"
        for c in ordered)
    return (f"<p>{len(checks)} checks of the synthetic rows, {failed} failed.</p>"
            '<div class="table-wrap"><table class="checks"><thead><tr><th>Result</th>'
            "<th>Check</th><th>Column</th><th>Finding</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div>")


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA \
            or value is pd.NaT:
        return '<td class="na">—</td>'
    if isinstance(value, float | np.floating):
        return f'<td class="num">{esc(f"{float(value):.6g}")}</td>'
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    return f"<td>{esc(str(value)[:40])}</td>"


def sample_rows_html(real: pd.DataFrame, synth: pd.DataFrame, seed: int = 0) -> str:
    """`SAMPLE_ROWS` random rows of each table, one line per column, real then synthetic."""
    rng = np.random.default_rng(seed)
    picks = [df.iloc[np.sort(rng.choice(len(df), min(SAMPLE_ROWS, len(df)), replace=False))]
             for df in (real, synth)]
    head = ('<tr><th rowspan="2">Column</th>'
            f'<th colspan="{len(picks[0])}" class="real">Real rows</th>'
            f'<th colspan="{len(picks[1])}" class="synthetic">Synthetic rows</th></tr><tr>'
            + "".join(f'<th class="real">{i}</th>' for i in picks[0].index)
            + "".join(f'<th class="synthetic">{i}</th>' for i in range(len(picks[1]))) + "</tr>")
    body = "".join(
        f"<tr><th>{esc(c)}</th>" + "".join(_cell(v) for v in picks[0][c])
        + "".join(_cell(v) for v in picks[1][c]) + "</tr>" for c in real.columns)
    return ('<p class="note">Random rows (real: their row numbers); one line per column.</p>'
            '<div class="table-wrap"><table class="sample-rows"><thead>'
            f"{head}</thead><tbody>{body}</tbody></table></div>")
