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
zones, so one wild fix does not make an absence. Evidence an officer would accept
(:class:`NightRules`):

* a run of away fixes opens an absence only if ``open_after`` of them are good enough to
  place the person away (accuracy radius at most ``good_accuracy_m``), or if the away
  evidence lasts at least ``min_away_ms``: a pair of wide cell fixes never does on its own;
* a *spike* (a fix far from both its neighbours, which are close to each other, at an
  implied speed beyond ``spike_kmh`` both ways) neither opens nor ends a run;
* an absence whose last away fix is followed by a silence longer than the no-signal limit
  ends at that fix (``signal_lost``), and that silence is part of the absence, not a
  separate no-signal finding.

Silence counts only while the subject wears a tag and the feed was observed and up
(``fitted``: the caller takes out the time before the service's first fix and feed
outages, :mod:`geomonitor.rules.feed`), and a silence that is part of an outage (a gap
between fixes longer than ``outage_ms``) is not a ``curfew_no_signal`` finding: the
outage is one ``no_contact`` candidate, which names every curfew night it spans
(:mod:`geomonitor.rules.device`).

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

KINDS = ("curfew_late_return", "curfew_absent", "curfew_no_signal", "curfew_lateness")


@dataclass(frozen=True)
class NightRules:
    """How one curfew's nights are judged (see the module notes)."""

    grace_ms: int
    no_signal_ms: int
    outage_ms: int
    open_after: int = 2
    close_after: int = 2
    good_accuracy_m: float = 100.0
    min_away_ms: int = 10 * MS_PER_MINUTE


@dataclass
class NightFixes:
    """The fixes of one window, sorted, with what surrounds them."""

    ts: np.ndarray
    cls: np.ndarray  # home/away/unsure (spikes already unsure)
    dist: np.ndarray
    tag: np.ndarray
    acc: np.ndarray
    #: (ts, tag, class) of the last fix before the window
    prev: tuple[int, int, int] | None = None
    #: time of the first fix at or after the window's end
    next_ts: int | None = None
    #: when silence counts (the subject wore a tag, the feed was observed and up), sorted
    #: ``[start, end)``
    fitted: list[tuple[int, int]] = field(default_factory=lambda: [(-(2**62), 2**62)])
    #: when authorised absences inside the window end: the subject is due back then, as at
    #: the window's start (fixes inside an absence that it covers are already home)
    resume: list[int] = field(default_factory=list)


@dataclass
class Lateness:
    """How late back the subject came in one window (grace or not): minutes, the instant
    home, and the away fixes that show it."""

    minutes: int = 0
    home_at: int = 0
    evidence_ts: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    evidence_tag: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))


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
    #: True when the timetable's rows at this address are not the condition's own address
    elsewhere: bool = False
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


def _spells(s: int, f: NightFixes, rules: NightRules) -> list[_Spell]:
    """Spells away within a window, as the zone episode machine would find them.

    Unsure fixes are dropped; among the rest, a run of away fixes starts a spell when it is
    evidence enough (``open_after`` good fixes, or ``open_after`` fixes over at least
    ``min_away_ms``) and a run of ``close_after`` home fixes ends it (shorter runs change
    nothing). Vectorised over runs: the Python loop sees only the runs that change the
    state.
    """
    ts, cls = f.ts, f.cls
    decisive = np.flatnonzero(cls != UNSURE)
    v = cls[decisive]
    if not (v == AWAY).any():
        return []
    change = np.flatnonzero(v[1:] != v[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([starts[1:], [len(v)]])
    lens = ends - starts
    vals = v[starts]
    good = np.add.reduceat((f.acc[decisive] <= rules.good_accuracy_m).astype(np.int64), starts)
    lasting = (ts[decisive[ends - 1]] - ts[decisive[starts]]) >= rules.min_away_ms
    away_enough = (lens >= rules.open_after) & ((good >= rules.open_after) | lasting)
    significant = np.where(vals == AWAY, away_enough, lens >= rules.close_after)
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
                away_tag=f.tag[idx],
                max_dist=float(f.dist[idx].max()),
                last_index=int(idx[-1]),
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
    #: index (in the window) of the last away fix
    last_index: int = 0


def judge_night(
    s: int, e: int, now: int, f: NightFixes, rules: NightRules, late: Lateness | None = None
) -> list[Finding]:
    """Findings for one window ``[s, e)`` from its fixes (sorted, all inside the window).

    ``now`` is the latest event time seen: parts of the window after it are not yet
    observed. ``late``, when given, is filled with how late back the subject came (inside
    the grace period too).
    """
    findings, lost_from = _absences(s, e, now, f, rules, late)
    silence = _no_signal(s, e, now, f, rules, lost_from)
    if silence is not None:
        findings.append(silence)
    return findings


def _next_after(k: int, f: NightFixes, e: int, now: int) -> int:
    """When the next evidence after window fix ``k`` came, within the window as far as it
    has been observed (so a judged night does not change as event time moves on)."""
    nxt = int(f.ts[k + 1]) if k + 1 < len(f.ts) else e
    return min(nxt, e, now)


def _due_back(s: int, sp: _Spell, f: NightFixes) -> int | None:
    """When the subject was due back, if this spell starts away then: the window's start,
    or the end of an authorised absence inside it with no fix home between it and the
    spell (coming back late from the absence)."""
    if sp.start == s:
        return s
    due = [r for r in f.resume if s < r <= sp.first_away]
    if not due:
        return None
    r = max(due)
    between = (f.ts >= r) & (f.ts < sp.first_away)
    return None if (f.cls[between] == HOME).any() else r


def _absences(
    s: int, e: int, now: int, f: NightFixes, rules: NightRules, late: Lateness | None = None
) -> tuple[list[Finding], set[int]]:
    """Late returns and absences: runs of away fixes, as zone episodes (unsure fixes are
    neutral); one absence candidate per night. Also the window fixes after which a silence
    belongs to an absence (its signal was lost there)."""
    end_seen = min(e, now)
    grace_ms = rules.grace_ms
    findings: list[Finding] = []
    lost_from: set[int] = set()
    lost_at: int | None = None  # the last absence's last away fix, if silence followed
    for sp in _spells(s, f, rules):
        due = _due_back(s, sp, f)
        away_at_start = due is not None
        start = due if due is not None else s
        last_away = int(sp.away_ts[-1])
        silent = _next_after(sp.last_index, f, e, now) - last_away
        lost = silent > rules.no_signal_ms
        if away_at_start and sp.end is not None and not lost:
            minutes = int(-(-(sp.end - start) // MS_PER_MINUTE))
            if late is not None:
                late.minutes += minutes
                late.home_at = sp.end
                late.evidence_ts = np.concatenate([late.evidence_ts, sp.away_ts])
                late.evidence_tag = np.concatenate([late.evidence_tag, sp.away_tag])
            if sp.end - start <= grace_ms:
                continue  # home within the grace period
            details: dict[str, Any] = {
                "minutes_late": minutes,
                "grace_minutes": grace_ms // MS_PER_MINUTE,
                "furthest_m": round(sp.max_dist, 1),
            }
            if start != s:
                details["due_back_at"] = start
            findings.append(
                Finding(
                    "curfew_late_return",
                    start,
                    sp.end,
                    len(sp.away_ts),
                    sp.end,
                    sp.away_ts,
                    sp.away_tag,
                    details,
                )
            )
            continue
        if away_at_start:
            # Still away: an absence once the grace period has run out, on the evidence.
            if last_away < start + grace_ms and (lost or end_seen < start + grace_ms):
                continue
            opened = start + grace_ms
        else:
            opened = sp.first_away
        details = {
            "away_at_start": away_at_start,
            "furthest_m": round(sp.max_dist, 1),
        }
        if start != s:
            details["due_back_at"] = start
        if lost:
            lost_at = sp.last_index
            closed: int | None = last_away
            details["signal_lost"] = True
            details["silent_minutes_after"] = int(silent // MS_PER_MINUTE)
        else:
            lost_at = None
            closed = sp.end if sp.end is not None else (e if now >= e else None)
        findings.append(
            Finding(
                "curfew_absent",
                opened,
                closed,
                len(sp.away_ts),
                last_away,
                sp.away_ts,
                sp.away_tag,
                details,
            )
        )
    # The silence that ends the night's absence is reported by it, not again as no
    # signal. A silence after an earlier spell, or within the grace period when no
    # absence was raised, stays a silence.
    if findings and findings[-1].kind == "curfew_absent" and lost_at is not None:
        lost_from.add(lost_at)
    return _merge_absences(findings), lost_from


def _merge_absences(findings: list[Finding]) -> list[Finding]:
    """One absence candidate per night: the spells merged."""
    absent = [f for f in findings if f.kind == "curfew_absent"]
    if len(absent) <= 1:
        return findings
    last = absent[-1].details
    details: dict[str, Any] = {
        "away_at_start": absent[0].details["away_at_start"],
        "spells": len(absent),
        "furthest_m": max(f.details["furthest_m"] for f in absent),
    }
    if "due_back_at" in absent[0].details:
        details["due_back_at"] = absent[0].details["due_back_at"]
    if last.get("signal_lost"):
        details["signal_lost"] = True
        details["silent_minutes_after"] = last["silent_minutes_after"]
    merged = Finding(
        "curfew_absent",
        absent[0].opened_at,
        absent[-1].closed_at,
        sum(f.fix_count for f in absent),
        absent[-1].last_evidence_at,
        np.concatenate([f.evidence_ts for f in absent]),
        np.concatenate([f.evidence_tag for f in absent]),
        details,
    )
    return [f for f in findings if f.kind != "curfew_absent"] + [merged]


def _fitted_parts(a: int, b: int, fitted: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``[a, b)`` in which the subject wore a tag."""
    return [(max(a, x), min(b, y)) for x, y in fitted if min(b, y) > max(a, x)]


def _no_signal(
    s: int, e: int, now: int, f: NightFixes, rules: NightRules, lost_from: set[int]
) -> Finding | None:
    """Silences longer than the limit inside the observed part of the window, as one
    finding with the last known position before the first. Not silences: time when no tag
    was fitted, outages (reported once, as no contact), and the silence after an
    absence's last away fix (part of that absence)."""
    end_seen = min(e, now)
    ts, tag, cls = f.ts, f.tag, f.cls
    n = len(ts)
    # Known instants around and in the window; each pair bounds one silence.
    before = f.prev[0] if f.prev is not None else None
    bounds: list[tuple[int, int | None, tuple[int, int, int] | None]] = []
    # Only a gap whose observed part is longer than the limit can hold a silence (the
    # parts while fitted are no longer): the loop sees only those.
    edges = np.concatenate([[s], ts, [max(end_seen, s)]])
    for k in np.flatnonzero(np.diff(edges) > rules.no_signal_ms).tolist():
        a_fix = before if k == 0 else int(ts[k - 1])
        b_fix = int(ts[k]) if k < n else f.next_ts
        if k > 0 and (k - 1) in lost_from:
            continue
        full_a = a_fix if a_fix is not None else s
        full_b = b_fix if b_fix is not None else now
        # An outage runs from a fix to the next (or to now): the silence before a
        # subject's first fix is no outage (nothing reports it as one).
        worn = sum(y - x for x, y in _fitted_parts(full_a, full_b, f.fitted))
        if a_fix is not None and worn > rules.outage_ms:
            continue
        last = f.prev if k == 0 else (int(ts[k - 1]), int(tag[k - 1]), int(cls[k - 1]))
        for x, y in _fitted_parts(max(full_a, s), min(full_b, end_seen), f.fitted):
            if y - x > rules.no_signal_ms:
                # the silence after the last fix, while the window is still being observed
                stop = None if k == n and y == end_seen and now < e else y
                bounds.append((x, stop, last if x == max(full_a, s) else None))
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
        details["last_known_position"] = ("home", "away", "not sure")[known[2]]
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


def spikes(ts: np.ndarray, x: np.ndarray, y: np.ndarray, acc: np.ndarray, kmh: float) -> np.ndarray:
    """Which fixes are spikes: far from both neighbours, which are close to each other,
    at an implied speed (less both accuracy radii) beyond ``kmh`` both ways. The first and
    last fixes are never spikes (they have one neighbour)."""
    n = len(ts)
    out = np.zeros(n, bool)
    if n < 3:
        return out
    v = kmh / 3.6
    dt = np.maximum(np.diff(ts) / 1000.0, 1.0)
    step = np.maximum(np.hypot(np.diff(x), np.diff(y)) - acc[1:] - acc[:-1], 0.0) / dt
    skip_d = np.hypot(x[2:] - x[:-2], y[2:] - y[:-2]) - acc[2:] - acc[:-2]
    skip = np.maximum(skip_d, 0.0) / np.maximum((ts[2:] - ts[:-2]) / 1000.0, 1.0)
    out[1:-1] = (step[:-1] > v) & (step[1:] > v) & (skip <= v)
    return out


class CurfewTrack:
    """A subject's fixes judged against one curfew address, sorted by event time.

    Columns live in buffers with spare capacity, so fixes arriving in order append in
    amortised constant time; late ones are merged in.
    """

    __slots__ = ("_cols", "acc", "cls", "dist", "rank", "tag", "ts", "x", "y")

    _DTYPES = (
        np.int64,
        np.int8,
        np.float64,
        np.int32,
        np.int64,
        np.float32,
        np.float64,
        np.float64,
    )

    def __init__(self) -> None:
        self._cols = Columns(self._DTYPES)
        self._refresh()

    def _refresh(self) -> None:
        (self.ts, self.cls, self.dist, self.tag, self.rank, self.acc, self.x, self.y) = (
            self._cols.views()
        )

    def add(
        self,
        ts: np.ndarray,
        cls: np.ndarray,
        dist: np.ndarray,
        tag: np.ndarray,
        rank: np.ndarray,
        acc: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
    ) -> None:
        """Merge fixes in (any order); of two for the same instant the lower rank stays."""
        self._cols.merge((ts, cls, dist, tag, rank, acc, x, y), ts=0, rank=4)
        self._refresh()

    def night(
        self,
        s: int,
        e: int,
        spike_kmh: float,
        fitted: list[tuple[int, int]],
        resume: list[int] | None = None,
    ) -> NightFixes:
        """The fixes of window ``[s, e)`` with the last fix before it and the time of the
        first after it; spikes (judged against their neighbours, in or out of the window)
        count as unsure."""
        a = int(np.searchsorted(self.ts, s, side="left"))
        b = int(np.searchsorted(self.ts, e, side="left"))
        prev = None
        if a > 0:
            prev = (int(self.ts[a - 1]), int(self.tag[a - 1]), int(self.cls[a - 1]))
        cls = self.cls[a:b]
        if (cls == AWAY).any():  # a spike matters only where someone may be away
            lo, hi = max(a - 1, 0), min(b + 1, len(self.ts))
            spike = spikes(self.ts[lo:hi], self.x[lo:hi], self.y[lo:hi], self.acc[lo:hi], spike_kmh)
            cls = cls.copy()
            cls[spike[a - lo : a - lo + (b - a)]] = UNSURE
        return NightFixes(
            ts=self.ts[a:b],
            cls=cls,
            dist=self.dist[a:b],
            tag=self.tag[a:b],
            acc=self.acc[a:b],
            prev=prev,
            next_ts=int(self.ts[b]) if b < len(self.ts) else None,
            fitted=fitted,
            resume=[r for r in resume or () if s < r < e],
        )
