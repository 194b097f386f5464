"""A streamed fit as a map-reduce plan that any driver can run: the sequential one here
(`run_plan`, used by `fit_streaming`) and the Dask one (`genlab.stream.dask`).

    plan = fit_plan("bayesnet", seed=0, n_bins=20)        # or fit_plan(model_instance)
    while (stage := plan.next_stage()) is not None:        # one pass over the data each
        total = None
        for batch in batches(columns=stage.columns):      # pandas DataFrames, any split
            part = stage.partial(batch)                    # pure: batch -> plain dict
            total = part if total is None else stage.combine(total, part)
        stage.finish(total)                                # advances the plan
    model = plan.result()                                  # the fitted model

Contract, for a driver:

- `next_stage()` gives the next `Stage` or None when the plan is done. Stages are made
  one at a time: a stage's `partial` reads what the previous `finish` fitted (the codec,
  the bins, the current EM parameters), so take `partial` afresh from each stage (never
  reuse one across stages). A driver on other processes does not ship the closures: it
  rebuilds the plan there from (family, params, seed) and replays `finish` over the
  earlier stages' totals (`genlab.stream.dask`), so only plain values travel; `finish`
  runs on the client. How many stages there are is known only as they come (EM stops on
  convergence); `plan.stage_names()` lists the ones run so far.
- `stage.partial(batch)` is pure and deterministic: a pandas DataFrame (any rows, any
  size >= 1, all the table's columns or `stage.columns`) to a dict of plain values (numpy
  arrays, ints, floats, small dicts/lists of them), cheap to send between processes.
- `stage.combine(a, b)` is associative and commutative, so any tree of combines over any
  partition of the rows gives the same total: counts are exact integers; float sums (moments,
  EM statistics) are equal up to the order of float additions, ~1e-15 relative per
  addition (tests use 1e-9); distinct-value merges and category counts are exact.
- `stage.finish(total)` takes the combine of every batch's partial (None if there were no
  rows: a one-line DataError) and fits that stage's part of the model; it is deterministic
  given the totals, so a worker can rebuild a plan's state by replaying them.
- Random draws (the copula's and normal-score mixture's tie jitter) come from each batch's
  own rows and the seed (`genlab.stream._copula.batch_rng`): the same batches give the same
  fit, another split of the rows one equal within that jitter's noise.
- `plan.result()` sets the bookkeeping (rows, fit time, fingerprint) and returns the model,
  an ordinary genlab model (save, sample, log_prob).

Fingerprint. The in-memory fingerprint is a sha256 over the rows' hashes in table order,
which no commutative combine can give, so it is kept beside the stages: during the first
stage a driver feeds `plan.fingerprint` the rows in source order, either whole batches
(`plan.fingerprint.update(batch)`) or the 8-byte row hashes computed where the data is
(`row_hashes(partition)` on a worker, then `plan.fingerprint.update_hashes(h)` on the
client, partition by partition in order). A driver that feeds nothing gets the fingerprint
"streamed:<rows>:<columns sha256>" (recorded, so such a model never claims a data hash).

Families: `PLANNED_FAMILIES` (bayesnet, copula, gaussian, mixture); see `genlab.stream.fit`
for what each stage computes and how close each family is to its in-memory fit.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from genlab.errors import ParameterError
from genlab.stream._stage import Partial, Stage, codec_stage, row_hashes, sum_combine

__all__ = ["PLANNED_FAMILIES", "Fingerprint", "FitPlan", "Stage", "codec_stage", "fit_plan",
           "row_hashes", "run_plan", "sum_combine"]

PLANNED_FAMILIES = ("bayesnet", "copula", "gaussian", "mixture")

class Fingerprint:
    """The in-memory training fingerprint, fed in table order (module docstring)."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._columns: list[str] | None = None
        self.fed = False

    def start(self, columns: Iterable[Any]) -> None:
        """Give the column names (done by `update` on its first batch)."""
        if self._columns is None:
            self._columns = [str(c) for c in columns]
            self._digest.update("\x1f".join(self._columns).encode())

    def update(self, batch: pd.DataFrame) -> None:
        """Feed the next batch of rows (in table order)."""
        self.start(batch.columns)
        self.update_hashes(row_hashes(batch))

    def update_hashes(self, hashes: np.ndarray) -> None:
        """Feed the next rows' hashes (`row_hashes`), in table order; call `start` first."""
        if self._columns is None:
            raise ParameterError("Fingerprint.start(columns) must come before update_hashes")
        self.fed = True
        self._digest.update(np.ascontiguousarray(hashes, dtype=np.uint64).tobytes())

    def value(self, rows: int, columns: list[str]) -> str:
        """The hex digest, or a marked row/column digest when nothing was fed."""
        if self.fed:
            return self._digest.hexdigest()
        names = hashlib.sha256("\x1f".join(columns).encode()).hexdigest()
        return f"streamed:{rows}:{names}"


class FitPlan:
    """The stages of one streamed fit and the model they fill (module docstring)."""

    def __init__(self, model: Any, stages: Callable[[FitPlan], Iterable[Stage]]) -> None:
        self.model = model
        self.fingerprint = Fingerprint()
        self.rows = 0
        self.columns: list[str] = []
        self.codec: Any = None
        self._names: list[str] = []
        self._start = time.perf_counter()
        self._stages = iter(stages(self))
        self._done = False

    def next_stage(self) -> Stage | None:
        """The next stage to run, or None when the model is fitted."""
        if self._done:
            return None
        stage = next(self._stages, None)
        if stage is None:
            self._done = True
            return None
        self._names.append(stage.name)
        return stage

    def stage_names(self) -> list[str]:
        """The names of the stages handed out so far."""
        return list(self._names)

    def result(self) -> Any:
        """The fitted model (after the last stage)."""
        from genlab.provenance import now

        if not self._done:
            raise ParameterError("the plan has stages left; run them (next_stage) first")
        m = self.model
        m.fit_seconds_ = time.perf_counter() - self._start
        m.n_rows_ = int(self.rows)
        m.fingerprint_ = self.fingerprint.value(self.rows, self.columns)
        m.created_at_ = now()
        return m


def fit_plan(model: Any = "gaussian", *, seed: int | None = None, **params: Any) -> FitPlan:
    """The plan fitting `model` (a family name with its parameters, or an unfitted table
    model) from batches; families: `PLANNED_FAMILIES`."""
    from genlab.models.registry import make_model
    from genlab.seeding import draw_seed

    name = model if isinstance(model, str) else getattr(model, "family", "")
    if name not in PLANNED_FAMILIES:
        raise ParameterError(f"a streamed fit supports the families {list(PLANNED_FAMILIES)}, "
                             f"not {name!r}; fit it in memory (without streaming)")
    m = make_model(model, "table", seed=seed, **params) if isinstance(model, str) else model
    m._validate_params()
    m.seed_ = m.seed if m.seed is not None else draw_seed()
    m.stopped_by_, m.file_path_, m.conditions_ = None, None, []
    m.constraints_, m.text_, m.history_ = None, None, []
    if hasattr(type(m), "_fit_private"):
        m.privacy_ = None
    from genlab.stream import _families

    return FitPlan(m, getattr(_families, f"{name}_stages"))


def run_plan(plan: FitPlan, batches: Callable[[list[str] | None], Iterable[pd.DataFrame]],
             label: str = "streaming") -> Any:
    """The sequential driver: each stage one pass over `batches(columns)` (the batches in
    table order, the first pass also feeding the fingerprint); returns the model."""
    from genlab._progress import task

    first = True
    while (stage := plan.next_stage()) is not None:
        total: Partial | None = None
        with task(f"{label}: {stage.name}", None) as advance:
            for batch in batches(stage.columns):
                if first:
                    plan.fingerprint.update(batch)
                part = stage.partial(batch)
                total = part if total is None else stage.combine(total, part)
                advance(len(batch))
        first = False
        stage.finish(total)
    return plan.result()
