"""Anomaly detection on tables with a generative model of normal data.

The score of a row is its surprise under the model, `-log p(x)` in nats (higher = more
anomalous), or with `context=[cols]` the conditional surprise `-log p(x | context)`: a
reading can be normal at noon and odd at 3 a.m. Exact for the exact families; for the VAE
it is the negative importance-weighted bound (`score_is_exact` says which).

Explanations are counterfactual and work for every family: for each column, how much the
score falls when only that column is replaced by the value, among typical values of the
normal data, that makes the row most normal. The column whose repair helps most is the one
that makes the row odd.
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from genlab.data.readers import read_table
from genlab.errors import DataError, NotFittedError, ParameterError, UnsupportedOperation
from genlab.models.base import Model
from genlab.models.registry import families, make_model
from genlab.params import Estimator
from genlab.seeding import draw_seed

__all__ = ["AnomalyDetector", "Data", "as_frame"]

Data = pd.DataFrame | np.ndarray | str | os.PathLike[str]
_REPAIR_VALUES = 24  # typical values tried per column when explaining a row
_INF_SCORE = 1e300  # stands for a row the model finds impossible, so scores stay finite


def as_frame(data: Data, columns: list[str] | None = None, what: str = "data") -> pd.DataFrame:
    """A DataFrame from a DataFrame, a 2-D numpy array (columns x0, x1, ... unless
    `columns` names them) or a CSV/Parquet path."""
    if isinstance(data, np.ndarray):
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2:
            raise DataError(f"{what} must be a 2-D array of rows × columns, got shape "
                            f"{data.shape}")
        names = columns if columns is not None and len(columns) == data.shape[1] else [
            f"x{j}" for j in range(data.shape[1])]
        return pd.DataFrame(data, columns=names)
    return read_table(data)


def _check_rate(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 0.5:
        raise ParameterError(
            f"{name} must be a share strictly between 0 and 0.5 (e.g. 0.01), got {value!r}"
        )


class AnomalyDetector(Estimator):
    """Flag rows a generative model of normal data finds unlikely.

    Args:
        model: a family with a likelihood (e.g. "autoregressive", "flow", "mixture",
            "bayesnet", "copula", "gaussian", "vae") or a fitted genlab `Model` to reuse.
        context: columns that set the context; the score is `-log p(x | context)`.
        contamination: expected share of anomalies in the data given to `fit`; the
            threshold is that upper quantile of the fit data's scores.
        false_alarm_rate: share of normal rows allowed to be flagged; the threshold is that
            upper quantile of scores on normal rows held out from fitting
            (`calibration_fraction` of them). Used when `contamination` is not given.
        calibration_fraction: share of the fit data held out to set the threshold.
        refit: after the threshold is set on the held-out rows, fit the model again on every
            row (the threshold is kept). Twice the fitting time, a better model: on ODDS it
            raised the mean average precision from 0.78 to 0.80. A model fitted on more rows
            scores unseen normal rows a little lower, so the false-alarm rate errs low.
        model_params: hyperparameters of the family (e.g. `{"max_minutes": 1}`).
        seed: random seed for the split and the model.
    """

    _parameter_constraints = {
        "seed": ("int?", 0, 2**63 - 1),
        "calibration_fraction": ("float", 0.05, 0.5),
        "refit": ("bool",),
    }

    def __init__(
        self,
        model: str | Model = "autoregressive",
        *,
        context: list[str] | tuple[str, ...] | None = None,
        contamination: float | None = None,
        false_alarm_rate: float = 0.01,
        calibration_fraction: float = 0.2,
        refit: bool = True,
        model_params: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        self.model = model
        self._init_params(locals())
        self.context = tuple(context) if context else None

    @classmethod
    def _param_names(cls) -> list[str]:
        return ["model", *super()._param_names()]

    def __repr__(self) -> str:
        model = self.model if isinstance(self.model, str) else type(self.model).__name__
        return f"AnomalyDetector(model={model!r}, context={self.context!r})"

    # -- fitting ------------------------------------------------------------------------------
    def _make(self, family: str, data: pd.DataFrame, kinds: dict[str, str] | None,
              seed: int) -> Model:
        known = families("table")
        if family not in known:
            able = sorted(n for n, c in known.items() if c.supports_log_prob)
            raise ParameterError(f"unknown model {family!r}; choose one of {', '.join(able)}")
        if not known[family].supports_log_prob:
            able = sorted(n for n, c in known.items() if c.supports_log_prob)
            raise UnsupportedOperation(
                f"{family} has no likelihood, so it cannot score anomalies; use one of "
                f"{', '.join(able)}"
            )
        return make_model(family, "table", **{"seed": seed, **(self.model_params or {})}).fit(
            data, kinds=kinds)

    def fit(self, normal_data: Data, *, kinds: dict[str, str] | None = None) -> AnomalyDetector:
        """Fit the model of normal data and set the threshold; returns self.

        A numpy array is read as numeric columns x0, x1, ...; `kinds` overrides column kinds
        of a table (as in `Model.fit`).
        """
        self._validate_params()
        _check_rate("contamination", self.contamination)
        if self.contamination is None:
            _check_rate("false_alarm_rate", self.false_alarm_rate)
        start = time.perf_counter()
        array_input = isinstance(normal_data, np.ndarray)
        df = as_frame(normal_data, what="normal_data")
        if array_input:
            kinds = {c: "continuous" for c in df.columns} | (kinds or {})
        if len(df) < 10:
            raise DataError(f"need at least 10 normal rows to fit a detector, got {len(df)}")
        self.columns_ = [str(c) for c in df.columns]
        self.array_input_ = array_input
        context = list(self.context or [])
        missing = [c for c in context if c not in self.columns_]
        if missing:
            raise DataError(f"context column(s) {missing} are not in the data; columns are "
                            f"{self.columns_}")
        if context and len(context) == len(self.columns_):
            raise ParameterError("context names every column; leave at least one column to score")
        seed = self.seed if self.seed is not None else draw_seed()
        rng = np.random.default_rng(seed)
        fit_df, cal_df = self._split(df, rng)
        if isinstance(self.model, Model):
            self._check_given_model(self.model)
        family = self.model.family if isinstance(self.model, Model) else self.model
        ctx_kinds = {c: k for c, k in (kinds or {}).items() if c in context} or None

        def fit_models(rows: pd.DataFrame) -> None:
            self.model_ = self.model if isinstance(self.model, Model) else self._make(
                self.model, rows, kinds, seed)
            self.context_model_ = self._make(family, rows[context], ctx_kinds, seed + 1) if (
                context) else None

        fit_models(fit_df)
        self.kinds_ = self.model_.schema_.kinds  # type: ignore[attr-defined]
        cal_scores = self.score(cal_df)
        self.calibration_scores_ = cal_scores
        share = self.contamination if self.contamination is not None else self.false_alarm_rate
        finite = cal_scores[np.isfinite(cal_scores)]
        self.threshold_ = float(np.quantile(finite, 1 - share)) if finite.size else np.inf
        if self.refit and fit_df is not cal_df:
            fit_models(df)
        # typical values of each column, to try when explaining a flagged row
        self.typical_ = {c: _typical_values(df[c], _REPAIR_VALUES, rng)
                         for c in self.columns_}
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _split(self, df: pd.DataFrame, rng: np.random.Generator
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(rows to fit, rows to set the threshold on): a held-out share for a false-alarm
        rate, all rows for a contamination or a model fitted already."""
        if self.contamination is not None or isinstance(self.model, Model):
            return df, df
        order = rng.permutation(len(df))
        n_cal = max(1, int(round(self.calibration_fraction * len(df))))
        return (df.iloc[order[n_cal:]].reset_index(drop=True),
                df.iloc[order[:n_cal]].reset_index(drop=True))

    def _check_given_model(self, model: Model) -> None:
        if model.modality != "table":
            raise ParameterError(
                f"AnomalyDetector scores table rows, but the model is a {model.modality} "
                "model; use SeriesAnomalyDetector for a series (CLI: --time / --value)")
        model._check_fitted()
        names = list(model.schema_.names)  # type: ignore[attr-defined]
        if names != self.columns_:
            raise DataError(f"the model was fitted on columns {names}, the data has "
                            f"{self.columns_}; give data with the model's columns")

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise NotFittedError("this AnomalyDetector is not fitted yet; call fit(normal_data)")

    @property
    def score_is_exact(self) -> bool:
        """False when scores come from a bound (the VAE), True for exact likelihoods."""
        self._check_fitted()
        return bool(self.model_.log_prob_is_exact)

    def _frame(self, data: Data) -> pd.DataFrame:
        df = as_frame(data, self.columns_ if self.array_input_ else None)
        cols = [str(c) for c in df.columns]
        if cols != self.columns_:
            extra = [c for c in cols if c not in self.columns_]
            lacking = [c for c in self.columns_ if c not in cols]
            if not extra and not lacking:
                return df[self.columns_]
            detail = "; ".join(part for part in (
                f"unknown column(s) {extra}" if extra else "",
                f"missing column(s) {lacking}" if lacking else "") if part)
            raise DataError(
                f"the data's columns differ from the fit ({detail}); give the columns the "
                f"detector was fitted on: {self.columns_}"
            )
        return df

    # -- scoring ------------------------------------------------------------------------------
    def _raw_scores(self, df: pd.DataFrame) -> np.ndarray:
        with warnings.catch_warnings():
            # never-seen categories are scored with a smoothed probability: a high, finite
            # score is the answer here, not something to warn about on every call
            warnings.simplefilter("ignore", UserWarning)
            lp = self.model_.log_prob(df)
            if self.context_model_ is not None:
                lp_ctx = self.context_model_.log_prob(df[list(self.context or [])])
                lp = np.where(np.isfinite(lp_ctx), lp - lp_ctx, lp)
        # a model that still gives an exact zero (e.g. a combination of condition values a
        # class-conditional Gaussian never saw) ranks last but stays a number sklearn takes
        return np.minimum(-lp, _INF_SCORE)

    def score(self, data: Data) -> np.ndarray:
        """Anomaly score per row: `-log p(x)` (or `-log p(x | context)`) in nats; higher is
        more anomalous. Always finite: values beyond the training range fall in the
        marginals' tails, never-seen categories get a smoothed probability, and a row a model
        still finds impossible scores 1e300."""
        if not hasattr(self, "model_"):
            self._check_fitted()
        return self._raw_scores(self._frame(data))

    def predict(self, data: Data) -> np.ndarray:
        """1 for rows whose score passes the threshold, else 0."""
        self._check_fitted()
        return (self.score(data) > self.threshold_).astype(np.int64)

    # -- explaining ---------------------------------------------------------------------------
    def explain(self, data: Data, *, top: int = 3, only_flagged: bool = True) -> pd.DataFrame:
        """Why rows are odd: for each (flagged) row, the columns whose repair lowers the
        score most, with that drop in nats.

        Returns a table with `row`, `score`, `flagged`, `columns` (the `top` columns, most
        responsible first, joined by ", "), and `drop_<col>` for every scored column.
        """
        self._check_fitted()
        df = self._frame(data)
        return self._explain_rows(df, self._raw_scores(df), top=top, only_flagged=only_flagged)

    def _explain_rows(self, df: pd.DataFrame, scores: np.ndarray, *, top: int,
                      only_flagged: bool) -> pd.DataFrame:
        """`explain` on rows already checked and scored (callers that have the scores)."""
        flagged = scores > self.threshold_
        rows = np.flatnonzero(flagged) if only_flagged else np.arange(len(df))
        scored = [c for c in self.columns_ if c not in set(self.context or ())]
        drops = np.zeros((rows.size, len(scored)))
        if rows.size:
            base = np.minimum(scores[rows], _INF_SCORE)
            for j, col in enumerate(scored):
                values = self.typical_[col]
                trial = df.iloc[np.repeat(rows, len(values))].reset_index(drop=True)
                trial[col] = np.tile(values.to_numpy(), rows.size)
                trial[col] = trial[col].astype(df[col].dtype, errors="ignore")
                best = np.minimum(self._raw_scores(trial), _INF_SCORE).reshape(
                    rows.size, len(values)).min(axis=1)
                drops[:, j] = np.maximum(base - best, 0.0)
        order = np.argsort(-drops, axis=1, kind="stable")
        names = [", ".join(scored[k] for k in order[i, :top] if drops[i, k] > 0)
                 for i in range(rows.size)]
        out = pd.DataFrame({"row": rows, "score": scores[rows], "flagged": flagged[rows],
                            "columns": names})
        for j, col in enumerate(scored):
            out[f"drop_{col}"] = drops[:, j]
        return out


def _typical_values(col: pd.Series, k: int, rng: np.random.Generator) -> pd.Series:
    """Up to `k` values spread over a column's normal range: quantiles of a numeric column,
    the most frequent categories of any other."""
    s = col.dropna()
    if s.empty:
        return col.iloc[:1]
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        qs = np.quantile(s.to_numpy(dtype=float), np.linspace(0.02, 0.98, k), method="nearest")
        return pd.Series(np.unique(qs)).astype(s.dtype, errors="ignore")
    counts = s.value_counts()
    return pd.Series(counts.index[:k])

