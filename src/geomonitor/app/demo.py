"""``geomonitor demo``: simulate a scenario, load it, replay it, show the desk's view."""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

import numpy as np

from ..io.replay import replay
from ..model.candidate import queue_order
from ..model.crime import parse_crime_rows
from ..model.crs import to_bng
from ..model.registry_load import load_registry_file
from ..model.text import local_time
from ..model.times import UK, from_datetime, iso, to_datetime
from ..sim import score, simulate
from ..store.domain import Store
from .absences import import_file
from .audit.report import local_month, write_monthly
from .crimes.match import CrimeConfig
from .crimes.report import run_batch
from .maps.alert import alert_map
from .maps.curfew import curfew_map
from .pack import candidate_pack, write_pack
from .tables import candidate_table, kind_counts, show


def _first_night(first: int) -> int:
    """22:00 UK local time on the day of the first fix."""
    d = to_datetime(first).astimezone(UK)
    return from_datetime(d.replace(hour=22, minute=0, second=0, microsecond=0))


def _crimes(st: Store, out: Path) -> None:
    """Three simulated crimes where subjects were, or nearly: a hit and an elimination."""
    rows = st.db.execute(
        "SELECT ts, lat, lon FROM fixes WHERE accuracy_m <= 20 ORDER BY ts LIMIT 3 OFFSET 4000"
    ).fetchall()
    lines = ["crime_ref,type,from,to,easting,northing"]
    for k, (ts, lat, lon) in enumerate(rows):
        e, n = _bng(lat, lon + 0.02 * k)  # the others a little way off
        lines.append(f"DEMO-{k + 1},BIAD,{iso(int(ts) - 30 * 60_000)},"
                     f"{iso(int(ts) + 30 * 60_000)},{e:.0f},{n:.0f}")  # fmt: skip
    # the batch as a file, the layout `geomonitor crimes match` reads (the README runs it)
    (out / "crimes.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    crimes, _ = parse_crime_rows((out / "crimes.csv").read_text(encoding="utf-8"))
    summary = run_batch(st, crimes, [], out / "crimes", CrimeConfig())
    print(f"\n13. Crime correlation: {len(crimes)} simulated crimes -> {out / 'crimes'}/")
    first = summary["results"][0]
    with (out / "crimes" / "hits.csv").open() as f:
        hits = [line.split(",") for line in f.read().splitlines()[1:]]
    if first["hits"]:
        mine = [h for h in hits if h[0] == first["crime_ref"] and h[1] == first["hits"][0]]
        print(f"   {first['crime_ref']}: {first['hits'][0]} was there: {len(mine)} positions "
              f"within {first['radius_m']:.0f} m ({', '.join(h[3] for h in mine[:6])}...); "
              f"map {out / 'crimes' / first['maps'][0]}")  # fmt: skip
    with (out / "crimes" / "eliminations.csv").open() as f:
        elim = [r for r in csv.DictReader(f) if r["verdict"] == "eliminated"]
    if elim:
        print(f"   {elim[0]['crime_ref']}: {elim[0]['subject_id']} eliminated: {elim[0]['reason']}")


def _absences(st: Store, out: Path) -> None:
    """The simulated hospital visits' absences, recorded after the fact (the phone calls
    came in late): what they covered leaves the queue, kept as authorised."""
    now = int(time.time() * 1000)
    got, w = import_file(st, out / "absences.jsonl", "demo", "demo", now)
    if not got:
        return
    print(f"   {len(got)} authorised absences recorded after the fact ({got[0].describe()}; "
          f"...): judged again, {w.retracted} candidates retracted")  # fmt: skip
    kept = st.authorised_of(got[0].subject_id)
    if kept:
        c, aid = kept[0]
        print(f"   kept off the desk by {aid}, on {got[0].subject_id}'s page: {c.explanation}")


def _lateness(cands: list) -> None:
    """A subject home a few minutes late every night, inside the grace period each time."""
    late = [c for c in cands if c.kind == "curfew_lateness"]
    if late:
        print(f"   e.g. {late[0].id}: {late[0].explanation}")


def _bng(lat: float, lon: float) -> tuple[float, float]:
    x, y = to_bng(np.array([lon]), np.array([lat]))
    return float(x[0]), float(y[0])


def run_demo(out: Path, subjects: int = 30, days: int = 3, seed: int = 1) -> int:
    out = Path(out)
    print(
        f"1. Simulating {subjects} subjects over {days} days of real West Yorkshire "
        f"geography into {out}/ ..."
    )
    truth = simulate(out, subjects, days, seed)
    print(
        f"   {truth['fixes']:,} fixes, {truth['bad_fix_records']} malformed records, "
        f"{len(truth['breaches'])} planted breaches (all kinds) in the ground truth, "
        f"{truth['decoy_visits']} near misses and out-of-hours visits"
    )
    db = out / "geomonitor.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    with Store(db) as st:
        reg, _ = load_registry_file(out / "registry.json")
        v = st.load_registry(reg, str(out / "registry.json"))
        print(
            f"2. Loaded registry version {v.version}: {len(reg.subjects)} subjects, "
            f"{len(reg.zones)} zones, {len(reg.tags)} tags"
        )
        print("3. Replaying fixes and ANPR reads in arrival order ...")
        summary, _ = replay(st, out / "fixes.jsonl", out / "anpr.jsonl", parallel=True)
        print("\n".join("   " + line for line in summary.lines()))
        _absences(st, out)
        cands = st.candidates()
        queue = queue_order(cands)
        n_open = sum(c.status == "open" for c in cands)
        print(
            f"\n4. What the monitoring desk sees: {len(cands)} breach candidates, {n_open} open."
            " Per kind:\n"
        )
        show(kind_counts(cands))
        top = queue[:15]
        print("\n   The queue, most urgent first (times are UK local time):\n")
        if top:
            show(candidate_table(top))
            print(
                f"\n   showing {len(top)} of {len(cands)}; all of them: "
                f"geomonitor alerts list --db {db} --limit 0"
            )
            print(f"\n   e.g. {top[0].id}: {top[0].explanation}")
        else:
            print("   no candidates")
        for step, (label, kinds) in enumerate(
            (
                ("exclusion zones", ("exclusion_zone",)),
                (
                    "curfews",
                    ("curfew_late_return", "curfew_absent", "curfew_no_signal", "curfew_lateness"),
                ),
                ("tampers and lost contact", ("strap_tamper", "no_contact")),
                (
                    "declared vehicles (ANPR)",
                    ("vehicle_in_exclusion_zone", "curfew_vehicle_sighting"),
                ),
                ("undeclared vehicles (ANPR and tags)", ("undeclared_vehicle",)),
                ("non-associations", ("non_association",)),
            ),
            5,
        ):
            s = score(truth, cands, kinds)
            print(
                f"\n{step}. {label[0].upper() + label[1:]} against the ground truth: "
                f"recall {s['recall']:.0%} "
                f"({s['found']}/{s['planted']} found), precision {s['precision']:.0%} "
                f"({s['matching']}/{s['candidates']} candidates match)"
            )
            if step == 6:
                _lateness(cands)
        faulty = {u["tag_id"] for u in truth["faulty_units"]}
        flagged = sorted(
            {
                e["tag_id"]
                for e in st.device_events()
                if e["kind"] in ("poor_accuracy", "implausible_jump", "battery_depleted")
            }
        )
        print(f"\n   Device audit: faulty units planted {sorted(faulty)}, flagged {flagged}")
        first = st.db.execute("SELECT MIN(ts) FROM fixes").fetchone()[0]
        month = local_month(int(first))
        paths = write_monthly(st, month, out / "audit")
        found = sum(1 for _ in paths[1].open()) - 1
        print(f"\n11. The monthly tag audit for {month}: {found} findings")
        for p in paths:
            print(f"   {p}")
        night = _first_night(int(first))
        curfew = curfew_map(st, "Leeds", night, out / "maps" / "curfew-leeds.html")
        print(f"\n12. Maps: the Leeds curfew check at {local_time(night)}, and the top alert")
        print(f"   {curfew}")
        if top:
            print(f"   {alert_map(st, top[0].id, out / 'maps' / f'alert-{top[0].id}.html')}")
        _crimes(st, out)
        if top:
            now = int(time.time() * 1000)
            shutil.rmtree(out / "packs", ignore_errors=True)  # the demo's own, from a run before
            pack = candidate_pack(st, top[0].id, f"GM/{top[0].id}", now)
            digest = write_pack(pack, out / "packs" / top[0].id, now)
            print(
                f"\n14. An evidence pack for {top[0].id}: {out / 'packs' / top[0].id}/pack.pdf "
                f"and its data files; manifest SHA-256 {digest[:16]}..."
            )
        print(
            f"\nDatabase: {db}   Try: geomonitor alerts list --db {db} --review new"
            "   (the queue not yet looked at; every example in the README runs on this store)"
        )
    return 0
