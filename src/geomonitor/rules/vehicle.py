"""Declared vehicles seen by ANPR cameras where the order says the subject may not be.

Two rules, on each read of a declared vehicle (a ``declared_vehicles`` condition, in force
at the read's time) with enough confidence:

* ``vehicle_in_exclusion_zone``: the camera is inside one of the subject's exclusion zones
  in force at that time (exact geometry; a camera's position is surveyed, so it has no
  accuracy circle). Reads of one vehicle in one zone less than ``sighting_gap_minutes``
  apart are one sighting: one candidate, listing its reads.
* ``curfew_vehicle_sighting``: the read falls in one of the subject's curfew windows and the
  camera is more than ``curfew_distance_m`` from the curfew address. One candidate per
  curfew night, listing its reads.

Pure: reads in, candidate changes out. A candidate depends only on the set of reads it is
built from, so the result does not depend on the order reads arrive in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import shapely

from ..model.candidate import Candidate, Emitted, candidate_id, local_clock, local_time, reconcile
from ..model.crs import to_bng
from ..model.read import Read, normalise_vrm
from ..model.registry import Registry, in_force
from ..model.times import MS_PER_MINUTE, iso
from .absence import covers
from .base import Changes, RuleFamily
from .config import EngineConfig
from .curfew.family import curfew_rules
from .curfew.night import CurfewRule
from .fittings import Fittings
from .zones.family import ZoneRule, zone_rules

VEHICLE_KINDS = ("vehicle_in_exclusion_zone", "curfew_vehicle_sighting")


@dataclass(frozen=True)
class Declaration:
    """One ``declared_vehicles`` condition: the plates (normalised) the subject may use."""

    subject_id: str
    order_id: str
    condition_id: str
    vrms: frozenset[str]
    valid_from: int
    valid_to: int


def declarations(registry: Registry) -> list[Declaration]:
    """Every declared-vehicles condition of the registry, in registry order."""
    out = []
    for order, cond in registry.conditions("declared_vehicles"):
        vf, vt = in_force(order, cond)
        vrms = cond.declared.vrms if cond.declared else ()
        out.append(
            Declaration(
                order.subject_id, order.id, cond.id, frozenset(map(normalise_vrm, vrms)), vf, vt
            )
        )
    return out


@dataclass
class _Group:
    """The reads behind the candidates of one key (kind, subject, condition, vrm or night)."""

    reads: dict[str, Read] = field(default_factory=dict)
    emitted: Emitted = field(default_factory=dict)


def read_ref(r: Read) -> str:
    """Evidence reference to a stored ANPR read."""
    return f"ANPR:{r.read_id}"


class VehicleFamily(RuleFamily):
    """The declared-vehicle rules of a registry: declared vehicles read by cameras in the
    subject's exclusion zones (:func:`~geomonitor.rules.zones.family.zone_rules`) or away
    during curfews (:func:`~geomonitor.rules.curfew.family.curfew_rules`)."""

    name: ClassVar[str] = "vehicles"
    kinds: ClassVar[tuple[str, ...]] = VEHICLE_KINDS

    def __init__(self, registry: Registry, fittings: Fittings, config: EngineConfig):
        self.registry = registry
        self.cfg = config.vehicle
        self.declared: dict[str, list[Declaration]] = {}
        for d in declarations(registry):
            for vrm in sorted(d.vrms):
                self.declared.setdefault(vrm, []).append(d)
        self.zone_rules: dict[str, list[ZoneRule]] = {}
        for r in zone_rules(registry):
            if r.kind == "exclusion_zone":
                self.zone_rules.setdefault(r.subject_id, []).append(r)
        self.curfews: dict[str, list[CurfewRule]] = {}
        for c in curfew_rules(registry, config):
            self.curfews.setdefault(c.subject_id, []).append(c)
        #: Authorised absences: a declared vehicle read where one lets the subject be (on
        #: the way to the hospital, inside its window) is no sighting.
        self.covers = covers(registry, config.absence_corridor_m)
        self._prepared: dict[str, Any] = {}
        self._groups: dict[tuple[str, ...], _Group] = {}

    # ------------------------------------------------------------------ matching
    def observe_reads(self, reads: list[Read]) -> Changes:
        touched: set[tuple[str, ...]] = set()
        for r in reads:
            if r.confidence is not None and r.confidence < self.cfg.min_confidence:
                continue
            decls = [d for d in self.declared.get(r.vrm, []) if d.valid_from <= r.ts < d.valid_to]
            if not decls:
                continue
            x, y = (float(v[0]) for v in to_bng(np.array([r.lon]), np.array([r.lat])))
            for d in decls:
                for key in self._keys(r, d, x, y):
                    g = self._groups.setdefault(key, _Group())
                    old = g.reads.get(r.read_id)
                    if old is None or read_rank(r) < read_rank(old):  # duplicates: one wins, always
                        g.reads[r.read_id] = r
                        touched.add(key)
        res = Changes()
        for key in sorted(touched):
            g = self._groups[key]
            reconcile(g.emitted, self._judge(key, g), res.upserts, res.retracted)
        res.sort()
        return res

    def candidates(self) -> list[Candidate]:
        return [c for g in self._groups.values() for _, c in g.emitted.values()]

    def _keys(self, r: Read, d: Declaration, x: float, y: float) -> list[tuple[str, ...]]:
        keys: list[tuple[str, ...]] = []
        cover = self.covers.get(d.subject_id)
        at = np.array([r.ts], np.int64)
        if cover is not None and cover.covered(at, np.array([x]), np.array([y]), np.zeros(1))[0]:
            return keys
        point = shapely.Point(x, y)
        for rule in self.zone_rules.get(d.subject_id, []):
            act = rule.active(np.array([r.ts], np.int64))
            if act is not None and not bool(act[0]):
                continue
            if not self._zone(rule.zone_id).covers(point):
                continue
            keys.append(
                (
                    "vehicle_in_exclusion_zone",
                    d.subject_id,
                    rule.order.id,
                    rule.condition.id,
                    rule.zone_id,
                    r.vrm,
                )
            )
        for c in self.curfews.get(d.subject_id, []):
            if float(np.hypot(x - c.x, y - c.y)) <= self.cfg.curfew_distance_m:
                continue
            for s, e in c.nights(r.ts, r.ts + 1):
                if s <= r.ts < e:
                    keys.append(
                        ("curfew_vehicle_sighting", c.subject_id, c.order_id, c.condition_id,
                         str(s), str(e))
                    )  # fmt: skip
        return keys

    def _zone(self, zone_id: str) -> Any:
        g = self._prepared.get(zone_id)
        if g is None:
            g = self.registry.zones[zone_id].geometry
            shapely.prepare(g)
            self._prepared[zone_id] = g
        return g

    # ------------------------------------------------------------------ candidates
    def _judge(self, key: tuple[str, ...], g: _Group) -> list[Candidate]:
        reads = sorted(g.reads.values(), key=lambda r: (r.ts, r.read_id))
        kind = key[0]
        if kind == "curfew_vehicle_sighting":
            _, subject, order, cond, s, e = key
            return [self._curfew_candidate(subject, order, cond, int(s), int(e), reads)]
        _, subject, order, cond, zone, vrm = key
        gap = self.cfg.sighting_gap_minutes * MS_PER_MINUTE
        out: list[Candidate] = []
        run: list[Read] = []
        for r in reads:
            if run and r.ts - run[-1].ts > gap:
                out.append(self._zone_candidate(subject, order, cond, zone, vrm, run))
                run = []
            run.append(r)
        if run:
            out.append(self._zone_candidate(subject, order, cond, zone, vrm, run))
        return out

    def _zone_candidate(
        self, subject: str, order: str, cond: str, zone: str, vrm: str, run: list[Read]
    ) -> Candidate:
        first, last = run[0], run[-1]
        cameras = sorted({r.camera_id for r in run})
        name = self.registry.zones[zone].name
        return Candidate(
            id=candidate_id("vehicle_in_exclusion_zone", subject, order, f"{cond}|{vrm}", first.ts),
            kind="vehicle_in_exclusion_zone",
            subject_id=subject,
            order_id=order,
            condition_id=cond,
            zone_id=zone,
            opened_at=first.ts,
            closed_at=last.ts,
            status="closed",
            fix_count=len(run),
            explanation=(
                f"Declared vehicle {vrm} of {subject} read {len(run)} time(s) inside exclusion "
                f"zone {name} ({cond}) from {local_time(first.ts)} to "
                f"{local_clock(last.ts, first.ts)}, by {len(cameras)} camera(s)."
            ),
            last_evidence_at=last.ts,
            evidence=[read_ref(r) for r in run],
            details={"vrm": vrm, "cameras": cameras, "reads": len(run)},
        )

    def _curfew_candidate(
        self, subject: str, order: str, cond: str, s: int, e: int, reads: list[Read]
    ) -> Candidate:
        # (a condition may have a rule per address and per variation: the one of this night)
        rule = next(c for c in self.curfews[subject]
                    if c.condition_id == cond and (s, e) in c.nights(s, s + 1))  # fmt: skip
        dist = [
            float(np.hypot(x - rule.x, y - rule.y))
            for x, y in zip(
                *to_bng(np.array([r.lon for r in reads]), np.array([r.lat for r in reads])),
                strict=True,
            )
        ]
        vrms = sorted({r.vrm for r in reads})
        first, last = reads[0], reads[-1]
        return Candidate(
            id=candidate_id("curfew_vehicle_sighting", subject, order, cond, s),
            kind="curfew_vehicle_sighting",
            subject_id=subject,
            order_id=order,
            condition_id=cond,
            zone_id=None,
            opened_at=first.ts,
            closed_at=last.ts,
            status="closed",
            fix_count=len(reads),
            explanation=(
                f"Declared vehicle(s) {', '.join(vrms)} of {subject} read {len(reads)} time(s) "
                f"during curfew {cond} ({local_time(s)} to {local_clock(e, s)}), "
                f"{min(dist) / 1000:.1f}-{max(dist) / 1000:.1f} km from the curfew address."
            ),
            last_evidence_at=last.ts,
            evidence=[read_ref(r) for r in reads],
            details={
                "vrms": vrms,
                "window_start": iso(s),
                "nearest_km": round(min(dist) / 1000, 2),
                "cameras": sorted({r.camera_id for r in reads}),
            },
        )


def read_rank(r: Read) -> tuple:
    """Which of two copies of one read is kept (any fixed order will do)."""
    return (r.ts, r.camera_id, r.vrm, r.vrm_raw, r.lat, r.lon, r.confidence or -1.0)
