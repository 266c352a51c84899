"""A subject's trail: where the tag put them, and where they were between fixes.

The rules that put a subject next to something that moves or is fixed (another subject, an
ANPR camera at the moment it read a plate) need the subject's position at an instant that is
rarely the instant of a fix. A :class:`Trail` holds the subject's *usable* fixes (accuracy
radius no worse than a cap: a cell-site fix kilometres wide places nobody next to anything),
one per instant, in event-time order, and answers "where at time t" by linear interpolation
between the neighbouring fixes, never across a gap longer than ``max_gap_ms``. The accuracy
of an interpolated position is the worse of the two fixes'.

Fixes arrive in any order; :meth:`Trail.add` returns the span of instants whose answer may
have changed, which is what the rules re-examine.
"""

from __future__ import annotations

import numpy as np

from ..model.columns import Columns, ranges


class Trail:
    """One subject's usable fixes, sorted by event time, one per instant.

    Of two fixes for the same instant the one with the lower rank stays (the same rule as
    everywhere else, so the outcome does not depend on which copy arrived first).
    """

    __slots__ = ("_cols", "acc", "rank", "tag", "ts", "x", "y")

    _DTYPES = (np.int64, np.float64, np.float64, np.float64, np.int64, np.int32)

    def __init__(self) -> None:
        self._cols = Columns(self._DTYPES)
        self._refresh()

    def __len__(self) -> int:
        return len(self.ts)

    def _refresh(self) -> None:
        self.ts, self.x, self.y, self.acc, self.rank, self.tag = self._cols.views()

    def add(
        self,
        ts: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        acc: np.ndarray,
        rank: np.ndarray,
        tag: np.ndarray,
    ) -> tuple[int, int] | None:
        """Merge fixes in (any order, duplicates allowed).

        Returns
        -------
        (lo, hi) or None
            The closed span of instants whose position may have changed: from the fix
            before the earliest new one to the fix after the latest (or the new fixes
            themselves at the ends of the trail); ``None`` when nothing was added.
        """
        if len(ts) == 0:
            return None
        self._cols.merge((ts, x, y, acc, rank, tag), ts=0, rank=4)
        self._refresh()
        lo, hi = int(ts.min()), int(ts.max())
        a = int(np.searchsorted(self.ts, lo, side="left"))
        b = int(np.searchsorted(self.ts, hi, side="right"))
        return (int(self.ts[a - 1]) if a > 0 else lo, int(self.ts[b]) if b < len(self.ts) else hi)

    def at(
        self, t: np.ndarray, max_gap_ms: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Positions at instants ``t`` (any order).

        Returns
        -------
        known, x, y, acc, k
            ``known``: whether the position at each instant is known (a fix at that very
            instant, or fixes either side no more than ``max_gap_ms`` apart); ``x``, ``y``
            (BNG metres), ``acc`` (metres) are meaningful only where known; ``k`` is the
            index of the fix at or before each instant (-1: none).
        """
        t = np.asarray(t, np.int64)
        n = len(self.ts)
        k = np.searchsorted(self.ts, t, side="right") - 1
        if n == 0:
            z = np.zeros(len(t))
            return np.zeros(len(t), bool), z, z, z, k
        kc = np.clip(k, 0, n - 1)
        k1 = np.clip(k + 1, 0, n - 1)
        t0, t1 = self.ts[kc], self.ts[k1]
        exact = (k >= 0) & (t0 == t)
        span = t1 - t0
        between = (k >= 0) & (k + 1 < n) & (span <= max_gap_ms) & ~exact
        known = exact | between
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(between, (t - t0) / np.where(span > 0, span, 1), 0.0)
        x = self.x[kc] + f * (self.x[k1] - self.x[kc])
        y = self.y[kc] + f * (self.y[k1] - self.y[kc])
        acc = np.where(between, np.maximum(self.acc[kc], self.acc[k1]), self.acc[kc])
        return known, x, y, acc, k

    def known_instants(self, lo: int, hi: int, step_ms: int, max_gap_ms: int) -> np.ndarray:
        """Multiples of ``step_ms`` in ``[lo, hi]`` at which the position is known (within a
        fix-to-fix stretch no longer than ``max_gap_ms``, or at a fix), sorted."""
        a = max(int(np.searchsorted(self.ts, lo, side="left")) - 1, 0)
        b = int(np.searchsorted(self.ts, hi, side="right")) + 1
        ts = self.ts[a:b]
        if len(ts) == 0:
            return np.empty(0, np.int64)
        # Stretches between consecutive fixes close enough to interpolate, and lone fixes.
        s0 = ts[:-1]
        s1 = ts[1:]
        ok = (s1 - s0) <= max_gap_ms
        starts = np.concatenate([s0[ok], ts])
        ends = np.concatenate([s1[ok], ts])
        starts = np.maximum(starts, lo)
        ends = np.minimum(ends, hi)
        first = -(-starts // step_ms) * step_ms  # ceil to the step
        count = np.where(ends >= first, (ends - first) // step_ms + 1, 0)
        group, offset = ranges(count)
        return np.unique(first[group] + offset * step_ms)

    def fixes_between(self, lo: int, hi: int) -> slice:
        """Index range of the fixes that place the subject during ``[lo, hi]``: those
        inside it and the one either side."""
        a = max(int(np.searchsorted(self.ts, lo, side="left")) - 1, 0)
        b = min(int(np.searchsorted(self.ts, hi, side="right")) + 1, len(self.ts))
        return slice(a, b)
