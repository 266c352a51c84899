"""Shared sorted columns: one row per instant, the better copy kept, whatever the order."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from geomonitor.model.columns import Columns


def merged(batches: list[list[tuple[int, int, float]]]) -> list[tuple[int, int, float]]:
    """(ts, rank, value) rows after merging ``batches`` in turn."""
    c = Columns((np.int64, np.int64, np.float64))
    for rows in batches:
        ts, rank, val = (
            (np.array(col) for col in zip(*rows, strict=True))
            if rows
            else (
                np.empty(0, np.int64),
                np.empty(0, np.int64),
                np.empty(0),
            )
        )
        c.merge((ts.astype(np.int64), rank.astype(np.int64), val.astype(float)), ts=0, rank=1)
    return list(zip(*(v.tolist() for v in c.views()), strict=True))


def test_the_better_copy_stays_whichever_arrives_first():
    better, worse = (10, 1, 1.0), (10, 5, 5.0)
    rows = [(5, 0, 0.0), (20, 0, 2.0)]
    for batches in (
        [[*rows, worse], [better]],
        [[*rows, better], [worse]],
        [[*rows, worse, better]],
    ):
        assert merged(batches) == [(5, 0, 0.0), better, (20, 0, 2.0)]
    # In order, at the end (the appending path): still the better one.
    assert merged([[(5, 0, 0.0)], [(10, 5, 5.0)], [(10, 1, 1.0)]]) == [(5, 0, 0.0), better]
    assert merged([[(5, 0, 0.0)], [(10, 1, 1.0)], [(10, 5, 5.0)]]) == [(5, 0, 0.0), better]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 9)), max_size=12), max_size=6)
)
def test_merging_in_any_batches_keeps_the_lowest_rank_per_instant(batches):
    rows = [[(t, r, float(t * 10 + r)) for t, r in b] for b in batches]
    best: dict[int, tuple[int, int, float]] = {}
    for b in rows:
        for row in b:
            if row[0] not in best or row[1] < best[row[0]][1]:
                best[row[0]] = row
    assert merged(rows) == [best[t] for t in sorted(best)]
