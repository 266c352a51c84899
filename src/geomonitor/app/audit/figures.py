"""District figures for a period (utilisation, active and inactive units) and flexing
recommendations: pure functions of the units' timelines, which tags reported, and demand.

Definitions
-----------
* A district **holds** a unit that is allocated to it, fitted, faulty or damaged there.
* ``unit_days_allocated``: hours held within the period / 24; ``unit_days_fitted``: hours
  fitted / 24; ``utilisation_pct`` = fitted / allocated unit-days x 100.
* ``units_allocated``, ``units_fitted``, ``units_faulty``, ``units_damaged``,
  ``units_lost``: at the end of the period. ``units_active``: units held at the end that
  reported at least one fix in the period; ``units_inactive``: the others held at the end.
* ``demand_waiting``: referrals waiting for a tag, as last set by the end of the period.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ...model.inventory import HELD, UnitState, spans, state_at
from ...model.times import MS_PER_DAY

FORCE = "West Yorkshire"
COLUMNS = (
    "month",
    "district",
    "units_allocated",
    "units_fitted",
    "unit_days_allocated",
    "unit_days_fitted",
    "utilisation_pct",
    "units_active",
    "units_inactive",
    "units_faulty",
    "units_damaged",
    "units_lost",
    "demand_waiting",
)


@dataclass
class DistrictRow:
    month: str
    district: str
    units_allocated: int = 0
    units_fitted: int = 0
    unit_days_allocated: float = 0.0
    unit_days_fitted: float = 0.0
    utilisation_pct: float = 0.0
    units_active: int = 0
    units_inactive: int = 0
    units_faulty: int = 0
    units_damaged: int = 0
    units_lost: int = 0
    demand_waiting: int = 0

    def as_csv(self) -> dict[str, object]:
        d = asdict(self)
        d["unit_days_allocated"] = f"{self.unit_days_allocated:.2f}"
        d["unit_days_fitted"] = f"{self.unit_days_fitted:.2f}"
        d["utilisation_pct"] = f"{self.utilisation_pct:.1f}"
        return d


def district_rows(
    label: str,
    lines: dict[str, list[UnitState]],
    reported: set[str],
    demand: dict[str, int],
    districts: dict[str, str],
    lo: int,
    hi: int,
) -> list[DistrictRow]:
    """One row per district (``districts``: code -> name, in report order) and one for the
    force, for the period ``[lo, hi)``."""
    rows = {code: DistrictRow(label, name) for code, name in districts.items()}
    for tag, states in lines.items():
        for a, b, s in spans(states, lo, hi):
            row = rows.get(s.district or "")
            if row is None or s.state not in HELD:
                continue
            row.unit_days_allocated += (b - a) / MS_PER_DAY
            if s.state == "fitted":
                row.unit_days_fitted += (b - a) / MS_PER_DAY
        end = state_at(states, hi - 1)
        row = rows.get(end.district or "") if end else None
        if end is None or row is None:
            continue
        if end.state in HELD:
            row.units_allocated += 1
            if tag in reported:
                row.units_active += 1
            else:
                row.units_inactive += 1
        row.units_fitted += end.state == "fitted"
        row.units_faulty += end.state == "faulty"
        row.units_damaged += end.state == "damaged"
        row.units_lost += end.state == "lost"
    for code, row in rows.items():
        row.demand_waiting = demand.get(code, 0)
    force = DistrictRow(label, FORCE)
    for row in rows.values():
        for k in COLUMNS[2:]:
            if k != "utilisation_pct":
                setattr(force, k, getattr(force, k) + getattr(row, k))
    out = [*rows.values(), force]
    for row in out:
        days = row.unit_days_allocated
        row.utilisation_pct = round(100.0 * row.unit_days_fitted / days, 1) if days > 0 else 0.0
    return out


@dataclass(frozen=True)
class Move:
    """A recommended transfer of one idle unit."""

    tag_id: str
    from_district: str
    to_district: str
    idle_days: float
    reason: str
    #: utilisation (fitted / held units now) of each district before and after the move,
    #: the receiving one assuming the unit is fitted to a waiting referral
    from_before: float
    from_after: float
    to_before: float
    to_after: float


def flex(
    lines: dict[str, list[UnitState]], demand: dict[str, int], districts: dict[str, str], at: int
) -> list[Move]:
    """Moves of idle units (allocated, not fitted) from districts with more idle units than
    referrals waiting to districts with more referrals than idle units: the longest-idle
    unit first, the district with the most unmet demand first. Only idle units move, so
    no district goes below its fitted count. Recommendations only."""
    held: dict[str, int] = dict.fromkeys(districts, 0)
    fitted: dict[str, int] = dict.fromkeys(districts, 0)
    idle: dict[str, list[tuple[int, str]]] = {d: [] for d in districts}
    for tag, states in lines.items():
        s = state_at(states, at)
        if s is None or s.district not in districts or s.state not in HELD:
            continue
        held[s.district] += 1
        fitted[s.district] += s.state == "fitted"
        if s.state == "allocated":
            idle[s.district].append((s.since, tag))
    for d in idle:
        idle[d].sort()  # longest idle first
    need = {d: demand.get(d, 0) - len(idle[d]) for d in districts}
    spare = {d: len(idle[d]) - demand.get(d, 0) for d in districts}
    moves: list[Move] = []

    def pct(f: int, h: int) -> float:
        return round(100.0 * f / h, 1) if h else 0.0

    while True:
        takers = sorted((d for d in districts if need[d] > 0), key=lambda d: (-need[d], d))
        givers = sorted((d for d in districts if spare[d] > 0), key=lambda d: (-spare[d], d))
        if not takers or not givers:
            return moves
        to, frm = takers[0], givers[0]
        since, tag = idle[frm].pop(0)
        moves.append(
            Move(
                tag,
                districts[frm],
                districts[to],
                round((at - since) / MS_PER_DAY, 1),
                f"{districts[frm]} has {spare[frm] + demand.get(frm, 0)} idle units for "
                f"{demand.get(frm, 0)} referrals waiting; {districts[to]} has "
                f"{demand.get(to, 0)} referrals waiting and "
                f"{demand.get(to, 0) - need[to]} idle units",
                pct(fitted[frm], held[frm]),
                pct(fitted[frm], held[frm] - 1),
                pct(fitted[to], held[to]),
                pct(fitted[to] + 1, held[to] + 1),
            )
        )
        held[frm] -= 1
        held[to] += 1
        fitted[to] += 1  # as expected once fitted: the next move's figures build on it
        spare[frm] -= 1
        need[to] -= 1
