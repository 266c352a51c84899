"""Fittings: which subject wore which tag, when.

The registry's fitting history as sorted arrays per tag, so that a batch of fixes is
attributed to subjects with one binary search per tag, and device health can ask whether
a tag was fitted at given instants or to whom.
"""

from __future__ import annotations

from itertools import repeat

import numpy as np

from ..model.fix import FixBatch
from ..model.registry import FAR_FUTURE, Registry


class Fittings:
    """Subjects and tags of a registry as dense indexes, and who wore which tag when.

    Attributes
    ----------
    subject_ids, tag_ids
        Index -> id, sorted (the engine's subject and tag indexes).
    subject_ix, tag_ix
        Id -> index.
    """

    def __init__(self, registry: Registry):
        self.subject_ids = sorted(registry.subjects)
        self.subject_ix = {s: i for i, s in enumerate(self.subject_ids)}
        self.tag_ids = sorted(registry.tags)
        self.tag_ix = {t: i for i, t in enumerate(self.tag_ids)}
        per_tag: dict[int, list[tuple[int, int, int]]] = {}
        for f in registry.fittings:
            per_tag.setdefault(self.tag_ix[f.tag_id], []).append(
                (
                    f.fitted_at,
                    f.removed_at if f.removed_at is not None else FAR_FUTURE,
                    self.subject_ix[f.subject_id],
                )
            )
        #: tag index -> (fitted at, removed at, subject index), sorted by fitting time
        self._by_tag = {
            t: tuple(np.array(col, np.int64) for col in zip(*sorted(fl), strict=True))
            for t, fl in per_tag.items()
        }

    def _lookup(self, t: int, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """For instants of tag ``t``: whether a fitting covers each, and which fitting."""
        fits = self._by_tag.get(t)
        if fits is None:
            return None
        starts, ends, _ = fits
        k = np.searchsorted(starts, ts, side="right") - 1
        ok = k >= 0
        ok[ok] = ts[ok] < ends[k[ok]]
        return ok, k

    def tag_indexes(self, batch: FixBatch) -> np.ndarray:
        """Tag index of every fix (-1: tag not in the registry)."""
        n = len(batch)
        return np.fromiter(map(self.tag_ix.get, batch.tag_id, repeat(-1, n)), np.int64, n)

    def attribute(self, batch: FixBatch) -> tuple[np.ndarray, np.ndarray]:
        """Subject index of every fix (-1: tag not fitted to anyone at that instant), and
        tag index (-1: tag not in the registry)."""
        n = len(batch)
        subj = np.full(n, -1, np.int64)
        tix = self.tag_indexes(batch)
        if n == 0:
            return subj, tix
        order = np.argsort(tix, kind="stable")
        bounds = np.flatnonzero(np.diff(tix[order])) + 1
        for seg in np.split(order, bounds):
            t = int(tix[seg[0]])
            found = self._lookup(t, batch.ts[seg])
            if found is None:
                continue
            ok, k = found
            subj[seg[ok]] = self._by_tag[t][2][k[ok]]
        return subj, tix

    def fitted_mask(self, t: int, ts: np.ndarray) -> np.ndarray:
        """Whether tag ``t`` was fitted to anyone at each of these instants."""
        found = self._lookup(t, ts)
        return np.zeros(len(ts), bool) if found is None else found[0]

    def fitted_until(self, t: int, ts: np.ndarray) -> np.ndarray:
        """For instants of tag ``t``: when the fitting covering each ends (:data:`FAR_FUTURE`
        while it has not been removed), or -1 when the tag was fitted to nobody then."""
        found = self._lookup(t, ts)
        out = np.full(len(ts), -1, np.int64)
        if found is not None:
            ok, k = found
            out[ok] = self._by_tag[t][1][k[ok]]
        return out

    def periods_of(self, subject: int) -> list[tuple[int, int]]:
        """When subject ``subject`` (index) wore any tag: sorted ``[fitted, removed)``."""
        return sorted(
            (int(a), int(b))
            for starts, ends, subjects in self._by_tag.values()
            for a, b, s in zip(starts, ends, subjects, strict=True)
            if s == subject
        )

    def subject_at(self, t: int, when: int) -> str | None:
        """Who wore tag ``t`` at ``when`` (``None``: nobody)."""
        found = self._lookup(t, np.array([when], np.int64))
        if found is None or not found[0][0]:
            return None
        return self.subject_ids[int(self._by_tag[t][2][found[1][0]])]
