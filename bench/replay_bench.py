"""Matching and replay throughput on real West Yorkshire geometry.

1,000 subjects, each excluded from 2-3 of the 124 real ward polygons near home, wander
around their homes for 1,000 minutes (1M fixes with GPS noise and accuracy radii). Prints:

* engine: fixes/s of ``Engine.process`` on pre-parsed batches (H3 cells, zone
  classification, episode machines, candidate changes), one core;
* naive: fixes/s of a per-fix loop over prepared shapely polygons doing the same
  accuracy-aware classification and episode bookkeeping, on a sample, in the same run;
* replay: fixes/s end to end from a JSONL file into a fresh SQLite file
  (read, validate, match, store fixes and candidates).

Machines are noisy: compare the ratio, not absolute figures.

    python bench/replay_bench.py                 # the full benchmark (about a minute)
    python bench/replay_bench.py --subjects 50 --fixes 20000   # a quick look
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import orjson
import shapely

from geomonitor.engine import Engine
from geomonitor.io.replay import replay
from geomonitor.model.crs import to_wgs84
from geomonitor.model.fix import Fix, FixBatch
from geomonitor.model.geography import wards
from geomonitor.model.registry_load import parse_registry
from geomonitor.model.times import iso, parse_ts
from geomonitor.store.domain import Store

T0 = parse_ts("2026-11-16T18:00:00Z")  # 1,000 minutes: a whole curfew night


def build(subjects: int, n_fixes: int, seed: int, curfews: bool = True, absent_share: float = 0.05):
    """The scenario. With curfews, a share ``absent_share`` of subjects stays out all
    night; the others are home from 21:45 to 06:00 (``absent_share=1``: nobody complies,
    the worst case)."""
    rng = np.random.default_rng(seed)
    ws = wards()
    cent = np.array([[w.geometry.centroid.x, w.geometry.centroid.y] for w in ws])
    doc: dict = {
        "districts": [{"code": c, "name": c} for c in sorted({w.district for w in ws})],
        "zones": [{"id": w.code, "name": w.name, "geometry": w.geojson} for w in ws],
        "subjects": [],
        "orders": [],
        "tags": [],
        "fittings": [],
    }
    per = n_fixes // subjects
    tags, ts_all, xs, ys, accs = [], [], [], [], []
    for i in range(subjects):
        home_w = int(rng.integers(len(ws)))
        home = ws[home_w].geometry.representative_point()
        d = np.hypot(cent[:, 0] - home.x, cent[:, 1] - home.y)
        near = [int(k) for k in np.argsort(d)[1:8]]
        zones = rng.choice(near, size=int(rng.integers(2, 4)), replace=False)
        sid, tag = f"S-{i:05d}", f"BUD-{i:05d}"
        doc["subjects"].append(
            {"id": sid, "district": ws[home_w].district, "birth_date": "1990-01-01"}
        )
        conditions = [
            {"id": f"C-{k}", "type": "exclusion_zone", "zone": ws[int(z)].code}
            for k, z in enumerate(zones)
        ]
        if curfews:
            hlon, hlat = to_wgs84(np.array([home.x]), np.array([home.y]))
            conditions.append(
                {
                    "id": "C-curfew",
                    "type": "curfew",
                    "location": {"lat": float(hlat[0]), "lon": float(hlon[0])},
                    "radius_m": 100,
                    "timetable": [
                        {
                            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                            "start": "22:00",
                            "end": "06:00",
                        }
                    ],
                    "grace_minutes": 15,
                }
            )
        doc["orders"].append(
            {
                "id": f"O-{i:05d}",
                "subject": sid,
                "type": "scpo",
                "starts": "2026-01-01T00:00:00Z",
                "conditions": conditions,
            }
        )
        doc["tags"].append({"id": tag, "district": ws[home_w].district})
        doc["fittings"].append(
            {
                "tag": tag,
                "subject": sid,
                "fitted_at": "2026-01-01T00:00:00Z",
                "consent": {"recorded_at": "2026-01-01T00:00:00Z"},
            }
        )
        # Mean-reverting walk around home: wanders across ward boundaries.
        steps = rng.normal(0, 120, (per, 2))
        pos = np.zeros((per, 2))
        p = np.array([home.x, home.y])
        for k in range(per):
            p = p + steps[k] + 0.01 * (np.array([home.x, home.y]) - p)
            pos[k] = p
        if curfews and rng.random() >= absent_share:
            # Complies: indoors from 21:45 until 06:00 (minutes 225-720 after 18:00 UTC).
            home_part = slice(225, min(720, per))
            pos[home_part] = [home.x, home.y]
            pos[home_part] += rng.normal(0, 8, pos[home_part].shape)
        acc = np.where(rng.random(per) < 0.03, rng.uniform(50, 800, per), rng.uniform(4, 30, per))
        noise = rng.normal(0, 1, (per, 2)) * (acc / 2.5)[:, None]
        tags += [tag] * per
        ts_all.append(T0 + np.arange(per, dtype=np.int64) * 60_000 + rng.integers(0, 999, per))
        xs.append(pos[:, 0] + noise[:, 0])
        ys.append(pos[:, 1] + noise[:, 1])
        accs.append(acc)
    ts = np.concatenate(ts_all)
    x, y, acc = np.concatenate(xs), np.concatenate(ys), np.concatenate(accs)
    lon, lat = to_wgs84(x, y)
    order = np.argsort(ts, kind="stable")  # arrival roughly in time order, all subjects mixed
    fixes = [
        Fix(tags[k], int(ts[k]), float(lat[k]), float(lon[k]), float(round(acc[k], 1)))
        for k in order.tolist()
    ]
    return doc, fixes


def naive(registry, fixes: list[Fix], sample: int) -> float:
    """Per fix: find the subject, then for each of their zones a prepared-polygon test."""
    from geomonitor.model.crs import to_bng

    sub = fixes[:sample]
    xs, ys = to_bng(np.array([f.lon for f in sub]), np.array([f.lat for f in sub]))
    subject_of = {f.tag_id: f.subject_id for f in registry.fittings}
    zones_of: dict[str, list] = {}
    for o, c in registry.conditions("exclusion_zone"):
        z = registry.zones[c.zone_id]
        zones_of.setdefault(o.subject_id, []).append((c.id, z.geometry, z.boundary))
    state: dict = {}
    t = time.perf_counter()
    for f, x, y in zip(sub, xs.tolist(), ys.tolist(), strict=True):
        s = subject_of.get(f.tag_id)
        if s is None:
            continue
        pt = shapely.Point(x, y)
        for cid, geom, boundary in zones_of.get(s, ()):
            inside = geom.contains(pt)
            d = boundary.distance(pt)
            cls = 1 if inside and d >= f.accuracy_m else 0 if not inside and d > f.accuracy_m else 2
            key = (s, cid)
            run_in, run_out, open_ = state.get(key, (0, 0, False))
            if cls == 1:
                run_in, run_out = run_in + 1, 0
                open_ = open_ or run_in >= 2
            elif cls == 0:
                run_in, run_out = 0, run_out + 1
                open_ = open_ and run_out < 2
            state[key] = (run_in, run_out, open_)
    return len(sub) / (time.perf_counter() - t)


def write_jsonl(fixes: list[Fix], path: Path) -> None:
    """The fixes as a JSONL fix file (device fields as a healthy tag reports them)."""
    with open(path, "wb") as fh:
        for f in fixes:
            rec = {
                "tag_id": f.tag_id,
                "ts": iso(f.ts),
                "lat": f.lat,
                "lon": f.lon,
                "accuracy_m": f.accuracy_m,
                "battery_pct": 80,
                "strap": "ok",
                "source": "gps",
            }
            fh.write(orjson.dumps(rec) + b"\n")


def _replay_fresh(jsonl: str, doc: bytes, db: str) -> tuple[float, float, int, int]:
    with Store(db) as st:
        st.load_registry(parse_registry(orjson.loads(doc)))
        s, _ = replay(st, jsonl, progress=False, parallel=True)
        return s.fixes_per_second, s.seconds, s.fixes_read, len(st.candidates())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=1000)
    ap.add_argument("--fixes", type=int, default=1_000_000)
    ap.add_argument("--naive-sample", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-replay", action="store_true")
    ap.add_argument(
        "--no-curfews",
        action="store_true",
        help="exclusion zones only (the core issue's original workload)",
    )
    ap.add_argument(
        "--absent-share",
        type=float,
        default=0.05,
        help="share of subjects out all curfew night (1.0: the worst case, nobody complies)",
    )
    args = ap.parse_args()

    t = time.perf_counter()
    doc, fixes = build(
        args.subjects,
        args.fixes,
        args.seed,
        curfews=not args.no_curfews,
        absent_share=args.absent_share,
    )
    registry = parse_registry(doc)
    n = len(fixes)
    print(
        f"scenario: {args.subjects:,} subjects, {len(registry.zones)} ward zones, "
        f"{len(registry.conditions('exclusion_zone')):,} exclusion conditions, "
        f"{len(registry.conditions('curfew')):,} curfews, "
        f"{n:,} fixes (built in {time.perf_counter() - t:.1f} s)"
    )

    batches = [FixBatch.from_fixes(fixes[i : i + args.batch]) for i in range(0, n, args.batch)]
    t = time.perf_counter()
    engine = Engine(registry)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    for b in batches:
        engine.process(b)
    eng_s = time.perf_counter() - t
    ours = n / eng_s
    cands = engine.candidates()
    pairs = len(registry.conditions("exclusion_zone")) * (n // args.subjects)
    print(
        f"index build: {build_s:.2f} s; exact geometry tests for "
        f"{engine.index.exact_tests / pairs:.1%} of (fix, zone) pairs, the rest decided "
        f"by H3 cell alone"
    )
    print(
        f"engine:  {ours:>12,.0f} fixes/s  ({n:,} fixes in {eng_s:.2f} s, "
        f"{len(cands):,} candidates)"
    )
    base = naive(registry, fixes, min(args.naive_sample, n))
    print(
        f"naive:   {base:>12,.0f} fixes/s  (per-fix loop over prepared shapely polygons, "
        f"{min(args.naive_sample, n):,}-fix sample)"
    )
    print(f"ratio:   {ours / base:>12.1f} x")

    if not args.skip_replay:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "fixes.jsonl"
            write_jsonl(fixes, p)
            size = os.path.getsize(p)
            # Replay as the command runs it: in a fresh process, not this one holding
            # millions of live objects from the runs above (every full garbage collection
            # would walk them).
            with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
                job = pool.submit(
                    _replay_fresh, str(p), orjson.dumps(doc), str(Path(d) / "bench.db")
                )
                fps, secs, read, final = job.result()
            print(
                f"replay:  {fps:>12,.0f} fixes/s  (JSONL {size / 1e6:.0f} MB "
                f"-> SQLite, {read:,} fixes in {secs:.1f} s, "
                f"{final:,} candidates)"
            )


if __name__ == "__main__":
    main()
