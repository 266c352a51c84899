"""A realistic synthetic scenario over real West Yorkshire geography.

Subjects live in real wards, sleep at home, go out to work and errands by day, and some of
them break their exclusion zones: the simulator plants those breaches and writes them to a
ground-truth file, so the engine's recall and precision can be measured.

Realism that matters to the engine:

* GPS noise scaled to each fix's accuracy radius, worse indoors; occasional ``wifi`` and
  ``cell`` fixes with radii of hundreds of metres; rare isolated outliers far off.
* Signal gaps (tag off, no sky view) and tags that store and forward: a share of each
  subject's fixes reaches the file hours late, and some are sent twice.
* Exclusion zones that are circles round a victim's address or whole real wards, some only
  at night; near misses (visits close to, but outside, a zone) and visits to a night-only
  zone in the daytime, which are not breaches.
* A few spare tags not fitted to anyone, and a few malformed records.
* Tags silent for a day and a half across two curfew nights (an outage), tags fitted on the
  first evening an hour into the curfew, and pairs of wide cell fixes far from home in the
  small hours (never an absence).

A scenario is made by planting steps on one :class:`~geomonitor.sim.scenario.Scenario`, in a
fixed order (each step draws from the random streams in turn, so the same seed always gives
the same files): people and their registry (:mod:`.people`), movements and fixes
(:mod:`.movement`), ANPR reads (:mod:`.vehicles`), and the truth (:mod:`.truth`).

Outputs in ``DIR``: ``registry.json``, ``fixes.jsonl``, ``anpr.jsonl``, ``truth.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..model.crs import to_wgs84
from ..model.times import MS_PER_DAY, MS_PER_HOUR, iso, parse_ts
from .movement import plant_movements
from .people import add_spares_and_cameras, plant_non_associations, plant_people, write_registry
from .scenario import (
    CURFEW_GRACE_MINUTES,
    CURFEW_RADIUS_M,
    CURFEW_TIMETABLE,
    DEFAULT_START,
    Scenario,
    random_point_in,
)
from .truth import meeting_truth
from .vehicles import passing_traffic, plant_journeys, plant_vehicles


def simulate(
    out: str | Path,
    subjects: int = 30,
    days: int = 3,
    seed: int = 1,
    start: str = DEFAULT_START,
    breach_rate: float = 0.35,
) -> dict[str, Any]:
    """Write a scenario to ``out``; returns the ground truth (also in ``truth.json``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sc = Scenario(out, subjects, days, seed, parse_ts(start), breach_rate)
    plant_people(sc)
    write_registry(sc)
    plant_non_associations(sc)
    add_spares_and_cameras(sc)
    plant_movements(sc)
    _spare_tag_fixes(sc)
    fixes, bad = _write_fixes(sc)
    reads = passing_traffic(sc)
    reads += plant_vehicles(sc)
    reads += plant_journeys(sc)
    meeting_truth(sc)
    _write_reads(sc, reads)
    (out / "absences.jsonl").write_text(
        "".join(orjson.dumps(a).decode() + "\n" for a in sc.absences), encoding="utf-8"
    )
    (out / "registry.json").write_text(
        orjson.dumps(sc.registry, option=orjson.OPT_INDENT_2).decode(), encoding="utf-8"
    )
    truth = _truth(sc, fixes, bad)
    (out / "truth.json").write_text(
        orjson.dumps(truth, option=orjson.OPT_INDENT_2).decode(), encoding="utf-8"
    )
    return truth


def _spare_tag_fixes(sc: Scenario) -> None:
    """Spare tags switched on in the office now and then (not fitted: audit only)."""
    rng = sc.rng
    office = random_point_in(sc.world, rng)
    assert office is not None
    for spare in sc.spare_tags:
        for _ in range(int(rng.integers(30, 120))):
            ts0 = sc.t_start + int(rng.integers(0, sc.days * MS_PER_DAY))
            lon, lat = to_wgs84(np.array([office[0]]), np.array([office[1]]))
            sc.add_fix(
                ts0,
                {
                    "tag_id": spare,
                    "ts": iso(ts0),
                    "lat": float(lat[0]),
                    "lon": float(lon[0]),
                    "accuracy_m": 20.0,
                    "battery_pct": 90,
                    "strap": "ok",
                },
            )


def _write_fixes(sc: Scenario) -> tuple[int, int]:
    """``fixes.jsonl`` in arrival order, with a few malformed records among them; returns
    how many good and bad records it holds."""
    rng = sc.rng
    sc.fix_rows.sort(key=lambda r: (r[0], r[1]))
    lines = [orjson.dumps(r[2]).decode() for r in sc.fix_rows]
    bad = _bad_fix_lines(sc.t_start, sc.people[0].tag if sc.people else "BUD-0001")
    for line in bad:
        lines.insert(int(rng.integers(0, len(lines) + 1)) if lines else 0, line)
    (sc.out / "fixes.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines) - len(bad), len(bad)


def _write_reads(sc: Scenario, reads: list[tuple[int, dict[str, Any]]]) -> None:
    """``anpr.jsonl`` in event-time order, with a read from an unknown camera."""
    reads.sort(key=lambda r: r[0])
    alines = [orjson.dumps(r).decode() for _, r in reads]
    alines.append(
        '{"read_id": "R-BAD-1", "camera_id": "CAM-UNKNOWN", "vrm": "AB12CDE", '
        f'"ts": "{iso(sc.t_start)}"}}'
    )
    (sc.out / "anpr.jsonl").write_text("\n".join(alines) + "\n", encoding="utf-8")


def _bad_fix_lines(t0: int, tag: str) -> list[str]:
    ts = str(iso(t0 + 3 * MS_PER_HOUR))
    return [
        '{"tag_id": "' + tag + '", "ts": "' + ts + '", "lat": 53.8',  # truncated line
        '{"tag_id": "' + tag + '", "ts": "' + ts + '", "lat": NaN, "lon": -1.5}',
        '{"tag_id": "' + tag + '", "ts": "' + ts + '", "lat": 123.0, "lon": -1.5}',
        '{"tag_id": "' + tag + '", "ts": "2026-11-16T03:00:00", "lat": 53.8, "lon": -1.5}',
        '{"tag_id": "' + tag + '", "lat": 53.8, "lon": -1.5}',
        '{"tag_id": "BUD-UNKNOWN", "ts": "' + ts + '", "lat": 53.8, "lon": -1.5}',
        '{"tag_id": "' + tag + '", "ts": "' + ts + '", "lat": 53.8, "lon": -1.5, "strap": "loose"}',
    ]


def _truth(sc: Scenario, fixes: int, bad: int) -> dict[str, Any]:
    return {
        "seed": sc.seed,
        "subjects": sc.subjects,
        "days": sc.days,
        "start": iso(sc.t_start),
        "breaches": sc.planted,
        "brushes": sc.brushes,
        "faulty_units": sc.faulty,
        "decoy_visits": sc.decoys,
        "outages": sc.outages,
        "evening_fittings": [s.id for s in sc.people if s.fitted_at is not None],
        "cell_blips": sc.cell_blips,
        "non_association_near_misses": sc.near_misses,
        "fixes": fixes,
        "bad_fix_records": bad,
        "curfew": {
            "timetable": CURFEW_TIMETABLE,
            "radius_m": CURFEW_RADIUS_M,
            "grace_minutes": CURFEW_GRACE_MINUTES,
        },
        "expected_rejections": {
            "malformed": 2,
            "out_of_range": 1,
            "naive_time": 1,
            "missing_field": 1,
            "unknown_tag": 1,
            "bad_value": 1,
        },
        "spare_tags": sc.spare_tags,
        "authorised_absences": sc.absences,
    }
