"""Curfews: where a subject must be, and when.

A curfew condition names a place (centre and radius, default 100 m) and a weekly timetable in
local UK time. Each window of the timetable (a *night*, though windows may be any hours) is
judged on its own, from the subject's fixes in it:

* ``curfew_late_return``: away when the window started and home only after the grace
  period; records how many minutes late;
* ``curfew_absent``: away for longer than the grace period after the window started without
  coming home in it, or leaving home during the window;
* ``curfew_no_signal``: no fix at all for longer than the no-signal limit (default 30 min)
  inside the window, with the last known position and its age.

A fix is *home* only if its whole accuracy circle is within the radius, *away* only if the
whole circle is outside it, otherwise *unsure* (which neither counts nor breaks a run).
Leaving and coming home each take ``open_after``/``close_after`` consecutive fixes, as for
zones, so one wild fix does not make an absence.

A night's findings are a pure function of the fixes in and around it and of *now* (the
latest event time seen, which says how much of the window has been observed). Whenever a
fix lands in or near a night, or *now* moves past part of it, the night is judged again and
its candidates replaced: late fixes update a night, never duplicate it, whatever the order.
Candidate ids are per night and kind, so a night's candidate keeps its id as it changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from ...model.columns import Columns
from ...model.times import MS_PER_DAY, MS_PER_MINUTE
from ...model.timetable import Timetable

HOME = 0
AWAY = 1
UNSURE = 2

KINDS = ("curfew_late_return", "curfew_absent", "curfew_no_signal")


@dataclass
class CurfewRule:
    """One curfew condition of one subject."""

    subject_id: str
    order_id: str
    condition_id: str
    x: float  # BNG centre
    y: float
    radius_m: float
    grace_ms: int
    timetable: Timetable
    valid_from: int
    valid_to: int
    open_after: int = 2
    close_after: int = 2
    _days: dict[int, tuple[tuple[int, int], ...]] = field(default_factory=dict, repr=False)

    def nights(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """Windows (UTC ``[s, e)``) that overlap ``[lo, hi)`` and fall in the validity period.

        A window cut by the start or end of the condition is judged only over the part in
        force.
        """
        lo2, hi2 = max(lo, self.valid_from), min(hi, self.valid_to)
        if lo2 >= hi2:
            return []
        out = []
        for day in range(lo2 // MS_PER_DAY - 2, hi2 // MS_PER_DAY + 1):
            for a, b in self._windows_starting_on(day):
                a, b = max(a, self.valid_from), min(b, self.valid_to)
                if a < b and b > lo2 and a < hi2:
                    out.append((a, b))
        return out

    def next_night(self, after: int, horizon_days: int = 8) -> tuple[int, int] | None:
        """The first window (as :meth:`nights` gives it) starting at or after ``after``,
        looking at most ``horizon_days`` ahead."""
        day0 = max(after, self.valid_from) // MS_PER_DAY
        for day in range(day0 - 1, day0 + horizon_days + 1):
            for a, b in self._windows_starting_on(day):
                a, b = max(a, self.valid_from), min(b, self.valid_to)
                if a < b and a >= after:
                    return a, b
        return None

    def _windows_starting_on(self, day: int) -> tuple[tuple[int, int], ...]:
        got = self._days.get(day)
        if got is None:
            got = self._days[day] = windows_starting_on(self.timetable, day)
        return got

    def classify(
        self, x: np.ndarray, y: np.ndarray, acc: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Home/away/unsure for each fix, and its distance from the curfew address."""
        dist = np.hypot(x - self.x, y - self.y)
        cls = np.full(len(x), UNSURE, np.int8)
        cls[dist + acc <= self.radius_m] = HOME
        cls[dist - acc > self.radius_m] = AWAY
        return cls, dist


@lru_cache(maxsize=65536)
def windows_starting_on(timetable: Timetable, day: int) -> tuple[tuple[int, int], ...]:
    """Windows of ``timetable`` whose UTC start falls on epoch day ``day`` (shared cache:
    subjects on the same timetable share the work)."""
    lo, hi = day * MS_PER_DAY, (day + 1) * MS_PER_DAY
    return tuple((a, b) for a, b in timetable.intervals(lo, hi) if lo <= a < hi)


@dataclass
class Finding:
    """One candidate-to-be for one night."""

    kind: str
    opened_at: int
    closed_at: int | None
    fix_count: int
    last_evidence_at: int
    evidence_ts: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    evidence_tag: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "open" if self.closed_at is None else "closed"

    def signature(self) -> tuple:
        return (
            self.kind,
            self.opened_at,
            self.closed_at,
            self.fix_count,
            self.last_evidence_at,
            # The evidence itself: a late fix can swap one for another at the same count.
            self.evidence_ts.tobytes(),
            self.evidence_tag.tobytes(),
            tuple(sorted(self.details.items())),
        )


def _spells(
    s: int,
    ts: np.ndarray,
    cls: np.ndarray,
    dist: np.ndarray,
    tag: np.ndarray,
    open_after: int,
    close_after: int,
) -> list[_Spell]:
    """Spells away within a window, as the zone episode machine would find them.

    Unsure fixes are dropped; among the rest, a run of ``open_after`` away fixes starts a
    spell and a run of ``close_after`` home fixes ends it (shorter runs change nothing).
    Vectorised over runs: the Python loop sees only the runs that change the state.
    """
    decisive = np.flatnonzero(cls != UNSURE)
    v = cls[decisive]
    if not (v == AWAY).any():
        return []
    change = np.flatnonzero(v[1:] != v[:-1]) + 1
    starts = np.concatenate([[0], change])
    lens = np.diff(np.concatenate([starts, [len(v)]]))
    vals = v[starts]
    significant = np.where(vals == AWAY, lens >= open_after, lens >= close_after)
    bounds: list[list[int | None]] = []  # [first fix index, end fix index or None]
    away = False
    for k in np.flatnonzero(significant).tolist():
        at = int(decisive[starts[k]])
        if vals[k] == AWAY and not away:
            bounds.append([at, None])
            away = True
        elif vals[k] == HOME and away:
            bounds[-1][1] = at
            away = False
    out = []
    is_away = cls == AWAY
    for a, b in bounds:
        assert a is not None
        stop = len(ts) if b is None else b
        idx = np.flatnonzero(is_away[a:stop]) + a
        seen_home = bool((cls[:a] == HOME).any())
        out.append(
            _Spell(
                start=int(ts[a]) if seen_home else s,
                first_away=int(ts[a]),
                end=None if b is None else int(ts[b]),
                away_ts=ts[idx],
                away_tag=tag[idx],
                max_dist=float(dist[idx].max()),
            )
        )
    return out


@dataclass
class _Spell:
    start: int
    first_away: int
    end: int | None = None
    away_ts: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    away_tag: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    max_dist: float = 0.0


def judge_night(
    s: int,
    e: int,
    now: int,
    ts: np.ndarray,
    cls: np.ndarray,
    dist: np.ndarray,
    tag: np.ndarray,
    grace_ms: int,
    no_signal_ms: int,
    open_after: int = 2,
    close_after: int = 2,
    prev_fix: tuple[int, int, int] | None = None,
) -> list[Finding]:
    """Findings for one window ``[s, e)`` from its fixes (sorted, all inside the window).

    ``now`` is the latest event time seen: parts of the window after it are not yet
    observed. ``prev_fix`` is ``(ts, tag, class)`` of the last fix before the window.
    """
    findings = _absences(s, e, now, ts, cls, dist, tag, grace_ms, open_after, close_after)
    silence = _no_signal(s, e, now, ts, cls, tag, no_signal_ms, prev_fix)
    if silence is not None:
        findings.append(silence)
    return findings


def _absences(
    s: int,
    e: int,
    now: int,
    ts: np.ndarray,
    cls: np.ndarray,
    dist: np.ndarray,
    tag: np.ndarray,
    grace_ms: int,
    open_after: int,
    close_after: int,
) -> list[Finding]:
    """Late returns and absences: runs of away fixes, as zone episodes (unsure fixes are
    neutral); one absence candidate per night."""
    end_seen = min(e, now)
    findings: list[Finding] = []
    spells = _spells(s, ts, cls, dist, tag, open_after, close_after)

    for sp in spells:
        away_at_start = sp.start == s
        if away_at_start and sp.end is not None:
            if sp.end - s <= grace_ms:
                continue  # home within the grace period
            findings.append(
                Finding(
                    "curfew_late_return",
                    s,
                    sp.end,
                    len(sp.away_ts),
                    sp.end,
                    sp.away_ts,
                    sp.away_tag,
                    {
                        "minutes_late": int(-(-(sp.end - s) // MS_PER_MINUTE)),
                        "grace_minutes": grace_ms // MS_PER_MINUTE,
                        "furthest_m": round(sp.max_dist, 1),
                    },
                )
            )
            continue
        if away_at_start:
            # Still away: an absence once the grace period has run out, on the evidence.
            if int(sp.away_ts[-1]) < s + grace_ms and end_seen < s + grace_ms:
                continue
            opened = s + grace_ms
        else:
            opened = sp.first_away
        closed = sp.end if sp.end is not None else (e if now >= e else None)
        findings.append(
            Finding(
                "curfew_absent",
                opened,
                closed,
                len(sp.away_ts),
                int(sp.away_ts[-1]),
                sp.away_ts,
                sp.away_tag,
                {"away_at_start": away_at_start, "furthest_m": round(sp.max_dist, 1)},
            )
        )

    # One absence candidate per night: merge the spells.
    absent = [f for f in findings if f.kind == "curfew_absent"]
    if len(absent) > 1:
        merged = Finding(
            "curfew_absent",
            absent[0].opened_at,
            absent[-1].closed_at,
            sum(f.fix_count for f in absent),
            absent[-1].last_evidence_at,
            np.concatenate([f.evidence_ts for f in absent]),
            np.concatenate([f.evidence_tag for f in absent]),
            {
                "away_at_start": absent[0].details["away_at_start"],
                "spells": len(absent),
                "furthest_m": max(f.details["furthest_m"] for f in absent),
            },
        )
        findings = [f for f in findings if f.kind != "curfew_absent"] + [merged]
    return findings


def _no_signal(
    s: int,
    e: int,
    now: int,
    ts: np.ndarray,
    cls: np.ndarray,
    tag: np.ndarray,
    no_signal_ms: int,
    prev_fix: tuple[int, int, int] | None,
) -> Finding | None:
    """Silences longer than the limit inside the observed part of the window, as one
    finding with the last known position before the first."""
    end_seen = min(e, now)
    edges = np.concatenate([[s], ts, [max(end_seen, s)]])
    bounds: list[tuple[int, int | None, tuple[int, int, int] | None]] = []
    for k in np.flatnonzero(np.diff(edges) > no_signal_ms).tolist():
        last = prev_fix if k == 0 else (int(ts[k - 1]), int(tag[k - 1]), int(cls[k - 1]))
        trailing = k == len(ts)
        stop = None if trailing and now < e else int(edges[k + 1])
        bounds.append((int(edges[k]), stop, last))
    if not bounds:
        return None
    first_gap, last_gap = bounds[0], bounds[-1]
    known = first_gap[2]
    details: dict[str, Any] = {
        "gaps": len(bounds),
        "silent_minutes": sum(
            ((b if b is not None else end_seen) - a) // MS_PER_MINUTE for a, b, _ in bounds
        ),
    }
    ev_ts: list[int] = []
    ev_tag: list[int] = []
    if known is not None:
        silence_end = first_gap[1] if first_gap[1] is not None else end_seen
        details["last_known_at"] = known[0]
        details["last_known_position"] = ("home", "away", "unsure")[known[2]]
        details["last_known_age_minutes"] = (silence_end - known[0]) // MS_PER_MINUTE
        ev_ts.append(known[0])
        ev_tag.append(known[1])
    return Finding(
        "curfew_no_signal",
        first_gap[0],
        last_gap[1],
        0,
        first_gap[0],
        np.array(ev_ts, np.int64),
        np.array(ev_tag, np.int32),
        details,
    )


class CurfewTrack:
    """A subject's fixes judged against one curfew address, sorted by event time.

    Columns live in buffers with spare capacity, so fixes arriving in order append in
    amortised constant time; late ones are merged in.
    """

    __slots__ = ("_cols", "cls", "dist", "rank", "tag", "ts")

    _DTYPES = (np.int64, np.int8, np.float64, np.int32, np.int64)

    def __init__(self) -> None:
        self._cols = Columns(self._DTYPES)
        self._refresh()

    def _refresh(self) -> None:
        self.ts, self.cls, self.dist, self.tag, self.rank = self._cols.views()

    def add(
        self, ts: np.ndarray, cls: np.ndarray, dist: np.ndarray, tag: np.ndarray, rank: np.ndarray
    ) -> None:
        """Merge fixes in (any order); of two for the same instant the lower rank stays."""
        self._cols.merge((ts, cls, dist, tag, rank), ts=0, rank=4)
        self._refresh()

    def window(self, s: int, e: int) -> tuple[slice, tuple[int, int, int] | None]:
        """Index range of fixes in ``[s, e)`` and the last fix before ``s``."""
        a = int(np.searchsorted(self.ts, s, side="left"))
        b = int(np.searchsorted(self.ts, e, side="left"))
        prev = None
        if a > 0:
            prev = (int(self.ts[a - 1]), int(self.tag[a - 1]), int(self.cls[a - 1]))
        return slice(a, b), prev
