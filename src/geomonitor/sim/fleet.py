"""A simulated tag fleet for the inventory and the monthly audit.

Units across the five West Yorkshire districts over two months (September and October
2026 by default), with spares in stock, uneven demand, transfers, units flagged damaged and
lost, and faulty units planted in the fixes, one of each finding's kind. Writes a registry,
a fixes file and the inventory changes a person would have recorded; returns what was
planted, for a test to check the audit against.

Healthy units report every 15 minutes while fitted, 8-15 m accuracy, a battery that runs
down about 1% an hour and is charged each morning. Units not fitted send nothing.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from ..model.crs import to_wgs84
from ..model.geography import DISTRICTS, district_boundary
from ..model.inventory import TagEvent
from ..model.times import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, UK, iso

STEP = 15 * MS_PER_MINUTE
#: the planted faulty units' findings, one unit each
PLANTED = (
    "silent_while_fitted",
    "frequent_gaps",
    "poor_accuracy",
    "battery_drain",
    "repeated_jumps",
    "tamper_without_removal",
    "reports_while_unfitted",
    "conflicting_fixes",
)


@dataclass
class Fleet:
    """What :func:`simulate_fleet` wrote and planted."""

    registry: Path
    fixes: Path
    start: int
    end: int
    #: inventory changes recorded by people (transfers, flags), in order
    events: list[TagEvent] = field(default_factory=list)
    #: demand per district code: (when, referrals waiting)
    demand: list[tuple[str, int, int]] = field(default_factory=list)
    #: planted finding -> tag id
    faulty: dict[str, str] = field(default_factory=dict)
    #: tag -> (district code, [(fitted_at, removed_at or None)])
    units: dict[str, tuple[str | None, list[tuple[int, int | None]]]] = field(default_factory=dict)


def _ms(y: int, m: int, d: int, h: int = 0) -> int:
    return int(datetime(y, m, d, h, tzinfo=UK).timestamp() * 1000)


def simulate_fleet(out: Path, seed: int = 11, per_district: int = 6, spares: int = 4) -> Fleet:
    """Write ``registry.json`` and ``fixes.jsonl`` into ``out``; see the module docstring."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    start, end = _ms(2026, 9, 1), _ms(2026, 11, 1)
    fleet = Fleet(out / "registry.json", out / "fixes.jsonl", start, end)
    codes = sorted(DISTRICTS)
    homes: dict[str, tuple[float, float]] = {}
    subjects, tags, fittings = [], [], []
    tag_ids: list[str] = []
    for di, code in enumerate(codes):
        c = district_boundary(code).representative_point()
        for k in range(per_district):
            tag = f"BUD-{di + 1}{k:03d}"
            tag_ids.append(tag)
            tags.append({"id": tag, "district": code, "model": "Buddi", "allocated_at": iso(start)})
            # Fitted for most of the period, some from the middle, some not at all.
            plan: list[tuple[int, int | None]] = []
            if k < per_district - 2:
                plan = [(start + 2 * MS_PER_DAY, None)]
            if k == per_district - 2:
                plan = [(start + 40 * MS_PER_DAY, None)]
            fleet.units[tag] = (code, plan)
            for n, (a, b) in enumerate(plan):
                sid = f"S-{di + 1}{k:02d}{n}"
                subjects.append({"id": sid, "district": code, "birth_date": "1990-01-01"})
                homes[sid] = (c.x + rng.uniform(-800, 800), c.y + rng.uniform(-800, 800))
                fittings.append({
                    "tag": tag, "subject": sid, "fitted_at": iso(a), "removed_at": iso(b),
                    "consent": {"recorded_at": iso(a - MS_PER_HOUR), "guardian": None},
                })  # fmt: skip
    for k in range(spares):
        tag = f"BUD-9{k:03d}"
        tags.append({"id": tag, "district": None, "model": "Buddi", "allocated_at": iso(start)})
        fleet.units[tag] = (None, [])
    doc = {
        "districts": [{"code": c, "name": DISTRICTS[c]} for c in codes],
        "zones": [], "subjects": subjects, "orders": [], "tags": tags,
        "fittings": fittings, "cameras": [],
    }  # fmt: skip
    fleet.registry.write_text(json.dumps(doc, indent=1))
    # Plant one faulty unit of each kind among the units fitted all along.
    fitted_all = [
        t
        for t in tag_ids
        if fleet.units[t][1] and fleet.units[t][1][0][0] == start + 2 * MS_PER_DAY
    ]
    picks = rng.sample(fitted_all, len(PLANTED) - 1)
    for kind, tag in zip(PLANTED[:-2] + PLANTED[-1:], picks, strict=True):
        fleet.faulty[kind] = tag
    idle = [t for t in tag_ids if not fleet.units[t][1]]
    fleet.faulty["reports_while_unfitted"] = idle[0]
    _people_changes(fleet, tag_ids, rng, codes)
    _write_fixes(fleet, fittings, homes, rng)
    return fleet


def _people_changes(fleet: Fleet, tag_ids: list[str], rng: random.Random, codes: list[str]) -> None:
    """Transfers, damaged and lost units, and demand, as people recorded them."""
    idle = [t for t in tag_ids if not fleet.units[t][1]][1:]
    # An idle Bradford-side unit flexed to Leeds mid-September, a spare allocated.
    a, b = idle[0], idle[-1]
    leeds = "E08000035"
    t1 = fleet.start + 14 * MS_PER_DAY
    fleet.events.append(TagEvent(a, t1, "transfer", leeds, reason="flex to demand", actor="sup1"))
    fleet.events.append(
        TagEvent("BUD-9000", t1, "allocate", codes[0], reason="spare", actor="sup1")
    )
    fleet.events.append(TagEvent(b, fleet.start + 20 * MS_PER_DAY, "flag", status="damaged",
                                 reason="strap cracked", actor="dt2"))  # fmt: skip
    fleet.events.append(TagEvent("BUD-9001", fleet.start + 25 * MS_PER_DAY, "flag", status="lost",
                                 reason="not found at stock check", actor="sup1"))  # fmt: skip
    for i, code in enumerate(codes):
        fleet.demand.append((code, fleet.start, [0, 3, 0, 5, 1][i]))


def _write_fixes(fleet: Fleet, fittings: list[dict], homes: dict, rng: random.Random) -> None:
    by_tag: dict[str, list[dict]] = {}
    for f in fittings:
        by_tag.setdefault(f["tag"], []).append(f)
    bad = {v: k for k, v in fleet.faulty.items()}
    with fleet.fixes.open("w") as out:
        for tag in sorted(fleet.units):
            kind = bad.get(tag)
            for f in by_tag.get(tag, []):
                a = int(
                    datetime.fromisoformat(f["fitted_at"].replace("Z", "+00:00")).timestamp() * 1000
                )
                _unit_fixes(out, tag, a, fleet.end, homes[f["subject"]], kind, rng)
            if kind == "reports_while_unfitted":  # moving about for two days in October
                _unit_fixes(out, tag, _ms(2026, 10, 10), _ms(2026, 10, 12), (431000.0, 433000.0),
                            None, rng)  # fmt: skip


def _unit_fixes(out, tag, a, b, home, kind, rng) -> None:  # type: ignore[no-untyped-def]
    ts = np.arange(a - a % STEP + STEP, b, STEP, dtype=np.int64)
    n = len(ts)
    acc = np.array([rng.uniform(8, 15) for _ in range(n)])
    x = home[0] + np.array([rng.uniform(-20, 20) for _ in range(n)])
    y = home[1] + np.array([rng.uniform(-20, 20) for _ in range(n)])
    hours = ((ts // MS_PER_HOUR) + 1) % 24  # about UK local hours
    batt = np.clip(100.0 - ((hours - 8) % 24) * 1.0, 5, 100)
    strap = ["ok"] * n
    keep = np.ones(n, bool)
    oct_ = _ms(2026, 10, 1)
    if kind == "silent_while_fitted":
        keep &= ~((ts >= _ms(2026, 10, 8)) & (ts < _ms(2026, 10, 11)))
    elif kind == "frequent_gaps":
        keep &= ~(
            (ts >= oct_) & ((ts // MS_PER_HOUR) % 6 == 0) & (ts % MS_PER_HOUR < 45 * MS_PER_MINUTE)
        )
    elif kind == "poor_accuracy":
        acc = np.where((ts >= oct_) & (np.arange(n) % 5 < 3), 300.0, acc)
    elif kind == "battery_drain":
        batt = np.where(ts >= oct_, np.clip(100.0 - ((hours - 8) % 24) * 5.0, 5, 100), batt)
    elif kind == "repeated_jumps":
        for d in (3, 9, 15, 21):
            k = int(np.searchsorted(ts, _ms(2026, 10, d, 13)))
            x[k] += 100_000  # 100 km in 15 minutes and back
    elif kind == "tamper_without_removal":
        k = int(np.searchsorted(ts, _ms(2026, 10, 14, 2)))
        for j in range(k, k + 4):
            strap[j] = "tamper"
    lon, lat = to_wgs84(x, y)
    for k in np.flatnonzero(keep).tolist():
        rec = {"tag_id": tag, "ts": iso(int(ts[k])), "lat": round(float(lat[k]), 6),
               "lon": round(float(lon[k]), 6), "accuracy_m": round(float(acc[k]), 1),
               "battery_pct": round(float(batt[k]), 1), "strap": strap[k]}  # fmt: skip
        out.write(json.dumps(rec) + "\n")
        if kind == "conflicting_fixes" and ts[k] >= oct_ and k % 500 == 0:
            rec = dict(rec, lat=round(float(lat[k]) + 0.01, 6))  # a forged copy elsewhere
            out.write(json.dumps(rec) + "\n")
