"""The scenario being made: its settings, random streams, geography, people and what has
been planted so far, shared by the planting steps (:mod:`geomonitor.sim.simulate`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from ..model.geography import Ward, wards
from ..model.times import MS_PER_DAY, MS_PER_MINUTE
from ..model.timetable import Timetable

NIGHT_SCHEDULE = [
    {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "20:00", "end": "06:00"}
]
DEFAULT_START = "2026-11-16T00:00:00Z"
CURFEW_TIMETABLE = [
    {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "22:00", "end": "06:00"}
]
CURFEW_RADIUS_M = 100.0
CURFEW_GRACE_MINUTES = 15
MEETING_DISTANCE_M = 50.0
MEETING_MIN_MINUTES = 10.0

#: A point in British National Grid metres.
XY = tuple[float, float]
#: A true itinerary: (time, x, y) waypoints, moving in straight lines between them.
Waypoints = list[tuple[int, float, float]]
#: A planted visit: (condition id, zone or None, start, end).
Visit = tuple[str, Any, int, int]
#: A truth record (a breach to find, or a brush that may or may not be raised).
Record = dict[str, Any]


@dataclass
class SimZone:
    id: str
    name: str
    geom: BaseGeometry  # BNG
    spec: dict[str, Any]
    schedule: Timetable | None = None


@dataclass
class SimSubject:
    id: str
    district: str
    home: XY
    tag: str
    zones: list[tuple[str, SimZone]] = field(default_factory=list)  # (condition id, zone)
    order: str = ""
    #: The subject this one must not meet is visited by this one (non-association).
    partner: SimSubject | None = None
    #: Filled in as the scenario is made: the true itinerary (time, x, y), the times of the
    #: fixes accurate enough to place the subject, and the planted visits (condition,
    #: zone, start, end).
    wp: Waypoints = field(default_factory=list)
    fix_ts: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    visits: list[Visit] = field(default_factory=list)
    #: When the tag was fitted, if during the scenario (else before it began).
    fitted_at: int | None = None
    #: Authorised absences (start, end): the truth does not count them as breaches.
    absences: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Scenario:
    """Settings, random streams and everything planted so far."""

    out: Path
    subjects: int
    days: int
    seed: int
    t_start: int
    breach_rate: float
    rng: np.random.Generator = field(init=False)
    #: Curfew plantings, device faults and meetings have their own streams, so adding one
    #: kind of planting leaves the rest of the scenario unchanged.
    rng_c: np.random.Generator = field(init=False)
    rng_d: np.random.Generator = field(init=False)
    rng_m: np.random.Generator = field(init=False)
    rng_f: np.random.Generator = field(init=False)  # evening fittings
    rng_o: np.random.Generator = field(init=False)  # outages
    rng_b: np.random.Generator = field(init=False)  # cell blips
    rng_a: np.random.Generator = field(init=False)  # authorised absences, late nights
    all_wards: tuple[Ward, ...] = field(init=False)
    world: BaseGeometry = field(init=False)
    zones: list[SimZone] = field(default_factory=list)
    people: list[SimSubject] = field(default_factory=list)
    registry: dict[str, Any] = field(default_factory=dict)
    cams: list[dict[str, Any]] = field(default_factory=list)
    spare_tags: list[str] = field(default_factory=list)
    planted: list[Record] = field(default_factory=list)
    brushes: list[Record] = field(default_factory=list)
    faulty: list[Record] = field(default_factory=list)
    decoys: int = 0
    cell_blips: int = 0
    outages: list[Record] = field(default_factory=list)
    meetings: list[tuple[str, int, int]] = field(default_factory=list)
    #: Authorised absences, as ``geomonitor absences import`` reads them.
    absences: list[dict[str, Any]] = field(default_factory=list)
    near_misses: list[Record] = field(default_factory=list)
    #: (arrival time, sequence, record) of every fix written.
    fix_rows: list[tuple[int, int, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.rng_c = np.random.default_rng(self.seed + 7919)
        self.rng_d = np.random.default_rng(self.seed + 104729)
        self.rng_m = np.random.default_rng(self.seed + 49979687)
        self.rng_f = np.random.default_rng(self.seed + 86028121)
        self.rng_o = np.random.default_rng(self.seed + 179424673)
        self.rng_b = np.random.default_rng(self.seed + 373587883)
        self.rng_a = np.random.default_rng(self.seed + 512927357)
        self.all_wards = wards()
        self.world = shapely.union_all([w.geometry for w in self.all_wards])

    @property
    def end(self) -> int:
        return self.t_start + self.days * MS_PER_DAY

    def add_fix(self, arrival: int, rec: dict[str, Any]) -> None:
        """A fix record arriving at ``arrival`` (arrival order is file order)."""
        self.fix_rows.append((arrival, len(self.fix_rows), rec))

    def go(self, t: int, frm: XY, to: XY, wp: Waypoints) -> int:
        """Travel from ``frm`` to ``to`` leaving at ``t`` at 18-36 km/h; returns the arrival."""
        d = float(np.hypot(to[0] - frm[0], to[1] - frm[1]))
        speed = self.rng.uniform(300, 600)  # metres per minute
        t2 = t + int(d / speed * MS_PER_MINUTE) + MS_PER_MINUTE
        wp.append((t2, *to))
        return t2


def random_point_in(geom: BaseGeometry, rng: np.random.Generator, inset: float = 0.0) -> XY | None:
    g = geom.buffer(-inset) if inset else geom
    if g.is_empty:
        return None
    minx, miny, maxx, maxy = g.bounds
    shapely.prepare(g)
    for _ in range(200):
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if shapely.contains_xy(g, x, y):
            return float(x), float(y)
    return None


def segment_clear(a: XY, b: XY, avoid: BaseGeometry) -> bool:
    return not shapely.LineString([a, b]).intersects(avoid)


def clear_destination(
    here: XY,
    home: XY,
    avoid: BaseGeometry,
    world: BaseGeometry,
    rng: np.random.Generator,
    near: float,
    far: float,
    tries: int,
) -> XY | None:
    """A place ``near``-``far`` metres from ``here``, in the county, reached from ``here``
    and left for ``home`` without going near any of the subject's zones."""
    for _ in range(tries):
        ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(near, far)
        p = (here[0] + dist * np.cos(ang), here[1] + dist * np.sin(ang))
        if (
            shapely.contains_xy(world, *p)
            and not avoid.contains(shapely.Point(p))
            and segment_clear(here, p, avoid)
            and segment_clear(p, home, avoid)
        ):
            return p
    return None


def clear_of(zones: list[BaseGeometry], x: float, y: float, margin: float = 50.0) -> bool:
    """Whether a point is at least ``margin`` metres outside all of ``zones``."""
    pt = shapely.Point(x, y)
    return not any(z.buffer(margin).covers(pt) for z in zones)


def inset(z: SimZone) -> float:
    minx, miny, maxx, maxy = z.geom.bounds
    return max(10.0, min(maxx - minx, maxy - miny) / 4)


def at(wp: Waypoints, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True positions on an itinerary at instants ``t``."""
    wt = np.array([w[0] for w in wp], float)
    return np.interp(t, wt, [w[1] for w in wp]), np.interp(t, wt, [w[2] for w in wp])


def covered(fix_ts: np.ndarray, a: int, b: int, gap: int = 3 * MS_PER_MINUTE) -> bool:
    """Whether the fixes cover ``[a, b]`` with no silence longer than ``gap``."""
    sel = fix_ts[(fix_ts >= a - gap) & (fix_ts <= b + gap)]
    return (
        len(sel) > 1
        and int(sel[0]) <= a
        and int(sel[-1]) >= b
        and bool((np.diff(sel) <= gap).all())
    )


def plate(rng: np.random.Generator) -> str:
    """A made-up UK number plate."""
    letters = "ABCDEFGHJKLMNOPRSTUVWXY"
    a = "".join(rng.choice(list(letters), 2))
    b = "".join(rng.choice(list(letters), 3))
    return f"{a}{int(rng.integers(10, 75)):02d} {b}"
