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

from .times import MS_PER_DAY, MS_PER_MINUTE
from .timetable import Timetable

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

    def _windows_starting_on(self, day: int) -> tuple[tuple[int, int], ...]:
        return windows_starting_on(self.timetable, day)

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
    evidence: list[tuple[int, int]] = field(default_factory=list)  # (ts, tag index)
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
            len(self.evidence),
            tuple(sorted(self.details.items())),
        )


@dataclass
class _Spell:
    start: int
    first_away: int
    end: int | None = None
    away_fixes: list[tuple[int, int]] = field(default_factory=list)
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
    end_seen = min(e, now)
    findings: list[Finding] = []

    # ---- absences: runs of away fixes, as zone episodes (unsure fixes are neutral)
    spells: list[_Spell] = []
    seen_home = False
    run: list[int] = []  # indices of consecutive away fixes not yet an absence
    homes = 0
    cur: _Spell | None = None
    first_home_of_return = 0
    if (cls == AWAY).any():
        ts_l, cls_l, dist_l, tag_l = ts.tolist(), cls.tolist(), dist.tolist(), tag.tolist()
    else:  # home or unsure all along: no absence to walk through
        ts_l, cls_l, dist_l, tag_l = [], [], [], []
    for i, c in enumerate(cls_l):
        t = ts_l[i]
        if c == AWAY:
            homes = 0
            if cur is not None:
                cur.away_fixes.append((t, tag_l[i]))
                cur.max_dist = max(cur.max_dist, dist_l[i])
                continue
            run.append(i)
            if len(run) >= open_after:
                first = run[0]
                cur = _Spell(start=s if not seen_home else ts_l[first], first_away=ts_l[first])
                for k in run:
                    cur.away_fixes.append((ts_l[k], tag_l[k]))
                    cur.max_dist = max(cur.max_dist, dist_l[k])
                spells.append(cur)
                run = []
        elif c == HOME:
            run = []
            if cur is not None:
                homes += 1
                if homes == 1:
                    first_home_of_return = t
                if homes >= close_after:
                    cur.end = first_home_of_return
                    cur = None
                    homes = 0
                    seen_home = True
            else:
                seen_home = True

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
                    len(sp.away_fixes),
                    sp.end,
                    sp.away_fixes,
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
            if sp.away_fixes[-1][0] < s + grace_ms and end_seen < s + grace_ms:
                continue
            closed = e if now >= e else None
            findings.append(
                Finding(
                    "curfew_absent",
                    s + grace_ms,
                    closed,
                    len(sp.away_fixes),
                    sp.away_fixes[-1][0],
                    sp.away_fixes,
                    {"away_at_start": True, "furthest_m": round(sp.max_dist, 1)},
                )
            )
            continue
        closed = sp.end if sp.end is not None else (e if now >= e else None)
        findings.append(
            Finding(
                "curfew_absent",
                sp.first_away,
                closed,
                len(sp.away_fixes),
                sp.away_fixes[-1][0],
                sp.away_fixes,
                {"away_at_start": False, "furthest_m": round(sp.max_dist, 1)},
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
            [ev for f in absent for ev in f.evidence],
            {
                "away_at_start": absent[0].details["away_at_start"],
                "spells": len(absent),
                "furthest_m": max(f.details["furthest_m"] for f in absent),
            },
        )
        findings = [f for f in findings if f.kind != "curfew_absent"] + [merged]

    # ---- no signal: silences inside the observed part of the window
    edges = np.concatenate([[s], ts, [max(end_seen, s)]])
    bounds: list[tuple[int, int | None, tuple[int, int, int] | None]] = []
    for k in np.flatnonzero(np.diff(edges) > no_signal_ms).tolist():
        last = prev_fix if k == 0 else (int(ts[k - 1]), int(tag[k - 1]), int(cls[k - 1]))
        trailing = k == len(ts)
        stop = None if trailing and now < e else int(edges[k + 1])
        bounds.append((int(edges[k]), stop, last))
    if bounds:
        first_gap, last_gap = bounds[0], bounds[-1]
        known = first_gap[2]
        details: dict[str, Any] = {
            "gaps": len(bounds),
            "silent_minutes": sum(
                ((b if b is not None else end_seen) - a) // MS_PER_MINUTE for a, b, _ in bounds
            ),
        }
        evidence = []
        if known is not None:
            silence_end = first_gap[1] if first_gap[1] is not None else end_seen
            details["last_known_at"] = known[0]
            details["last_known_position"] = ("home", "away", "unsure")[known[2]]
            details["last_known_age_minutes"] = (silence_end - known[0]) // MS_PER_MINUTE
            evidence.append((known[0], known[1]))
        findings.append(
            Finding(
                "curfew_no_signal", first_gap[0], last_gap[1], 0, first_gap[0], evidence, details
            )
        )
    return findings


class CurfewTrack:
    """A subject's fixes judged against one curfew address, sorted by event time."""

    __slots__ = ("cls", "dist", "rank", "tag", "ts")

    def __init__(self) -> None:
        self.ts = np.empty(0, np.int64)
        self.cls = np.empty(0, np.int8)
        self.dist = np.empty(0, np.float64)
        self.tag = np.empty(0, np.int32)
        self.rank = np.empty(0, np.int64)

    def add(
        self, ts: np.ndarray, cls: np.ndarray, dist: np.ndarray, tag: np.ndarray, rank: np.ndarray
    ) -> None:
        """Merge fixes in (any order); of two for the same instant the lower rank stays."""
        cols = [
            np.concatenate([a, b])
            for a, b in (
                (self.ts, ts),
                (self.cls, cls),
                (self.dist, dist),
                (self.tag, tag),
                (self.rank, rank),
            )
        ]
        o = np.lexsort((cols[4], cols[0]))
        cols = [c[o] for c in cols]
        keep = np.ones(len(cols[0]), bool)
        keep[1:] = cols[0][1:] != cols[0][:-1]
        self.ts, self.cls, self.dist, self.tag, self.rank = (c[keep] for c in cols)

    def window(self, s: int, e: int) -> tuple[slice, tuple[int, int, int] | None]:
        """Index range of fixes in ``[s, e)`` and the last fix before ``s``."""
        a = int(np.searchsorted(self.ts, s, side="left"))
        b = int(np.searchsorted(self.ts, e, side="left"))
        prev = None
        if a > 0:
            prev = (int(self.ts[a - 1]), int(self.tag[a - 1]), int(self.cls[a - 1]))
        return slice(a, b), prev
