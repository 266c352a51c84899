"""Growable numpy columns: the storage behind per-subject timelines.

Fixes mostly arrive in event-time order, so timelines mostly grow at the end. Columns keep
spare capacity (doubling), so appending is amortised constant time per row; the filled
part is exposed as views.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def ranges(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For consecutive groups of the given sizes: each element's group index and its
    offset within its group (``[2, 0, 3]`` -> groups ``0 0 2 2 2``, offsets ``0 1 0 1 2``)."""
    counts = np.asarray(counts, np.int64)
    group = np.repeat(np.arange(len(counts)), counts)
    offset = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return group, offset


def join_sorted(
    sorted_keys: np.ndarray, payload: np.ndarray, queries: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every (query index, payload) whose key equals the query (keys sorted ascending)."""
    left = np.searchsorted(sorted_keys, queries, side="left")
    cnt = np.searchsorted(sorted_keys, queries, side="right") - left
    qi, offset = ranges(cnt)
    return qi, payload[left[qi] + offset]


class Columns:
    """A fixed set of equally long numpy columns with room to grow at the end."""

    __slots__ = ("_bufs", "_dtypes", "n")

    def __init__(self, dtypes: Sequence[type]):
        self._dtypes = tuple(dtypes)
        self._bufs: list[np.ndarray] = [np.empty(0, d) for d in self._dtypes]
        self.n = 0

    def views(self) -> tuple[np.ndarray, ...]:
        """The filled part of every column (views: valid until the next change)."""
        return tuple(b[: self.n] for b in self._bufs)

    def append(self, cols: Sequence[np.ndarray]) -> None:
        n0 = self.n
        n1 = n0 + len(cols[0])
        if n1 > len(self._bufs[0]):
            cap = max(n1, 2 * len(self._bufs[0]), 64)
            grown: list[np.ndarray] = []
            for old, d in zip(self._bufs, self._dtypes, strict=True):
                bigger: np.ndarray = np.empty(cap, d)
                bigger[:n0] = old[:n0]
                grown.append(bigger)
            self._bufs = grown
        for buf, col in zip(self._bufs, cols, strict=True):
            buf[n0:n1] = col
        self.n = n1

    def merge(self, new: Sequence[np.ndarray], ts: int = 0, rank: int = -1) -> None:
        """Add rows in any order, keeping the columns sorted by column ``ts`` with one row
        per value of it: of two rows for the same instant, the one with the lower column
        ``rank`` stays. Rows after the last one in order are appended in place."""
        t = new[ts]
        if len(t) == 0:
            return
        in_order = len(t) < 2 or bool((t[1:] > t[:-1]).all())
        if in_order and (self.n == 0 or t[0] > self._bufs[ts][self.n - 1]):
            self.append(new)
            return
        cols = [np.concatenate([a, b]) for a, b in zip(self.views(), new, strict=True)]
        o = np.lexsort((cols[rank], cols[ts]))
        cols = [c[o] for c in cols]
        keep = np.ones(len(cols[0]), bool)
        keep[1:] = cols[ts][1:] != cols[ts][:-1]
        self.replace([c[keep] for c in cols])

    def replace(self, cols: Sequence[np.ndarray]) -> None:
        """Make the columns exactly these (after a merge)."""
        self._bufs = [
            np.asarray(c).astype(d, copy=False) for c, d in zip(cols, self._dtypes, strict=True)
        ]
        self.n = len(self._bufs[0])
