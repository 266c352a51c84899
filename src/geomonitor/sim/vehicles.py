"""Planting steps for ANPR: passing traffic at every camera, declared vehicles seen in
zones and during curfews, and rides in undeclared cars past cameras on the route."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..model.crs import to_bng, to_wgs84
from ..model.times import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, iso
from .scenario import Scenario, SimSubject, clear_of, covered, plate, random_point_in

#: A read record and its event time.
TimedRead = tuple[int, dict[str, Any]]


def new_camera(cams: list[dict[str, Any]], prefix: str, x: float, y: float) -> dict[str, Any]:
    """A camera at BNG ``x, y``, added to the registry's cameras."""
    lon, lat = to_wgs84(np.array([x]), np.array([y]))
    cam = {
        "id": f"{prefix}{len(cams) + 1:04d}",
        "lat": round(float(lat[0]), 6),
        "lon": round(float(lon[0]), 6),
    }
    cams.append(cam)
    return cam


def read_record(
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


def passing_traffic(sc: Scenario) -> list[TimedRead]:
    """Strangers' cars at each camera every day; some reads rely on the camera registry."""
    rng = sc.rng
    reads: list[TimedRead] = []
    for day in range(sc.days):
        for cam in sc.cams:
            for _ in range(int(rng.integers(20, 60))):
                t = sc.t_start + day * MS_PER_DAY + int(rng.integers(0, MS_PER_DAY))
                r: dict[str, Any] = {
                    "read_id": f"R-{len(reads) + 1:07d}",
                    "camera_id": cam["id"],
                    "vrm": plate(rng),
                    "ts": iso(t),
                    "confidence": round(float(rng.uniform(0.6, 1.0)), 2),
                    "direction": str(rng.choice(["N", "S", "E", "W"])),
                }
                if rng.random() < 0.5:
                    r["lat"], r["lon"] = cam["lat"], cam["lon"]
                reads.append((t, r))
    return reads


def plant_vehicles(sc: Scenario) -> list[TimedRead]:
    """Declare a vehicle for every subject and plant its ANPR reads: sightings inside an
    exclusion zone (a camera placed in the zone), sightings far from home during a curfew
    night, and innocent daytime reads elsewhere (plus a too-unsure read in a zone)."""
    rng = np.random.default_rng(sc.seed + 15485863)  # its own stream
    orders = {o["subject"]: o for o in sc.registry["orders"]}
    cams = sc.cams
    cam_xy = to_bng(np.array([c["lon"] for c in cams]), np.array([c["lat"] for c in cams]))
    out: list[TimedRead] = []

    def read(cam: dict[str, Any], ts: int, vrm: str, conf: float) -> None:
        out.append((ts, read_record(f"R-V{len(out) + 1:06d}", cam, ts, vrm, conf)))

    for s in sc.people:
        vrm = plate(rng)
        orders[s.id]["conditions"].append({"id": "C-5", "type": "declared_vehicles", "vrms": [vrm]})
        zones = [z.geom for _, z in s.zones]
        hx, hy = s.home
        # In an exclusion zone in the daytime (zones without a night-only schedule).
        always = [(cid, z) for cid, z in s.zones if z.schedule is None]
        if always and rng.random() < 0.6:
            cid, z = always[int(rng.integers(len(always)))]
            p = random_point_in(z.geom, rng, inset=60.0)
            if p is not None:
                cam = new_camera(cams, "CAM-V", *p)
                day = int(rng.integers(0, sc.days))
                t0 = sc.t_start + day * MS_PER_DAY + int(rng.uniform(10, 16) * MS_PER_HOUR)
                t1 = t0 + int(rng.uniform(5, 20) * MS_PER_MINUTE)
                read(cam, t0, vrm, 0.95)
                read(cam, t1, vrm, 0.9)
                sc.planted.append(_sighting("vehicle_in_exclusion_zone", s, cid, t0, t1))
                # An unsure read there later: stored, never matched.
                read(cam, t1 + 3 * MS_PER_HOUR, vrm.replace(" ", ""), 0.5)
        # Far from home during a curfew night (22:00-06:00 GMT in the scenario).
        d = np.hypot(cam_xy[0] - hx, cam_xy[1] - hy)
        far = [
            k
            for k in np.flatnonzero(d > 3000).tolist()
            if clear_of(zones, float(cam_xy[0][k]), float(cam_xy[1][k]))
        ]
        if far and sc.days > 1 and rng.random() < 0.6:
            cam = cams[far[int(rng.integers(len(far)))]]
            day = int(rng.integers(1, sc.days))
            ts = sc.t_start + day * MS_PER_DAY + int(rng.uniform(0.5, 4.5) * MS_PER_HOUR)
            read(cam, ts, vrm, 0.97)
            sc.planted.append(_sighting("curfew_vehicle_sighting", s, "C-3", ts, ts))
        # Innocent driving: daytime reads away from the zones.
        for _ in range(2):
            k = int(rng.integers(len(cams)))
            x, y = to_bng(np.array([cams[k]["lon"]]), np.array([cams[k]["lat"]]))
            if not clear_of(zones, float(x[0]), float(y[0])):
                continue
            day = int(rng.integers(0, sc.days))
            ts = sc.t_start + day * MS_PER_DAY + int(rng.uniform(8, 18) * MS_PER_HOUR)
            read(cams[k], ts, vrm, 0.93)
    return out


def _sighting(kind: str, s: SimSubject, cid: str, a: int, b: int) -> dict[str, Any]:
    return {
        "kind": kind,
        "subject_id": s.id,
        "order_id": s.order,
        "condition_id": cid,
        "start": iso(a),
        "end": iso(b),
        "planted": True,
    }


def _drives(sc: Scenario, s: SimSubject) -> list[tuple[int, int, Any, Any]]:
    """Legs of the subject's day that are drives with the tag reporting throughout."""
    legs = []
    for (t0, x0, y0), (t1, x1, y1) in zip(s.wp, s.wp[1:], strict=False):
        hour = (t0 - sc.t_start) % MS_PER_DAY / MS_PER_HOUR
        if (
            (x0, y0) != (x1, y1)
            and 6 * MS_PER_MINUTE <= t1 - t0 <= 40 * MS_PER_MINUTE  # a drive ...
            and np.hypot(x1 - x0, y1 - y0) >= 150 * (t1 - t0) / MS_PER_MINUTE  # ... 9+ km/h
            and 8 <= hour <= 19
            and not any(va - MS_PER_HOUR <= t1 and t0 <= vb + MS_PER_HOUR
                        for c, _, va, vb in s.visits if c != "C-6")
            and covered(s.fix_ts, t0, t1, 2 * MS_PER_MINUTE)
        ):  # fmt: skip
            legs.append((t0, t1, (x0, y0), (x1, y1)))
    return legs


def plant_journeys(sc: Scenario) -> list[TimedRead]:
    """Rides in cars past ANPR cameras placed on the subject's route: in an undeclared
    car (a journey to find: three cameras; the car is read again, away from the subject,
    after dropping them off), or in the subject's declared car (nothing to find). Passing
    traffic is read beside the subject at each camera (co-located at one camera only)."""
    rng = np.random.default_rng(sc.seed + 32452843)  # its own stream
    orders = {o["subject"]: o for o in sc.registry["orders"]}
    cams = sc.cams
    out: list[TimedRead] = []

    def read(cam: dict[str, Any], ts: int, vrm: str) -> None:
        conf = round(float(rng.uniform(0.85, 0.99)), 2)
        out.append((ts, read_record(f"R-J{len(out) + 1:06d}", cam, ts, vrm, conf)))

    for s in sc.people:
        declared = next(
            c["vrms"][0] for c in orders[s.id]["conditions"] if c["type"] == "declared_vehicles"
        )
        legs = _drives(sc, s)
        rng.shuffle(legs)  # type: ignore[arg-type]
        plans = []
        if legs and rng.random() < 0.6:
            plans.append((legs.pop(), plate(rng), True))
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
                cam = new_camera(cams, "CAM-R", x, y)
                read(cam, t, vrm)
                for _ in range(2):  # passing traffic, beside the subject at this camera only
                    read(cam, t + int(rng.integers(-40, 40)) * 1000, plate(rng))
                times.append(t)
            if undeclared:
                # Dropped off at the end; the car drives on and is read 3+ km away.
                far = cams[int(rng.integers(len(cams)))]
                fx, fy = to_bng(np.array([far["lon"]]), np.array([far["lat"]]))
                if np.hypot(fx[0] - p1[0], fy[0] - p1[1]) > 3000:
                    read(far, t1 + 10 * MS_PER_MINUTE, vrm)
                sc.planted.append(
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
