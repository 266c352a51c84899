"""Curfews as a rule family: each night of each curfew judged again whenever its evidence or
how much of it has been observed changes (:mod:`geomonitor.rules.curfew.night` judges one
night)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ...model.candidate import Candidate, candidate_id, fix_refs
from ...model.crs import to_bng
from ...model.registry import Registry, in_force
from ...model.text import distance, duration, local_clock, local_time, plural
from ...model.times import MS_PER_MINUTE, iso, local_month
from ..absence import covers
from ..base import Changes, Observations, RuleFamily
from ..config import EngineConfig
from ..feed.watch import subtract
from ..fittings import Fittings
from .night import (
    HOME,
    KINDS,
    CurfewRule,
    CurfewTrack,
    Finding,
    Lateness,
    NightRules,
    judge_night,
)


def curfew_rules(registry: Registry, config: EngineConfig) -> list[CurfewRule]:
    """Every curfew condition of the registry as rules, in registry order: one rule per
    address its timetable names (the condition's own, and each row's own address)."""
    out = []
    for order, cond in registry.conditions("curfew"):
        p = cond.curfew
        assert p is not None and cond.schedule is not None
        vf, vt = in_force(order, cond)
        for place in cond.schedule.places():
            lat, lon, radius = (p.lat, p.lon, p.radius_m) if place is None else place
            cx, cy = to_bng(np.array([lon]), np.array([lat]))
            out.append(
                CurfewRule(
                    subject_id=order.subject_id,
                    order_id=order.id,
                    condition_id=cond.id,
                    x=float(cx[0]),
                    y=float(cy[0]),
                    radius_m=radius if radius is not None else p.radius_m,
                    grace_ms=int(p.grace_minutes * MS_PER_MINUTE),
                    timetable=cond.schedule.for_place(place),
                    valid_from=vf,
                    valid_to=vt,
                    elsewhere=place is not None,
                    open_after=cond.open_after or config.open_after,
                    close_after=cond.close_after or config.close_after,
                )
            )
    return out


class CurfewFamily(RuleFamily):
    """Late returns, absences and silences during curfew windows, and minutes late that
    add up over a month.

    Fixes an authorised absence covers count as home (:mod:`geomonitor.rules.absence`);
    the subject is due back when it ends, as at a window's start, and silence inside it
    is not judged.
    """

    name: ClassVar[str] = "curfews"
    kinds: ClassVar[tuple[str, ...]] = KINDS

    def __init__(self, registry: Registry, fittings: Fittings, config: EngineConfig):
        self.rules = curfew_rules(registry, config)
        self.spike_kmh = config.spike_speed_kmh
        self.night_rules = [
            NightRules(
                grace_ms=rule.grace_ms,
                no_signal_ms=int(config.curfew_no_signal_minutes * MS_PER_MINUTE),
                outage_ms=int(config.device.no_contact_minutes * MS_PER_MINUTE),
                open_after=rule.open_after,
                close_after=rule.close_after,
                good_accuracy_m=config.curfew_good_accuracy_m,
                min_away_ms=int(config.curfew_min_away_minutes * MS_PER_MINUTE),
            )
            for rule in self.rules
        ]
        self._rules_of: dict[int, list[int]] = {}
        self.covers = covers(registry, config.absence_corridor_m)
        #: When each rule's subject wore a tag and no absence was authorised: silence
        #: counts only then.
        self.fitted: list[list[tuple[int, int]]] = []
        for i, rule in enumerate(self.rules):
            subject = fittings.subject_ix[rule.subject_id]
            self._rules_of.setdefault(subject, []).append(i)
            cover = self.covers.get(rule.subject_id)
            holes = cover.windows() if cover is not None else []
            self.fitted.append(subtract(fittings.periods_of(subject), holes))
        #: Each order's monthly limit of minutes late (the tightest its curfews set, or
        #: the service's).
        self.lateness_limit: dict[str, float] = {}
        for order, cond in registry.conditions("curfew"):
            own = cond.curfew.lateness_minutes if cond.curfew is not None else None
            limit = config.curfew_lateness_minutes if own is None else own
            self.lateness_limit[order.id] = min(
                limit, self.lateness_limit.get(order.id, float("inf"))
            )
        # (order, month start) -> (rule, night start) -> how late back
        self._late: dict[tuple[str, int], dict[tuple[int, int], Lateness]] = {}
        # (order, month start) -> (signature, candidate) of the month's lateness candidate
        self._lateness: dict[tuple[str, int], tuple[tuple, Candidate]] = {}
        #: Ids of every candidate held (nights' and months')
        self._held: set[str] = set()
        #: The parts of those in which silence counts (observed, feed up).
        self.counted: list[list[tuple[int, int]]] = list(self.fitted)
        self._feed_key: tuple | None = None
        self.tracks = [CurfewTrack() for _ in self.rules]
        self._tag_names = np.array(fittings.tag_ids, dtype=object)
        # (rule, night start) -> kind -> (finding signature, candidate)
        self._nights: dict[tuple[int, int], dict[str, tuple[tuple, Candidate]]] = {}
        # candidate id -> the fixes (times, tag indexes) its evidence list was made from
        self._night_evidence: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def observe(self, obs: Observations) -> Changes:
        """Judge again every night whose evidence or observed extent this batch changed.

        The nights judged, once all fixes are in, are those overlapping the span from a
        subject's first fix to *now* (the latest event time seen), whatever the order the
        fixes came in: a night's findings depend only on its fixes, the last fix before it
        and *now*.
        """
        res = Changes()
        if not self.rules or obs.now is None:
            return res
        to_judge = self._nights_touched(obs, obs.now)
        self._feed_changed(obs, to_judge)
        # Event time moving on: the nights it passed through may now show a silence, or end.
        if obs.time_moved:
            for r, rule in enumerate(self.rules):
                track = self.tracks[r]
                if len(track.ts) == 0:
                    continue
                first = int(track.ts[0])
                lo = first if obs.previous_now is None else max(obs.previous_now, first)
                to_judge.update((r, a, b) for a, b in rule.nights(lo, obs.now + 1))
        months: set[tuple[str, int]] = set()
        for r, a, b in sorted(to_judge):
            self._judge_night(r, a, b, obs.now, res, months)
        for key in sorted(months):
            self._judge_month(key, res)
        return res

    def _feed_changed(self, obs: Observations, to_judge: set[tuple[int, int, int]]) -> None:
        """Where the feed's observed state changed, silences are judged again: the nights
        there of every subject already observed."""
        feed = obs.feed
        key = (feed.first, tuple((o.start, o.end) for o in feed.outages))
        if key != self._feed_key:
            self._feed_key = key
            self.counted = [feed.observed(f) for f in self.fitted]
        if not feed.changed or obs.now is None:
            return
        for r, rule in enumerate(self.rules):
            track = self.tracks[r]
            if len(track.ts) == 0:
                continue
            first = int(track.ts[0])  # nights ending before it are not judged
            for a, b in feed.changed:
                for x, y in rule.nights(a, min(b, obs.now + 1)):
                    if y > first:
                        to_judge.add((r, x, y))

    def _nights_touched(self, obs: Observations, now: int) -> set[tuple[int, int, int]]:
        """Add the batch's fixes to the tracks; the nights whose evidence they change."""
        batch = obs.batch
        to_judge: set[tuple[int, int, int]] = set()
        for seg in obs.segments:
            rules = self._rules_of.get(int(obs.subject[seg[0]]))
            if not rules:
                continue
            ts = batch.ts[seg]
            lo, hi = int(ts[0]), int(ts[-1])
            for r in rules:
                rule = self.rules[r]
                track = self.tracks[r]
                first_before = int(track.ts[0]) if len(track.ts) else None
                # The silences these fixes end or split run from the fix before them to the
                # fix after them: whether a silence is part of an outage may change there.
                k0 = int(np.searchsorted(track.ts, lo, side="left"))
                k1 = int(np.searchsorted(track.ts, hi, side="right"))
                around = (
                    int(track.ts[k0 - 1]) if k0 > 0 else lo,
                    int(track.ts[k1]) + 1 if k1 < len(track.ts) else hi + 1,
                )
                cls, dist = rule.classify(batch.x[seg], batch.y[seg], batch.accuracy_m[seg])
                cover = self.covers.get(rule.subject_id)
                if cover is not None:
                    cls[cover.covered(ts, batch.x[seg], batch.y[seg], batch.accuracy_m[seg])] = HOME
                track.add(
                    ts,
                    cls,
                    dist,
                    obs.tag32[seg],
                    batch.rank[seg],
                    batch.accuracy_m[seg],
                    batch.x[seg],
                    batch.y[seg],
                )
                first = int(track.ts[0])
                # The nights these fixes fall in, and the next one (whose "last known
                # position" may be among them) ...
                spans = [around]
                nxt = rule.next_night(hi + 1)
                if nxt is not None and nxt[0] <= now:  # not begun: judged when time gets there
                    to_judge.add((r, *nxt))
                # ... and, when the subject's record now starts earlier, every night between.
                if first_before is None:
                    spans.append((first, now + 1))
                elif first < first_before:
                    spans.append((first, first_before + 1))
                for a0, b0 in spans:
                    to_judge.update((r, a, b) for a, b in rule.nights(a0, b0))
        return to_judge

    def _judge_night(
        self, r: int, s: int, e: int, now: int, res: Changes, months: set[tuple[str, int]]
    ) -> None:
        rule = self.rules[r]
        track = self.tracks[r]
        cover = self.covers.get(rule.subject_id)
        night = track.night(s, e, self.spike_kmh, self.counted[r], cover.ends() if cover else None)
        late = Lateness()
        findings = judge_night(s, e, now, night, self.night_rules[r], late)
        key = (rule.order_id, local_month(s)[0])
        per_month = self._late.setdefault(key, {})
        old_late = per_month.get((r, s))
        if late.minutes:
            per_month[(r, s)] = late
        else:
            per_month.pop((r, s), None)
        if old_late is not None or late.minutes:
            months.add(key)
        before = self._nights.get((r, s), {})
        after: dict[str, tuple[tuple, Candidate]] = {}
        for f in findings:
            sig = f.signature()
            old = before.get(f.kind)
            if old is not None and old[0] == sig:
                after[f.kind] = old  # unchanged: no need to rebuild it
            else:
                c = self._candidate(rule, s, e, f, old[1] if old else None)
                after[f.kind] = (sig, c)
                res.upserts.append(c)
        for kind, (_, c) in before.items():
            if kind not in after:
                res.retracted.append(c.id)
                self._night_evidence.pop(c.id, None)
                self._held.discard(c.id)
        self._held.update(c.id for _, c in after.values())
        if after:
            self._nights[(r, s)] = after
        else:
            self._nights.pop((r, s), None)

    def candidates(self) -> list[Candidate]:
        nights = [c for per_night in self._nights.values() for _, c in per_night.values()]
        return nights + [c for _, c in self._lateness.values()]

    def holds(self, cid: str) -> bool:
        return cid in self._held

    def lateness(self) -> dict[tuple[str, str], tuple[int, int]]:
        """Minutes late and nights late per (order, month ``YYYY-MM``), as judged so far."""
        out: dict[tuple[str, str], tuple[int, int]] = {}
        for (order, m0), nights in self._late.items():
            if nights:
                out[(order, local_month(m0)[2])] = (
                    sum(v.minutes for v in nights.values()),
                    len(nights),
                )
        return out

    def _judge_month(self, key: tuple[str, int], res: Changes) -> None:
        """The month's lateness candidate: on the first night (in event time, whatever
        order they were judged in) at which the order's minutes late pass the limit."""
        nights = sorted(self._late.get(key, {}).items(), key=lambda kv: (kv[0][1], kv[0][0]))
        total, crossing = 0, None
        limit = self.lateness_limit[key[0]]
        for n, ((r, s), late) in enumerate(nights, start=1):
            total += late.minutes
            if total > limit:
                crossing = (n, r, s, late, total)
                break
        old = self._lateness.get(key)
        if crossing is None:
            if old is not None:
                del self._lateness[key]
                res.retracted.append(old[1].id)
                self._held.discard(old[1].id)
            return
        n, r, s, late, total = crossing
        rule = self.rules[r]
        m0, _, label = local_month(s)
        sig = (n, r, s, late.minutes, late.home_at, total, late.evidence_ts.tobytes())
        if old is not None and old[0] == sig:
            return
        refs = fix_refs(self._tag_names[late.evidence_tag].tolist(), late.evidence_ts.tolist())
        c = Candidate(
            id=candidate_id("curfew_lateness", rule.subject_id, rule.order_id, "", m0),
            kind="curfew_lateness",
            subject_id=rule.subject_id,
            order_id=rule.order_id,
            condition_id=rule.condition_id,
            zone_id=None,
            opened_at=s,
            closed_at=late.home_at,
            status="closed",
            fix_count=len(refs),
            explanation=(
                f"{rule.subject_id} late back for curfew on {n} nights of {label}: "
                f"{duration(total * MS_PER_MINUTE)} in all by the night of {local_time(s)}, "
                f"over the monthly limit of {duration(int(limit) * MS_PER_MINUTE)} "
                f"(that night {duration(late.minutes * MS_PER_MINUTE)} late, home at "
                f"{local_clock(late.home_at, s)})."
            ),
            last_evidence_at=late.home_at,
            evidence=refs,
            details={
                "month": label,
                "minutes_late": total,
                "nights_late": n,
                "limit_minutes": int(limit),
                "night_minutes_late": late.minutes,
                "window_start": iso(s),
            },
        )
        self._lateness[key] = (sig, c)
        self._held.add(c.id)
        res.upserts.append(c)

    def _night_refs(self, f: Finding, old: Candidate | None) -> list[str]:
        """Evidence references of a night's finding. A night's evidence mostly grows at
        the end as fixes arrive, so when the previous candidate's evidence is a prefix of
        the new one (compared on the fix arrays) only the new fixes are formatted."""
        if old is not None:
            prev = self._night_evidence.get(old.id)
            if prev is not None:
                pts, ptag = prev
                n = len(pts)
                if (
                    n <= len(f.evidence_ts)
                    and np.array_equal(f.evidence_ts[:n], pts)
                    and np.array_equal(f.evidence_tag[:n], ptag)
                ):
                    tail = self._tag_names[f.evidence_tag[n:]].tolist()
                    return old.evidence + fix_refs(tail, f.evidence_ts[n:].tolist())
        return fix_refs(self._tag_names[f.evidence_tag].tolist(), f.evidence_ts.tolist())

    def _candidate(
        self, rule: CurfewRule, s: int, e: int, f: Finding, old: Candidate | None = None
    ) -> Candidate:
        cover = self.covers.get(rule.subject_id)
        if cover is not None and f.kind == "curfew_absent" and not f.details["away_at_start"]:
            during = [a.id for a in cover.absences if a.starts <= f.opened_at < a.ends]
            if during:
                f.details["during_absence"] = during[0]
        details = dict(f.details)
        details["window_start"] = iso(s)
        details["window_end"] = iso(e)
        if "last_known_at" in details:
            details["last_known_at"] = iso(details["last_known_at"])
        if "due_back_at" in details:
            details["due_back_at"] = iso(details["due_back_at"])
        if rule.elsewhere:
            details["address"] = "the timetable's address for this night"
        c = Candidate(
            id=candidate_id(f.kind, rule.subject_id, rule.order_id, rule.condition_id, s),
            kind=f.kind,
            subject_id=rule.subject_id,
            order_id=rule.order_id,
            condition_id=rule.condition_id,
            zone_id=None,
            opened_at=f.opened_at,
            closed_at=f.closed_at,
            status=f.status,
            fix_count=f.fix_count,
            explanation=explain_curfew(rule, s, e, f),
            last_evidence_at=f.last_evidence_at,
            evidence=self._night_refs(f, old),
            details=details,
        )
        self._night_evidence[c.id] = (f.evidence_ts, f.evidence_tag)
        return c


def explain_curfew(rule: CurfewRule, s: int, e: int, f: Finding) -> str:
    """One line for the desk about one curfew night."""
    window = f"curfew {rule.condition_id} ({local_time(s)} to {local_clock(e, s)})"
    d = f.details
    start = "away at the start"
    if "due_back_at" in d:
        start = f"not back when an authorised absence ended at {local_clock(d['due_back_at'], s)}"
    if f.kind == "curfew_late_return":
        return (
            f"{rule.subject_id} home late for {window}: {start}, home at "
            f"{local_clock(f.closed_at or s, s)}, "
            f"{duration(d['minutes_late'] * MS_PER_MINUTE)} after "
            f"{'it' if 'due_back_at' in d else 'the start'} "
            f"(grace {duration(d['grace_minutes'] * MS_PER_MINUTE)}); "
            f"{plural(f.fix_count, 'fix', 'fixes')} away, up to "
            f"{distance(d['furthest_m'])} from the address."
        )
    if f.kind == "curfew_absent":
        how = (
            f"{start} and not home within the grace period"
            if d["away_at_start"]
            else f"left at {local_clock(f.opened_at, s)}"
        )
        back = "home"
        if "during_absence" in d:
            how = (
                f"went elsewhere than authorised absence {d['during_absence']} allows at "
                f"{local_clock(f.opened_at, s)}"
            )
            back = "back home or where the absence allows"
        if d.get("signal_lost"):
            end = (
                f"last seen away at {local_clock(f.last_evidence_at, s)}, then no signal for "
                f"{duration(d['silent_minutes_after'] * MS_PER_MINUTE)}"
            )
        elif f.closed_at is None:
            end = f"still away at last fix {local_clock(f.last_evidence_at, s)}"
        elif f.closed_at == e:
            end = "not home before the curfew ended"
        else:
            end = f"{back} at {local_clock(f.closed_at, s)}"
        spells = f" ({d['spells']} absences)" if d.get("spells") else ""
        return (
            f"{rule.subject_id} absent during {window}: {how}, {end}{spells}; "
            f"{plural(f.fix_count, 'fix', 'fixes')} wholly away, up to "
            f"{distance(d['furthest_m'])} from the address."
        )
    known = ""
    if "last_known_position" in d:
        known = (
            f"; last known position {d['last_known_position']} at "
            f"{local_clock(d['last_known_at'], s)}, "
            f"{duration(d['last_known_age_minutes'] * MS_PER_MINUTE)} before"
        )
    gaps = f" in {d['gaps']} silences" if d["gaps"] > 1 else ""
    return (
        f"No fix from {rule.subject_id}'s tag for "
        f"{duration(d['silent_minutes'] * MS_PER_MINUTE)}{gaps} during "
        f"{window}, from {local_clock(f.opened_at, s)}{known}."
    )
