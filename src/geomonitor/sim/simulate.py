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

Outputs in ``DIR``: ``registry.json``, ``fixes.jsonl``, ``anpr.jsonl``, ``truth.json``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import shapely
from shapely.geometry.base import BaseGeometry

from ..model.crs import to_bng, to_wgs84
from ..model.geography import DISTRICTS, wards
from ..model.times import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, iso, parse_ts
from ..model.timetable import ActivePeriods, Timetable
from ..rules.association import AssociationConfig

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


@dataclass
class _Zone:
    id: str
    name: str
    geom: BaseGeometry  # BNG
    spec: dict[str, Any]
    schedule: Timetable | None = None


@dataclass
class _Subject:
    id: str
    district: str
    home: tuple[float, float]
    tag: str
    zones: list[tuple[str, _Zone]] = field(default_factory=list)  # (condition id, zone)
    order: str = ""
    #: The subject this one must not meet is visited by this one (non-association).
    partner: _Subject | None = None
    #: Filled in as the scenario is made: the true itinerary (time, x, y), the times of the
    #: fixes accurate enough to place the subject, and the planted visits (condition,
    #: zone, start, end).
    wp: list[tuple[int, float, float]] = field(default_factory=list)
    fix_ts: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    visits: list[tuple[str, Any, int, int]] = field(default_factory=list)


def _random_point_in(
    geom: BaseGeometry, rng: np.random.Generator, inset: float = 0.0
) -> tuple[float, float] | None:
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


def _segment_clear(a: tuple[float, float], b: tuple[float, float], avoid: BaseGeometry) -> bool:
    return not shapely.LineString([a, b]).intersects(avoid)


def simulate(
    out: str | Path,
    subjects: int = 30,
    days: int = 3,
    seed: int = 1,
    start: str = DEFAULT_START,
    breach_rate: float = 0.35,
) -> dict[str, Any]:
    """Write a scenario to ``out``; returns the ground truth (also in ``truth.json``)."""
    rng = np.random.default_rng(seed)
    rng_c = np.random.default_rng(seed + 7919)  # curfew plantings
    rng_d = np.random.default_rng(seed + 104729)  # device faults and tampers
    faulty: list[dict[str, Any]] = []
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = parse_ts(start)
    all_wards = wards()
    world = shapely.union_all([w.geometry for w in all_wards])

    # ---------------------------------------------------------------- registry
    zones: list[_Zone] = []
    subj: list[_Subject] = []
    for i in range(subjects):
        sid = f"S-{i + 1:04d}"
        dcode = list(DISTRICTS)[i % len(DISTRICTS)]
        dwards = [w for w in all_wards if w.district == dcode]
        home_ward = dwards[int(rng.integers(len(dwards)))]
        home = _random_point_in(home_ward.geometry, rng, inset=300) or _random_point_in(
            home_ward.geometry, rng
        )
        assert home is not None
        s = _Subject(sid, dcode, home, f"BUD-{i + 1:04d}", order=f"O-{i + 1:04d}")
        # A circle round a victim's address 2-6 km from home.
        for _ in range(100):
            ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(2000, 6000)
            c = (home[0] + dist * np.cos(ang), home[1] + dist * np.sin(ang))
            if shapely.contains_xy(world, *c):
                break
        radius = float(rng.choice([200, 300, 400, 500]))
        zid = f"Z-{len(zones) + 1:04d}"
        clon, clat = to_wgs84(np.array([c[0]]), np.array([c[1]]))
        z = _Zone(
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
        zones.append(z)
        s.zones.append(("C-1", z))
        # Half the subjects are also excluded from a whole ward (some only at night).
        if rng.random() < 0.5:
            far = [
                w
                for w in all_wards
                if w.geometry.distance(shapely.Point(home)) > 2500
                and w.geometry.distance(shapely.Point(home)) < 12000
            ]
            if far:
                w = far[int(rng.integers(len(far)))]
                zid = f"Z-{len(zones) + 1:04d}"
                wz = _Zone(
                    zid,
                    w.name,
                    w.geometry,
                    {"id": zid, "name": w.name, "geometry": w.geojson, "crs": "EPSG:4326"},
                )
                if rng.random() < 0.4:
                    wz.schedule = Timetable.parse(NIGHT_SCHEDULE)
                zones.append(wz)
                s.zones.append(("C-2", wz))
        subj.append(s)

    spares = max(1, subjects // 10)
    registry: dict[str, Any] = {
        "districts": [{"code": k, "name": v} for k, v in DISTRICTS.items()],
        "zones": [z.spec for z in zones],
        "subjects": [],
        "orders": [],
        "tags": [],
        "fittings": [],
        "cameras": [],
    }
    for k, s in enumerate(subj):
        young = k % 17 == 5
        age_years = int(rng.integers(14, 18)) if young else int(rng.integers(19, 60))
        bd = (
            datetime.fromtimestamp(t_start / 1000, UTC) - timedelta(days=365.25 * age_years + 40)
        ).date()
        registry["subjects"].append(
            {"id": s.id, "district": DISTRICTS[s.district], "birth_date": bd.isoformat()}
        )
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
                "starts": iso(t_start),  # the curfew starts with the data
            }
        ]
        for cid, z in s.zones:
            cond: dict[str, Any] = {"id": cid, "type": "exclusion_zone", "zone": z.id}
            if z.schedule is not None:
                cond["schedule"] = NIGHT_SCHEDULE
            conds.append(cond)
        registry["orders"].append(
            {
                "id": s.order,
                "subject": s.id,
                "type": "licence" if young else "scpo",
                "starts": iso(t_start - 30 * MS_PER_DAY),
                "ends": None,
                "conditions": conds,
            }
        )
        registry["tags"].append(
            {"id": s.tag, "district": DISTRICTS[s.district], "model": "Buddi Smart Tag"}
        )
        fitted = iso(t_start - int(rng.integers(2, 60)) * MS_PER_DAY)
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
    # Non-association: every 4th subject must not meet the next one, who comes visiting.
    orders_by_subject = {o["subject"]: o for o in registry["orders"]}
    for i in range(0, len(subj) - 1, 4):
        host, visitor = subj[i], subj[i + 1]
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
    rng_m = np.random.default_rng(seed + 49979687)  # meetings: their own stream
    meetings: list[tuple[str, int, int]] = []
    near_misses: list[dict[str, Any]] = []
    spare_tags = [f"BUD-9{j + 1:03d}" for j in range(spares)]
    for j, spare_id in enumerate(spare_tags):
        district = list(DISTRICTS.values())[j % 5]
        registry["tags"].append({"id": spare_id, "district": district, "model": "Buddi Smart Tag"})

    # Cameras spread over the county (ANPR rules come later; reads are generated now).
    cams = []
    for j in range(max(10, subjects)):
        p = _random_point_in(world, rng)
        assert p is not None
        lon, lat = to_wgs84(np.array([p[0]]), np.array([p[1]]))
        cams.append(
            {
                "id": f"CAM-{j + 1:04d}",
                "lat": round(float(lat[0]), 6),
                "lon": round(float(lon[0]), 6),
            }
        )
    registry["cameras"] = cams

    # ---------------------------------------------------------------- movement
    planted: list[dict[str, Any]] = []
    brushes: list[dict[str, Any]] = []
    decoys = 0
    fix_rows: list[tuple[int, int, dict[str, Any]]] = []  # (arrival, seq, record)
    seq = 0
    for s in subj:
        avoid = shapely.union_all([z.geom.buffer(400) for _, z in s.zones])
        home = s.home
        waypoints: list[tuple[int, float, float]] = [(t_start, *home)]
        # planted (condition, zone or None for a curfew, start, end)
        visits: list[tuple[str, _Zone | None, int, int]] = []

        def go(
            t: int,
            frm: tuple[float, float],
            to: tuple[float, float],
            wp: list[tuple[int, float, float]],
        ) -> int:
            d = float(np.hypot(to[0] - frm[0], to[1] - frm[1]))
            speed = rng.uniform(300, 600)  # metres per minute
            t2 = t + int(d / speed * MS_PER_MINUTE) + MS_PER_MINUTE
            wp.append((t2, *to))
            return t2

        for day in range(days):
            d0 = t_start + day * MS_PER_DAY
            t = d0 + int(rng.uniform(7.5, 9.5) * MS_PER_HOUR)
            waypoints.append((t, *home))
            here = home
            # Day trips: 1-3 destinations that keep clear of every zone.
            for _ in range(int(rng.integers(1, 4))):
                dest = _clear_destination(here, home, avoid, world, rng, 800, 7000, 60)
                if dest is None:
                    continue
                t = go(t, here, dest, waypoints)
                t += int(rng.uniform(0.5, 3.0) * MS_PER_HOUR)
                waypoints.append((t, *dest))
                here = dest
            t = go(t, here, home, waypoints)
            waypoints.append((t, *home))

            # A planted breach: go into a zone (while it applies), stay, come home.
            if rng.random() < breach_rate:
                cid, z = s.zones[int(rng.integers(len(s.zones)))]
                if z.schedule is not None:
                    t_go = d0 + int(rng.uniform(20.5, 22.0) * MS_PER_HOUR)
                else:
                    t_go = max(
                        t + 30 * MS_PER_MINUTE, d0 + int(rng.uniform(18.0, 21.0) * MS_PER_HOUR)
                    )
                target = _random_point_in(z.geom, rng, inset=min(150.0, _inset(z)))
                if target is not None and t_go < d0 + 23 * MS_PER_HOUR:
                    waypoints.append((t_go, *home))
                    t_in = go(t_go, home, target, waypoints)
                    t_out = t_in + int(rng.uniform(15, 60) * MS_PER_MINUTE)
                    waypoints.append((t_out, *target))
                    t_back = go(t_out, target, home, waypoints)
                    waypoints.append((t_back, *home))
                    visits.append((cid, z, t_go, t_back))
            # A decoy: near a zone but outside it, or in a night-only zone by day.
            elif rng.random() < 0.5:
                cid, z = s.zones[int(rng.integers(len(s.zones)))]
                t_go = max(t + 30 * MS_PER_MINUTE, d0 + int(rng.uniform(17.0, 19.0) * MS_PER_HOUR))
                if z.schedule is not None:
                    t_go = d0 + int(rng.uniform(10.0, 14.0) * MS_PER_HOUR)
                    target = _random_point_in(z.geom, rng, inset=min(150.0, _inset(z)))
                    waypoints = [w for w in waypoints if w[0] < t_go] + [(t_go, *home)]
                else:
                    ring = z.geom.buffer(260).difference(z.geom.buffer(160))
                    target = None
                    for _ in range(30):
                        p = _random_point_in(ring, rng)
                        if p is not None and _segment_clear(home, p, z.geom.buffer(100)):
                            target = p
                            break
                if target is not None:
                    t_in = go(t_go, waypoints[-1][1:], target, waypoints)
                    t_out = t_in + int(rng.uniform(15, 40) * MS_PER_MINUTE)
                    waypoints.append((t_out, *target))
                    t_back = go(t_out, target, home, waypoints)
                    waypoints.append((t_back, *home))
                    if z.schedule is not None:
                        # carry on with the rest of the day after the daytime visit
                        waypoints.append((max(t_back, t), *home))
                    decoys += 1
            # Curfew breaches (their own random stream, so the rest of the scenario is
            # unchanged): out late and home after the grace period, or out in the night.
            if not any(d0 <= a < d0 + MS_PER_DAY for _, _, a, _ in visits):
                last = max(w[0] for w in waypoints)
                dest = _clear_destination(home, home, avoid, world, rng_c, 1500, 4000, 40)
                if dest is not None and rng_c.random() < 0.25:
                    t_leave = d0 + int(rng_c.uniform(21.0, 21.3) * MS_PER_HOUR)
                    t_home = d0 + int(rng_c.uniform(22.45, 23.5) * MS_PER_HOUR)
                    if t_leave > last + 10 * MS_PER_MINUTE:
                        waypoints.append((t_leave, *home))
                        t_there = go(t_leave, home, dest, waypoints)
                        travel = t_there - t_leave
                        waypoints.append((t_home - travel, *dest))
                        waypoints.append((t_home, *home))
                        visits.append(("C-3", None, t_leave, t_home))
                dest = _clear_destination(home, home, avoid, world, rng_c, 1500, 4000, 40)
                if dest is not None and rng_c.random() < 0.25:
                    t_leave = d0 + int(rng_c.uniform(24.5, 26.0) * MS_PER_HOUR)
                    if t_leave + 3 * MS_PER_HOUR < t_start + days * MS_PER_DAY:
                        waypoints.append((t_leave, *home))
                        t_there = go(t_leave, home, dest, waypoints)
                        t_stay = t_there + int(rng_c.uniform(30, 90) * MS_PER_MINUTE)
                        waypoints.append((t_stay, *dest))
                        t_back = go(t_stay, dest, home, waypoints)
                        waypoints.append((t_back, *home))
                        visits.append(("C-3", None, t_leave, t_back))
        waypoints.append((t_start + days * MS_PER_DAY, *home))
        waypoints.sort(key=lambda w: w[0])
        if s.partner is not None:
            for meet in (True, False):
                met = _plant_visit(
                    s, s.partner, waypoints, visits, avoid, rng_m, t_start, meet=meet
                )
                if met is None:
                    continue
                if meet:
                    meetings.append((s.partner.id, *met))
                else:
                    near_misses.append(
                        {"subject_id": s.partner.id, "start": iso(met[0]), "end": iso(met[1])}
                    )

        # Fixes once a minute (with jitter), along the itinerary.
        ts = np.arange(t_start, t_start + days * MS_PER_DAY, MS_PER_MINUTE, dtype=np.int64)
        ts = ts + rng.integers(0, 5000, len(ts))
        wt = np.array([w[0] for w in waypoints], float)
        tx = np.interp(ts, wt, [w[1] for w in waypoints])
        ty = np.interp(ts, wt, [w[2] for w in waypoints])
        _curfew_truth(s, ts, tx, ty, t_start, days, visits, planted, brushes)
        # Signal gaps, never during a planted visit.
        keep = np.ones(len(ts), bool)
        for _ in range(int(rng.integers(0, 2 * days + 1))):
            g0 = int(rng.integers(0, len(ts)))
            glen = int(rng.integers(20, 90))
            gs, ge = ts[g0], ts[min(g0 + glen, len(ts) - 1)]
            if any(
                gs <= b + 10 * MS_PER_MINUTE and ge >= a - 10 * MS_PER_MINUTE
                for _, _, a, b in visits
            ):
                continue
            keep[g0 : g0 + glen] = False
        ts, tx, ty = ts[keep], tx[keep], ty[keep]
        n = len(ts)
        moving = np.r_[0, np.hypot(np.diff(tx), np.diff(ty))] > 50
        acc = np.where(moving, rng.uniform(4, 15, n), rng.uniform(8, 35, n))
        source = np.array(["gps"] * n, dtype=object)
        wifi = rng.random(n) < 0.02
        cell = rng.random(n) < 0.005
        acc[wifi] = rng.uniform(40, 150, wifi.sum())
        source[wifi] = "wifi"
        acc[cell] = rng.uniform(300, 1500, cell.sum())
        source[cell] = "cell"
        sigma = acc / 2.5
        ox = np.asarray(tx + rng.normal(0, 1, n) * sigma, float)
        oy = np.asarray(ty + rng.normal(0, 1, n) * sigma, float)
        # Isolated outliers (multipath): far off, with an innocent-looking accuracy.
        outl = np.flatnonzero(rng.random(n) < 0.001)
        outl = outl[(outl > 0) & (outl < n - 1)]
        o_ang = rng.uniform(0, 2 * np.pi, len(outl))
        o_dist = rng.uniform(200, 2000, len(outl))
        ox[outl] += o_dist * np.cos(o_ang)
        oy[outl] += o_dist * np.sin(o_ang)
        lon, lat = to_wgs84(ox, oy)
        batt = np.clip(100 - (np.arange(n) % 1440) / 1440 * 70 + rng.normal(0, 1, n), 1, 100)

        # Truth from the true trajectory: every run of fixes truly inside an exclusion zone
        # while it applied. Runs of 3+ fixes are breaches to find; shorter ones (a corner
        # clipped in passing) are "brushes": a candidate for one is right, missing one is not
        # a miss.
        for cid, z in s.zones:
            active = np.ones(n, bool)
            if z.schedule is not None:
                active = ActivePeriods(z.schedule.intervals(int(ts[0]), int(ts[-1]) + 1)).contains(
                    ts
                )
            inside = active & shapely.contains_xy(z.geom, tx, ty)
            idx = np.flatnonzero(inside)
            if len(idx) == 0:
                continue
            brk = np.flatnonzero((np.diff(idx) > 1) | (np.diff(ts[idx]) > 15 * MS_PER_MINUTE))
            for run in np.split(idx, brk + 1):
                a, b = int(ts[run[0]]), int(ts[run[-1]])
                was_planted = any(
                    c2 == cid and z2 is z and va <= a <= vb for c2, z2, va, vb in visits
                )
                truth_rec = {
                    "kind": "exclusion_zone",
                    "subject_id": s.id,
                    "order_id": s.order,
                    "condition_id": cid,
                    "zone_id": z.id,
                    "start": iso(a),
                    "end": iso(b),
                    "fixes": len(run),
                    "planted": was_planted,
                    "scheduled": z.schedule is not None,
                }
                (planted if len(run) >= 3 else brushes).append(truth_rec)

        # Arrival: in order, except store-and-forward batches that arrive hours late.
        arrival = ts.copy()
        for _ in range(int(rng.integers(1, 3 * days + 2))):
            b0 = int(rng.integers(0, n))
            blen = int(rng.integers(15, 180))
            arrival[b0 : b0 + blen] = ts[min(b0 + blen, n - 1)] + int(
                rng.uniform(1, 6) * MS_PER_HOUR
            )
        strap, faults = _plant_device_faults(
            s,
            subj.index(s),
            len(subj),
            ts,
            acc,
            batt,
            lat,
            lon,
            visits,
            t_start,
            days,
            rng_d,
            planted,
            faulty,
        )
        keep_dev = faults.pop("keep", None)
        if keep_dev is not None:
            ts, lat, lon, acc, batt, strap, source, arrival = (
                a[keep_dev] for a in (ts, lat, lon, acc, batt, strap, source, arrival)
            )
            n = len(ts)
        _silence_truth(s, ts, t_start, days, planted, brushes)
        # The fixes that can place the subject beside someone or something.
        usable = acc <= AssociationConfig.max_accuracy_m
        s.wp, s.fix_ts, s.visits = waypoints, ts[usable].copy(), visits
        dup = rng.random(n) < 0.005
        for k in range(n):
            rec: dict[str, Any] = {
                "tag_id": s.tag,
                "ts": iso(int(ts[k])),
                "lat": round(float(lat[k]), 7),
                "lon": round(float(lon[k]), 7),
                "accuracy_m": round(float(acc[k]), 1),
                "battery_pct": int(batt[k]),
                "strap": str(strap[k]),
                "charging": False,
                "source": source[k],
            }
            fix_rows.append((int(arrival[k]), seq, rec))
            seq += 1
            if dup[k]:
                fix_rows.append(
                    (int(arrival[k]) + int(rng.integers(1, 120)) * MS_PER_MINUTE, seq, rec)
                )
                seq += 1

    # Spare tags: switched on in the office now and then (not fitted: audit only).
    office = _random_point_in(world, rng)
    assert office is not None
    for spare in spare_tags:
        for _ in range(int(rng.integers(30, 120))):
            ts0 = t_start + int(rng.integers(0, days * MS_PER_DAY))
            lon, lat = to_wgs84(np.array([office[0]]), np.array([office[1]]))
            fix_rows.append(
                (
                    ts0,
                    seq,
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
            )
            seq += 1

    fix_rows.sort(key=lambda r: (r[0], r[1]))
    lines = [orjson.dumps(r[2]).decode() for r in fix_rows]
    bad = _bad_fix_lines(t_start, subj[0].tag if subj else "BUD-0001")
    for line in bad:
        lines.insert(int(rng.integers(0, len(lines) + 1)) if lines else 0, line)
    (out / "fixes.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")

    # ANPR: passing traffic at each camera; some reads rely on the camera registry.
    reads: list[tuple[int, dict[str, Any]]] = []
    for day in range(days):
        for cam in cams:
            for _ in range(int(rng.integers(20, 60))):
                t = t_start + day * MS_PER_DAY + int(rng.integers(0, MS_PER_DAY))
                r: dict[str, Any] = {
                    "read_id": f"R-{len(reads) + 1:07d}",
                    "camera_id": cam["id"],
                    "vrm": _plate(rng),
                    "ts": iso(t),
                    "confidence": round(float(rng.uniform(0.6, 1.0)), 2),
                    "direction": str(rng.choice(["N", "S", "E", "W"])),
                }
                if rng.random() < 0.5:
                    r["lat"], r["lon"] = cam["lat"], cam["lon"]
                reads.append((t, r))
            del r
    reads += _plant_vehicles(subj, registry, cams, t_start, days, seed, planted)
    reads += _plant_journeys(subj, registry, cams, t_start, seed, planted)
    _meeting_truth(subj, t_start, days, meetings, planted, brushes)
    reads.sort(key=lambda r: r[0])
    alines = [orjson.dumps(r).decode() for _, r in reads]
    alines.append(
        '{"read_id": "R-BAD-1", "camera_id": "CAM-UNKNOWN", "vrm": "AB12CDE", '
        f'"ts": "{iso(t_start)}"}}'
    )
    (out / "anpr.jsonl").write_text("\n".join(alines) + "\n", encoding="utf-8")

    (out / "registry.json").write_text(
        orjson.dumps(registry, option=orjson.OPT_INDENT_2).decode(), encoding="utf-8"
    )
    truth = {
        "seed": seed,
        "subjects": subjects,
        "days": days,
        "start": iso(t_start),
        "breaches": planted,
        "brushes": brushes,
        "faulty_units": faulty,
        "decoy_visits": decoys,
        "non_association_near_misses": near_misses,
        "fixes": len(lines) - len(bad),
        "bad_fix_records": len(bad),
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
        "spare_tags": spare_tags,
    }
    (out / "truth.json").write_text(
        orjson.dumps(truth, option=orjson.OPT_INDENT_2).decode(), encoding="utf-8"
    )
    return truth


def _plant_device_faults(
    s: _Subject,
    k: int,
    count: int,
    ts: np.ndarray,
    acc: np.ndarray,
    batt: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    visits: list,
    t_start: int,
    days: int,
    rng: np.random.Generator,
    planted: list,
    faulty: list,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Strap tampers on some tags; one faulty unit in every ten subjects or so.

    A tamper is a run of 3-8 reports with the strap open. A faulty unit has three hours
    of poor accuracy, one fix thrown 30 km, and a battery that runs down and dies four
    hours before the end of the scenario (so contact is lost while fitted).
    """
    n = len(ts)
    strap = np.array(["ok"] * n, dtype=object)
    out: dict[str, Any] = {}
    busy = [(a - 30 * MS_PER_MINUTE, b + 30 * MS_PER_MINUTE) for _, _, a, b in visits]

    def free(i0: int, i1: int) -> bool:
        return not any(ts[i0] <= b and ts[i1] >= a for a, b in busy)

    if rng.random() < 0.2 and n > 200:
        for _ in range(20):
            i0 = int(rng.integers(60, n - 60))
            i1 = i0 + int(rng.integers(3, 9))
            if free(i0, i1):
                strap[i0:i1] = "tamper"
                planted.append(
                    {
                        "kind": "strap_tamper",
                        "subject_id": s.id,
                        "order_id": "-",
                        "condition_id": s.tag,
                        "start": iso(int(ts[i0])),
                        "end": iso(int(ts[i1])),
                        "planted": True,
                    }
                )
                break
    if count >= 5 and k % 10 == 3:
        end = t_start + days * MS_PER_DAY
        death = end - 4 * MS_PER_HOUR
        if any(b > death - 60 * MS_PER_MINUTE for _, _, _, b in visits):
            return strap, out
        # Three hours of poor accuracy, mid-scenario.
        p0 = int(np.searchsorted(ts, t_start + MS_PER_DAY + 10 * MS_PER_HOUR))
        p1 = int(np.searchsorted(ts, t_start + MS_PER_DAY + 13 * MS_PER_HOUR))
        acc[p0:p1] = rng.uniform(200, 600, p1 - p0)
        # One fix thrown 30 km (a GPS fault).
        j = int(np.searchsorted(ts, t_start + MS_PER_DAY + 15 * MS_PER_HOUR))
        lat[j] += 0.27
        # The battery runs down over the last eight hours, then the tag goes quiet.
        b0 = int(np.searchsorted(ts, death - 8 * MS_PER_HOUR))
        d = int(np.searchsorted(ts, death))
        batt[b0:d] = np.linspace(40, 4, d - b0)
        out["keep"] = np.arange(n) < d
        # The silence it leaves is in the ground truth with every other (_silence_truth).
        faulty.append(
            {
                "tag_id": s.tag,
                "subject_id": s.id,
                "faults": [
                    "poor_accuracy",
                    "implausible_jump",
                    "low_battery",
                    "battery_depleted",
                    "no_contact",
                ],
            }
        )
    return strap, out


def _clear_destination(
    here: tuple[float, float],
    home: tuple[float, float],
    avoid: BaseGeometry,
    world: BaseGeometry,
    rng: np.random.Generator,
    near: float,
    far: float,
    tries: int,
) -> tuple[float, float] | None:
    """A place ``near``-``far`` metres from ``here``, in the county, reached from ``here``
    and left for ``home`` without going near any of the subject's zones."""
    for _ in range(tries):
        ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(near, far)
        p = (here[0] + dist * np.cos(ang), here[1] + dist * np.sin(ang))
        if (
            shapely.contains_xy(world, *p)
            and not avoid.contains(shapely.Point(p))
            and _segment_clear(here, p, avoid)
            and _segment_clear(p, home, avoid)
        ):
            return p
    return None


def _curfew_truth(
    s: _Subject,
    ts: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    t_start: int,
    days: int,
    visits: list,
    planted: list,
    brushes: list,
) -> None:
    """Curfew breaches from where the subject truly was, minute by minute.

    Clearly away means more than 200 m from home; home means within the 100 m radius. A
    return within five minutes either side of the grace period, or a spell away shorter
    than five minutes, is ambiguous: a "brush".
    """
    tt = Timetable.parse(CURFEW_TIMETABLE)
    grace = CURFEW_GRACE_MINUTES * MS_PER_MINUTE
    five = 5 * MS_PER_MINUTE
    d = np.hypot(tx - s.home[0], ty - s.home[1])
    far, home = d > 200.0, d <= CURFEW_RADIUS_M
    base = {"subject_id": s.id, "order_id": s.order, "condition_id": "C-3"}

    def add(kind: str, a: int, b: int, clear: bool) -> None:
        rec = {
            "kind": kind,
            **base,
            "start": iso(a),
            "end": iso(b),
            "planted": any(c == "C-3" and va <= b and a <= vb for c, _, va, vb in visits),
        }
        (planted if clear else brushes).append(rec)

    end = t_start + days * MS_PER_DAY
    for ws, we in tt.intervals(t_start, end):
        # The curfew starts with the data; the last night may run past it.
        ws, we = max(ws, t_start), min(we, end)
        m = (ts >= ws) & (ts < we)
        wts, wfar, whome = ts[m], far[m], home[m]
        if len(wts) == 0:
            continue
        i = 0
        if wfar[0]:
            back = np.flatnonzero(whome)
            if len(back) == 0:
                add("curfew_absent", ws + grace, we, True)
                continue
            r = int(wts[back[0]])
            if r - ws > grace + five:
                add("curfew_late_return", ws, r, True)
            elif r - ws >= grace - five:
                add("curfew_late_return", ws, r, False)
            i = int(back[0])
        # Spells away after being home.
        idx = np.flatnonzero(wfar[i:]) + i
        if len(idx) == 0:
            continue
        for run in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1):
            a, b = int(wts[run[0]]), int(wts[run[-1]])
            add("curfew_absent", a, b, b - a >= five)


def _silence_truth(
    s: _Subject, ts: np.ndarray, t_start: int, days: int, planted: list, brushes: list
) -> None:
    """Silences: curfew nights with more than 30 minutes without a fix (35+ clear, 25-35 a
    brush), and more than two hours without any fix (no contact; 1h55-2h05 a brush)."""
    end_all = t_start + days * MS_PER_DAY
    edges_all = np.concatenate([ts, [end_all]])
    for a0, b0 in zip(edges_all[:-1].tolist(), edges_all[1:].tolist(), strict=True):
        if b0 - a0 > 115 * MS_PER_MINUTE:
            gap = {
                "kind": "no_contact",
                "subject_id": s.id,
                "order_id": "-",
                "condition_id": s.tag,
                "start": iso(int(a0)),
                "end": iso(int(b0)),
                "planted": True,
            }
            (planted if b0 - a0 > 125 * MS_PER_MINUTE else brushes).append(gap)
    tt = Timetable.parse(CURFEW_TIMETABLE)
    end = t_start + days * MS_PER_DAY
    for ws, we in tt.intervals(t_start, end):
        ws, we = max(ws, t_start), min(we, end)
        inside = ts[(ts >= ws) & (ts < we)]
        edges = np.concatenate([[ws], inside, [we]])
        for a, b in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
            if b - a > 25 * MS_PER_MINUTE:
                rec = {
                    "kind": "curfew_no_signal",
                    "subject_id": s.id,
                    "order_id": s.order,
                    "condition_id": "C-3",
                    "start": iso(int(a)),
                    "end": iso(int(b)),
                    "planted": True,
                }
                (planted if b - a > 35 * MS_PER_MINUTE else brushes).append(rec)


def _inset(z: _Zone) -> float:
    minx, miny, maxx, maxy = z.geom.bounds
    return max(10.0, min(maxx - minx, maxy - miny) / 4)


def _plate(rng: np.random.Generator) -> str:
    letters = "ABCDEFGHJKLMNOPRSTUVWXY"
    a = "".join(rng.choice(list(letters), 2))
    b = "".join(rng.choice(list(letters), 3))
    return f"{a}{int(rng.integers(10, 75)):02d} {b}"


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


def _new_camera(cams: list[dict[str, Any]], prefix: str, x: float, y: float) -> dict[str, Any]:
    """A camera at BNG ``x, y``, added to the registry's cameras."""
    lon, lat = to_wgs84(np.array([x]), np.array([y]))
    cam = {
        "id": f"{prefix}{len(cams) + 1:04d}",
        "lat": round(float(lat[0]), 6),
        "lon": round(float(lon[0]), 6),
    }
    cams.append(cam)
    return cam


def _read_record(
    read_id: str, cam: dict[str, Any], ts: int, vrm: str, conf: float
) -> dict[str, Any]:
    """An ANPR read record by a camera of the registry (with its coordinates)."""
    return {
        "read_id": read_id,
        "camera_id": cam["id"],
        "vrm": vrm,
        "ts": iso(ts),
        "confidence": conf,
        "lat": cam["lat"],
        "lon": cam["lon"],
    }


def _plant_vehicles(
    subj: list[_Subject],
    registry: dict[str, Any],
    cams: list[dict[str, Any]],
    t_start: int,
    days: int,
    seed: int,
    planted: list[dict[str, Any]],
) -> list[tuple[int, dict[str, Any]]]:
    """Declare a vehicle for every subject and plant its ANPR reads: sightings inside an
    exclusion zone (a camera placed in the zone), sightings far from home during a curfew
    night, and innocent daytime reads elsewhere (plus a too-unsure read in a zone)."""
    rng = np.random.default_rng(seed + 15485863)  # its own stream: other plantings unchanged
    orders = {o["subject"]: o for o in registry["orders"]}
    cam_xy = to_bng(np.array([c["lon"] for c in cams]), np.array([c["lat"] for c in cams]))
    out: list[tuple[int, dict[str, Any]]] = []

    def read(cam: dict[str, Any], ts: int, vrm: str, conf: float) -> None:
        out.append((ts, _read_record(f"R-V{len(out) + 1:06d}", cam, ts, vrm, conf)))

    def new_camera(x: float, y: float) -> dict[str, Any]:
        return _new_camera(cams, "CAM-V", x, y)

    for s in subj:
        vrm = _plate(rng)
        order = orders[s.id]
        order["conditions"].append({"id": "C-5", "type": "declared_vehicles", "vrms": [vrm]})
        zones = [z.geom for _, z in s.zones]
        hx, hy = s.home

        # In an exclusion zone in the daytime (zones without a night-only schedule).
        always = [(cid, z) for cid, z in s.zones if z.schedule is None]
        if always and rng.random() < 0.6:
            cid, z = always[int(rng.integers(len(always)))]
            p = _random_point_in(z.geom, rng, inset=60.0)
            if p is not None:
                cam = new_camera(*p)
                day = int(rng.integers(0, days))
                t0 = t_start + day * MS_PER_DAY + int(rng.uniform(10, 16) * MS_PER_HOUR)
                t1 = t0 + int(rng.uniform(5, 20) * MS_PER_MINUTE)
                read(cam, t0, vrm, 0.95)
                read(cam, t1, vrm, 0.9)
                planted.append(
                    {
                        "kind": "vehicle_in_exclusion_zone",
                        "subject_id": s.id,
                        "order_id": s.order,
                        "condition_id": cid,
                        "start": iso(t0),
                        "end": iso(t1),
                        "planted": True,
                    }
                )
                # An unsure read there later: stored, never matched.
                read(cam, t1 + 3 * MS_PER_HOUR, vrm.replace(" ", ""), 0.5)
        # Far from home during a curfew night (22:00-06:00 GMT in the scenario).
        d = np.hypot(cam_xy[0] - hx, cam_xy[1] - hy)
        far = [
            k
            for k in np.flatnonzero(d > 3000).tolist()
            if _clear_of(zones, float(cam_xy[0][k]), float(cam_xy[1][k]))
        ]
        if far and days > 1 and rng.random() < 0.6:
            cam = cams[far[int(rng.integers(len(far)))]]
            day = int(rng.integers(1, days))
            ts = t_start + day * MS_PER_DAY + int(rng.uniform(0.5, 4.5) * MS_PER_HOUR)
            read(cam, ts, vrm, 0.97)
            planted.append(
                {
                    "kind": "curfew_vehicle_sighting",
                    "subject_id": s.id,
                    "order_id": s.order,
                    "condition_id": "C-3",
                    "start": iso(ts),
                    "end": iso(ts),
                    "planted": True,
                }
            )
        # Innocent driving: daytime reads away from the zones.
        for _ in range(2):
            k = int(rng.integers(len(cams)))
            x, y = to_bng(np.array([cams[k]["lon"]]), np.array([cams[k]["lat"]]))
            if not _clear_of(zones, float(x[0]), float(y[0])):
                continue
            day = int(rng.integers(0, days))
            ts = t_start + day * MS_PER_DAY + int(rng.uniform(8, 18) * MS_PER_HOUR)
            read(cams[k], ts, vrm, 0.93)
    return out


def _at(wp: list[tuple[int, float, float]], t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True positions on an itinerary at instants ``t``."""
    wt = np.array([w[0] for w in wp], float)
    return np.interp(t, wt, [w[1] for w in wp]), np.interp(t, wt, [w[2] for w in wp])


def _covered(fix_ts: np.ndarray, a: int, b: int, gap: int = 3 * MS_PER_MINUTE) -> bool:
    """Whether the fixes cover ``[a, b]`` with no silence longer than ``gap``."""
    sel = fix_ts[(fix_ts >= a - gap) & (fix_ts <= b + gap)]
    return (
        len(sel) > 1
        and int(sel[0]) <= a
        and int(sel[-1]) >= b
        and bool((np.diff(sel) <= gap).all())
    )


def _plant_visit(
    b: _Subject,
    a: _Subject,
    wp: list[tuple[int, float, float]],
    visits: list,
    avoid: BaseGeometry,
    rng: np.random.Generator,
    t_start: int,
    meet: bool,
) -> tuple[int, int] | None:
    """``b`` goes from home to where ``a`` is staying and stays 20-45 minutes (``meet``: a
    meeting), or only 3-6 minutes (a near miss: shorter than the condition's minimum).
    Changes ``b``'s itinerary ``wp`` in place; returns (arrival, departure), or None if
    nothing fitted."""
    awp = a.wp
    home = b.home
    spells = []
    for (t0, x0, y0), (t1, x1, y1) in itertools.pairwise(awp):
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
        if not _segment_clear(home, m, avoid):
            continue
        arrive = int(rng.uniform(lo + 5 * MS_PER_MINUTE, hi - 5 * MS_PER_MINUTE - stay))
        depart = arrive + stay
        leave, back = arrive - travel, depart + travel
        if back > d0 + int(21.5 * MS_PER_HOUR):
            continue
        # b must be at home, staying put, from well before leaving until well after.
        pad = 10 * MS_PER_MINUTE
        inside = [w for w in wp if leave - pad <= w[0] <= back + pad]
        bx, by = _at(wp, np.array([leave - pad, back + pad]))
        if any((w[1], w[2]) != home for w in inside) or not (
            np.allclose(bx, home[0]) and np.allclose(by, home[1])
        ):
            continue
        if any(va <= back + pad and leave - pad <= vb for _, _, va, vb in visits):
            continue
        if not _covered(a.fix_ts, arrive, depart):
            continue
        wp[:] = [w for w in wp if not leave <= w[0] <= back]
        wp += [(leave, *home), (arrive, *m), (depart, *m), (back, *home)]
        wp.sort(key=lambda w: w[0])
        visits.append(("C-6", None, leave, back))
        return arrive, depart
    return None


def _meeting_truth(
    subj: list[_Subject],
    t_start: int,
    days: int,
    meetings: list[tuple[str, int, int]],
    planted: list[dict[str, Any]],
    brushes: list[dict[str, Any]],
) -> None:
    """Non-association breaches from where both truly were, minute by minute, while both
    tags were reporting: together (within the condition's distance) for 12 minutes or
    more is a breach; for 8-12 minutes, or less, a brush."""
    grid = np.arange(t_start, t_start + days * MS_PER_DAY, MS_PER_MINUTE, dtype=np.int64)
    for b in subj:
        a = b.partner
        if a is None:
            continue
        ax, ay = _at(a.wp, grid)
        bx, by = _at(b.wp, grid)
        seen = np.ones(len(grid), bool)
        for s in (a, b):
            k = np.clip(np.searchsorted(s.fix_ts, grid), 1, len(s.fix_ts) - 1)
            near = np.minimum(np.abs(s.fix_ts[k] - grid), np.abs(s.fix_ts[k - 1] - grid))
            seen &= near <= 2 * MS_PER_MINUTE
        idx = np.flatnonzero(seen & (np.hypot(ax - bx, ay - by) <= MEETING_DISTANCE_M))
        if len(idx) == 0:
            continue
        for run in np.split(idx, np.flatnonzero(np.diff(idx) > 5) + 1):
            s0, s1 = int(grid[run[0]]), int(grid[run[-1]])
            rec = {
                "kind": "non_association",
                "subject_id": a.id,
                "order_id": a.order,
                "condition_id": "C-6",
                "other_subject_id": b.id,
                "start": iso(s0),
                "end": iso(s1),
                "planted": any(aid == a.id and ma <= s1 and s0 <= mb for aid, ma, mb in meetings),
            }
            clear = s1 - s0 >= (MEETING_MIN_MINUTES + 2) * MS_PER_MINUTE
            (planted if clear else brushes).append(rec)


def _plant_journeys(
    subj: list[_Subject],
    registry: dict[str, Any],
    cams: list[dict[str, Any]],
    t_start: int,
    seed: int,
    planted: list[dict[str, Any]],
) -> list[tuple[int, dict[str, Any]]]:
    """Rides in cars past ANPR cameras placed on the subject's route: in an undeclared
    car (a journey to find: three cameras; the car is read again, away from the subject,
    after dropping them off), or in the subject's declared car (nothing to find). Passing
    traffic is read beside the subject at each camera (co-located at one camera only)."""
    rng = np.random.default_rng(seed + 32452843)  # its own stream
    orders = {o["subject"]: o for o in registry["orders"]}
    out: list[tuple[int, dict[str, Any]]] = []

    def read(cam: dict[str, Any], ts: int, vrm: str) -> None:
        conf = round(float(rng.uniform(0.85, 0.99)), 2)
        out.append((ts, _read_record(f"R-J{len(out) + 1:06d}", cam, ts, vrm, conf)))

    for s in subj:
        declared = next(
            c["vrms"][0] for c in orders[s.id]["conditions"] if c["type"] == "declared_vehicles"
        )
        legs = []
        for (t0, x0, y0), (t1, x1, y1) in zip(s.wp, s.wp[1:], strict=False):
            hour = (t0 - t_start) % MS_PER_DAY / MS_PER_HOUR
            if (
                (x0, y0) != (x1, y1)
                and 6 * MS_PER_MINUTE <= t1 - t0 <= 40 * MS_PER_MINUTE  # a drive ...
                and np.hypot(x1 - x0, y1 - y0) >= 150 * (t1 - t0) / MS_PER_MINUTE  # ... 9+ km/h
                and 8 <= hour <= 19
                and not any(va - MS_PER_HOUR <= t1 and t0 <= vb + MS_PER_HOUR
                            for c, _, va, vb in s.visits if c != "C-6")
                and _covered(s.fix_ts, t0, t1, 2 * MS_PER_MINUTE)
            ):  # fmt: skip
                legs.append((t0, t1, (x0, y0), (x1, y1)))
        rng.shuffle(legs)  # type: ignore[arg-type]
        plans = []
        if legs and rng.random() < 0.6:
            plans.append((legs.pop(), _plate(rng), True))
        if legs and rng.random() < 0.5:
            plans.append((legs.pop(), declared, False))
        for (t0, t1, p0, p1), vrm, undeclared in plans:
            ux, uy = (p1[0] - p0[0], p1[1] - p0[1])
            norm = float(np.hypot(ux, uy))
            nx, ny = -uy / norm, ux / norm
            times = []
            for f in (0.2, 0.5, 0.8):
                t = t0 + int(f * (t1 - t0))
                side = float(rng.uniform(20, 50)) * (1 if rng.random() < 0.5 else -1)
                x = p0[0] + f * ux + side * nx
                y = p0[1] + f * uy + side * ny
                cam = _new_camera(cams, "CAM-R", x, y)
                read(cam, t, vrm)
                for _ in range(2):  # passing traffic, beside the subject at this camera only
                    read(cam, t + int(rng.integers(-40, 40)) * 1000, _plate(rng))
                times.append(t)
            if undeclared:
                # Dropped off at the end; the car drives on and is read 3+ km away.
                far = cams[int(rng.integers(len(cams)))]
                fx, fy = to_bng(np.array([far["lon"]]), np.array([far["lat"]]))
                if np.hypot(fx[0] - p1[0], fy[0] - p1[1]) > 3000:
                    read(far, t1 + 10 * MS_PER_MINUTE, vrm)
                planted.append(
                    {
                        "kind": "undeclared_vehicle",
                        "subject_id": s.id,
                        "order_id": s.order,
                        "condition_id": "C-5",
                        "vrm": vrm,
                        "start": iso(times[0]),
                        "end": iso(times[-1]),
                        "planted": True,
                    }
                )
    return out


def _clear_of(zones: list[BaseGeometry], x: float, y: float, margin: float = 50.0) -> bool:
    """Whether a point is at least ``margin`` metres outside all of ``zones``."""
    pt = shapely.Point(x, y)
    return not any(z.buffer(margin).covers(pt) for z in zones)


def score(
    truth: dict[str, Any],
    candidates: list[Any],
    kinds: tuple[str, ...] = ("exclusion_zone",),
    slack_ms: int = 10 * MS_PER_MINUTE,
) -> dict[str, Any]:
    """Recall and precision of candidates against planted breaches.

    A candidate matches a planted breach of the same subject, condition and kind whose time
    span overlaps its own (with ``slack_ms`` either side).
    """
    planted = [b for b in truth["breaches"] if b["kind"] in kinds]
    brushes = [b for b in truth.get("brushes", []) if b["kind"] in kinds]
    cands = [c for c in candidates if c.kind in kinds]
    found = 0
    matched: set[str] = set()
    for b in planted + brushes:
        bs, be = parse_ts(b["start"]) - slack_ms, parse_ts(b["end"]) + slack_ms
        hits = [
            c
            for c in cands
            if c.subject_id == b["subject_id"]
            and c.condition_id == b["condition_id"]
            and c.order_id == b["order_id"]
            and c.opened_at <= be
            and (c.closed_at or c.last_evidence_at) >= bs
        ]
        if hits:
            found += b in planted
            matched.update(c.id for c in hits)
    recall = found / len(planted) if planted else 1.0
    precision = len(matched) / len(cands) if cands else 1.0
    return {
        "planted": len(planted),
        "found": found,
        "candidates": len(cands),
        "matching": len(matched),
        "recall": recall,
        "precision": precision,
        "false_alerts": [c.id for c in cands if c.id not in matched],
    }
