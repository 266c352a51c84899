"""Authorised absences as the rules see them: which fixes they cover.

A fix is *covered* when it falls inside an authorised absence of its subject and, if the
absence names a destination, its accuracy circle reaches the destination's circle or the
corridor along the straight line from the subject's curfew address to the destination
(``absence_corridor_m`` either side: the way there and back). A covered fix is compliant:
home for a curfew, outside an exclusion zone, inside an inclusion zone. Fixes of the same
window elsewhere (the pub during a hospital visit) are judged as ever, and so is the
time after the window (coming back late).
"""

from __future__ import annotations

import numpy as np

from ..model.crs import to_bng
from ..model.orders import Absence
from ..model.registry import Registry
from ..model.timetable import merge_intervals


class Cover:
    """The authorised absences of one subject.

    Parameters
    ----------
    absences
        The subject's absences.
    home
        The subject's curfew address in BNG (the corridor's other end), if any.
    corridor_m
        Half the corridor's width.
    """

    def __init__(
        self, absences: list[Absence], home: tuple[float, float] | None, corridor_m: float
    ):
        self.absences = sorted(absences, key=lambda a: (a.starts, a.id))
        self.home = home
        self.corridor_m = corridor_m
        self._dest: list[tuple[float, float, float] | None] = []
        for a in self.absences:
            if a.has_destination:
                x, y = to_bng(np.array([a.lon], float), np.array([a.lat], float))
                self._dest.append((float(x[0]), float(y[0]), float(a.radius_m or 100.0)))
            else:
                self._dest.append(None)

    def windows(self) -> list[tuple[int, int]]:
        """The absences' windows, merged."""
        return merge_intervals([(a.starts, a.ends) for a in self.absences])

    def ends(self) -> list[int]:
        """When each absence ends (the subject is due back), sorted."""
        return sorted({a.ends for a in self.absences})

    def covered(self, ts: np.ndarray, x: np.ndarray, y: np.ndarray, acc: np.ndarray) -> np.ndarray:
        """Which fixes an absence covers (see the module notes)."""
        out = np.zeros(len(ts), bool)
        for a, dest in zip(self.absences, self._dest, strict=True):
            inside = (ts >= a.starts) & (ts < a.ends)
            if not inside.any():
                continue
            if dest is None:
                out |= inside
                continue
            dx, dy, radius = dest
            near = np.hypot(x - dx, y - dy) - acc <= radius
            if self.home is not None:
                near |= _to_segment(x, y, self.home, (dx, dy)) - acc <= self.corridor_m
            out |= inside & near
        return out


def _to_segment(
    x: np.ndarray, y: np.ndarray, a: tuple[float, float], b: tuple[float, float]
) -> np.ndarray:
    """Distance of each point from the segment ``a``-``b``."""
    ax, ay = a
    vx, vy = b[0] - ax, b[1] - ay
    length2 = vx * vx + vy * vy
    if length2 == 0:
        return np.hypot(x - ax, y - ay)
    t = np.clip(((x - ax) * vx + (y - ay) * vy) / length2, 0.0, 1.0)
    return np.hypot(x - (ax + t * vx), y - (ay + t * vy))


def covers(registry: Registry, corridor_m: float) -> dict[str, Cover]:
    """A :class:`Cover` for every subject with an authorised absence."""
    out: dict[str, Cover] = {}
    for subject in sorted({a.subject_id for a in registry.absences}):
        home = None
        for order, cond in registry.conditions("curfew"):
            if order.subject_id == subject and cond.curfew is not None:
                hx, hy = to_bng(np.array([cond.curfew.lon]), np.array([cond.curfew.lat]))
                home = (float(hx[0]), float(hy[0]))
                break
        out[subject] = Cover(registry.absences_of(subject), home, corridor_m)
    return out
