"""What moves an order: variations (a court varies it, a licence changes, a mistake is
corrected) and authorised absences (a probation appointment or a hospital visit agreed in
advance, or after the fact).

A *variation* carries a type, a reason and the instant it takes effect, which may be in the
past: from then on the order's conditions are the ones the variation gives. The registry
keeps every variation with its order; the engine judges each stretch of time by the
conditions then in force, so a backdated variation re-judges exactly the candidates of the
time it covers (the store retracts and replaces them, with links, and names the variation).

An *absence* is a window in which a subject may be away from a curfew address and inside a
zone, with who authorised it and why. With a destination (a point and a radius) only fixes
at the destination or on the way there (within a corridor of the straight line from the
curfew address) are covered: the subject at a pub during a hospital visit is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .text import local_clock, local_time
from .times import iso

#: Types of variation, and their words.
VARIATION_TYPES = {
    "court_variation": "court variation",
    "licence_change": "licence change",
    "correction": "correction",
}


@dataclass(frozen=True)
class Variation:
    """One change to an order: from ``effective`` its conditions are ``conditions`` (ids of
    the conditions in force after it)."""

    id: str
    order_id: str
    type: str
    reason: str
    effective: int
    conditions: tuple[str, ...] = ()

    def describe(self) -> str:
        return (
            f"variation {self.id} of order {self.order_id} ({VARIATION_TYPES[self.type]}, "
            f"in effect from {local_time(self.effective)}): {self.reason}"
        )


@dataclass(frozen=True)
class Absence:
    """An authorised absence of one subject, ``[starts, ends)`` (epoch ms, UTC)."""

    id: str
    subject_id: str
    starts: int
    ends: int
    authorised_by: str
    reason: str
    #: The destination and how near counts as there (None: anywhere).
    lat: float | None = None
    lon: float | None = None
    radius_m: float | None = None

    @property
    def has_destination(self) -> bool:
        return self.lat is not None and self.lon is not None

    def describe(self) -> str:
        where = " to a destination" if self.has_destination else ""
        return (
            f"authorised absence {self.id}{where} from {local_time(self.starts)} to "
            f"{local_clock(self.ends, self.starts)}, "
            f"authorised by {self.authorised_by}: {self.reason}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject_id": self.subject_id,
            "starts": iso(self.starts),
            "ends": iso(self.ends),
            "authorised_by": self.authorised_by,
            "reason": self.reason,
            "destination": (
                None
                if not self.has_destination
                else {"lat": self.lat, "lon": self.lon, "radius_m": self.radius_m}
            ),
        }


#: How a candidate judged differently now came to be: ``absence`` or ``variation``, the id,
#: and one line for people.
Cause = tuple[str, str, str]


def cause_of(
    absences: list[Absence] | tuple[Absence, ...],
    variations: list[Variation] | tuple[Variation, ...],
    subject_id: str,
    order_id: str,
    opened_at: int,
    closed_at: int | None,
) -> Cause | None:
    """Why a stored candidate of ``[opened_at, closed_at]`` is judged differently: an
    authorised absence of the subject overlapping it (the latest one recorded), or else
    the latest variation of its order that took effect at or before its end. None when
    neither could have changed it (a late fix did)."""
    end = closed_at if closed_at is not None else 2**62
    over = [
        a for a in absences if a.subject_id == subject_id and a.starts <= end and a.ends > opened_at
    ]
    if over:
        a = over[-1]
        return ("absence", a.id, a.describe())
    before = [v for v in variations if v.order_id == order_id and v.effective <= end]
    if before:
        v = max(before, key=lambda v: (v.effective, v.id))
        return ("variation", v.id, v.describe())
    return None
