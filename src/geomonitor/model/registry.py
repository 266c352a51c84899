"""The registry: districts, zones, subjects, orders and their conditions, tags, fittings and
cameras, as the rules use them.

Read from a JSON document by :func:`geomonitor.model.registry_load.parse_registry`, whose
shape the pydantic models of :mod:`geomonitor.model.registry_doc` describe. Ids are
pseudonymous (``S-0001``); personal values (birth dates, guardians) are kept only as far
as the rules need them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from .orders import Absence, Variation
from .timetable import Timetable
from .zone import Zone

MIN_AGE_TO_TAG = 12
ADULT_AGE = 18


@dataclass(frozen=True)
class District:
    code: str
    name: str
    #: Duty inbox (escalations; mail for subjects with no officer).
    duty_inbox: str | None = None


@dataclass(frozen=True)
class CurfewParams:
    """Where a curfew holds the subject: the address, how near counts as home, and how
    late after the window starts coming home is still in time."""

    lat: float
    lon: float
    radius_m: float = 100.0
    grace_minutes: float = 0.0
    #: The order's monthly limit of minutes late (None: the service's).
    lateness_minutes: float | None = None


@dataclass(frozen=True)
class DeclaredVehiclesParams:
    """The number plates an order lets the subject use (as written in the order)."""

    vrms: tuple[str, ...]


@dataclass(frozen=True)
class NonAssociationParams:
    """Whom the subject must not meet: within ``distance_m`` for ``min_minutes``."""

    subjects: tuple[str, ...]
    distance_m: float = 50.0
    min_minutes: float = 10.0


#: A condition's own parameters, by type (zones name their zone instead).
ConditionParams = CurfewParams | DeclaredVehiclesParams | NonAssociationParams


@dataclass
class Condition:
    id: str
    type: str
    order_id: str
    starts: int | None = None
    ends: int | None = None
    zone_id: str | None = None
    schedule: Timetable | None = None
    params: ConditionParams | None = None
    open_after: int | None = None
    close_after: int | None = None

    @property
    def curfew(self) -> CurfewParams | None:
        return self.params if isinstance(self.params, CurfewParams) else None

    @property
    def declared(self) -> DeclaredVehiclesParams | None:
        return self.params if isinstance(self.params, DeclaredVehiclesParams) else None

    @property
    def non_association(self) -> NonAssociationParams | None:
        return self.params if isinstance(self.params, NonAssociationParams) else None

    def curfew_place(self, at: int) -> tuple[float, float, float] | None:
        """Where a curfew holds the subject in the window starting at (or holding) ``at``:
        the row's own address if its timetable gives one, else the condition's (latitude,
        longitude, radius); None for another type of condition."""
        p = self.curfew
        if p is None or self.schedule is None:
            return None
        for place in self.schedule.places():
            if place is None:
                continue
            for s, e in self.schedule.for_place(place).intervals(at - 2 * 86_400_000, at + 1):
                if s <= at < e:
                    return place[0], place[1], place[2] if place[2] is not None else p.radius_m
        return p.lat, p.lon, p.radius_m


@dataclass
class Order:
    id: str
    subject_id: str
    type: str
    starts: int
    ends: int | None
    conditions: list[Condition]
    #: Every change to the order, by when it took effect (the conditions above are already
    #: cut to the time each was in force).
    variations: list[Variation] = field(default_factory=list)


@dataclass(frozen=True)
class Subject:
    id: str
    district: str  # district code
    birth_date: date | None
    #: The responsible officer's email address.
    officer: str | None = None


@dataclass(frozen=True)
class Tag:
    id: str
    district: str | None
    model: str | None
    allocated_at: int | None = None


@dataclass(frozen=True)
class Fitting:
    tag_id: str
    subject_id: str
    fitted_at: int
    removed_at: int | None
    consent_recorded_at: int
    guardian: bool


@dataclass(frozen=True)
class Camera:
    id: str
    lat: float
    lon: float


@dataclass
class Registry:
    districts: dict[str, District]
    zones: dict[str, Zone]
    subjects: dict[str, Subject]
    orders: dict[str, Order]
    tags: dict[str, Tag]
    fittings: list[Fitting]
    cameras: dict[str, Camera]
    #: Canonical entity records (what the store versions), keyed by (kind, id).
    entities: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: Authorised absences in force (recorded in the store, not the registry document).
    absences: tuple[Absence, ...] = ()

    def absences_of(self, subject_id: str) -> list[Absence]:
        return [a for a in self.absences if a.subject_id == subject_id]

    def variations(self) -> list[Variation]:
        return [v for o in self.orders.values() for v in o.variations]

    def district_code(self, ref: str) -> str | None:
        """A district's code from its code or name (any case); None when unknown."""
        for code, d in self.districts.items():
            if ref == code or ref.lower() == d.name.lower():
                return code
        return None

    def conditions(self, type_: str | None = None) -> list[tuple[Order, Condition]]:
        out = []
        for o in self.orders.values():
            for c in o.conditions:
                if type_ is None or c.type == type_:
                    out.append((o, c))
        return out


#: An instant after any order ends: when an order or condition without an end stops.
FAR_FUTURE = 2**62


def condition_at(order: Order, condition_id: str, at: int) -> Condition | None:
    """A condition of the order as in force at ``at``: a varied order holds one version of
    a condition for each stretch between variations (the last one when none holds ``at``)."""
    versions = [c for c in order.conditions if c.id == condition_id]
    for c in versions:
        a, b = in_force(order, c)
        if a <= at < b:
            return c
    return versions[-1] if versions else None


def in_force(order: Order, cond: Condition) -> tuple[int, int]:
    """When a condition applies: from the later of its order's start and its own, until
    the earlier of their ends (:data:`FAR_FUTURE` when neither ends)."""
    starts = max(order.starts, cond.starts if cond.starts is not None else order.starts)
    ends = [e for e in (order.ends, cond.ends) if e is not None]
    return starts, min(ends) if ends else FAR_FUTURE


def monitored(registry: Registry, withdrawn: dict[str, int], retired: set[str]) -> Registry:
    """The registry the engine judges by: a subject who withdrew consent is monitored up
    to the withdrawal (their orders and fittings end then); a subject whose data the
    retention schedule removed is not monitored at all (their orders and fittings are
    left out, so nothing is judged, and no silence raised, over the removed time)."""
    if not withdrawn and not retired:
        return registry
    orders = {}
    for oid, o in registry.orders.items():
        if o.subject_id in retired:
            continue
        at = withdrawn.get(o.subject_id)
        if at is not None:
            o = replace(o, ends=at if o.ends is None else min(o.ends, at))
        orders[oid] = o
    fittings = []
    for f in registry.fittings:
        if f.subject_id in retired:
            continue
        at = withdrawn.get(f.subject_id)
        if at is not None:
            if f.fitted_at >= at:
                continue
            f = replace(f, removed_at=at if f.removed_at is None else min(f.removed_at, at))
        fittings.append(f)
    return replace(registry, orders=orders, fittings=fittings)


def district_name(registry: Registry, code: str | None) -> str:
    """A district's name for people (``E08000035`` -> ``Leeds``); ``all`` for force-wide,
    the code itself when the registry no longer names it, ``-`` for none."""
    if not code:
        return "-"
    if code == "all":
        return "all districts"
    d = registry.districts.get(code)
    return d.name if d is not None else code


def known_districts(registry: Registry) -> str:
    """The districts' names, for a message about a district that is not one of them."""
    return ", ".join(sorted(d.name for d in registry.districts.values()))
