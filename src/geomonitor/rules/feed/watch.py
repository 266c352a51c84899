"""The feed itself: from when it has been observed, and when it was down.

Silence is evidence only while the service is receiving. Two rules decide that, for every
rule family that judges silence (curfew no-signal, device no-contact), in this one place:

* **Observation horizon.** Nothing is observed before the first fix the service ever
  received from any tag (its *first fix*): a tag fitted ten days before go-live is not
  silent for those ten days, nor for the hours of the go-live night before the data began.
  The monthly audit judges units against the same instant (the store's first fix).
* **Feed outages.** When most of the tags that were reporting fall silent together, the
  feed (the supplier's link, a consumer, the broker) failed, not the tags. Time is cut into
  slots of ``slot_minutes`` (5, aligned to the epoch). A tag is *reporting* before a slot
  if it sent a fix in the ``lookback_minutes`` (30) before it. A slot *starts* an outage
  when at least ``min_tags`` (5) tags were reporting before it and at least
  ``silent_share`` (half) of them send nothing in it. The outage goes on, over the tags
  that were reporting when it started, while at least that share of them stays silent in
  a slot, and ends at the first slot in which more than half of them report again. Only a
  run lasting at least ``min_minutes`` (15) is an outage (a shorter one cannot hide a
  silence of interest). An outage still running at *now* (the last complete slot) is open.

During an outage nobody's silence counts: the outage is one ``feed_outage`` candidate
instead of a silence candidate per subject. One tag silent while the others report is still
that tag's silence. Fixes stored and forwarded after the feed returns fill the slots in and
are judged as usual: the outages are a pure function of the set of (tag, slot) pairs that
hold a fix and of *now*, so every arrival order gives the same outages.

Everything here is pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ...model.times import MS_PER_MINUTE
from ..config import FeedConfig

#: An open outage's end, for arithmetic (it runs on past *now*).
OPEN_END = 2**62


@dataclass(frozen=True)
class Outage:
    """One feed outage: ``[start, end)`` in epoch ms (``end`` None while still running)."""

    start: int
    end: int | None
    #: Tag indexes reporting before it started (the cohort it is judged over).
    reporting: frozenset[int]
    #: Of those, the tags with no fix at all during it (as far as observed).
    silent: frozenset[int]

    @property
    def stop(self) -> int:
        """The end for arithmetic (:data:`OPEN_END` while open)."""
        return OPEN_END if self.end is None else self.end


def find_outages(
    slots: dict[int, set[int]], first_slot: int, last_slot: int, cfg: FeedConfig
) -> list[tuple[int, int | None, frozenset[int]]]:
    """Runs of silent slots over ``[first_slot, last_slot]`` (all complete): ``(first
    silent slot, first slot after, or None while still running at last_slot, the
    reporting cohort)``, before the minimum-length filter. ``slots`` maps a slot number to
    the tag indexes with a fix in it.

    The state before ``first_slot`` must be "no outage" (the caller starts at a slot no
    outage spans).
    """
    k = max(1, round(cfg.lookback_minutes / cfg.slot_minutes))
    empty: set[int] = set()
    runs: list[tuple[int, int | None, frozenset[int]]] = []
    cohort: frozenset[int] | None = None
    start = 0
    for b in range(first_slot, last_slot + 1):
        here = slots.get(b, empty)
        if cohort is None:
            before: set[int] = set()
            for j in range(b - k, b):
                got = slots.get(j)
                if got:
                    before |= got
            if len(before) < cfg.min_tags:
                continue
            silent = len(before) - len(before & here)
            if silent >= cfg.silent_share * len(before):
                cohort, start = frozenset(before), b
        else:
            silent = len(cohort) - len(cohort & here)
            if silent < cfg.silent_share * len(cohort):
                runs.append((start, b, cohort))
                cohort = None
    if cohort is not None:
        runs.append((start, None, cohort))
    return runs


@dataclass
class FeedView:
    """What the rule families need to know of the feed, for one batch.

    Attributes
    ----------
    first
        The first fix ever received (event time), or None before any.
    outages
        Every outage, by start.
    changed
        Spans ``[a, b)`` whose observed state changed with this batch (the horizon moved
        earlier, an outage appeared, changed or went): silences there must be judged again.
    """

    first: int | None = None
    outages: list[Outage] = field(default_factory=list)
    changed: list[tuple[int, int]] = field(default_factory=list)

    def unobserved(self) -> list[tuple[int, int]]:
        """Spans ``[a, b)`` in which silence does not count: before the first fix, and
        every outage; sorted and disjoint."""
        if self.first is None:
            return [(-OPEN_END, OPEN_END)]
        return [(-OPEN_END, self.first)] + [(o.start, o.stop) for o in self.outages]

    def observed(self, periods: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        """The parts of ``periods`` (sorted, disjoint ``[a, b)``) in which silence counts."""
        return subtract(list(periods), self.unobserved())


def subtract(periods: list[tuple[int, int]], holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``periods`` less ``holes`` (both sorted and disjoint ``[a, b)`` lists)."""
    out: list[tuple[int, int]] = []
    for a, b in periods:
        cur = a
        for x, y in holes:
            if y <= cur or x >= b:
                continue
            if x > cur:
                out.append((cur, x))
            cur = max(cur, y)
            if cur >= b:
                break
        if cur < b:
            out.append((cur, b))
    return out


class FeedWatch:
    """The feed's state, kept up to date as fixes arrive in any order.

    Holds, per slot, the tags with a fix in it; after each batch the outages are found
    again from the earliest slot the batch could have changed (the start of the outage
    running there, if any), to the last complete slot.
    """

    def __init__(self, cfg: FeedConfig | None = None):
        self.cfg = cfg or FeedConfig()
        self.slot_ms = int(self.cfg.slot_minutes * MS_PER_MINUTE)
        self.min_ms = int(self.cfg.min_minutes * MS_PER_MINUTE)
        self.slots: dict[int, set[int]] = {}
        self.first: int | None = None
        self._runs: list[tuple[int, int | None, frozenset[int]]] = []
        self._judged_to: int | None = None  # last complete slot judged
        self._dirty: int | None = None  # earliest slot changed since
        self.outages: list[Outage] = []

    def add(self, ts: np.ndarray, tags: np.ndarray) -> int | None:
        """Take in fixes (times and tag indexes; -1: unknown tag, ignored). Returns the
        previous first fix if this batch moved it earlier (else None)."""
        keep = tags >= 0
        if not keep.any():
            return None
        ts, tags = ts[keep], tags[keep]
        moved = None
        lo = int(ts.min())
        if self.first is None or lo < self.first:
            moved, self.first = self.first, lo
        # One int64 key per (slot, tag): a slot number (epoch ms / 300,000, about 2**23
        # today) times 2**32, plus the tag index.
        keys = np.unique((ts // self.slot_ms) << 32 | tags.astype(np.int64))
        for s, t in zip((keys >> 32).tolist(), (keys & 0xFFFFFFFF).tolist(), strict=True):
            got = self.slots.get(s)
            if got is None:
                self.slots[s] = {t}
            elif t not in got:
                got.add(t)
            else:
                continue
            self._dirty = s if self._dirty is None else min(self._dirty, s)
        return moved

    def judge(self, now: int | None) -> list[tuple[int, int]]:
        """Find the outages again where needed, up to the last slot complete at ``now``.
        Returns the spans whose outage state changed."""
        if now is None or self.first is None or not self.cfg.outages:
            return []
        last = now // self.slot_ms - 1  # slot ``b`` is complete when (b + 1) * slot <= now
        if self._judged_to is None:
            lo = self.first // self.slot_ms
        else:
            lo = self._judged_to + 1
            if self._dirty is not None:
                lo = min(lo, self._dirty)
        if self._judged_to is not None and lo > last:
            self._dirty = None
            return []
        # Restart from a slot no run spans: a changed slot changes the judgement of itself
        # and of the slots after it (their lookback), so every run not ended before it is
        # found again from its start.
        keep = []
        for r in self._runs:
            end = r[1] if r[1] is not None else last + 1
            if end < lo:  # ended before the changed slot (its end slot was judged fine)
                keep.append(r)
            else:
                lo = min(lo, r[0])
        lo = max(lo, self.first // self.slot_ms)
        self._runs = keep + (find_outages(self.slots, lo, last, self.cfg) if lo <= last else [])
        self._judged_to = last
        self._dirty = None
        old = self.outages
        self.outages = self._reported(last)
        return changed_spans(old, self.outages)

    def _reported(self, last: int) -> list[Outage]:
        out = []
        for a, b, cohort in self._runs:
            end_slot = b if b is not None else last + 1
            if (end_slot - a) * self.slot_ms < self.min_ms:
                continue
            seen: set[int] = set()
            for s in range(a, end_slot):
                got = self.slots.get(s)
                if got:
                    seen |= got & cohort
            out.append(
                Outage(
                    a * self.slot_ms,
                    None if b is None else b * self.slot_ms,
                    cohort,
                    cohort - seen,
                )
            )
        return out

    def view(self, changed: list[tuple[int, int]]) -> FeedView:
        return FeedView(self.first, list(self.outages), changed)


def changed_spans(old: list[Outage], new: list[Outage]) -> list[tuple[int, int]]:
    """Spans covered by outages present in one list and not the other (by extent)."""
    a = {(o.start, o.end) for o in old}
    b = {(o.start, o.end) for o in new}
    spans = sorted((s, OPEN_END if e is None else e) for s, e in a ^ b)
    return spans
