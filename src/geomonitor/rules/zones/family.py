"""Exclusion and inclusion zones as a rule family.

A fix an authorised absence covers (:mod:`geomonitor.rules.absence`) complies: outside an
exclusion zone, inside an inclusion zone.

Per batch the work is columnar: the H3 cell of every fix that concerns a zone is computed
once, each zone classifies all the fixes that concern it in one vectorised call
(:mod:`geomonitor.rules.zones.index`), and only then does a small per-(subject, condition)
state machine (:mod:`geomonitor.rules.zones.episode`) walk the observations that matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...model.candidate import Candidate, candidate_id, fix_refs
from ...model.registry import Condition, Order, Registry, in_force
from ...model.text import distance, duration, local_clock, local_time
from ...model.times import MS_PER_DAY, MS_PER_MINUTE
from ...model.timetable import ActivePeriods, Timetable, intersect_intervals
from ..absence import covers
from ..base import Changes, Observations, RuleFamily
from ..config import EngineConfig
from ..fittings import Fittings
from .episode import BREACH, CLEAR, INACTIVE, Episode, Track
from .episode import UNCERTAIN as UNCERTAIN_OBS
from .index import INSIDE, OUTSIDE, UNCERTAIN, ZoneIndex, cells_for

#: Zone condition types and the kind of candidate each raises.
ZONE_KINDS = {"exclusion_zone": "exclusion_zone", "inclusion_zone": "outside_inclusion_zone"}

#: Observation for each zone class (inside, outside, uncertain), per condition type: being
#: inside an exclusion zone is the breach; being outside an inclusion zone is.
_OBS_OF = {
    "exclusion_zone": np.array([CLEAR, BREACH, UNCERTAIN_OBS], np.int8),
    "inclusion_zone": np.array([BREACH, CLEAR, UNCERTAIN_OBS], np.int8),
}
assert (INSIDE, OUTSIDE, UNCERTAIN) == (BREACH, CLEAR, UNCERTAIN_OBS)


@dataclass
class ZoneRule:
    """One zone condition of one subject, with when it applies."""

    kind: str
    subject_id: str
    order: Order
    condition: Condition
    zone_id: str
    valid_from: int
    valid_to: int
    schedule: Timetable | None

    def periods(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """Intervals within ``[lo, hi)`` during which the rule applies."""
        lo2, hi2 = max(lo, self.valid_from), min(hi, self.valid_to)
        if lo2 >= hi2:
            return []
        if self.schedule is None:
            return [(lo2, hi2)]
        return intersect_intervals([(lo2, hi2)], self.schedule.intervals(lo2, hi2))

    def active(self, ts: np.ndarray) -> np.ndarray | None:
        """Which of these sorted instants the rule applies at; ``None`` when all of them."""
        if len(ts) == 0:
            return None
        lo, hi = int(ts[0]), int(ts[-1]) + 1
        if self.schedule is None:
            if lo >= self.valid_from and hi <= self.valid_to:
                return None
            return (ts >= self.valid_from) & (ts < self.valid_to)
        return ActivePeriods(self.periods(lo, hi)).contains(ts)

    def active_until(self, t: int) -> int:
        """End of the applicable stretch containing ``t``."""
        if self.schedule is None:
            return self.valid_to
        # A weekly window is never longer than a week.
        for s, e in self.periods(t - MS_PER_DAY, t + 8 * MS_PER_DAY):
            if s <= t < e:
                return e
        return t


def zone_rules(registry: Registry) -> list[ZoneRule]:
    """Every zone condition of the registry as a rule, in registry order."""
    out = []
    for order, cond in registry.conditions():
        if cond.type not in ZONE_KINDS or cond.zone_id is None:
            continue
        vf, vt = in_force(order, cond)
        out.append(
            ZoneRule(
                ZONE_KINDS[cond.type],
                order.subject_id,
                order,
                cond,
                cond.zone_id,
                vf,
                vt,
                cond.schedule,
            )
        )
    return out


class ZoneFamily(RuleFamily):
    """Exclusion zones (being inside is the breach) and inclusion zones (being outside is).

    Parameters
    ----------
    index
        A zone index to share (built from the registry's zones when not given).
    """

    name: ClassVar[str] = "zones"
    kinds: ClassVar[tuple[str, ...]] = tuple(ZONE_KINDS.values())

    def __init__(
        self,
        registry: Registry,
        fittings: Fittings,
        config: EngineConfig,
        index: ZoneIndex | None = None,
    ):
        self.registry = registry
        self.tag_ids = fittings.tag_ids
        self.rules = zone_rules(registry)
        self.covers = covers(registry, config.absence_corridor_m)
        self._rules_of: dict[int, list[int]] = {}
        for i, rule in enumerate(self.rules):
            self._rules_of.setdefault(fittings.subject_ix[rule.subject_id], []).append(i)
        zone_ids = sorted({r.zone_id for r in self.rules})
        self.index = index or ZoneIndex(
            [registry.zones[z] for z in zone_ids], config.h3_resolution, config.index_margin_m
        )
        gap = int(config.run_max_gap_minutes * MS_PER_MINUTE)
        #: A silence longer than this ends an episode at its last evidence (an outage).
        self.lost_ms = int(config.device.no_contact_minutes * MS_PER_MINUTE)
        self.tracks = [
            Track(
                r.condition.open_after or config.open_after,
                r.condition.close_after or config.close_after,
                gap,
                r.active_until,
                self.lost_ms,
            )
            for r in self.rules
        ]
        #: Event time: an open episode whose tag has been silent for longer than
        #: ``lost_ms`` by now is shown closed at its last evidence (signal lost).
        self.now: int | None = None
        self._ref_cache: dict[tuple[int, int], str] = {}
        # Candidate id -> (rule index, episode); what was last emitted for each.
        self._episode_of: dict[str, tuple[int, Episode]] = {}
        self._emitted: dict[str, tuple] = {}

    def observe(self, obs: Observations) -> Changes:
        res = Changes()
        self.now = obs.now
        subj = obs.subject
        by_zone: dict[str, list[tuple[int, np.ndarray]]] = {}
        needed: list[np.ndarray] = []
        for seg in obs.segments:
            rules = self._rules_of.get(int(subj[seg[0]]))
            if not rules:
                continue
            needed.append(seg)
            for r in rules:
                by_zone.setdefault(self.rules[r].zone_id, []).append((r, seg))
        touched: dict[str, tuple[int, Episode]] = {}
        removed: set[str] = set()
        if by_zone:
            self._match(obs, by_zone, needed, touched, removed)
        if obs.time_moved:
            # Open episodes whose signal event time has now outrun: shown as lost.
            for r, track in enumerate(self.tracks):
                ep = track.open_episode
                if ep is not None and self._lost(ep):
                    touched.setdefault(self._cid(r, ep), (r, ep))
        for cid in removed:
            if cid not in touched:
                self._episode_of.pop(cid, None)
                if self._emitted.pop(cid, None) is not None:
                    res.retracted.append(cid)
        for cid, (r, ep) in touched.items():
            self._episode_of[cid] = (r, ep)
            sig = (ep.signature(), self._lost(ep))
            if self._emitted.get(cid) != sig:
                self._emitted[cid] = sig
                res.upserts.append(self._candidate(cid, r, ep))
        return res

    def _lost(self, ep: Episode) -> bool:
        """Whether an open episode's signal has been lost by now."""
        return (
            ep.closed_at is None
            and self.now is not None
            and self.now - ep.last_obs_at > self.lost_ms
        )

    def _match(
        self,
        obs: Observations,
        by_zone: dict[str, list[tuple[int, np.ndarray]]],
        needed: list[np.ndarray],
        touched: dict[str, tuple[int, Episode]],
        removed: set[str],
    ) -> None:
        batch = obs.batch
        cells = np.zeros(len(batch), np.int64)
        need = np.concatenate(needed)
        cells[need] = cells_for(batch.lat[need], batch.lon[need], self.index.resolution)
        for zone_id, items in by_zone.items():
            self._match_zone(obs, zone_id, items, cells, touched, removed)

    def _match_zone(
        self,
        obs: Observations,
        zone_id: str,
        items: list[tuple[int, np.ndarray]],
        cells: np.ndarray,
        touched: dict[str, tuple[int, Episode]],
        removed: set[str],
    ) -> None:
        """Classify the fixes of every rule on one zone at once, then walk each rule's."""
        batch = obs.batch
        acc = batch.accuracy_m
        idx = np.concatenate([seg for _, seg in items])
        cls = self.index.classify(zone_id, cells[idx], batch.x[idx], batch.y[idx], acc[idx])
        # Gather once per zone; each rule then works on slices (its subject's fixes, in
        # event-time order).
        ts_g, rank_g, tag_g, acc_g = batch.ts[idx], batch.rank[idx], obs.tag32[idx], acc[idx]
        x_g, y_g = batch.x[idx], batch.y[idx]
        obs_g = np.empty(len(idx), np.int8)
        bounds_r = []
        off = 0
        for r, seg in items:
            end = off + len(seg)
            rule = self.rules[r]
            o = _OBS_OF[rule.condition.type][cls[off:end]]
            active = rule.active(ts_g[off:end])
            if active is not None:
                o[~active] = INACTIVE
            cover = self.covers.get(rule.subject_id)
            if cover is not None:
                # An authorised absence: where it lets the subject be, the fix complies.
                ok = cover.covered(ts_g[off:end], x_g[off:end], y_g[off:end], acc_g[off:end])
                o[ok & (o != INACTIVE)] = CLEAR
            obs_g[off:end] = o
            bounds_r.append((r, off, end))
            off = end
        # How far past the boundary each breaching fix is (inside an exclusion zone,
        # outside an inclusion zone): the distance to the boundary either way.
        depth = np.full(len(idx), np.nan)
        breach = obs_g == BREACH
        if breach.any():
            depth[breach] = self.index.depth(zone_id, batch.x[idx[breach]], batch.y[idx[breach]])
        for r, a, b in bounds_r:
            t_eps, r_eps = self.tracks[r].add(
                ts_g[a:b], obs_g[a:b], rank_g[a:b], tag_g[a:b], depth[a:b], acc_g[a:b]
            )
            for ep in r_eps:
                removed.add(self._cid(r, ep))
            for ep in t_eps:
                touched[self._cid(r, ep)] = (r, ep)

    # ------------------------------------------------------------------ candidates
    def _cid(self, r: int, ep: Episode) -> str:
        rule = self.rules[r]
        return candidate_id(
            rule.kind, rule.subject_id, rule.order.id, rule.condition.id, ep.opened_at
        )

    def candidates(self) -> list[Candidate]:
        return [self._candidate(cid, r, ep) for cid, (r, ep) in self._episode_of.items()]

    def holds(self, cid: str) -> bool:
        return cid in self._episode_of

    def _refs(self, evidence: list[tuple[int, int]]) -> list[str]:
        """Evidence references ``TAG@time``; each fix's text is made once and remembered
        (candidates are rebuilt as their evidence grows)."""
        cache = self._ref_cache
        missing = [ev for ev in evidence if ev not in cache]
        if missing:
            if len(cache) > 2_000_000:
                cache.clear()
            refs = fix_refs([self.tag_ids[tag] for _, tag in missing], [t for t, _ in missing])
            cache.update(zip(missing, refs, strict=True))
        return [cache[ev] for ev in evidence]

    def _candidate(self, cid: str, r: int, ep: Episode) -> Candidate:
        rule = self.rules[r]
        zone = self.registry.zones[rule.zone_id]
        evidence = self._refs([(ts, tag) for ts, tag, o in ep.evidence if o != CLEAR])
        closed_at, reason = ep.closed_at, ep.close_reason
        if self._lost(ep):
            closed_at, reason = ep.last_obs_at, "signal_lost"
        status = "open" if closed_at is None else "closed"
        return Candidate(
            id=cid,
            kind=rule.kind,
            subject_id=rule.subject_id,
            order_id=rule.order.id,
            condition_id=rule.condition.id,
            zone_id=rule.zone_id,
            opened_at=ep.opened_at,
            closed_at=closed_at,
            status=status,
            fix_count=ep.breach_count,
            explanation=explain_zone(rule, zone.name, ep, reason),
            last_evidence_at=ep.last_obs_at,
            uncertain_count=ep.uncertain_count,
            max_penetration_m=ep.max_depth_m,
            close_reason=_CLOSE_REASON[rule.condition.type].get(reason or "", reason),
            evidence=evidence,
        )


_CLOSE_REASON = {
    "exclusion_zone": {"cleared": "left"},
    "inclusion_zone": {"cleared": "returned"},
}


def explain_zone(rule: ZoneRule, zone_name: str, ep: Episode, reason: str | None) -> str:
    """One line a desk officer can read aloud."""
    exclusion = rule.condition.type == "exclusion_zone"
    where = f"{'exclusion' if exclusion else 'inclusion'} zone {rule.zone_id}"
    if zone_name and zone_name != rule.zone_id:
        where += f" ({zone_name})"
    side, back = ("inside", "left by") if exclusion else ("outside", "back inside by")
    start = local_time(ep.opened_at)
    if reason == "signal_lost":
        last = local_clock(ep.last_breach_at, ep.opened_at)
        if ep.close_obs_ts is not None and ep.close_reason == "signal_lost":
            silence = f"then no signal for {duration(ep.close_obs_ts - ep.last_obs_at)}"
        else:  # (no length: the text must not change as event time moves on)
            silence = "then no signal, the tag still silent"
        span = f"from {start}, last seen {side} at {last}, {silence}"
    elif ep.closed_at is None:
        last = local_clock(ep.last_breach_at, ep.opened_at)
        span = f"from {start}, still {side} at last fix {last}"
    else:
        end = local_clock(ep.closed_at, ep.opened_at)
        how = back if reason == "cleared" else "zone stopped applying at"
        span = f"from {start}, {how} {end}"
    acc = (
        f"accuracy {distance(ep.best_accuracy_m)}"
        if ep.best_accuracy_m == ep.worst_accuracy_m
        else f"accuracy {ep.best_accuracy_m:.0f}-{distance(ep.worst_accuracy_m)}"
    )
    return (
        f"{rule.subject_id} {side} {where} {span}: {ep.breach_count} fixes wholly {side} "
        f"({acc}), up to {distance(ep.max_depth_m)} past the boundary."
    )
