"""The matching engine: fixes in, breach-candidate changes out.

Pure: no I/O, no clock. It is built from a :class:`~geomonitor.registry.Registry` and an
:class:`EngineConfig` and fed :class:`~geomonitor.fix.FixBatch` objects in any order and any
batching; the candidates it holds after the same set of fixes are always the same.

Per batch the work is columnar: fixes are attributed to subjects through the fittings
history, the H3 cell of every attributed fix is computed once, each zone classifies all the
fixes that concern it in one vectorised call, and only then does a small per-(subject,
condition) state machine (:mod:`geomonitor.episode`) walk the observations that matter.
The other rule families plug in beside it: curfew nights (:mod:`geomonitor.curfew`),
device health (:mod:`geomonitor.device`), declared vehicles (:mod:`geomonitor.vehicle`),
and, over the trails of the subjects they concern (:mod:`geomonitor.trail`), undeclared
vehicles (:mod:`geomonitor.undeclared`) and non-association (:mod:`geomonitor.association`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat

import numpy as np

from .model.candidate import Candidate, candidate_id, fix_refs, local_clock, local_time
from .model.crs import to_bng
from .model.fix import FixBatch
from .model.read import Read
from .model.registry import FAR_FUTURE, Condition, Order, Registry, in_force
from .model.times import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, iso
from .model.timetable import ActivePeriods, Timetable, intersect_intervals
from .rules.association import AssociationConfig, Associations, association_rules
from .rules.curfew.night import CurfewRule, CurfewTrack, Finding, judge_night
from .rules.device.health import DeviceConfig, DeviceEvent, DeviceTrack, device_events
from .rules.trail import Trail
from .rules.undeclared import UndeclaredVehicles
from .rules.vehicle import VEHICLE_KINDS, VehicleConfig, VehicleRules
from .rules.zones.episode import BREACH, CLEAR, INACTIVE, Episode, Track
from .rules.zones.episode import UNCERTAIN as UNCERTAIN_OBS
from .rules.zones.index import INSIDE, OUTSIDE, UNCERTAIN, ZoneIndex, cells_for

#: Device events that are also candidates for the monitoring desk (while fitted).
DESK_DEVICE_KINDS = ("strap_tamper", "no_contact")
#: Zone condition types and the kind of candidate each raises.
ZONE_KINDS = {"exclusion_zone": "exclusion_zone", "inclusion_zone": "outside_inclusion_zone"}
#: Rule families and the kinds of candidate each raises. An engine may run some of them
#: only (a stream consumer runs those its input can decide; see :mod:`geomonitor.stream`).
FAMILIES: dict[str, tuple[str, ...]] = {
    "zones": tuple(ZONE_KINDS.values()),
    "curfews": ("curfew_late_return", "curfew_absent", "curfew_no_signal"),
    "devices": DESK_DEVICE_KINDS,
    "vehicles": VEHICLE_KINDS,
    "colocation": ("undeclared_vehicle", "non_association"),
}


def kinds_of(families: frozenset[str] | set[str]) -> set[str]:
    """The kinds of candidate these rule families raise."""
    return {k for f in families for k in FAMILIES[f]}


#: Observation for each zone class (inside, outside, uncertain), per condition type: being
#: inside an exclusion zone is the breach; being outside an inclusion zone is.
_OBS_OF = {
    "exclusion_zone": np.array([CLEAR, BREACH, UNCERTAIN_OBS], np.int8),
    "inclusion_zone": np.array([BREACH, CLEAR, UNCERTAIN_OBS], np.int8),
}


@dataclass(frozen=True)
class EngineConfig:
    """Deployment-wide settings (conditions may override ``open_after``/``close_after``)."""

    default_accuracy_m: float = 25.0
    open_after: int = 2
    close_after: int = 2
    run_max_gap_minutes: float = 15.0
    h3_resolution: int = 9
    index_margin_m: float = 250.0
    curfew_no_signal_minutes: float = 30.0
    device: DeviceConfig = field(default_factory=DeviceConfig)
    vehicle: VehicleConfig = field(default_factory=VehicleConfig)
    association: AssociationConfig = field(default_factory=AssociationConfig)


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


@dataclass
class EngineResult:
    """What one batch changed."""

    upserts: list[Candidate] = field(default_factory=list)
    retracted: list[str] = field(default_factory=list)
    attributed: int = 0
    unattributed: int = 0
    device_upserts: list[DeviceEvent] = field(default_factory=list)
    device_removed: list[tuple[str, str, int]] = field(default_factory=list)


class Engine:
    """Breach-candidate engine: zones, curfews, device health, declared vehicles, and the
    co-location rules (undeclared vehicles, non-association); ``families`` picks some."""

    def __init__(
        self,
        registry: Registry,
        config: EngineConfig | None = None,
        index: ZoneIndex | None = None,
        families: frozenset[str] | set[str] | None = None,
    ):
        self.registry = registry
        self.config = config or EngineConfig()
        cfg = self.config
        #: The rule families this engine runs (default: all of them).
        self.families = frozenset(FAMILIES if families is None else families)
        if not self.families <= FAMILIES.keys():
            raise ValueError(f"unknown rule families: {sorted(self.families - FAMILIES.keys())}")
        self.subject_ids = sorted(registry.subjects)
        self._subject_ix = {s: i for i, s in enumerate(self.subject_ids)}
        self.tag_ids = sorted(registry.tags)
        self._tag_ix = {t: i for i, t in enumerate(self.tag_ids)}

        # Fittings per tag as sorted arrays: start, end, subject index.
        per_tag: dict[int, list[tuple[int, int, int]]] = {}
        for f in registry.fittings:
            per_tag.setdefault(self._tag_ix[f.tag_id], []).append(
                (
                    f.fitted_at,
                    f.removed_at if f.removed_at is not None else FAR_FUTURE,
                    self._subject_ix[f.subject_id],
                )
            )
        self._fittings = {
            t: (
                np.array([a for a, _, _ in fl], np.int64),
                np.array([b for _, b, _ in fl], np.int64),
                np.array([s for _, _, s in fl], np.int64),
            )
            for t, fl in ((t, sorted(v)) for t, v in per_tag.items())
        }

        # Zone rules per subject.
        self.rules: list[ZoneRule] = []
        self._rules_of: dict[int, list[int]] = {}
        for order, cond in registry.conditions():
            if cond.type not in ZONE_KINDS or cond.zone_id is None:
                continue
            vf, vt = in_force(order, cond)
            rule = ZoneRule(
                ZONE_KINDS[cond.type],
                order.subject_id,
                order,
                cond,
                cond.zone_id,
                vf,
                vt,
                cond.schedule,
            )
            self._rules_of.setdefault(self._subject_ix[order.subject_id], []).append(
                len(self.rules)
            )
            self.rules.append(rule)
        zone_ids = sorted({r.zone_id for r in self.rules})
        self.index = index or ZoneIndex(
            [registry.zones[z] for z in zone_ids], cfg.h3_resolution, cfg.index_margin_m
        )
        gap = int(cfg.run_max_gap_minutes * MS_PER_MINUTE)
        self.tracks = [
            Track(
                r.condition.open_after or cfg.open_after,
                r.condition.close_after or cfg.close_after,
                gap,
                r.active_until,
            )
            for r in self.rules
        ]
        # Curfew rules per subject, their tracks, and each judged night's candidates.
        self.curfews: list[CurfewRule] = []
        self._curfews_of: dict[int, list[int]] = {}
        for order, cond in registry.conditions("curfew"):
            p = cond.params
            vf, vt = in_force(order, cond)
            cx, cy = to_bng(np.array([p["lon"]]), np.array([p["lat"]]))
            assert cond.schedule is not None
            self._curfews_of.setdefault(self._subject_ix[order.subject_id], []).append(
                len(self.curfews)
            )
            self.curfews.append(
                CurfewRule(
                    order.subject_id,
                    order.id,
                    cond.id,
                    float(cx[0]),
                    float(cy[0]),
                    float(p["radius_m"]),
                    int(float(p["grace_minutes"]) * MS_PER_MINUTE),
                    cond.schedule,
                    vf,
                    vt,
                    cond.open_after or cfg.open_after,
                    cond.close_after or cfg.close_after,
                )
            )
        self.curfew_tracks = [CurfewTrack() for _ in self.curfews]
        # Declared vehicles seen by ANPR in exclusion zones or away during curfews.
        self.vehicles = VehicleRules(registry, self.rules, self.curfews, cfg.vehicle)
        # Rules that place a subject next to someone or something: non-association and
        # undeclared vehicles, over the trails of the subjects they concern.
        self.associations = Associations(
            association_rules(registry, self._subject_ix), self.tag_ids, cfg.association
        )
        self.undeclared = UndeclaredVehicles(
            registry, self._subject_ix, self.tag_ids, cfg.vehicle, cfg.association
        )
        self.trail_subjects = (
            self.associations.subjects | self.undeclared.subjects
            if "colocation" in self.families
            else set()
        )
        self.trails: dict[int, Trail] = {}
        # (rule, night start) -> kind -> (finding signature, candidate)
        self._nights: dict[tuple[int, int], dict[str, tuple[tuple, Candidate]]] = {}
        #: The latest event time seen: how far the world has been observed.
        self.now: int | None = None

        self._ref_cache: dict[tuple[int, int], str] = {}
        # candidate id -> the fixes (times, tag indexes) its evidence list was made from
        self._night_evidence: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.device_tracks = [DeviceTrack() for _ in self.tag_ids]
        self._device_events: dict[int, dict[tuple[str, str, int], tuple[tuple, DeviceEvent]]] = {}
        self._tag_names = np.array(self.tag_ids, dtype=object)
        # Candidate id -> (rule index, episode); what was last emitted for each.
        self._episode_of: dict[str, tuple[int, Episode]] = {}
        self._emitted: dict[str, tuple] = {}

    # ------------------------------------------------------------------ attribution
    def attribute(self, batch: FixBatch) -> tuple[np.ndarray, np.ndarray]:
        """Subject index of every fix (-1: tag not fitted to anyone at that instant), and
        tag index (-1: tag not in the registry)."""
        n = len(batch)
        subj = np.full(n, -1, np.int64)
        tag_ix = self._tag_ix
        tix = np.fromiter(map(tag_ix.get, batch.tag_id, repeat(-1, n)), np.int64, n)
        if n == 0:
            return subj, tix
        order = np.argsort(tix, kind="stable")
        st = tix[order]
        bounds = np.flatnonzero(np.diff(st)) + 1
        for seg in np.split(order, bounds):
            t = int(tix[seg[0]])
            fits = self._fittings.get(t)
            if fits is None:
                continue
            starts, ends, subjects = fits
            ts = batch.ts[seg]
            k = np.searchsorted(starts, ts, side="right") - 1
            ok = k >= 0
            ok[ok] = ts[ok] < ends[k[ok]]
            subj[seg[ok]] = subjects[k[ok]]
        return subj, tix

    # ------------------------------------------------------------------ processing
    def process(self, batch: FixBatch) -> EngineResult:
        """Match a batch of fixes; returns the candidates it opened, changed or retracted."""
        res = EngineResult()
        n = len(batch)
        if n == 0:
            return res
        subj, tix = self.attribute(batch)
        res.attributed = int((subj >= 0).sum())
        res.unattributed = n - res.attributed

        # Fixes of each subject, in event-time order.
        order = np.lexsort((batch.ts, subj))  # by subject, then event time
        ss = subj[order]
        first = int(np.searchsorted(ss, 0))
        order, ss = order[first:], ss[first:]
        bounds = np.flatnonzero(np.diff(ss)) + 1
        segments = np.split(order, bounds) if len(order) else []
        tagix = tix.astype(np.int32)
        # Event time: the latest instant any fitted tag has reported.
        old_now = self.now
        attributed = batch.ts[subj >= 0]
        if len(attributed):
            self.now = max(old_now if old_now is not None else -FAR_FUTURE, int(attributed.max()))
        fam = self.families
        if "zones" in fam:
            self._match_zones(batch, subj, tagix, segments, res)
        if "curfews" in fam:
            self._match_curfews(batch, subj, tagix, segments, old_now, res)
        if "devices" in fam:
            self._match_devices(batch, tix, old_now, res)
        self._match_trails(batch, subj, tagix, segments, res)
        res.retracted.sort()
        res.upserts.sort(key=lambda c: c.id)
        return res

    def process_reads(self, reads: list[Read]) -> EngineResult:
        """Match ANPR reads against declared vehicles and the trails of subjects who must
        use only those (any order; see :mod:`geomonitor.vehicle` and
        :mod:`geomonitor.undeclared`). Reads do not move event time on."""
        res = EngineResult()
        if "vehicles" in self.families:
            res.upserts, res.retracted = self.vehicles.add(reads)
        if "colocation" in self.families:
            ups, gone = self.undeclared.add_reads(reads, self.trails)
            res.upserts = sorted(res.upserts + ups, key=lambda c: c.id)
            res.retracted = sorted(res.retracted + gone)
        return res

    def _match_trails(
        self,
        batch: FixBatch,
        subj: np.ndarray,
        tagix: np.ndarray,
        segments: list[np.ndarray],
        res: EngineResult,
    ) -> None:
        """Trails of the subjects the co-location rules concern (fixes accurate enough to
        place someone), and those rules over the instants the batch changed."""
        if not self.trail_subjects:
            return
        cap = self.config.association.max_accuracy_m
        changed: dict[int, tuple[int, int]] = {}
        for seg in segments:
            s = int(subj[seg[0]])
            if s not in self.trail_subjects:
                continue
            use = seg[batch.accuracy_m[seg] <= cap]
            if len(use) == 0:
                continue
            trail = self.trails.setdefault(s, Trail())
            span = trail.add(
                batch.ts[use],
                batch.x[use],
                batch.y[use],
                batch.accuracy_m[use],
                batch.rank[use],
                tagix[use],
            )
            if span is not None:
                changed[s] = span
        if not changed:
            return
        for ups, gone in (
            self.associations.update(self.trails, changed),
            self.undeclared.trails_changed(self.trails, changed),
        ):
            res.upserts += ups
            res.retracted += gone

    def advance(self, now: int) -> EngineResult:
        """Move event time on to ``now`` without new fixes (a stream consumer whose
        partitions are quiet, learning that others have reached ``now``): silences it
        passes are judged as if fixes up to ``now`` had arrived elsewhere."""
        res = EngineResult()
        if self.now is not None and now <= self.now:
            return res
        old_now, self.now = self.now, now
        empty = FixBatch.from_rows([])
        none = np.empty(0, np.int64)
        if "curfews" in self.families:
            self._match_curfews(empty, none, none.astype(np.int32), [], old_now, res)
        if "devices" in self.families:
            self._match_devices(empty, none, old_now, res)
        res.retracted.sort()
        res.upserts.sort(key=lambda c: c.id)
        return res

    def _match_zones(
        self,
        batch: FixBatch,
        subj: np.ndarray,
        tagix: np.ndarray,
        segments: list[np.ndarray],
        res: EngineResult,
    ) -> None:
        by_zone: dict[str, list[tuple[int, np.ndarray]]] = {}
        needed: list[np.ndarray] = []
        for seg in segments:
            rules = self._rules_of.get(int(subj[seg[0]]))
            if not rules:
                continue
            needed.append(seg)
            for r in rules:
                by_zone.setdefault(self.rules[r].zone_id, []).append((r, seg))
        if not by_zone:
            return

        cells = np.zeros(len(batch), np.int64)
        need = np.concatenate(needed)
        cells[need] = cells_for(batch.lat[need], batch.lon[need], self.index.resolution)
        acc = batch.accuracy_m

        touched: dict[str, tuple[int, Episode]] = {}
        removed: set[str] = set()
        for zone_id, items in by_zone.items():
            idx = np.concatenate([seg for _, seg in items])
            cls = self.index.classify(zone_id, cells[idx], batch.x[idx], batch.y[idx], acc[idx])
            # Gather once per zone; each rule then works on slices (its subject's fixes,
            # in event-time order).
            ts_g, rank_g, tag_g, acc_g = batch.ts[idx], batch.rank[idx], tagix[idx], acc[idx]
            obs_g = np.empty(len(idx), np.int8)
            bounds_r = []
            off = 0
            for r, seg in items:
                end = off + len(seg)
                rule = self.rules[r]
                obs = _OBS_OF[rule.condition.type][cls[off:end]]
                active = rule.active(ts_g[off:end])
                if active is not None:
                    obs[~active] = INACTIVE
                obs_g[off:end] = obs
                bounds_r.append((r, off, end))
                off = end
            # How far past the boundary each breaching fix is (inside an exclusion zone,
            # outside an inclusion zone): the distance to the boundary either way.
            depth = np.full(len(idx), np.nan)
            breach = obs_g == BREACH
            if breach.any():
                depth[breach] = self.index.depth(
                    zone_id, batch.x[idx[breach]], batch.y[idx[breach]]
                )
            for r, a, b in bounds_r:
                t_eps, r_eps = self.tracks[r].add(
                    ts_g[a:b], obs_g[a:b], rank_g[a:b], tag_g[a:b], depth[a:b], acc_g[a:b]
                )
                for ep in r_eps:
                    removed.add(self._cid(r, ep))
                for ep in t_eps:
                    touched[self._cid(r, ep)] = (r, ep)

        for cid in removed:
            if cid not in touched:
                self._episode_of.pop(cid, None)
                if self._emitted.pop(cid, None) is not None:
                    res.retracted.append(cid)
        for cid, (r, ep) in touched.items():
            self._episode_of[cid] = (r, ep)
            sig = ep.signature()
            if self._emitted.get(cid) != sig:
                self._emitted[cid] = sig
                res.upserts.append(self._candidate(cid, r, ep))

    def _match_curfews(
        self,
        batch: FixBatch,
        subj: np.ndarray,
        tagix: np.ndarray,
        segments: list[np.ndarray],
        old_now: int | None,
        res: EngineResult,
    ) -> None:
        """Judge again every night whose evidence or observed extent this batch changed.

        The nights judged, once all fixes are in, are those overlapping the span from a
        subject's first fix to *now* (the latest event time seen), whatever the order the
        fixes came in: a night's findings depend only on its fixes, the last fix before it
        and *now*.
        """
        if not self.curfews or self.now is None:
            return
        now = self.now
        to_judge: set[tuple[int, int, int]] = set()
        for seg in segments:
            rules = self._curfews_of.get(int(subj[seg[0]]))
            if not rules:
                continue
            ts = batch.ts[seg]
            lo, hi = int(ts[0]), int(ts[-1])
            for r in rules:
                rule = self.curfews[r]
                track = self.curfew_tracks[r]
                first_before = int(track.ts[0]) if len(track.ts) else None
                cls, dist = rule.classify(batch.x[seg], batch.y[seg], batch.accuracy_m[seg])
                track.add(ts, cls, dist, tagix[seg], batch.rank[seg])
                first = int(track.ts[0])
                # The nights these fixes fall in, and the next one (whose "last known
                # position" may be among them) ...
                spans = [(lo, hi + 1)]
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
        # Event time moving on: the nights it passed through may now show a silence, or end.
        if old_now is None or now > old_now:
            for r, rule in enumerate(self.curfews):
                track = self.curfew_tracks[r]
                if len(track.ts) == 0:
                    continue
                lo = int(track.ts[0]) if old_now is None else max(old_now, int(track.ts[0]))
                to_judge.update((r, a, b) for a, b in rule.nights(lo, now + 1))
        for r, a, b in sorted(to_judge):
            self._judge_night(r, a, b, res)

    def _match_devices(
        self, batch: FixBatch, tix: np.ndarray, old_now: int | None, res: EngineResult
    ) -> None:
        """Device health of every tag that reported, and of fitted tags gone quiet."""
        known = tix >= 0
        dirty: dict[int, int] = {}  # tag -> earliest instant whose evidence changed
        if known.any():
            idx = np.flatnonzero(known)
            order = idx[np.lexsort((batch.ts[idx], tix[idx]))]  # by tag, then event time
            st = tix[order]
            m = len(order)
            cols_all = (
                batch.ts[order],
                batch.x[order],
                batch.y[order],
                batch.accuracy_m[order].astype(np.float32),
                batch.battery[order].astype(np.float32)
                if len(batch.battery)
                else np.full(m, np.nan, np.float32),
                batch.tamper[order] if len(batch.tamper) else np.zeros(m, bool),
                batch.charging_code[order] if len(batch.charging_code) else np.full(m, -1, np.int8),
                batch.rank[order],
            )
            cuts = np.flatnonzero(np.diff(st)) + 1
            starts = np.r_[0, cuts]
            ends = np.r_[cuts, m]
            quiet = self._quiet_appends(st, starts, cols_all)
            for a, b, ok in zip(starts.tolist(), ends.tolist(), quiet.tolist(), strict=True):
                t = int(st[a])
                track = self.device_tracks[t]
                track.add(tuple(c[a:b] for c in cols_all))
                if ok and not self._poor_hour_tipped(t, cols_all[0][a:b], cols_all[3][a:b]):
                    continue
                first = int(cols_all[0][a])
                dirty[t] = min(dirty.get(t, first), first)
        if self.now is None:
            return
        # Event time moving on: a fitted tag that has gone quiet may now be out of contact.
        if old_now is None or self.now > old_now:
            limit = int(self.config.device.no_contact_minutes * MS_PER_MINUTE)
            for t, track in enumerate(self.device_tracks):
                if len(track.ts) and self.now - int(track.ts[-1]) > limit:
                    last = int(track.ts[-1])
                    dirty[t] = min(dirty.get(t, last), last)
        for t in sorted(dirty):
            self._judge_device(t, dirty[t], res)

    def _quiet_appends(
        self, tags: np.ndarray, starts: np.ndarray, cols: tuple[np.ndarray, ...]
    ) -> np.ndarray:
        """For each tag's group of new fixes (``cols`` sorted by tag then time, groups
        starting at ``starts``): whether they come after the tag's last fix and can neither
        start nor change any device event, so nothing needs recomputing (the common case).
        Poor-accuracy hours are checked separately (:meth:`_poor_hour_tipped`)."""
        ts, x, y, acc, batt, tamper = cols[:6]
        cfg = self.config.device
        n_groups = len(starts)
        # The fix before each new one: the previous new fix, or the tag's stored last fix.
        prev_ts = np.empty(len(ts), np.int64)
        prev_ts[1:] = ts[:-1]
        prev_x, prev_y, prev_acc = np.empty_like(x), np.empty_like(y), np.empty_like(acc)
        prev_x[1:], prev_y[1:], prev_acc[1:] = x[:-1], y[:-1], acc[:-1]
        ok = np.ones(n_groups, bool)
        for g, (a, t) in enumerate(zip(starts.tolist(), tags[starts].tolist(), strict=True)):
            track = self.device_tracks[t]
            if len(track.ts) == 0:
                ok[g] = False
                prev_ts[a], prev_x[a], prev_y[a], prev_acc[a] = ts[a] - 1, x[a], y[a], acc[a]
                continue
            last = int(track.ts[-1])
            prev_ts[a] = last
            prev_x[a], prev_y[a], prev_acc[a] = track.x[-1], track.y[-1], track.acc[-1]
            for _, ev in self._device_events.get(t, {}).values():
                if ev.ended_at is None or ev.ended_at >= last:
                    ok[g] = False  # an event still open, or ending at the last fix
                    break
        dt = ts - prev_ts
        dist = np.hypot(x - prev_x, y - prev_y)
        with np.errstate(divide="ignore", invalid="ignore"):
            speed = (dist - (acc + prev_acc)) / (dt / 1000.0) * 3.6
        bad = (
            (dt <= 0)  # not after the tag's last fix, or out of order within the batch
            | tamper
            | (batt <= cfg.low_battery_pct)  # NaN compares False: no reading, no change
            | (dt > cfg.no_contact_minutes * MS_PER_MINUTE)
            | (speed > cfg.max_speed_kmh)
        )
        return ok & ~np.logical_or.reduceat(bad, starts)

    def _poor_hour_tipped(self, t: int, ts: np.ndarray, acc: np.ndarray) -> bool:
        """Whether new poor-accuracy fixes of tag ``t`` (already added to its track) make
        their clock hour a poor-accuracy hour."""
        cfg = self.config.device
        poor = acc > cfg.poor_accuracy_m
        if not poor.any():
            return False
        track = self.device_tracks[t]
        for h in np.unique(ts[poor] // MS_PER_HOUR).tolist():
            a = int(np.searchsorted(track.ts, h * MS_PER_HOUR))
            b = int(np.searchsorted(track.ts, (h + 1) * MS_PER_HOUR))
            bad = int((track.acc[a:b] > cfg.poor_accuracy_m).sum())
            if b - a >= cfg.poor_accuracy_min_fixes and bad > cfg.poor_accuracy_share * (b - a):
                return True
        return False

    def _fitted_mask(self, t: int, ts: np.ndarray) -> np.ndarray:
        fits = self._fittings.get(t)
        if fits is None:
            return np.zeros(len(ts), bool)
        starts, ends, _ = fits
        k = np.searchsorted(starts, ts, side="right") - 1
        ok = k >= 0
        ok[ok] = ts[ok] < ends[k[ok]]
        return ok

    def _subject_at(self, t: int, when: int) -> str | None:
        fits = self._fittings.get(t)
        if fits is None:
            return None
        starts, ends, subjects = fits
        k = int(np.searchsorted(starts, when, side="right")) - 1
        if k >= 0 and when < ends[k]:
            return self.subject_ids[int(subjects[k])]
        return None

    def _judge_device(self, t: int, since: int, res: EngineResult) -> None:
        """Recompute the tag's events from a point before ``since`` that no event spans
        (events that ended before it cannot have changed)."""
        assert self.now is not None
        track = self.device_tracks[t]
        tag_id = self.tag_ids[t]
        before = self._device_events.get(t, {})
        # A silence before the earliest changed fix starts at the fix before it.
        k = int(np.searchsorted(track.ts, since)) - 1
        if k >= 0:
            since = int(track.ts[k])
        cut = since - since % MS_PER_HOUR  # accuracy streaks are judged by clock hour
        moved = True
        while moved:
            moved = False
            for _, ev in before.values():
                if ev.started_at < cut and (ev.ended_at is None or ev.ended_at >= cut):
                    cut = ev.started_at - ev.started_at % MS_PER_HOUR
                    moved = True
        kept = [ev for _, ev in before.values() if ev.started_at < cut]
        events = kept + device_events(
            tag_id,
            track,
            self.now,
            lambda ts: self._fitted_mask(t, ts),
            self.config.device,
            since=cut,
        )
        after: dict[tuple[str, str, int], tuple[tuple, DeviceEvent]] = {}
        for ev in events:
            ev.details["subject_id"] = self._subject_at(t, ev.started_at)
            sig = ev.signature()
            old = before.get(ev.key)
            if old is not None and old[0] == sig:
                after[ev.key] = old
                continue
            after[ev.key] = (sig, ev)
            res.device_upserts.append(ev)
            if ev.kind in DESK_DEVICE_KINDS and ev.details["subject_id"] is not None:
                res.upserts.append(self._device_candidate(ev))
        for key, (_, ev) in before.items():
            if key not in after:
                res.device_removed.append(key)
                if ev.kind in DESK_DEVICE_KINDS and ev.details.get("subject_id") is not None:
                    res.retracted.append(self._device_candidate(ev).id)
        if after:
            self._device_events[t] = after
        else:
            self._device_events.pop(t, None)

    def _device_candidate(self, ev: DeviceEvent) -> Candidate:
        subject = ev.details["subject_id"]
        if ev.kind == "strap_tamper":
            what = (
                f"strap tamper reported by tag {ev.tag_id} worn by {subject} at "
                f"{local_time(ev.started_at)}"
            )
            what += (
                f", intact again at {local_clock(ev.ended_at, ev.started_at)}"
                if ev.ended_at is not None
                else ", no intact report since"
            )
        else:
            quiet = (
                f"until {local_clock(ev.ended_at, ev.started_at)}"
                if ev.ended_at is not None
                else "and still silent"
            )
            what = (
                f"no contact from tag {ev.tag_id} worn by {subject} since "
                f"{local_time(ev.started_at)} {quiet}"
            )
            if "battery_pct_at_last_fix" in ev.details:
                what += f"; battery {ev.details['battery_pct_at_last_fix']:.0f}% at last fix"
        details = {k: v for k, v in ev.details.items() if k != "subject_id"}
        details["tag_id"] = ev.tag_id
        details["severity"] = "high" if ev.kind == "strap_tamper" else "medium"
        return Candidate(
            id=candidate_id(ev.kind, subject, "-", ev.tag_id, ev.started_at),
            kind=ev.kind,
            subject_id=subject,
            order_id="-",
            condition_id=ev.tag_id,
            zone_id=None,
            opened_at=ev.started_at,
            closed_at=ev.ended_at,
            status="open" if ev.ended_at is None else "closed",
            fix_count=len(ev.evidence),
            explanation=what[0].upper() + what[1:] + ".",
            last_evidence_at=max(ev.evidence) if ev.evidence else ev.started_at,
            evidence=fix_refs([ev.tag_id] * len(ev.evidence), ev.evidence),
            details=details,
        )

    def device_events(self) -> list[DeviceEvent]:
        """Every current device event, by tag, kind and start."""
        return sorted(
            (ev for per in self._device_events.values() for _, ev in per.values()),
            key=lambda ev: ev.key,
        )

    def _judge_night(self, r: int, s: int, e: int, res: EngineResult) -> None:
        rule = self.curfews[r]
        track = self.curfew_tracks[r]
        sl, prev = track.window(s, e)
        assert self.now is not None
        findings = judge_night(
            s,
            e,
            self.now,
            track.ts[sl],
            track.cls[sl],
            track.dist[sl],
            track.tag[sl],
            rule.grace_ms,
            int(self.config.curfew_no_signal_minutes * MS_PER_MINUTE),
            rule.open_after,
            rule.close_after,
            prev,
        )
        before = self._nights.get((r, s), {})
        after: dict[str, tuple[tuple, Candidate]] = {}
        for f in findings:
            sig = f.signature()
            old = before.get(f.kind)
            if old is not None and old[0] == sig:
                after[f.kind] = old  # unchanged: no need to rebuild it
            else:
                c = self._curfew_candidate(rule, s, e, f, old[1] if old else None)
                after[f.kind] = (sig, c)
                res.upserts.append(c)
        for kind, (_, c) in before.items():
            if kind not in after:
                res.retracted.append(c.id)
                self._night_evidence.pop(c.id, None)
        if after:
            self._nights[(r, s)] = after
        else:
            self._nights.pop((r, s), None)

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

    def _curfew_candidate(
        self, rule: CurfewRule, s: int, e: int, f: Finding, old: Candidate | None = None
    ) -> Candidate:
        details = dict(f.details)
        details["window_start"] = iso(s)
        details["window_end"] = iso(e)
        if "last_known_at" in details:
            details["last_known_at"] = iso(details["last_known_at"])
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

    # ------------------------------------------------------------------ candidates
    def _cid(self, r: int, ep: Episode) -> str:
        rule = self.rules[r]
        return candidate_id(
            rule.kind, rule.subject_id, rule.order.id, rule.condition.id, ep.opened_at
        )

    def candidates(self) -> list[Candidate]:
        """Every current candidate, sorted by id."""
        zone = [self._candidate(cid, r, ep) for cid, (r, ep) in self._episode_of.items()]
        nights = [c for per_night in self._nights.values() for _, c in per_night.values()]
        vehicles = (
            self.vehicles.candidates()
            + self.undeclared.candidates()
            + self.associations.candidates()
        )
        device = [
            self._device_candidate(ev)
            for ev in self.device_events()
            if ev.kind in DESK_DEVICE_KINDS and ev.details.get("subject_id") is not None
        ]
        return sorted(zone + nights + vehicles + device, key=lambda c: c.id)

    def _candidate(self, cid: str, r: int, ep: Episode) -> Candidate:
        rule = self.rules[r]
        zone = self.registry.zones[rule.zone_id]
        evidence = self._refs([(ts, tag) for ts, tag, o in ep.evidence if o != CLEAR])
        status = "open" if ep.closed_at is None else "closed"
        return Candidate(
            id=cid,
            kind=rule.kind,
            subject_id=rule.subject_id,
            order_id=rule.order.id,
            condition_id=rule.condition.id,
            zone_id=rule.zone_id,
            opened_at=ep.opened_at,
            closed_at=ep.closed_at,
            status=status,
            fix_count=ep.breach_count,
            explanation=explain_zone(rule, zone.name, ep),
            last_evidence_at=ep.last_obs_at,
            uncertain_count=ep.uncertain_count,
            max_penetration_m=ep.max_depth_m,
            close_reason=_CLOSE_REASON[rule.condition.type].get(
                ep.close_reason or "", ep.close_reason
            ),
            evidence=evidence,
        )


def explain_curfew(rule: CurfewRule, s: int, e: int, f: Finding) -> str:
    """One line for the desk about one curfew night."""
    window = f"curfew {rule.condition_id} ({local_time(s)} to {local_clock(e, s)})"
    d = f.details
    if f.kind == "curfew_late_return":
        return (
            f"{rule.subject_id} home late for {window}: away at the start, home at "
            f"{local_clock(f.closed_at or s, s)}, {d['minutes_late']} min after the start "
            f"(grace {d['grace_minutes']} min); {f.fix_count} fixes away, up to "
            f"{d['furthest_m']:.0f} m from the address."
        )
    if f.kind == "curfew_absent":
        how = (
            "away at the start and not home within the grace period"
            if d["away_at_start"]
            else f"left at {local_clock(f.opened_at, s)}"
        )
        if f.closed_at is None:
            end = f"still away at last fix {local_clock(f.last_evidence_at, s)}"
        elif f.closed_at == e:
            end = "not home before the curfew ended"
        else:
            end = f"home at {local_clock(f.closed_at, s)}"
        spells = f" ({d['spells']} absences)" if d.get("spells") else ""
        return (
            f"{rule.subject_id} absent during {window}: {how}, {end}{spells}; "
            f"{f.fix_count} fixes wholly away, up to {d['furthest_m']:.0f} m from the "
            "address."
        )
    known = ""
    if "last_known_position" in d:
        known = (
            f"; last known position {d['last_known_position']} at "
            f"{local_clock(d['last_known_at'], s)}, {d['last_known_age_minutes']} min old"
        )
    gaps = f" in {d['gaps']} silences" if d["gaps"] > 1 else ""
    return (
        f"No fix from {rule.subject_id}'s tag for {d['silent_minutes']} min{gaps} during "
        f"{window}, from {local_clock(f.opened_at, s)}{known}."
    )


_CLOSE_REASON = {
    "exclusion_zone": {"cleared": "left"},
    "inclusion_zone": {"cleared": "returned"},
}


def explain_zone(rule: ZoneRule, zone_name: str, ep: Episode) -> str:
    """One line a desk officer can read aloud."""
    exclusion = rule.condition.type == "exclusion_zone"
    where = f"{'exclusion' if exclusion else 'inclusion'} zone {rule.zone_id}"
    if zone_name and zone_name != rule.zone_id:
        where += f" ({zone_name})"
    side, back = ("inside", "left by") if exclusion else ("outside", "back inside by")
    start = local_time(ep.opened_at)
    if ep.closed_at is None:
        last = local_clock(ep.last_breach_at, ep.opened_at)
        span = f"from {start}, still {side} at last fix {last}"
    else:
        end = local_clock(ep.closed_at, ep.opened_at)
        how = back if ep.close_reason == "cleared" else "zone stopped applying at"
        span = f"from {start}, {how} {end}"
    acc = (
        f"accuracy {ep.best_accuracy_m:.0f} m"
        if ep.best_accuracy_m == ep.worst_accuracy_m
        else f"accuracy {ep.best_accuracy_m:.0f}-{ep.worst_accuracy_m:.0f} m"
    )
    return (
        f"{rule.subject_id} {side} {where} {span}: {ep.breach_count} fixes wholly {side} "
        f"({acc}), up to {ep.max_depth_m:.0f} m past the boundary."
    )


assert (INSIDE, OUTSIDE, UNCERTAIN) == (BREACH, CLEAR, UNCERTAIN_OBS)

__all__ = ["CLEAR", "Engine", "EngineConfig", "EngineResult", "ZoneRule"]
