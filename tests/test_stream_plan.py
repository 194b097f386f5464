"""The map-reduce plan of a streamed fit (genlab.stream.plan): any partition of the rows
and any tree of combines give the sequential result; the driver contract holds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genlab.errors import DataError, ParameterError
from genlab.stream.codec import codec_from_total, codec_partial, combine_codec
from genlab.stream.plan import Fingerprint, fit_plan, row_hashes, run_plan


def _split(df: pd.DataFrame, cuts: np.ndarray) -> list[pd.DataFrame]:
    bounds = [0, *map(int, cuts), len(df)]
    return [df.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def _tree(parts: list[Any], combine: Callable[[Any, Any], Any], rng: np.random.Generator
          ) -> Any:
    """Combine in a random shuffled binary tree, as a cluster might."""
    parts = [parts[i] for i in rng.permutation(len(parts))]
    while len(parts) > 1:
        i = int(rng.integers(len(parts) - 1))
        parts[i:i + 2] = [combine(parts[i], parts[i + 1])]
    return parts[0]


def _distributed(plan: Any, df: pd.DataFrame, seed: int) -> Any:
    """A driver that splits the rows at random each stage and reduces in a random tree,
    feeding the fingerprint row hashes partition by partition."""
    rng = np.random.default_rng(seed)
    first = True
    while (stage := plan.next_stage()) is not None:
        cuts = np.sort(rng.choice(np.arange(1, len(df)), size=5, replace=False))
        pieces = _split(df, cuts)
        if first:
            plan.fingerprint.start(df.columns)
            for p in pieces:
                plan.fingerprint.update_hashes(row_hashes(p))
            first = False
        stage.finish(_tree([stage.partial(p) for p in pieces], stage.combine, rng))
    return plan.result()


def _sequential(model: str, df: pd.DataFrame, batch: int, **params: Any) -> Any:
    plan = fit_plan(model, seed=0, **params)
    return run_plan(plan, lambda cols: (df.iloc[i:i + batch] for i in range(0, len(df), batch)))


@pytest.mark.parametrize(("model", "params"), [
    ("bayesnet", {}), ("gaussian", {}),
    ("mixture", {"n_components": 2, "transform": "standardise", "max_iter": 20})])
def test_any_partition_and_tree_gives_the_sequential_fit(mixed_df: pd.DataFrame, model: str,
                                                         params: dict) -> None:
    seq = _sequential(model, mixed_df, 64, **params)
    got = _distributed(fit_plan(model, seed=0, **params), mixed_df, seed=3)
    assert got.fingerprint_ == seq.fingerprint_ and got.n_rows_ == seq.n_rows_
    assert got.schema_.to_dict() == seq.schema_.to_dict()
    if model == "bayesnet":  # integer counts: exact
        np.testing.assert_array_equal(got.log_prob(mixed_df), seq.log_prob(mixed_df))
    else:  # float sums in another order
        np.testing.assert_allclose(got.log_prob(mixed_df), seq.log_prob(mixed_df), rtol=1e-9)


def test_driver_contract(mixed_df: pd.DataFrame) -> None:
    plan = fit_plan("gaussian", seed=0)
    with pytest.raises(ParameterError, match="stages left"):
        plan.result()
    names = []
    while (stage := plan.next_stage()) is not None:
        names.append(stage.name)
        stage.finish(stage.partial(mixed_df))  # one batch: no combine
    assert names == plan.stage_names() == ["codec", "means", "deviations", "moments"]
    assert plan.next_stage() is None
    m = plan.result()  # no fingerprint fed: marked as such
    assert m.fingerprint_.startswith("streamed:300:") and m.n_rows_ == 300
    with pytest.raises(DataError, match="has no rows"):
        fit_plan("bayesnet").next_stage().finish(None)  # type: ignore[union-attr]
    with pytest.raises(ParameterError, match="supports the families"):
        fit_plan("flow")
    with pytest.raises(ParameterError, match="start.*before update_hashes"):
        Fingerprint().update_hashes(np.zeros(2, np.uint64))


def test_fingerprint_by_batches_or_hashes(mixed_df: pd.DataFrame) -> None:
    a, b = Fingerprint(), Fingerprint()
    for part in _split(mixed_df, np.array([50, 120, 200])):
        a.update(part)
    b.start(mixed_df.columns)
    b.update_hashes(row_hashes(mixed_df))
    assert a.value(300, []) == b.value(300, [])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31), st.integers(2, 80), st.integers(1, 6))
def test_codec_combine_any_split_and_order(tmp_path_factory, seed: int, n: int,
                                           pieces: int) -> None:
    from genlab.data.tabular import TabularCodec

    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"f": rng.normal(size=n).round(int(rng.integers(0, 4))),
                       "i": rng.integers(0, int(rng.integers(1, 30)), n),
                       "s": rng.choice(["a", "b", "c"][:int(rng.integers(1, 4))], n),
                       "b": rng.random(n) < 0.5})
    df.loc[rng.random(n) < 0.2, "s"] = None
    if df["s"].isna().all():
        return
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(pieces, n - 1), replace=False))
    parts = [codec_partial(p) for p in _split(df, cuts)]
    total = _tree(parts, combine_codec, rng)
    assert codec_from_total(total)[0].to_dict() == _unsigned(TabularCodec.fit(df).to_dict())


@pytest.mark.parametrize(("model", "params"), [
    ("bayesnet", {}), ("gaussian", {}), ("copula", {}),
    ("mixture", {"n_components": 2, "max_iter": 3})])
def test_pickles_for_workers(mixed_df: pd.DataFrame, model: str, params: dict) -> None:
    import cloudpickle

    plan = fit_plan(model, seed=0, **params)
    while (stage := plan.next_stage()) is not None:
        # partial and combine as sent to a worker, their results back to the client
        partial, combine = (cloudpickle.loads(cloudpickle.dumps(f))
                            for f in (stage.partial, stage.combine))
        halves = [partial(mixed_df.iloc[:150]), partial(mixed_df.iloc[150:])]
        stage.finish(cloudpickle.loads(cloudpickle.dumps(combine(*halves))))
    assert plan.result().n_rows_ == 300


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31), st.integers(2, 60))
def test_fast_encode_equals_codec_encode(seed: int, n: int) -> None:
    from genlab.data.tabular import TabularCodec
    from genlab.stream._stage import encode

    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"f": rng.normal(size=n).round(2), "k": rng.integers(0, 4, n),
                       "s": rng.choice(["a", "b", "c"], n), "b": rng.random(n) < 0.5,
                       "o": pd.Series(rng.choice([True, False, 1, 0, None], n), dtype=object)})
    df.loc[rng.random(n) < 0.2, "s"] = None
    try:
        codec = TabularCodec.fit(df.iloc[: max(2, n // 2)], kinds={"o": "categorical"})
    except DataError:  # e.g. a column with no values in the fitted rows
        return
    other = df.assign(s=df["s"].where(rng.random(n) < 0.9, "never seen"))
    for frame in (df, other):
        a, b = encode(codec, frame), codec.encode(frame)
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.c, b.c)


def _unsigned(codec: dict) -> dict:
    """A codec's dict with a -0.0 category as 0.0 (the streamed codec keeps +0.0: in memory
    the first of the two in the table represents both)."""
    for col in codec["columns"]:
        if col.get("categories"):
            col["categories"] = [c + 0.0 if isinstance(c, float) else c
                                 for c in col["categories"]]
    return codec
