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
from typing import Any

import numpy as np
import shapely

from ..model.candidate import Candidate, Emitted, candidate_id, local_clock, local_time, reconcile
from ..model.crs import to_bng
from ..model.read import Read, normalise_vrm
from ..model.registry import Registry, in_force
from ..model.times import MS_PER_MINUTE, iso
from .curfew.night import CurfewRule

VEHICLE_KINDS = ("vehicle_in_exclusion_zone", "curfew_vehicle_sighting")


@dataclass
class VehicleConfig:
    #: Reads below this confidence are kept but not matched (no confidence given: matched).
    min_confidence: float = 0.8
    curfew_distance_m: float = 2000.0
    sighting_gap_minutes: float = 30.0
    #: Undeclared vehicles: a subject within this distance (plus accuracy) of a camera
    #: when it read a plate is co-located with the plate ...
    colocation_m: float = 100.0
    #: ... and co-locations with one plate each within this time of the last ...
    journey_minutes: float = 30.0
    #: ... at this many distinct cameras are a journey together.
    journey_cameras: int = 2


@dataclass
class _Declaration:
    subject_id: str
    order_id: str
    condition_id: str
    valid_from: int
    valid_to: int


@dataclass
class _Group:
    """The reads behind the candidates of one key (kind, subject, condition, vrm or night)."""

    reads: dict[str, Read] = field(default_factory=dict)
    emitted: Emitted = field(default_factory=dict)


def read_ref(r: Read) -> str:
    """Evidence reference to a stored ANPR read."""
    return f"ANPR:{r.read_id}"


class VehicleRules:
    """The declared-vehicle rules of a registry.

    Parameters
    ----------
    registry
        Declarations come from its ``declared_vehicles`` conditions.
    zone_rules
        The engine's zone rules (only ``exclusion_zone`` ones are used).
    curfews
        The engine's curfew rules.
    """

    def __init__(
        self,
        registry: Registry,
        zone_rules: list[Any],
        curfews: list[CurfewRule],
        cfg: VehicleConfig | None = None,
    ):
        self.registry = registry
        self.cfg = cfg or VehicleConfig()
        self.declared: dict[str, list[_Declaration]] = {}
        for order, cond in registry.conditions("declared_vehicles"):
            vf, vt = in_force(order, cond)
            for vrm in cond.params.get("vrms", []):
                self.declared.setdefault(normalise_vrm(vrm), []).append(
                    _Declaration(order.subject_id, order.id, cond.id, vf, vt)
                )
        self.zone_rules: dict[str, list[Any]] = {}
        for r in zone_rules:
            if r.kind == "exclusion_zone":
                self.zone_rules.setdefault(r.subject_id, []).append(r)
        self.curfews: dict[str, list[CurfewRule]] = {}
        for c in curfews:
            self.curfews.setdefault(c.subject_id, []).append(c)
        self._prepared: dict[str, Any] = {}
        self._groups: dict[tuple[str, ...], _Group] = {}

    # ------------------------------------------------------------------ matching
    def add(self, reads: list[Read]) -> tuple[list[Candidate], list[str]]:
        """Take reads in (any order, duplicates allowed); returns the candidates opened or
        changed and the ids of those retracted."""
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
        upserts: list[Candidate] = []
        retracted: list[str] = []
        for key in sorted(touched):
            g = self._groups[key]
            reconcile(g.emitted, self._judge(key, g), upserts, retracted)
        return sorted(upserts, key=lambda c: c.id), sorted(retracted)

    def candidates(self) -> list[Candidate]:
        return [c for g in self._groups.values() for _, c in g.emitted.values()]

    def _keys(self, r: Read, d: _Declaration, x: float, y: float) -> list[tuple[str, ...]]:
        keys: list[tuple[str, ...]] = []
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
        rule = next(c for c in self.curfews[subject] if c.condition_id == cond)
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
