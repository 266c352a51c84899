"""Planting steps for orders as they really are: a hospital visit in curfew hours with the
absence that authorised it (written to ``absences.jsonl``), and subjects who come home a
little late every night, inside the grace period, until the month's minutes late pass
their order's limit.

Both draw from their own random stream, and the subjects they concern keep the ordinary
plantings' draws (made on copies and thrown away), so the rest of the scenario is the
same with or without them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from shapely.geometry.base import BaseGeometry

from ..model.crs import to_wgs84
from ..model.times import MS_PER_HOUR, MS_PER_MINUTE, iso
from .scenario import Scenario, SimSubject, Visit, Waypoints, clear_destination

#: One in ten subjects has a hospital visit authorised on the second evening ...
AUTHORISED_EVERY, AUTHORISED_AT = 10, 1
#: ... and one in ten (never fitted during the scenario) comes home 11-12 minutes late
#: every night, with a monthly limit of 30 minutes on their order.
LATE_EVERY, LATE_AT = 10, 5
LATE_LIMIT_MINUTES = 30.0
ABSENCE_RADIUS_M = 200.0


def authorised_visit_day(sc: Scenario, s: SimSubject) -> int | None:
    """The day of the subject's authorised visit, if they have one."""
    k = int(s.id[2:]) - 1
    return min(AUTHORISED_AT, sc.days - 1) if k % AUTHORISED_EVERY == 1 else None


def late_every_night(s: SimSubject) -> bool:
    k = int(s.id[2:]) - 1
    return k % LATE_EVERY == LATE_AT


def _go(rng: np.random.Generator, t: int, frm: tuple[float, float], to: tuple[float, float],
        wp: Waypoints) -> int:  # fmt: skip
    """Travel at 18-36 km/h (this stream's speed); returns the arrival."""
    d = float(np.hypot(to[0] - frm[0], to[1] - frm[1]))
    t2 = t + int(d / rng.uniform(300, 600) * MS_PER_MINUTE) + MS_PER_MINUTE
    wp.append((t2, *to))
    return t2


def plant_authorised_visit(
    sc: Scenario, s: SimSubject, d0: int, waypoints: Waypoints, visits: list[Visit],
    avoid: BaseGeometry,
) -> None:  # fmt: skip
    """Out at 22:05 (the curfew starts at 22:00) to a destination 2-4 km away clear of the
    zones, an hour there, home before 23:45: authorised from 22:00 to 23:45."""
    rng = sc.rng_a
    dest = clear_destination(s.home, s.home, avoid, sc.world, rng, 2000, 4000, 40)
    start, end = d0 + 22 * MS_PER_HOUR, d0 + 23 * MS_PER_HOUR + 45 * MS_PER_MINUTE
    if dest is None or max(w[0] for w in waypoints) > start - 20 * MS_PER_MINUTE:
        return
    t_leave = start + 5 * MS_PER_MINUTE
    waypoints.append((t_leave, *s.home))
    t_there = _go(rng, t_leave, s.home, dest, waypoints)
    t_out = t_there + int(rng.uniform(45, 60) * MS_PER_MINUTE)
    waypoints.append((t_out, *dest))
    t_back = _go(rng, t_out, dest, s.home, waypoints)
    if t_back > end - 10 * MS_PER_MINUTE:
        del waypoints[-3:]
        return
    waypoints.append((t_back, *s.home))
    visits.append(("authorised", None, t_leave, t_back))
    s.absences.append((start, end))
    lon, lat = to_wgs84(np.array([dest[0]]), np.array([dest[1]]))
    sc.absences.append(
        {
            "subject": s.id,
            "from": iso(start),
            "to": iso(end),
            "destination": {"lat": round(float(lat[0]), 6), "lon": round(float(lon[0]), 6)},
            "radius_m": ABSENCE_RADIUS_M,
            "authorised_by": "Offender manager (simulated)",
            "reason": "hospital appointment",
        }
    )


def plant_late_return(
    sc: Scenario, s: SimSubject, d0: int, waypoints: Waypoints, visits: list[Visit],
    avoid: BaseGeometry,
) -> None:  # fmt: skip
    """Out from about 21:15 to somewhere 1.5-3 km away; home 11-12 minutes after 22:00."""
    rng = sc.rng_a
    dest = clear_destination(s.home, s.home, avoid, sc.world, rng, 1500, 3000, 40)
    t_leave = d0 + 21 * MS_PER_HOUR + 15 * MS_PER_MINUTE
    if dest is None or max(w[0] for w in waypoints) > t_leave - 10 * MS_PER_MINUTE:
        return
    t_home = d0 + 22 * MS_PER_HOUR + int(rng.uniform(11.0, 12.0) * MS_PER_MINUTE)
    waypoints.append((t_leave, *s.home))
    t_there = _go(rng, t_leave, s.home, dest, waypoints)
    travel = t_there - t_leave
    waypoints.append((t_home - travel, *dest))
    waypoints.append((t_home, *s.home))
    visits.append(("late", None, t_leave, t_home))


def lateness_truth(
    sc: Scenario, s: SimSubject, nights: list[tuple[int, int]], limit: float
) -> None:
    """The month's lateness candidate: the first night the minutes late (``nights``: the
    window's start and the return home) pass the limit (all in one month here)."""
    total = 0
    for ws, home in nights:
        total += -(-(home - ws) // MS_PER_MINUTE)
        if total > limit:
            rec: dict[str, Any] = {
                "kind": "curfew_lateness",
                "subject_id": s.id,
                "order_id": s.order,
                "condition_id": "C-3",
                "start": iso(ws),
                "end": iso(home),
                "planted": True,
            }
            sc.planted.append(rec)
            return
