"""Bias: group shares and target rates per sensitive column, real against synthetic.

For each sensitive column the training table and the synthetic table are compared on how many
rows each group has and how often the target's positive class occurs in it (its mean for a
numeric target). The demographic-parity gap is the largest minus the smallest group rate; the
synthetic data *amplifies* a bias when its gap exceeds the real one by more than a tolerance.
The fix offered is conditional sampling that re-balances groups: `rebalanced_sample`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from genlab.data.readers import TableSource, read_table
from genlab.errors import ParameterError
from genlab.evaluate._common import CATEGORICAL, MISSING, labels, numeric

__all__ = ["bias_scores", "group_labels", "rebalanced_sample"]

MIN_GROUP_ROWS = 30  # smaller groups give rates too noisy to flag
MIN_SYNTH_ROWS = 10
MIN_FLAG_SHARE = 0.01
AMPLIFY_TOLERANCE = 0.02
RATE_TOLERANCE = 0.05
MAX_DISTINCT_NUMERIC = 10
CONFIDENCE = 0.95  # of the intervals shown for every group's target rate
TOO_SMALL = "too small to judge"


def group_labels(real: pd.Series, other: pd.Series, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Group label per row of both tables; numeric columns with many values become quartiles."""
    x = numeric(real) if kind != CATEGORICAL else None
    if x is None or np.unique(x[~np.isnan(x)]).size <= MAX_DISTINCT_NUMERIC:
        return (pd.Series(labels(real), dtype=object).fillna(MISSING).to_numpy(),
                pd.Series(labels(other), dtype=object).fillna(MISSING).to_numpy())
    edges = np.unique(np.nanquantile(x, [0.25, 0.5, 0.75]))
    names = [f"< {edges[0]:g}"] + [f"{a:g} to {b:g}" for a, b in zip(edges[:-1], edges[1:],
                                                                      strict=True)]
    names.append(f">= {edges[-1]:g}")

    def cut(v: np.ndarray) -> np.ndarray:
        out = np.array([names[i] for i in np.searchsorted(edges, v, side="right")], dtype=object)
        out[np.isnan(v)] = MISSING
        return out

    return cut(x), cut(numeric(other))


def _wilson(k: int, n: int) -> list[float] | None:
    """Wilson's 95% score interval of k successes in n (scipy's binomtest)."""
    from scipy import stats

    if n == 0:
        return None
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return [float(ci.low), float(ci.high)]


def _interval(vals: np.ndarray, binary: bool) -> list[float] | None:
    """95% interval of a group's target rate: Wilson's score interval for a share (it keeps
    its coverage for small groups and rates near 0 or 1), Student's t for a mean."""
    from scipy import stats

    if vals.size == 0 or (not binary and vals.size < 2):
        return None
    if binary:
        return _wilson(int(vals.sum()), int(vals.size))
    sd = float(vals.std(ddof=1))
    if sd == 0.0:
        return [float(vals.mean())] * 2
    lo, hi = stats.t.interval(CONFIDENCE, vals.size - 1, loc=vals.mean(),
                              scale=sd / np.sqrt(vals.size))
    return [float(lo), float(hi)]


def _rates(groups: np.ndarray, y: np.ndarray | None,
           binary: bool) -> dict[str, tuple[int, float | None, list[float] | None]]:
    out = {}
    for g in pd.unique(groups):
        mask = groups == g
        rate, ci = None, None
        if y is not None:
            vals = y[mask]
            vals = vals[~np.isnan(vals)]
            rate = float(vals.mean()) if vals.size else None
            ci = _interval(vals, binary)
        out[str(g)] = (int(mask.sum()), rate, ci)
    return out


def _outcome(df: pd.DataFrame, target: str | None, task: str | None,
             positive: str | None) -> np.ndarray | None:
    # Positive-class indicator for classification, the value itself for regression.
    if target is None or task is None:
        return None
    if task == "regression":
        return numeric(df[target])
    lab = labels(df[target])
    return np.array([np.nan if v is None else float(v == positive) for v in lab])


def _gap(rates: dict[str, float | None], eligible: list[str]) -> float | None:
    vals = [rates[g] for g in eligible if rates.get(g) is not None]
    return float(max(vals) - min(vals)) if len(vals) >= 2 else None


def _apart(a: list[float] | None, b: list[float] | None) -> bool:
    """Whether two intervals are known and do not overlap."""
    return a is not None and b is not None and (a[1] < b[0] or b[1] < a[0])


def _group_flags(name: str, g: str, v: dict[str, Any], n_real: int,
                 n_synth: int) -> list[str]:
    """Flags on one group's share and target rate. A group with enough rows is judged by
    the tolerances; a smaller one only when its real and synthetic 95% intervals are apart,
    so noise in a handful of rows raises nothing while a gross shift still does."""
    n_r, n_s, share_r, share_s = v["n_real"], v["n_synthetic"], v["share_real"], \
        v["share_synthetic"]
    flags = []
    shifted = n_s == 0 or share_s < 0.5 * share_r or share_s > 2.0 * share_r
    if shifted and (share_r >= MIN_FLAG_SHARE and n_r >= MIN_GROUP_ROWS
                    or _apart(_wilson(n_r, n_real), _wilson(n_s, n_synth))):
        small = "" if n_r >= MIN_GROUP_ROWS and share_r >= MIN_FLAG_SHARE else \
            " (a small group, but the 95% intervals of its shares do not overlap)"
        flags.append(f"{name}: group {g!r} is absent from the synthetic data{small}" if n_s == 0
                     else f"{name}: group {g!r} is {100 * share_s:.1f}% of synthetic rows "
                          f"against {100 * share_r:.1f}% of real rows{small}")
    rate_r, r_s = v["rate_real"], v["rate_synthetic"]
    if rate_r is None or r_s is None or abs(r_s - rate_r) <= RATE_TOLERANCE * max(
            1.0, abs(rate_r)):
        return flags
    line = (f"{name}: target rate in group {g!r} is {r_s:.3g} in synthetic data against "
            f"{rate_r:.3g} in real data")
    if not v["small"]:
        flags.append(line)
    elif _apart(v["rate_ci_real"], v["rate_ci_synthetic"]):
        flags.append(f"{line} (a small group: {n_r} real and {n_s} synthetic rows, but the "
                     "95% intervals of the rates do not overlap)")
    return flags


def _column(name: str, train: pd.DataFrame, synth: pd.DataFrame, kind: str,
            y_real: np.ndarray | None, y_synth: np.ndarray | None,
            binary: bool) -> dict[str, Any]:
    g_real, g_synth = group_labels(train[name], synth[name], kind)
    real, syn = _rates(g_real, y_real, binary), _rates(g_synth, y_synth, binary)
    groups: dict[str, dict[str, Any]] = {}
    flags: list[str] = []
    for g in sorted(set(real) | set(syn), key=lambda k: -real.get(k, (0, None, None))[0]):
        n_r, rate_r, ci_r = real.get(g, (0, None, None))
        n_s, rate_s, ci_s = syn.get(g, (0, None, None))
        v = {"n_real": n_r, "n_synthetic": n_s, "share_real": n_r / len(g_real),
             "share_synthetic": n_s / len(g_synth), "rate_real": rate_r,
             "rate_synthetic": rate_s, "rate_ci_real": ci_r, "rate_ci_synthetic": ci_s,
             "small": n_r < MIN_GROUP_ROWS or n_s < MIN_SYNTH_ROWS}
        found = _group_flags(name, g, v, len(g_real), len(g_synth))
        v["judgement"] = "flagged" if found else TOO_SMALL if v["small"] else "ok"
        groups[g], flags = v, flags + found
    eligible = [g for g, v in groups.items() if v["n_real"] >= MIN_GROUP_ROWS]
    gap_r = _gap({g: v["rate_real"] for g, v in groups.items()}, eligible)
    gap_s = _gap({g: v["rate_synthetic"] for g, v in groups.items()
                  if v["n_synthetic"] >= MIN_SYNTH_ROWS}, eligible)
    amplified = None
    if gap_r is not None and gap_s is not None:
        amplified = bool(gap_s > gap_r + max(AMPLIFY_TOLERANCE, 0.1 * gap_r))
        if amplified:
            flags.append(f"{name}: demographic-parity gap grew from {gap_r:.3f} (real) to "
                         f"{gap_s:.3f} (synthetic)")
    return {"groups": groups, "parity_gap_real": gap_r, "parity_gap_synthetic": gap_s,
            "amplified": amplified, "flags": flags,
            "too_small": [g for g, v in groups.items() if v["judgement"] == TOO_SMALL]}


def _fix(sensitive: list[str], target: str | None) -> str:
    cols = [sensitive[0], target] if sensitive and target else sensitive[:1] or ["column"]
    return ("re-balance by conditional sampling: genlab.evaluate.rebalanced_sample(model, n, "
            f"{cols!r}, reference=train) draws each group"
            + (" and target class" if target and sensitive else "")
            + " in its real share with model.sample(k, conditions=...)")


def bias_scores(
    train: pd.DataFrame,
    synth: pd.DataFrame,
    sensitive: list[str],
    kinds: dict[str, str],
    target: str | None = None,
    task: str | None = None,
    positive: str | None = None,
) -> dict[str, Any]:
    """Group shares, target rates and demographic-parity gaps per sensitive column."""
    y_real = _outcome(train, target, task, positive)
    y_synth = _outcome(synth, target, task, positive)
    binary = task != "regression"
    columns = {c: _column(c, train, synth, kinds[c], y_real, y_synth, binary)
               for c in sensitive}
    flags = [f for col in columns.values() for f in col["flags"]]
    too_small = [f"{c}: {g}" for c, col in columns.items() for g in col["too_small"]]
    if not sensitive:
        verdict, meaning = "not measured", "no sensitive column was given"
    elif flags:
        verdict = f"{len(flags)} flag{'s' if len(flags) > 1 else ''}"
        meaning = ("the synthetic data shifts group sizes or target rates; re-balance with "
                   "conditional sampling (genlab.evaluate.rebalanced_sample) before use")
    else:
        verdict, meaning = "no flags", "group sizes and target rates follow the real data"
    if too_small and sensitive:
        meaning += (f"; {len(too_small)} group(s) too small to judge ({', '.join(too_small)}): "
                    "see their rates' 95% intervals")
    rate = ("mean of the target" if task == "regression" else
            f"share of {target} == {positive!r}" if target and positive else
            "share of the rarest target class" if target else None)
    return {"columns": columns, "flags": flags, "rate": rate, "verdict": verdict,
            "meaning": meaning, "too_small": too_small,
            "fix": _fix(sensitive, target)}


def _reference_shares(reference: TableSource, cols: list[str]) -> dict[Any, float]:
    # Row counts of each group (a label, or a tuple of labels for several columns).
    df = read_table(reference)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ParameterError(f"reference table has no column(s) {missing}")
    counts = pd.DataFrame({c: labels(df[c]) for c in cols}).dropna().value_counts()
    return {k if len(cols) > 1 else k[0]: float(v) for k, v in counts.items()}


def rebalanced_sample(
    model: Any,
    n: int,
    columns: str | Sequence[str],
    shares: Mapping[Any, float] | None = None,
    *,
    reference: TableSource | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Sample `n` rows whose groups come in chosen shares, by conditional sampling.

    Each group (a value of `columns`, or a combination of values for several columns) is
    drawn separately with ``model.sample(k, conditions=...)``. Passing the sensitive column and
    the target, e.g. ``["sex", "income"]`` with ``reference=train``, restores both the group
    sizes and the target rate within each group.

    Args:
        model: A fitted genlab model that can condition on `columns` (categorical columns).
        n: Number of rows.
        columns: One column name or several.
        shares: Group → weight (need not sum to one); a group is a value's text (``"Female"``)
            or, for several columns, a tuple of texts. Overrides `reference`.
        reference: A table (path or DataFrame) whose shares of the groups to reproduce, e.g.
            the real training table. With neither, the groups of one column get equal shares.
        seed: Random seed; each group gets its own seed drawn from it.

    Returns:
        The rows of all groups, shuffled.

    Raises:
        ParameterError: A column is not categorical in the model, a group is unknown, or no
            shares can be worked out.
    """
    model._check_fitted()
    cols = [columns] if isinstance(columns, str) else list(columns)
    if not cols:
        raise ParameterError("columns must name at least one categorical column")
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
        raise ParameterError(f"n must be a positive integer, got {n!r}")
    known = []
    schema = getattr(model, "table_schema_", model.schema_)  # the user's columns
    for c in cols:
        j = schema.categorical_index(c)  # raises a clear error for a wrong column
        known.append({str(v): v for v in (schema.categorical[j].categories or [])})
    if shares is None and reference is not None:
        shares = _reference_shares(reference, cols)
    elif shares is None:
        if len(cols) > 1:
            raise ParameterError("give shares or a reference table to balance several columns")
        shares = dict.fromkeys(known[0], 1.0)
    wanted: dict[tuple[str, ...], float] = {}
    for key, weight in shares.items():
        parts = tuple(str(k) for k in (key if isinstance(key, tuple) else (key,)))
        if len(parts) != len(cols):
            raise ParameterError(f"group {key!r} does not give one value per column of {cols}")
        for c, part, vocab in zip(cols, parts, known, strict=True):
            if part not in vocab:
                raise ParameterError(f"{part!r} is not a category of {c!r}; known: "
                                     f"{sorted(vocab)}")
        if float(weight) > 0:
            wanted[parts] = wanted.get(parts, 0.0) + float(weight)
    if not wanted:
        raise ParameterError("shares must give at least one group a positive share")
    total = sum(wanted.values())
    counts_by = {k: int(np.floor(n * v / total)) for k, v in wanted.items()}
    # Hand the rows lost to rounding to the largest groups, so exactly n come back.
    for k in sorted(wanted, key=lambda k: -wanted[k])[: n - sum(counts_by.values())]:
        counts_by[k] += 1
    rng = np.random.default_rng(seed)
    parts_out = []
    for key, k in counts_by.items():
        if k > 0:
            cond = {c: vocab[v] for c, v, vocab in zip(cols, key, known, strict=True)}
            parts_out.append(model.sample(k, conditions=cond, seed=int(rng.integers(2**31 - 1))))
    out = pd.concat(parts_out, ignore_index=True)
    return out.iloc[rng.permutation(len(out))].reset_index(drop=True)
