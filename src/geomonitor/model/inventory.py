"""Tag units: their life from stock to retirement, as a history of changes.

A unit is **in stock** (the force's spares, in no district), **allocated** to a district
(held there, not worn), **fitted** to a subject (worn; still the district's unit), flagged
**faulty**, **damaged** or **lost** (it keeps its district for the audit), **returned** to
the supplier, or **retired**. Every change is a :class:`TagEvent` with when it took effect,
who recorded it and why; a unit's state at any instant is its events up to then, applied in
order (:func:`timeline`).

Held by a district: allocated, fitted, faulty or damaged (a lost unit is not held, but is
counted in its district's audit as lost). Utilisation is fitted unit-days over held
unit-days.

Rules for changes made by a person (:func:`check`): a unit is in one district at a time;
only an allocated unit is fitted, to a subject of its own district; a fitted unit is
removed before it is transferred or flagged; a unit returned or retired changes no more.
Consent and ages are the registry's rules (a fitting is a registry change as well).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import InputError

STATES = ("in_stock", "allocated", "fitted", "faulty", "damaged", "lost", "returned", "retired")
#: States in which a district holds the unit.
HELD = frozenset({"allocated", "fitted", "faulty", "damaged"})
#: What ``flag`` may set, and what each leaves.
FLAGS = {
    "faulty": "faulty",
    "damaged": "damaged",
    "lost": "lost",
    "returned": "returned",
    "retired": "retired",
    "repaired": "allocated",
    "found": "allocated",
}
ACTIONS = ("add", "allocate", "transfer", "fit", "remove", "flag")


class InventoryError(InputError):
    """A change to a tag unit that the rules refuse; the message says why."""


@dataclass(frozen=True)
class TagEvent:
    """One change to a unit.

    ``status`` is the flag set (``flag`` only); ``district`` the district after the change
    (``add``, ``allocate``, ``transfer``); ``subject_id`` the wearer (``fit``, ``remove``).
    ``source`` is ``command`` (a person, through geomonitor) or ``registry`` (a registry
    load).
    """

    tag_id: str
    at: int
    action: str
    district: str | None = None
    subject_id: str | None = None
    status: str | None = None
    reason: str = ""
    actor: str = ""
    source: str = "command"


@dataclass(frozen=True)
class UnitState:
    """A unit's state from ``since`` on."""

    tag_id: str
    state: str
    district: str | None
    subject_id: str | None
    since: int


def apply(u: UnitState | None, e: TagEvent) -> UnitState:
    """The state after ``e`` (no rules checked: see :func:`check`)."""
    district = u.district if u else None
    if e.action == "add":
        return UnitState(
            e.tag_id, "allocated" if e.district else "in_stock", e.district, None, e.at
        )
    if u is None:  # a change to a unit never added: take it as added then
        u = UnitState(e.tag_id, "allocated" if e.district else "in_stock", e.district, None, e.at)
        district = u.district
    if e.action in ("allocate", "transfer"):
        state = u.state if u.state != "in_stock" else "allocated"
        if e.district is None:
            state = "in_stock" if u.state == "allocated" else u.state
        return UnitState(e.tag_id, state, e.district, u.subject_id, e.at)
    if e.action == "fit":
        return UnitState(e.tag_id, "fitted", e.district or district, e.subject_id, e.at)
    if e.action == "remove":
        return UnitState(e.tag_id, "allocated" if district else "in_stock", district, None, e.at)
    if e.action == "flag":
        state = FLAGS[e.status or ""]
        if state == "allocated" and district is None:
            state = "in_stock"
        keep = None if state in ("returned", "retired") else district
        return UnitState(e.tag_id, state, keep, None, e.at)
    raise ValueError(f"unknown action {e.action!r}")


def check(
    u: UnitState | None,
    e: TagEvent,
    subject_district: str | None = None,
    names: dict[str, str] | None = None,
) -> None:
    """Refuse a change a person asks for that the rules do not allow.

    ``subject_district`` is the district of the subject a unit is fitted to; ``names``
    (district code to name) makes the messages readable.
    """
    tag = e.tag_id

    def name(code: str | None) -> str:
        return "stock" if code is None else (names or {}).get(code, code)

    if e.action == "add":
        if u is not None:
            raise InventoryError(f"tag {tag}: already in the inventory")
        return
    if u is None:
        raise InventoryError(f"tag {tag}: not in the inventory (add it first)")
    if e.at < u.since:
        raise InventoryError(
            f"tag {tag}: dated before its last recorded change; record changes in order"
        )
    if u.state in ("returned", "retired"):
        raise InventoryError(f"tag {tag}: {u.state}; it cannot change any more")
    if e.action in ("allocate", "transfer"):
        if u.state == "fitted":
            raise InventoryError(
                f"tag {tag}: fitted to {u.subject_id}; remove it before a transfer"
            )
        if e.district == u.district:
            raise InventoryError(f"tag {tag}: already in {name(e.district)}")
    elif e.action == "fit":
        if u.state != "allocated":
            why = {"in_stock": "in stock: allocate it to a district first"}.get(
                u.state, f"{u.state}: it cannot be fitted"
            )
            if u.state == "fitted":
                why = f"already fitted to {u.subject_id}"
            raise InventoryError(f"tag {tag}: {why}")
        if subject_district is not None and subject_district != u.district:
            raise InventoryError(
                f"tag {tag}: allocated to {name(u.district)}, the subject is in "
                f"{name(subject_district)}; transfer it first"
            )
    elif e.action == "remove":
        if u.state != "fitted":
            raise InventoryError(f"tag {tag}: not fitted ({u.state})")
    elif e.action == "flag":
        if e.status not in FLAGS:
            raise InventoryError(f"tag {tag}: unknown status {e.status!r} ({', '.join(FLAGS)})")
        if u.state == "fitted":
            raise InventoryError(f"tag {tag}: fitted to {u.subject_id}; remove it first")
        if e.status in ("repaired", "found") and u.state not in ("faulty", "damaged", "lost"):
            raise InventoryError(f"tag {tag}: {u.state}, nothing to mark {e.status}")


def timeline(events: Iterable[TagEvent]) -> dict[str, list[UnitState]]:
    """Each unit's states in time order (events applied by time, then as recorded)."""
    out: dict[str, list[UnitState]] = {}
    for e in sorted(events, key=lambda e: e.at):  # stable: same instant, recorded order
        states = out.setdefault(e.tag_id, [])
        states.append(apply(states[-1] if states else None, e))
    return out


def state_at(states: list[UnitState], t: int) -> UnitState | None:
    """The state in force at ``t`` (None before the unit's first event)."""
    cur = None
    for s in states:
        if s.since > t:
            break
        cur = s
    return cur


def spans(states: list[UnitState], lo: int, hi: int) -> list[tuple[int, int, UnitState]]:
    """``(start, end, state)`` of the states in force within ``[lo, hi)``."""
    out = []
    for k, s in enumerate(states):
        end = states[k + 1].since if k + 1 < len(states) else hi
        a, b = max(s.since, lo), min(end, hi)
        if b > a:
            out.append((a, b, s))
    return out
