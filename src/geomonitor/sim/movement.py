"""Planting steps for where subjects go and what their tags report: everyday itineraries
that keep clear of their zones, planted zone and curfew breaches, decoys that are not
breaches, and the minute fixes along the itinerary with realistic noise, gaps and
store-and-forward delays."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from ..model.crs import to_wgs84
from ..model.times import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, iso, parse_ts
from ..rules.config import AssociationConfig
from .devices import plant_device_faults
from .meetings import plant_visit
from .orders import (
    authorised_visit_day,
    late_every_night,
    plant_authorised_visit,
    plant_late_return,
)
from .scenario import (
    Scenario,
    SimSubject,
    Visit,
    Waypoints,
    clear_destination,
    inset,
    random_point_in,
    segment_clear,
)
from .truth import curfew_truth, silence_truth, zone_truth


def plant_movements(sc: Scenario) -> None:
    """Each subject's days, visits and fixes, in subject order."""
    for s in sc.people:
        avoid = shapely.union_all([z.geom.buffer(400) for _, z in s.zones])
        waypoints: Waypoints = [(sc.t_start, *s.home)]
        visits: list[Visit] = []
        for day in range(sc.days):
            waypoints = _plant_day(sc, s, day, waypoints, visits, avoid)
        waypoints.append((sc.end, *s.home))
        waypoints.sort(key=lambda w: w[0])
        if s.partner is not None:
            _plant_meetings(sc, s, waypoints, visits, avoid)
        _plant_fixes(sc, s, waypoints, visits)


def _plant_day(
    sc: Scenario,
    s: SimSubject,
    day: int,
    waypoints: Waypoints,
    visits: list[Visit],
    avoid: BaseGeometry,
) -> Waypoints:
    """One day: out on 1-3 errands clear of every zone and home again; then maybe a zone
    breach, or else maybe a decoy; and maybe a curfew breach."""
    rng, home = sc.rng, s.home
    d0 = sc.t_start + day * MS_PER_DAY
    t = d0 + int(rng.uniform(7.5, 9.5) * MS_PER_HOUR)
    waypoints.append((t, *home))
    here = home
    for _ in range(int(rng.integers(1, 4))):
        dest = clear_destination(here, home, avoid, sc.world, rng, 800, 7000, 60)
        if dest is None:
            continue
        t = sc.go(t, here, dest, waypoints)
        t += int(rng.uniform(0.5, 3.0) * MS_PER_HOUR)
        waypoints.append((t, *dest))
        here = dest
    t = sc.go(t, here, home, waypoints)
    waypoints.append((t, *home))
    special = late_every_night(s) or authorised_visit_day(sc, s) == day
    # A subject with a planting of orders that evening keeps the ordinary plantings' random
    # draws (on copies, thrown away), so the rest of the scenario does not change.
    mine, mine_visits = (list(waypoints), list(visits)) if special else (waypoints, visits)
    if rng.random() < sc.breach_rate:
        _plant_zone_breach(sc, s, d0, t, mine, mine_visits)
    elif rng.random() < 0.5:
        mine = _plant_decoy(sc, s, d0, t, mine)
    if not any(d0 <= a < d0 + MS_PER_DAY for _, _, a, _ in mine_visits):
        _plant_curfew_breaches(sc, s, d0, mine, mine_visits, avoid)
    if not special:
        return mine
    if late_every_night(s):
        plant_late_return(sc, s, d0, waypoints, visits, avoid)
    else:
        plant_authorised_visit(sc, s, d0, waypoints, visits, avoid)
    return waypoints


def _plant_zone_breach(
    sc: Scenario, s: SimSubject, d0: int, t: int, waypoints: Waypoints, visits: list[Visit]
) -> None:
    """Go into a zone (while it applies), stay 15-60 minutes, come home."""
    rng, home = sc.rng, s.home
    cid, z = s.zones[int(rng.integers(len(s.zones)))]
    if z.schedule is not None:
        t_go = d0 + int(rng.uniform(20.5, 22.0) * MS_PER_HOUR)
    else:
        t_go = max(t + 30 * MS_PER_MINUTE, d0 + int(rng.uniform(18.0, 21.0) * MS_PER_HOUR))
    target = random_point_in(z.geom, rng, inset=min(150.0, inset(z)))
    if target is not None and t_go < d0 + 23 * MS_PER_HOUR:
        waypoints.append((t_go, *home))
        t_in = sc.go(t_go, home, target, waypoints)
        t_out = t_in + int(rng.uniform(15, 60) * MS_PER_MINUTE)
        waypoints.append((t_out, *target))
        t_back = sc.go(t_out, target, home, waypoints)
        waypoints.append((t_back, *home))
        visits.append((cid, z, t_go, t_back))


def _plant_decoy(sc: Scenario, s: SimSubject, d0: int, t: int, waypoints: Waypoints) -> Waypoints:
    """Near a zone but outside it, or in a night-only zone by day: not a breach."""
    rng, home = sc.rng, s.home
    _, z = s.zones[int(rng.integers(len(s.zones)))]
    t_go = max(t + 30 * MS_PER_MINUTE, d0 + int(rng.uniform(17.0, 19.0) * MS_PER_HOUR))
    if z.schedule is not None:
        t_go = d0 + int(rng.uniform(10.0, 14.0) * MS_PER_HOUR)
        target = random_point_in(z.geom, rng, inset=min(150.0, inset(z)))
        waypoints = [w for w in waypoints if w[0] < t_go] + [(t_go, *home)]
    else:
        ring = z.geom.buffer(260).difference(z.geom.buffer(160))
        target = None
        for _ in range(30):
            p = random_point_in(ring, rng)
            if p is not None and segment_clear(home, p, z.geom.buffer(100)):
                target = p
                break
    if target is not None:
        t_in = sc.go(t_go, waypoints[-1][1:], target, waypoints)
        t_out = t_in + int(rng.uniform(15, 40) * MS_PER_MINUTE)
        waypoints.append((t_out, *target))
        t_back = sc.go(t_out, target, home, waypoints)
        waypoints.append((t_back, *home))
        if z.schedule is not None:
            # carry on with the rest of the day after the daytime visit
            waypoints.append((max(t_back, t), *home))
        sc.decoys += 1
    return waypoints


def _plant_curfew_breaches(
    sc: Scenario,
    s: SimSubject,
    d0: int,
    waypoints: Waypoints,
    visits: list[Visit],
    avoid: BaseGeometry,
) -> None:
    """Out late and home after the grace period, or out in the night (their own random
    stream, so the rest of the scenario is unchanged)."""
    rng_c, home = sc.rng_c, s.home
    last = max(w[0] for w in waypoints)
    dest = clear_destination(home, home, avoid, sc.world, rng_c, 1500, 4000, 40)
    if dest is not None and rng_c.random() < 0.25:
        t_leave = d0 + int(rng_c.uniform(21.0, 21.3) * MS_PER_HOUR)
        t_home = d0 + int(rng_c.uniform(22.45, 23.5) * MS_PER_HOUR)
        if t_leave > last + 10 * MS_PER_MINUTE:
            waypoints.append((t_leave, *home))
            t_there = sc.go(t_leave, home, dest, waypoints)
            travel = t_there - t_leave
            waypoints.append((t_home - travel, *dest))
            waypoints.append((t_home, *home))
            visits.append(("C-3", None, t_leave, t_home))
    dest = clear_destination(home, home, avoid, sc.world, rng_c, 1500, 4000, 40)
    if dest is not None and rng_c.random() < 0.25:
        t_leave = d0 + int(rng_c.uniform(24.5, 26.0) * MS_PER_HOUR)
        if t_leave + 3 * MS_PER_HOUR < sc.end:
            waypoints.append((t_leave, *home))
            t_there = sc.go(t_leave, home, dest, waypoints)
            t_stay = t_there + int(rng_c.uniform(30, 90) * MS_PER_MINUTE)
            waypoints.append((t_stay, *dest))
            t_back = sc.go(t_stay, dest, home, waypoints)
            waypoints.append((t_back, *home))
            visits.append(("C-3", None, t_leave, t_back))


def _plant_meetings(
    sc: Scenario, s: SimSubject, waypoints: Waypoints, visits: list[Visit], avoid: BaseGeometry
) -> None:
    """A visit to the subject this one must not meet, and a call too short to count."""
    assert s.partner is not None
    for meet in (True, False):
        met = plant_visit(s, s.partner, waypoints, visits, avoid, sc.rng_m, sc.t_start, meet)
        if met is None:
            continue
        if meet:
            sc.meetings.append((s.partner.id, *met))
        else:
            sc.near_misses.append(
                {"subject_id": s.partner.id, "start": iso(met[0]), "end": iso(met[1])}
            )


def _plant_fixes(sc: Scenario, s: SimSubject, waypoints: Waypoints, visits: list[Visit]) -> None:
    """Fixes once a minute (with jitter) along the itinerary, with signal gaps, noise,
    outliers and store-and-forward delays; device faults, outages, cell blips, a fitting
    in the evening; and the truth of what the tag could see."""
    rng = sc.rng
    ts_all = np.arange(sc.t_start, sc.end, MS_PER_MINUTE, dtype=np.int64)
    ts_all = ts_all + rng.integers(0, 5000, len(ts_all))
    wt = np.array([w[0] for w in waypoints], float)
    tx_all = np.interp(ts_all, wt, [w[1] for w in waypoints])
    ty_all = np.interp(ts_all, wt, [w[2] for w in waypoints])
    keep = _signal_gaps(sc, ts_all, visits)
    ts, tx, ty = ts_all[keep], tx_all[keep], ty_all[keep]
    acc, source, lat, lon, batt = _reported_positions(sc, tx, ty)
    arrival = _arrival(sc, ts)
    strap, keep_dev = plant_device_faults(sc, s, ts, acc, batt, lat, lon, visits)
    if keep_dev is not None:
        ts, tx, ty, lat, lon, acc, batt, strap, source, arrival = (
            a[keep_dev] for a in (ts, tx, ty, lat, lon, acc, batt, strap, source, arrival)
        )
    dup = rng.random(len(ts)) < 0.005
    delay = np.zeros(len(ts), np.int64)
    for k in np.flatnonzero(dup).tolist():
        delay[k] = int(rng.integers(1, 120)) * MS_PER_MINUTE
    # What the tag could see: not before it was fitted, not during an outage.
    outage = _plant_outage(sc, s, visits)
    _plant_cell_blips(sc, s, ts, tx, ty, lat, lon, acc, source)

    def seen(t: np.ndarray) -> np.ndarray:
        ok = t >= (s.fitted_at or sc.t_start)
        if outage is not None:
            ok &= (t < outage[0]) | (t >= outage[1])
        return ok

    m = seen(ts)
    # A tamper planted where the tag could not see it is no breach to find.
    sc.planted[:] = [
        b
        for b in sc.planted
        if not (b["kind"] == "strap_tamper" and b["subject_id"] == s.id)
        or bool(seen(np.array([parse_ts(b["start"]), parse_ts(b["end"])])).all())
    ]
    ts, tx, ty, lat, lon, acc, batt, strap, source, arrival, dup, delay = (
        a[m] for a in (ts, tx, ty, lat, lon, acc, batt, strap, source, arrival, dup, delay)
    )
    m_all = seen(ts_all)
    curfew_truth(sc, s, ts_all[m_all], tx_all[m_all], ty_all[m_all], visits)
    zone_truth(sc, s, ts, tx, ty, visits)
    silence_truth(sc, s, ts)
    # The fixes that can place the subject beside someone or something.
    usable = acc <= AssociationConfig.max_accuracy_m
    s.wp, s.fix_ts, s.visits = waypoints, ts[usable].copy(), visits
    for k in range(len(ts)):
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
        sc.add_fix(int(arrival[k]), rec)
        if dup[k]:
            sc.add_fix(int(arrival[k]) + int(delay[k]), rec)


def _plant_outage(sc: Scenario, s: SimSubject, visits: list[Visit]) -> tuple[int, int] | None:
    """One subject in five or so has a tag silent for 30-40 hours from the first evening,
    across two curfew nights (its own random stream); never a unit planted faulty. What
    happened meanwhile cannot be seen, so it is not in the truth."""
    rng = sc.rng_o
    pick, start_h, hours = rng.random(), rng.uniform(19.0, 21.0), rng.uniform(30.0, 40.0)
    if pick >= 0.2 or sc.days < 3 or any(f["tag_id"] == s.tag for f in sc.faulty):
        return None
    a = sc.t_start + int(start_h * MS_PER_HOUR)
    b = a + int(hours * MS_PER_HOUR)
    if b > sc.end - 6 * MS_PER_HOUR or s.fitted_at is not None:
        return None
    sc.outages.append({"tag_id": s.tag, "subject_id": s.id, "start": iso(a), "end": iso(b)})
    return a, b


def _plant_cell_blips(
    sc: Scenario,
    s: SimSubject,
    ts: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    acc: np.ndarray,
    source: np.ndarray,
) -> None:
    """Two consecutive wide cell fixes 600-900 m from home in the small hours, while the
    subject is truly at home (their own random stream): never an absence."""
    rng = sc.rng_b
    pick, day, hour = rng.random(), int(rng.integers(0, max(sc.days - 1, 1))), rng.uniform(1, 4)
    ang, dist, a1, a2 = rng.uniform(0, 2 * np.pi), rng.uniform(600, 900), *rng.uniform(300, 700, 2)
    if pick >= 0.3:
        return
    t = sc.t_start + day * MS_PER_DAY + MS_PER_DAY + int(hour * MS_PER_HOUR)  # the next night
    k = int(np.searchsorted(ts, t))
    if k < 2 or k + 3 >= len(ts):
        return
    near = np.hypot(tx[k - 2 : k + 4] - s.home[0], ty[k - 2 : k + 4] - s.home[1])
    if (near > 30).any() or ts[k + 3] - ts[k - 2] > 7 * MS_PER_MINUTE:
        return
    bx, by = s.home[0] + dist * np.cos(ang), s.home[1] + dist * np.sin(ang)
    blon, blat = to_wgs84(np.array([bx, bx]), np.array([by, by]))
    lat[k : k + 2], lon[k : k + 2] = blat, blon
    acc[k : k + 2] = (a1, a2)
    source[k : k + 2] = "cell"
    sc.cell_blips += 1


def _signal_gaps(sc: Scenario, ts: np.ndarray, visits: list[Visit]) -> np.ndarray:
    """Which fixes survive 0-2 gaps a day of 20-90 minutes, never during a planted visit."""
    rng = sc.rng
    keep = np.ones(len(ts), bool)
    for _ in range(int(rng.integers(0, 2 * sc.days + 1))):
        g0 = int(rng.integers(0, len(ts)))
        glen = int(rng.integers(20, 90))
        gs, ge = ts[g0], ts[min(g0 + glen, len(ts) - 1)]
        if any(
            gs <= b + 10 * MS_PER_MINUTE and ge >= a - 10 * MS_PER_MINUTE for _, _, a, b in visits
        ):
            continue
        keep[g0 : g0 + glen] = False
    return keep


def _reported_positions(
    sc: Scenario, tx: np.ndarray, ty: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy, source, reported latitude and longitude, and battery of each fix: GPS
    noise scaled to the accuracy, some wifi and cell fixes, rare wild outliers."""
    rng = sc.rng
    n = len(tx)
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
    return acc, source, lat, lon, batt


def _arrival(sc: Scenario, ts: np.ndarray) -> np.ndarray:
    """Arrival times: in order, except store-and-forward batches that arrive hours late."""
    rng = sc.rng
    n = len(ts)
    arrival = ts.copy()
    for _ in range(int(rng.integers(1, 3 * sc.days + 2))):
        b0 = int(rng.integers(0, n))
        blen = int(rng.integers(15, 180))
        arrival[b0 : b0 + blen] = ts[min(b0 + blen, n - 1)] + int(rng.uniform(1, 6) * MS_PER_HOUR)
    return arrival
