"""The ground truth, from where subjects truly were (never from their fixes' noise): every
breach to find, and the "brushes" whose candidate would be right but whose absence is no
miss."""

from __future__ import annotations

import numpy as np
import shapely

from ..model.times import MS_PER_MINUTE, iso
from ..model.timetable import ActivePeriods, Timetable
from .orders import LATE_LIMIT_MINUTES, late_every_night, lateness_truth
from .scenario import (
    CURFEW_GRACE_MINUTES,
    CURFEW_RADIUS_M,
    CURFEW_TIMETABLE,
    MEETING_DISTANCE_M,
    MEETING_MIN_MINUTES,
    Record,
    Scenario,
    SimSubject,
    Visit,
    at,
)


def zone_truth(
    sc: Scenario,
    s: SimSubject,
    ts: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    visits: list[Visit],
) -> None:
    """Every run of fixes truly inside an exclusion zone while it applied. Runs of 3+ fixes
    are breaches to find; shorter ones (a corner clipped in passing) are brushes."""
    n = len(ts)
    for cid, z in s.zones:
        active = np.ones(n, bool)
        if z.schedule is not None:
            active = ActivePeriods(z.schedule.intervals(int(ts[0]), int(ts[-1]) + 1)).contains(ts)
        inside = active & shapely.contains_xy(z.geom, tx, ty)
        idx = np.flatnonzero(inside)
        if len(idx) == 0:
            continue
        brk = np.flatnonzero((np.diff(idx) > 1) | (np.diff(ts[idx]) > 15 * MS_PER_MINUTE))
        for run in np.split(idx, brk + 1):
            a, b = int(ts[run[0]]), int(ts[run[-1]])
            was_planted = any(c2 == cid and z2 is z and va <= a <= vb for c2, z2, va, vb in visits)
            rec = {
                "kind": "exclusion_zone",
                "subject_id": s.id,
                "order_id": s.order,
                "condition_id": cid,
                "zone_id": z.id,
                "start": iso(a),
                "end": iso(b),
                "fixes": len(run),
                "planted": was_planted,
                "scheduled": z.schedule is not None,
            }
            (sc.planted if len(run) >= 3 else sc.brushes).append(rec)


def curfew_truth(
    sc: Scenario,
    s: SimSubject,
    ts: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    visits: list[Visit],
) -> None:
    """Curfew breaches from where the subject truly was, minute by minute.

    Clearly away means more than 200 m from home; home means within the 100 m radius. A
    return within five minutes either side of the grace period, or a spell away shorter
    than five minutes, is ambiguous: a "brush".
    """
    tt = Timetable.parse(CURFEW_TIMETABLE)
    grace = CURFEW_GRACE_MINUTES * MS_PER_MINUTE
    five = 5 * MS_PER_MINUTE
    d = np.hypot(tx - s.home[0], ty - s.home[1])
    far, home = d > 200.0, d <= CURFEW_RADIUS_M
    for a, b in s.absences:  # authorised: where they may be (home, for the curfew)
        far[(ts >= a) & (ts < b)] = False
        home[(ts >= a) & (ts < b)] = True
    base = {"subject_id": s.id, "order_id": s.order, "condition_id": "C-3"}
    late: list[tuple[int, int]] = []  # (window start, home) of every away-at-start night

    def add(kind: str, a: int, b: int, clear: bool) -> None:
        rec = {
            "kind": kind,
            **base,
            "start": iso(a),
            "end": iso(b),
            "planted": any(c == "C-3" and va <= b and a <= vb for c, _, va, vb in visits),
        }
        (sc.planted if clear else sc.brushes).append(rec)

    for ws, we in tt.intervals(sc.t_start, sc.end):
        # The curfew starts with the data; the last night may run past it.
        ws, we = max(ws, sc.t_start), min(we, sc.end)
        m = (ts >= ws) & (ts < we)
        wts, wfar, whome = ts[m], far[m], home[m]
        if len(wts) == 0:
            continue
        i = 0
        if wfar[0]:
            back = np.flatnonzero(whome)
            if len(back) == 0:
                add("curfew_absent", ws + grace, we, True)
                continue
            r = int(wts[back[0]])
            late.append((ws, r))
            if r - ws > grace + five:
                add("curfew_late_return", ws, r, True)
            elif r - ws >= grace - five:
                add("curfew_late_return", ws, r, False)
            i = int(back[0])
        # Spells away after being home.
        idx = np.flatnonzero(wfar[i:]) + i
        if len(idx) == 0:
            continue
        for run in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1):
            a, b = int(wts[run[0]]), int(wts[run[-1]])
            add("curfew_absent", a, b, b - a >= five)
    lateness_truth(sc, s, late, LATE_LIMIT_MINUTES if late_every_night(s) else 120.0)


def silence_truth(sc: Scenario, s: SimSubject, ts: np.ndarray) -> None:
    """Silences: more than two hours without any fix (an outage: no contact; 1h55-2h05 a
    brush), and curfew nights with more than 30 minutes without a fix that is not part of
    an outage (35+ clear, 25-35 a brush, and a brush when the gap is near two hours)."""
    edges_all = np.concatenate([ts, [sc.end]])
    for a0, b0 in zip(edges_all[:-1].tolist(), edges_all[1:].tolist(), strict=True):
        if b0 - a0 > 115 * MS_PER_MINUTE:
            gap = {
                "kind": "no_contact",
                "subject_id": s.id,
                "order_id": "-",
                "condition_id": s.tag,
                "start": iso(int(a0)),
                "end": iso(int(b0)),
                "planted": True,
            }
            (sc.planted if b0 - a0 > 125 * MS_PER_MINUTE else sc.brushes).append(gap)
    tt = Timetable.parse(CURFEW_TIMETABLE)
    worn = s.fitted_at if s.fitted_at is not None else sc.t_start  # no silence before
    for ws, we in tt.intervals(sc.t_start, sc.end):
        ws, we = max(ws, worn), min(we, sc.end)
        if ws >= we:
            continue
        inside = ts[(ts >= ws) & (ts < we)]
        edges = np.concatenate([[ws], inside, [we]])
        for a, b in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
            if b - a <= 25 * MS_PER_MINUTE:
                continue
            # The whole gap it is part of: an outage (over two hours) is one no-contact
            # candidate, not a no-signal one per night.
            k = int(np.searchsorted(ts, a, side="right"))
            whole = (int(ts[k]) if k < len(ts) else sc.end) - (int(ts[k - 1]) if k else sc.t_start)
            if whole > 125 * MS_PER_MINUTE:
                continue
            rec: Record = {
                "kind": "curfew_no_signal",
                "subject_id": s.id,
                "order_id": s.order,
                "condition_id": "C-3",
                "start": iso(int(a)),
                "end": iso(int(b)),
                "planted": True,
            }
            clear = 35 * MS_PER_MINUTE < b - a and whole < 115 * MS_PER_MINUTE
            (sc.planted if clear else sc.brushes).append(rec)


def meeting_truth(sc: Scenario) -> None:
    """Non-association breaches from where both truly were, minute by minute, while both
    tags were reporting: together (within the condition's distance) for 12 minutes or
    more is a breach; for 8-12 minutes, or less, a brush."""
    grid = np.arange(sc.t_start, sc.end, MS_PER_MINUTE, dtype=np.int64)
    for b in sc.people:
        a = b.partner
        if a is None:
            continue
        ax, ay = at(a.wp, grid)
        bx, by = at(b.wp, grid)
        seen = np.ones(len(grid), bool)
        for s in (a, b):
            k = np.clip(np.searchsorted(s.fix_ts, grid), 1, len(s.fix_ts) - 1)
            near = np.minimum(np.abs(s.fix_ts[k] - grid), np.abs(s.fix_ts[k - 1] - grid))
            seen &= near <= 2 * MS_PER_MINUTE
        idx = np.flatnonzero(seen & (np.hypot(ax - bx, ay - by) <= MEETING_DISTANCE_M))
        if len(idx) == 0:
            continue
        for run in np.split(idx, np.flatnonzero(np.diff(idx) > 5) + 1):
            s0, s1 = int(grid[run[0]]), int(grid[run[-1]])
            rec = {
                "kind": "non_association",
                "subject_id": a.id,
                "order_id": a.order,
                "condition_id": "C-6",
                "other_subject_id": b.id,
                "start": iso(s0),
                "end": iso(s1),
                "planted": any(
                    aid == a.id and ma <= s1 and s0 <= mb for aid, ma, mb in sc.meetings
                ),
            }
            clear = s1 - s0 >= (MEETING_MIN_MINUTES + 2) * MS_PER_MINUTE
            (sc.planted if clear else sc.brushes).append(rec)


__all__ = ["curfew_truth", "meeting_truth", "silence_truth", "zone_truth"]
