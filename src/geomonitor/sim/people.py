"""Planting steps for the registry: subjects in real wards with their exclusion zones,
orders and curfews, tags and fittings, non-associations, spare tags and cameras."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import shapely

from ..model.crs import to_wgs84
from ..model.geography import DISTRICTS
from ..model.times import MS_PER_DAY, MS_PER_HOUR, iso
from ..model.timetable import Timetable
from .orders import LATE_LIMIT_MINUTES, late_every_night
from .scenario import (
    CURFEW_GRACE_MINUTES,
    CURFEW_RADIUS_M,
    CURFEW_TIMETABLE,
    MEETING_DISTANCE_M,
    MEETING_MIN_MINUTES,
    NIGHT_SCHEDULE,
    Scenario,
    SimSubject,
    SimZone,
    random_point_in,
)


def plant_people(sc: Scenario) -> None:
    """Subjects at home in real wards, each excluded from a circle round a victim's address
    2-6 km away; half also from a whole ward (some only at night)."""
    rng = sc.rng
    for i in range(sc.subjects):
        sid = f"S-{i + 1:04d}"
        dcode = list(DISTRICTS)[i % len(DISTRICTS)]
        dwards = [w for w in sc.all_wards if w.district == dcode]
        home_ward = dwards[int(rng.integers(len(dwards)))]
        home = random_point_in(home_ward.geometry, rng, inset=300) or random_point_in(
            home_ward.geometry, rng
        )
        assert home is not None
        s = SimSubject(sid, dcode, home, f"BUD-{i + 1:04d}", order=f"O-{i + 1:04d}")
        s.zones.append(("C-1", _victim_zone(sc, home)))
        if rng.random() < 0.5:
            far = [
                w
                for w in sc.all_wards
                if w.geometry.distance(shapely.Point(home)) > 2500
                and w.geometry.distance(shapely.Point(home)) < 12000
            ]
            if far:
                w = far[int(rng.integers(len(far)))]
                zid = f"Z-{len(sc.zones) + 1:04d}"
                wz = SimZone(
                    zid,
                    w.name,
                    w.geometry,
                    {"id": zid, "name": w.name, "geometry": w.geojson, "crs": "EPSG:4326"},
                )
                if rng.random() < 0.4:
                    wz.schedule = Timetable.parse(NIGHT_SCHEDULE)
                sc.zones.append(wz)
                s.zones.append(("C-2", wz))
        sc.people.append(s)


def _victim_zone(sc: Scenario, home: tuple[float, float]) -> SimZone:
    """A circle round a victim's address 2-6 km from home."""
    rng = sc.rng
    for _ in range(100):
        ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(2000, 6000)
        c = (home[0] + dist * np.cos(ang), home[1] + dist * np.sin(ang))
        if shapely.contains_xy(sc.world, *c):
            break
    radius = float(rng.choice([200, 300, 400, 500]))
    zid = f"Z-{len(sc.zones) + 1:04d}"
    clon, clat = to_wgs84(np.array([c[0]]), np.array([c[1]]))
    z = SimZone(
        zid,
        f"Victim address area {zid}",
        shapely.Point(c).buffer(radius, quad_segs=64),
        {
            "id": zid,
            "name": f"Victim address area {zid}",
            "center": {"lat": round(float(clat[0]), 7), "lon": round(float(clon[0]), 7)},
            "radius_m": radius,
        },
    )
    sc.zones.append(z)
    return z


def write_registry(sc: Scenario) -> None:
    """The registry document: districts, zones, subjects (one in 17 a youth with a
    guardian's consent), orders with their curfews and zones, tags and fittings."""
    rng, t_start = sc.rng, sc.t_start
    sc.registry = registry = {
        "districts": [
            {"code": k, "name": v, "duty_inbox": f"iom-duty.{v.lower()}@force.example"}
            for k, v in DISTRICTS.items()
        ],
        "zones": [z.spec for z in sc.zones],
        "subjects": [],
        "orders": [],
        "tags": [],
        "fittings": [],
        "cameras": [],
    }
    for k, s in enumerate(sc.people):
        young = k % 17 == 5
        age_years = int(rng.integers(14, 18)) if young else int(rng.integers(19, 60))
        bd = (
            datetime.fromtimestamp(t_start / 1000, UTC) - timedelta(days=365.25 * age_years + 40)
        ).date()
        registry["subjects"].append(
            {
                "id": s.id,
                "district": DISTRICTS[s.district],
                "birth_date": bd.isoformat(),
                # one offender manager for every four subjects (no names: a role mailbox)
                "officer": f"om{int(s.id[2:]) % 7 + 1:02d}@force.example",
            }
        )
        registry["orders"].append(
            {
                "id": s.order,
                "subject": s.id,
                "type": "licence" if young else "scpo",
                "starts": iso(t_start - 30 * MS_PER_DAY),
                "ends": None,
                "conditions": _conditions(sc, s),
            }
        )
        registry["tags"].append(
            {"id": s.tag, "district": DISTRICTS[s.district], "model": "Buddi Smart Tag"}
        )
        fitted = iso(t_start - int(rng.integers(2, 60)) * MS_PER_DAY)
        if sc.rng_f.random() < 0.12 and k % 10 != 3 and not late_every_night(s):
            # Fitted on the first evening, an hour into the curfew (its own stream).
            s.fitted_at = t_start + 23 * MS_PER_HOUR
            fitted = iso(s.fitted_at)
        registry["fittings"].append(
            {
                "tag": s.tag,
                "subject": s.id,
                "fitted_at": fitted,
                "removed_at": None,
                "consent": {
                    "recorded_at": fitted,
                    "guardian": "GUARDIAN-REF-" + s.id[2:] if young else None,
                },
            }
        )


def _conditions(sc: Scenario, s: SimSubject) -> list[dict[str, Any]]:
    """A night curfew at home from the start of the data, and the subject's zones."""
    hlon, hlat = to_wgs84(np.array([s.home[0]]), np.array([s.home[1]]))
    conds: list[dict[str, Any]] = [
        {
            "id": "C-3",
            "type": "curfew",
            "location": {"lat": round(float(hlat[0]), 7), "lon": round(float(hlon[0]), 7)},
            "radius_m": CURFEW_RADIUS_M,
            "timetable": CURFEW_TIMETABLE,
            "timezone": "Europe/London",
            "grace_minutes": CURFEW_GRACE_MINUTES,
            "starts": iso(sc.t_start),  # the curfew starts with the data
        }
    ]
    if late_every_night(s):
        conds[0]["lateness_minutes"] = LATE_LIMIT_MINUTES
    for cid, z in s.zones:
        cond: dict[str, Any] = {"id": cid, "type": "exclusion_zone", "zone": z.id}
        if z.schedule is not None:
            cond["schedule"] = NIGHT_SCHEDULE
        conds.append(cond)
    return conds


def plant_non_associations(sc: Scenario) -> None:
    """Every 4th subject must not meet the next one, who comes visiting."""
    orders_by_subject = {o["subject"]: o for o in sc.registry["orders"]}
    people = sc.people
    for i in range(0, len(people) - 1, 4):
        host, visitor = people[i], people[i + 1]
        visitor.partner = host
        orders_by_subject[host.id]["conditions"].append(
            {
                "id": "C-6",
                "type": "non_association",
                "subjects": [visitor.id],
                "distance_m": MEETING_DISTANCE_M,
                "min_minutes": MEETING_MIN_MINUTES,
            }
        )


def add_spares_and_cameras(sc: Scenario) -> None:
    """Spare tags in stock (one per ten subjects, spread over the districts) and ANPR
    cameras spread over the county."""
    spares = max(1, sc.subjects // 10)
    sc.spare_tags = [f"BUD-9{j + 1:03d}" for j in range(spares)]
    for j, spare_id in enumerate(sc.spare_tags):
        district = list(DISTRICTS.values())[j % 5]
        sc.registry["tags"].append(
            {"id": spare_id, "district": district, "model": "Buddi Smart Tag"}
        )
    for j in range(max(10, sc.subjects)):
        p = random_point_in(sc.world, sc.rng)
        assert p is not None
        lon, lat = to_wgs84(np.array([p[0]]), np.array([p[1]]))
        sc.cams.append(
            {
                "id": f"CAM-{j + 1:04d}",
                "lat": round(float(lat[0]), 6),
                "lon": round(float(lon[0]), 6),
            }
        )
    sc.registry["cameras"] = sc.cams
