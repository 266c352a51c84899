"""ANPR read matching throughput: declared vehicles, exclusion zones, curfews, and
undeclared vehicles against the subjects' trails.

The scenario, over West Yorkshire (BNG 400-450 km east, 410-455 km north):

* 2,000 cameras; 100,000 vehicles: 2 declared by each of ``--subjects`` subjects (default
  1,000), the rest background traffic, read with a skewed popularity (some cars are on the
  road all day);
* each subject has an exclusion zone (a 400 m circle), a curfew at home (22:00-06:00), a
  ``declared_vehicles`` condition, and a tag trail for the whole day (a fix a minute, trips
  at up to 20 m/s from home); every ~20th subject also rides in an undeclared car past
  cameras (planted journeys) and drives its declared car past others;
* ``--reads`` reads (default 1,000,000) spread over that day.

Prints:

* engine: reads/s of ``Engine.process_reads`` on parsed reads in batches of ``--batch``
  (all three declared-vehicle rules and the undeclared-vehicle rule), one core;
* naive: reads/s of a per-read scan doing the same co-location test (every subject's trail
  interpolated at the read's time) and a scan of every declaration, on a sample, in the
  same run; the co-locations both find in the sample are compared;
* setup: fixes/s of building the trails through ``Engine.process``.

Machines are noisy: compare the ratio, not absolute figures.

    python bench/anpr_bench.py                          # the full benchmark (a few minutes)
    python bench/anpr_bench.py --subjects 50 --reads 50000 --naive-sample 500   # a look
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from geomonitor.engine import Engine
from geomonitor.model.crs import to_wgs84
from geomonitor.model.fix import FixBatch
from geomonitor.model.read import Read
from geomonitor.model.registry_load import parse_registry
from geomonitor.model.times import MS_PER_DAY, MS_PER_MINUTE, parse_ts

T0 = parse_ts("2026-11-16T00:00:00Z")
X0, X1, Y0, Y1 = 400_000.0, 450_000.0, 410_000.0, 455_000.0
LETTERS = np.array(list("ABCDEFGHJKLMNOPRSTUVWXY"))


def plates(rng: np.random.Generator, n: int) -> list[str]:
    a = rng.choice(LETTERS, (n, 5))
    d = rng.integers(10, 75, n)
    return [f"{r[0]}{r[1]}{k:02d}{r[2]}{r[3]}{r[4]}" for r, k in zip(a, d, strict=True)]


def build(subjects: int, n_reads: int, cameras: int, vehicles: int, seed: int):
    rng = np.random.default_rng(seed)
    cam_x = rng.uniform(X0, X1, cameras)
    cam_y = rng.uniform(Y0, Y1, cameras)
    cam_lon, cam_lat = to_wgs84(cam_x, cam_y)
    vrms = plates(rng, vehicles)
    homes = np.stack([rng.uniform(X0 + 2000, X1 - 2000, subjects),
                      rng.uniform(Y0 + 2000, Y1 - 2000, subjects)], 1)  # fmt: skip
    hlon, hlat = to_wgs84(homes[:, 0], homes[:, 1])
    zlon, zlat = to_wgs84(homes[:, 0] + 3000, homes[:, 1])
    doc: dict = {
        "districts": [{"code": "E08000035", "name": "Leeds"}],
        "zones": [],
        "subjects": [],
        "orders": [],
        "tags": [],
        "fittings": [],
        "cameras": [
            {"id": f"CAM-{k:05d}", "lat": float(cam_lat[k]), "lon": float(cam_lon[k])}
            for k in range(cameras)
        ],
    }
    for i in range(subjects):
        sid, tag = f"S-{i:05d}", f"BUD-{i:05d}"
        doc["zones"].append({"id": f"Z-{i:05d}", "center": {"lat": float(zlat[i]),
                             "lon": float(zlon[i])}, "radius_m": 400})  # fmt: skip
        doc["subjects"].append({"id": sid, "district": "Leeds", "birth_date": "1990-01-01"})
        doc["tags"].append({"id": tag, "district": "Leeds"})
        doc["fittings"].append({"tag": tag, "subject": sid, "fitted_at": "2026-01-01T00:00:00Z",
                                "consent": {"recorded_at": "2026-01-01T00:00:00Z"}})  # fmt: skip
        doc["orders"].append({
            "id": f"O-{i:05d}", "subject": sid, "type": "scpo", "starts": "2026-01-01T00:00:00Z",
            "conditions": [
                {"id": "C-1", "type": "exclusion_zone", "zone": f"Z-{i:05d}"},
                {"id": "C-2", "type": "curfew", "radius_m": 100,
                 "location": {"lat": float(hlat[i]), "lon": float(hlon[i])},
                 "timetable": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                "start": "22:00", "end": "06:00"}]},
                {"id": "C-3", "type": "declared_vehicles", "vrms": vrms[2 * i : 2 * i + 2]},
            ],
        })  # fmt: skip
    registry = parse_registry(doc)

    # Trails: home at night, one or two trips by day at up to 20 m/s.
    minutes = np.arange(0, 24 * 60)
    fix_cols: dict[str, list] = {"tag": [], "ts": [], "x": [], "y": [], "acc": []}
    planted: list[Read] = []
    for i in range(subjects):
        hx, hy = homes[i]
        px, py = np.full(len(minutes), hx), np.full(len(minutes), hy)
        day_trips = int(rng.integers(1, 3))
        for trip in range(day_trips):
            t0 = int(rng.integers(8 * 60, 12 * 60)) + trip * 5 * 60  # trips never overlap
            dur = int(rng.integers(20, 90))
            ang = rng.uniform(0, 2 * np.pi)
            speed = rng.uniform(5, 20) * 60  # metres a minute
            out = np.arange(dur)
            leg = np.minimum(out, dur - out) * speed
            px[t0 : t0 + dur] = hx + leg * np.cos(ang)
            py[t0 : t0 + dur] = hy + leg * np.sin(ang)
            if i % 20 == 0:
                # In a car that is not declared (or, every other time, is): read by cameras
                # on the way out, placed where the car passes.
                car = vrms[2 * subjects + i] if (i // 20) % 2 == 0 else vrms[2 * i]
                for k in (2, 5, 8):
                    if k < dur // 2:
                        t = T0 + (t0 + k) * MS_PER_MINUTE + 20_000
                        # Where the car is 20 s past the minute (1/3 of the way on).
                        cx = px[t0 + k] + (px[t0 + k + 1] - px[t0 + k]) / 3
                        cy = py[t0 + k] + (py[t0 + k + 1] - py[t0 + k]) / 3
                        lon, lat = to_wgs84(np.array([cx + 30]), np.array([cy]))
                        planted.append(Read(f"P-{i}-{t0}-{k}", f"CAM-P{i}-{k}", car, car, t,
                                            float(lat[0]), float(lon[0]), 0.95, None))  # fmt: skip
        noise = rng.normal(0, 5, (2, len(minutes)))
        fix_cols["tag"] += [f"BUD-{i:05d}"] * len(minutes)
        fix_cols["ts"].append(T0 + minutes * MS_PER_MINUTE + rng.integers(0, 5000, len(minutes)))
        fix_cols["x"].append(px + noise[0])
        fix_cols["y"].append(py + noise[1])
        fix_cols["acc"].append(rng.uniform(4, 30, len(minutes)))
    ts = np.concatenate(fix_cols["ts"])
    x, y = np.concatenate(fix_cols["x"]), np.concatenate(fix_cols["y"])
    acc = np.concatenate(fix_cols["acc"])
    lon, lat = to_wgs84(x, y)
    order = np.argsort(ts, kind="stable")
    tags = np.array(fix_cols["tag"], dtype=object)
    rows = [
        (tags[k], int(ts[k]), float(lat[k]), float(lon[k]), float(acc[k]), 80.0, "ok", False,
         "gps", None, None, None)
        for k in order.tolist()
    ]  # fmt: skip

    # Reads: background and declared traffic at the cameras, over the day.
    # How busy each car is: lognormal (a busy car is read ~20 times as often as a quiet one).
    activity = rng.lognormal(0.0, 1.0, vehicles)
    pop = rng.choice(vehicles, n_reads, p=activity / activity.sum())
    cam = rng.integers(0, cameras, n_reads)
    rts = np.sort(T0 + rng.integers(0, MS_PER_DAY, n_reads))
    reads = [
        Read(f"R-{k:08d}", f"CAM-{c:05d}", vrms[v], vrms[v], int(t), float(cam_lat[c]),
             float(cam_lon[c]), 0.9, None)
        for k, (c, v, t) in enumerate(zip(cam.tolist(), pop.tolist(), rts.tolist(), strict=True))
    ]  # fmt: skip
    journeys = {(r.read_id.split("-")[1], r.vrm) for r in planted if r.read_id.endswith("-2")}
    undeclared = {(s, v) for s, v in journeys if v not in vrms[: 2 * subjects]}
    reads += planted
    reads.sort(key=lambda r: r.ts)
    return registry, rows, reads, len(planted), undeclared


def naive(engine: Engine, reads: list[Read]) -> set[tuple[str, int]]:
    """Per read: scan every declaration for the plate, and interpolate every declaring
    subject's trail at the read's time (the co-location test of the rule)."""
    und = engine.undeclared
    decls = [(s, d) for s, ds in und.declarations.items() for d in ds]
    out: set[tuple[str, int]] = set()
    gap = und.gap_ms
    reach = und.vcfg.colocation_m
    xs, ys = und._positions(reads)
    for k, r in enumerate(reads):
        owners = {s for s, d in decls if r.vrm in d.vrms and d.valid_from <= r.ts < d.valid_to}
        for s in und.declarations:
            trail = engine.trails.get(s)
            if trail is None or s in owners:
                continue
            known, px, py, acc, _ = trail.at(np.array([r.ts]), gap)
            if known[0] and np.hypot(px[0] - xs[k], py[0] - ys[k]) <= reach + acc[0]:
                out.add((r.read_id, s))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=1000)
    ap.add_argument("--reads", type=int, default=1_000_000)
    ap.add_argument("--cameras", type=int, default=2000)
    ap.add_argument("--vehicles", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=20_000)
    ap.add_argument("--naive-sample", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    t = time.perf_counter()
    registry, rows, reads, n_planted, undeclared = build(
        a.subjects, a.reads, a.cameras, a.vehicles, a.seed
    )
    print(f"scenario: {a.subjects:,} subjects, {a.cameras:,} cameras, {a.vehicles:,} vehicles, "
          f"{len(reads):,} reads ({n_planted} planted), {len(rows):,} fixes "
          f"({time.perf_counter() - t:.1f} s to build)")  # fmt: skip

    engine = Engine(registry)
    t = time.perf_counter()
    for i in range(0, len(rows), 100_000):
        engine.process(FixBatch.from_rows(rows[i : i + 100_000]))
    secs = time.perf_counter() - t
    print(f"setup:  {len(rows) / secs:>12,.0f} fixes/s building trails through Engine.process")

    t = time.perf_counter()
    kinds: dict[str, int] = {}
    for i in range(0, len(reads), a.batch):
        res = engine.process_reads(reads[i : i + a.batch])
        for c in res.upserts:
            kinds[c.kind] = kinds.get(c.kind, 0) + 1
    secs = time.perf_counter() - t
    ours = len(reads) / secs
    print(f"engine: {ours:>12,.0f} reads/s ({len(reads):,} reads in {secs:.2f} s, one core)")
    final: dict[str, int] = {}
    for c in engine.candidates():
        final[c.kind] = final.get(c.kind, 0) + 1
    print(f"        candidates: {dict(sorted(final.items()))}")
    found = {
        (str(int(c.subject_id[2:])), c.details["vrm"])
        for c in engine.candidates()
        if c.kind == "undeclared_vehicle"
    }
    print(
        f"        planted undeclared journeys: {len(undeclared)} (subject and car pairs), "
        f"{len(undeclared & found)} found; other pairs with a candidate: {len(found - undeclared)}"
    )

    rng = np.random.default_rng(a.seed + 1)
    pick = sorted(rng.choice(len(reads), min(a.naive_sample, len(reads)), replace=False))
    sample = [reads[k] for k in pick]
    t = time.perf_counter()
    want = naive(engine, sample)
    secs = time.perf_counter() - t
    base = len(sample) / secs
    print(f"naive:  {base:>12,.0f} reads/s ({len(sample):,} sampled reads in {secs:.2f} s)")
    rows_of = {r.read_id: row for row, r in enumerate(engine.undeclared.reads)}
    got = {
        (r.read_id, s)
        for r in sample
        for s, per in engine.undeclared._coloc.items()
        if rows_of.get(r.read_id) in per
    }
    print(f"        co-locations in the sample: ours {len(got)}, naive {len(want)}, "
          f"{'the same' if got == want else 'DIFFERENT'}")  # fmt: skip
    print(f"ratio:  {ours / base:>12,.1f}x")
    if got != want:
        raise SystemExit("the index and the full scan disagree")


if __name__ == "__main__":
    main()
