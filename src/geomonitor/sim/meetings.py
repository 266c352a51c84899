"""Planting step for non-association: one subject visiting another."""

from __future__ import annotations

import itertools

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from ..model.times import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE
from .scenario import SimSubject, Visit, Waypoints, at, covered, segment_clear


def plant_visit(
    b: SimSubject,
    a: SimSubject,
    wp: Waypoints,
    visits: list[Visit],
    avoid: BaseGeometry,
    rng: np.random.Generator,
    t_start: int,
    meet: bool,
) -> tuple[int, int] | None:
    """``b`` goes from home to where ``a`` is staying and stays 20-45 minutes (``meet``: a
    meeting), or only 3-6 minutes (a near miss: shorter than the condition's minimum).
    Changes ``b``'s itinerary ``wp`` in place; returns (arrival, departure), or None if
    nothing fitted."""
    home = b.home
    spells = []
    for (t0, x0, y0), (t1, x1, y1) in itertools.pairwise(a.wp):
        if t1 - t0 >= 60 * MS_PER_MINUTE and (x0, y0) == (x1, y1):
            spells.append((t0, t1, (x0, y0)))
    for k in rng.permutation(len(spells)).tolist():
        t0, t1, spot = spells[k]
        d0 = t_start + (t0 - t_start) // MS_PER_DAY * MS_PER_DAY
        lo, hi = max(t0, d0 + 11 * MS_PER_HOUR), min(t1, d0 + 20 * MS_PER_HOUR)
        ang, off = rng.uniform(0, 2 * np.pi), rng.uniform(5, 25)
        m = (spot[0] + off * np.cos(ang), spot[1] + off * np.sin(ang))
        travel = int(np.hypot(m[0] - home[0], m[1] - home[1]) / 450 * MS_PER_MINUTE)
        travel += MS_PER_MINUTE
        stay = int((rng.uniform(20, 45) if meet else rng.uniform(3, 6)) * MS_PER_MINUTE)
        if hi - lo < stay + 10 * MS_PER_MINUTE or avoid.contains(shapely.Point(m)):
            continue
        if not segment_clear(home, m, avoid):
            continue
        arrive = int(rng.uniform(lo + 5 * MS_PER_MINUTE, hi - 5 * MS_PER_MINUTE - stay))
        depart = arrive + stay
        leave, back = arrive - travel, depart + travel
        if back > d0 + int(21.5 * MS_PER_HOUR):
            continue
        # b must be at home, staying put, from well before leaving until well after.
        pad = 10 * MS_PER_MINUTE
        inside = [w for w in wp if leave - pad <= w[0] <= back + pad]
        bx, by = at(wp, np.array([leave - pad, back + pad]))
        if any((w[1], w[2]) != home for w in inside) or not (
            np.allclose(bx, home[0]) and np.allclose(by, home[1])
        ):
            continue
        if any(va <= back + pad and leave - pad <= vb for _, _, va, vb in visits):
            continue
        if not covered(a.fix_ts, arrive, depart):
            continue
        wp[:] = [w for w in wp if not leave <= w[0] <= back]
        wp += [(leave, *home), (arrive, *m), (depart, *m), (back, *home)]
        wp.sort(key=lambda w: w[0])
        visits.append(("C-6", None, leave, back))
        return arrive, depart
    return None
