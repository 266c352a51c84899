"""Accuracy-aware episodes over an event-time-ordered stream of observations.

An *observation* is one fix judged against one condition: ``BREACH`` (the whole accuracy
circle is where the condition forbids, e.g. inside an exclusion zone), ``CLEAR`` (the whole
circle is where it allows), ``UNCERTAIN`` (the circle straddles the boundary) or
``INACTIVE`` (the condition did not apply at that instant: outside its validity period or
schedule).

An episode opens after ``open_after`` consecutive ``BREACH`` observations (no more than
``max_gap_ms`` apart) and closes after ``close_after`` consecutive ``CLEAR`` ones, or when the
condition stops applying, or when the signal is lost: an observation more than ``lost_ms``
after the episode's last one closes it at that last one (reason ``signal_lost``), and the
observation then counts afresh: a subject still inside after an outage opens a new episode
on new evidence; the silence is never counted as time inside. ``UNCERTAIN`` observations
neither count nor break a run: an ambiguous fix is not evidence either way.

A :class:`Track` keeps the observations of one subject under one condition sorted by event
time. Observations may arrive in any order, duplicated, or hours late: a late observation
rewinds the track to the last instant at which the machine was idle before it and replays
from there, so the episodes are always those of in-order delivery.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...model.columns import Columns

CLEAR = 0
BREACH = 1
UNCERTAIN = 2
INACTIVE = 3


@dataclass(eq=False)
class Episode:
    """One spell in breach. ``evidence`` holds ``(ts, tag_index, observation)`` tuples."""

    opened_at: int
    closed_at: int | None = None
    close_obs_ts: int | None = None
    close_reason: str | None = None
    breach_count: int = 0
    uncertain_count: int = 0
    max_depth_m: float = 0.0
    best_accuracy_m: float = float("inf")
    worst_accuracy_m: float = 0.0
    last_breach_at: int = 0
    last_obs_at: int = 0
    evidence: list[tuple[int, int, int]] = field(default_factory=list)

    def signature(self) -> tuple:
        return (
            self.opened_at,
            self.closed_at,
            self.close_reason,
            self.breach_count,
            self.uncertain_count,
            round(self.max_depth_m, 2),
            tuple(self.evidence),  # a late fix can swap evidence at the same count
            self.last_obs_at,
        )


class Track:
    """Observations and episodes of one subject under one condition.

    Parameters
    ----------
    open_after, close_after
        Consecutive breach (clear) observations that open (close) an episode.
    max_gap_ms
        Two breach observations further apart than this are not consecutive.
    active_until
        For an instant at which the condition applies, when that stretch of applicability
        ends (used as the closing time when a schedule or validity period ends mid-episode).
    lost_ms
        A silence longer than this inside an episode ends it (``None``: never).
    """

    __slots__ = (
        "_cols",
        "_first_clear",
        "_last_breach",
        "_open",
        "_out_run",
        "_pending",
        "_pending_breaches",
        "acc",
        "active_until",
        "close_after",
        "depth",
        "episodes",
        "lost_ms",
        "max_gap_ms",
        "obs",
        "open_after",
        "processed",
        "rank",
        "tag",
        "ts",
    )

    _DTYPES = (np.int64, np.int8, np.int64, np.int32, np.float32, np.float32)

    def __init__(
        self,
        open_after: int,
        close_after: int,
        max_gap_ms: int,
        active_until: Callable[[int], int],
        lost_ms: int | None = None,
    ):
        self.lost_ms = lost_ms
        self.open_after = open_after
        self.close_after = close_after
        self.max_gap_ms = max_gap_ms
        self.active_until = active_until
        # ts, obs, rank, tag, depth and acc are views of growable columns.
        self._cols = Columns(self._DTYPES)
        self._refresh()
        self.episodes: list[Episode] = []
        self.processed = 0
        self._reset_machine()

    def _reset_machine(self) -> None:
        self._open: Episode | None = None
        self._pending: list[int] = []
        self._pending_breaches = 0
        self._last_breach = 0
        self._out_run = 0
        self._first_clear = 0

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def open_episode(self) -> Episode | None:
        """The episode still open after the last observation, if any."""
        return self._open

    # ------------------------------------------------------------------ ingestion
    def add(
        self,
        ts: np.ndarray,
        obs: np.ndarray,
        rank: np.ndarray,
        tag: np.ndarray,
        depth: np.ndarray,
        acc: np.ndarray,
    ) -> tuple[list[Episode], list[Episode]]:
        """Add observations (any order). Returns ``(touched, removed)`` episodes.

        ``removed`` episodes were recomputed away by late data (a replacement may be among
        ``touched``). Same-instant duplicates keep the lowest ``rank``.
        """
        if len(ts) == 0:
            return [], []
        if len(ts) > 1 and not (ts[1:] > ts[:-1]).all():
            o = np.lexsort((rank, ts))
            ts, obs, rank, tag, depth, acc = ts[o], obs[o], rank[o], tag[o], depth[o], acc[o]
            keep = np.ones(len(ts), bool)
            keep[1:] = ts[1:] != ts[:-1]
            if not keep.all():
                ts, obs, rank, tag, depth, acc = (a[keep] for a in (ts, obs, rank, tag, depth, acc))

        if len(self.ts) == 0 or ts[0] > self.ts[-1]:
            self._append(ts, obs, rank, tag, depth, acc)
            if self._open is None and not self._pending and not (obs == BREACH).any():
                # An idle machine ignores everything but a breach: nothing to walk.
                self.processed = len(self.ts)
                return [], []
            return self._advance(self.processed), []

        # Drop copies no better than what we hold; find existing fixes they replace.
        pos = np.searchsorted(self.ts, ts)
        pos_c = np.minimum(pos, len(self.ts) - 1)
        same = self.ts[pos_c] == ts
        dominated = same & (self.rank[pos_c] <= rank)
        if dominated.all():
            return [], []
        if dominated.any():
            k = ~dominated
            ts, obs, rank, tag, depth, acc = (a[k] for a in (ts, obs, rank, tag, depth, acc))
            same, pos_c = same[k], pos_c[k]
        if ts[0] > self.ts[-1]:
            self._append(ts, obs, rank, tag, depth, acc)
            return self._advance(self.processed), []

        j = self._rewind_point(int(ts[0]))
        cut_ts = int(self.ts[j]) if j >= 0 else None
        if cut_ts is None:
            removed, self.episodes = self.episodes, []
        else:
            k = next(
                (i for i, e in enumerate(self.episodes) if e.opened_at > cut_ts), len(self.episodes)
            )
            removed, self.episodes = self.episodes[k:], self.episodes[:k]

        replaced = pos_c[same]
        mask = np.ones(len(self.ts), bool)
        mask[replaced] = False
        cols = []
        for old, new in (
            (self.ts, ts),
            (self.obs, obs),
            (self.rank, rank),
            (self.tag, tag),
            (self.depth, depth),
            (self.acc, acc),
        ):
            cols.append(np.concatenate([old[mask], new]))
        o = np.argsort(cols[0], kind="stable")
        self._cols.replace([c[o] for c in cols])
        self._refresh()
        self._reset_machine()
        start = j + 1  # indices up to j are unchanged (late fixes all come after ts[j])
        touched = self._advance(start)
        return touched, removed

    def _refresh(self) -> None:
        self.ts, self.obs, self.rank, self.tag, self.depth, self.acc = self._cols.views()

    def _append(self, *cols: np.ndarray) -> None:
        self._cols.append(cols)
        self._refresh()

    def _rewind_point(self, t: int) -> int:
        """Index of the last observation before ``t`` after which the machine was idle."""
        k = int(np.searchsorted(self.ts, t, side="left"))
        calm = np.flatnonzero((self.obs[:k] == CLEAR) | (self.obs[:k] == INACTIVE))
        eps = self.episodes
        for j in calm[::-1].tolist():
            tj = int(self.ts[j])
            spanned = False
            for e in reversed(eps):
                if e.close_obs_ts is not None and e.close_obs_ts <= tj:
                    break
                if e.opened_at <= tj:
                    spanned = True
                    break
            if not spanned:
                return j
        return -1

    # ------------------------------------------------------------------ the machine
    def _advance(self, start: int) -> list[Episode]:
        ts = self.ts[start:].tolist()
        obs = self.obs[start:].tolist()
        n = len(ts)
        breaches = np.flatnonzero(self.obs[start:] == BREACH).tolist()
        touched: dict[int, Episode] = {}
        open_after, close_after, gap = self.open_after, self.close_after, self.max_gap_ms
        lost = self.lost_ms
        i = 0
        while i < n:
            if self._open is None and not self._pending:
                k = bisect_left(breaches, i)
                if k == len(breaches):
                    break
                i = breaches[k]
            c = obs[i]
            t = ts[i]
            ep = self._open
            if ep is not None and lost is not None and t - ep.last_obs_at > lost:
                # The signal was lost inside the episode: it ends at its last evidence.
                ep.closed_at = ep.last_obs_at
                ep.close_obs_ts = t
                ep.close_reason = "signal_lost"
                self._open = None
                self._out_run = 0
                touched[id(ep)] = ep
                ep = None
            if c == BREACH:
                if ep is not None:
                    self._out_run = 0
                    self._note(ep, start + i, c)
                    touched[id(ep)] = ep
                else:
                    if self._pending and t - self._last_breach > gap:
                        self._pending = []
                        self._pending_breaches = 0
                    self._pending.append(start + i)
                    self._pending_breaches += 1
                    self._last_breach = t
                    if self._pending_breaches >= open_after:
                        ep = Episode(opened_at=int(self.ts[self._pending[0]]))
                        for idx in self._pending:
                            self._note(ep, idx, int(self.obs[idx]))
                        self.episodes.append(ep)
                        self._open = ep
                        self._pending = []
                        self._pending_breaches = 0
                        touched[id(ep)] = ep
            elif c == CLEAR:
                if ep is not None:
                    self._out_run += 1
                    if self._out_run == 1:
                        self._first_clear = t
                    self._note(ep, start + i, c)
                    if self._out_run >= close_after:
                        ep.closed_at = self._first_clear
                        ep.close_obs_ts = t
                        ep.close_reason = "cleared"
                        self._open = None
                        self._out_run = 0
                    touched[id(ep)] = ep
                else:
                    self._pending = []
                    self._pending_breaches = 0
            elif c == UNCERTAIN:
                if ep is not None:
                    self._note(ep, start + i, c)
                    touched[id(ep)] = ep
                elif self._pending:
                    self._pending.append(start + i)
            else:  # INACTIVE
                if ep is not None:
                    ep.closed_at = min(t, self.active_until(ep.last_obs_at))
                    ep.close_obs_ts = t
                    ep.close_reason = "condition_inactive"
                    self._open = None
                    self._out_run = 0
                    touched[id(ep)] = ep
                self._pending = []
                self._pending_breaches = 0
            i += 1
        self.processed = start + n
        return list(touched.values())

    def _note(self, ep: Episode, idx: int, c: int) -> None:
        t = int(self.ts[idx])
        ep.evidence.append((t, int(self.tag[idx]), c))
        ep.last_obs_at = t
        if c == BREACH:
            ep.breach_count += 1
            ep.last_breach_at = t
            d = float(self.depth[idx])
            if d == d and d > ep.max_depth_m:
                ep.max_depth_m = d
            a = float(self.acc[idx])
            ep.best_accuracy_m = min(ep.best_accuracy_m, a)
            ep.worst_accuracy_m = max(ep.worst_accuracy_m, a)
        elif c == UNCERTAIN:
            ep.uncertain_count += 1
