"""The exact distinct-value counts a streamed fit merges batch by batch: merging the parts'
counts in any grouping equals counting the whole column (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from genlab.stream._counts import distinct_counts, merge_distinct

values = st.lists(st.one_of(st.integers(-5, 5).map(float), st.floats(-1e3, 1e3, width=32),
                            st.just(float("nan")), st.just(-0.0)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(st.lists(values, min_size=1, max_size=6))
def test_merged_counts_equal_the_whole_columns(parts: list[list[float]]) -> None:
    arrays = [np.asarray(p, dtype=np.float64) for p in parts]
    merged = distinct_counts(arrays[0])
    for a in arrays[1:]:
        merged = merge_distinct(merged, distinct_counts(a))
    want_v, want_c = distinct_counts(np.concatenate(arrays))
    assert np.array_equal(merged[0], want_v) and np.array_equal(merged[1], want_c)
    assert merged[1].dtype == np.int64 and np.all(np.diff(merged[0]) > 0)


def test_merge_with_an_empty_part() -> None:
    a = distinct_counts(np.array([1.0, 2.0, 2.0]))
    empty = distinct_counts(np.array([np.nan]))
    for v, c in (merge_distinct(a, empty), merge_distinct(empty, a)):
        assert v.tolist() == [1.0, 2.0] and c.tolist() == [1, 2]
