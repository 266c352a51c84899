"""Undeclared vehicles: a subject's tag beside a camera each time it read the same plate."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geomonitor.engine import Engine
from geomonitor.model.crs import to_wgs84
from geomonitor.model.read import Read

from ..conftest import BASE_DOC, CX, CY, MINUTE, T0, batch, fix_at, make_registry

DECLARED = {
    "id": "C-5",
    "type": "declared_vehicles",
    "vrms": ["YX19 ABC"],
    "starts": "2026-11-01T00:00:00Z",
}
SPEED = 500.0  # metres a minute (30 km/h) along the road y = 1000 m north of the centre


def reg(cond=None):
    orders = [dict(BASE_DOC["orders"][0], conditions=[dict(DECLARED, **(cond or {}))])]
    return make_registry(orders=orders)


def drive(start=40.0, minutes=30, every=1.0, acc=10.0, skip=()):
    """S-0001 travelling east from x = 0 at ``start`` minutes after 18:00."""
    out = []
    k = 0.0
    while k <= minutes:
        if not any(a <= k < b for a, b in skip):
            out.append(fix_at(SPEED * k, 1000, start + k, acc=acc))
        k += every
    return out


def read(minute, off=30.0, vrm="AB12CDE", rid=None, start=40.0, conf=0.95, day=0, at=None):
    """A read of ``vrm`` by a camera ``off`` metres north of the road, where S-0001 is
    ``minute`` minutes into the drive (or, with ``at``, where it is at minute ``at``)."""
    x = CX + SPEED * (minute if at is None else at)
    y = CY + 1000 + off
    lon, lat = to_wgs84(np.array([x]), np.array([y]))
    ts = T0 + int((start + minute) * MINUTE) + day * 86_400_000
    return Read(
        rid or f"R-{vrm}-{minute}-{off}-{day}",
        f"CAM-{round(x)}-{round(y)}",
        vrm,
        vrm,
        ts,
        float(lat[0]),
        float(lon[0]),
        conf,
        None,
    )


def matched(fixes, reads, registry=None):
    e = Engine(registry or reg())
    e.process(batch(fixes))
    e.process_reads(reads)
    return [c for c in e.candidates() if c.kind == "undeclared_vehicle"]


def test_the_same_plate_beside_the_subject_at_two_cameras():
    reads = [read(4.5), read(12.2, off=-40)]  # between fixes: positions interpolated
    (c,) = matched(drive(), reads)
    assert c.subject_id == "S-0001" and c.condition_id == "C-5"
    assert c.details["vrm"] == "AB12CDE" and c.details["reads"] == 2
    assert len(c.details["cameras"]) == 2
    assert c.details["nearest_m"] == 30.0 and c.details["furthest_m"] == 40.0
    # The reads, and the fixes either side of each.
    assert c.evidence[:2] == [f"ANPR:{r.read_id}" for r in reads]
    assert c.evidence[2:] == [
        "BUD-0001@2026-11-21T18:44:00Z",
        "BUD-0001@2026-11-21T18:45:00Z",
        "BUD-0001@2026-11-21T18:52:00Z",
        "BUD-0001@2026-11-21T18:53:00Z",
    ]
    assert "AB12CDE" in c.explanation and "not declared" in c.explanation


def test_one_candidate_per_journey():
    reads = [read(2), read(8), read(14), read(16)]  # four cameras on one drive
    (c,) = matched(drive(), reads)
    assert c.details["reads"] == 4
    # The same plate an hour and a half later on another drive: a second journey.
    later = drive(start=130)
    got = matched(drive() + later, [*reads, read(3, start=130), read(9, start=130)])
    assert sorted(c.details["reads"] for c in got) == [2, 4]


def test_near_misses_raise_nothing():
    fixes = drive()
    # A camera 150 m from the road (100 m plus 10 m accuracy is the reach).
    assert matched(fixes, [read(4, off=150), read(12, off=150)]) == []
    # Co-located at one camera only, twice (the subject waits beside it).
    waits = drive(minutes=4) + [fix_at(SPEED * 4, 1000, 44 + k / 2) for k in range(1, 20)]
    assert matched(waits, [read(4), read(8, at=4)]) == []
    assert len(matched(waits, [read(4), read(8, at=4), read(1)])) == 1  # and one more
    # Two cameras, but 40 minutes apart (the subject parked in between).
    parked = drive(minutes=10) + [fix_at(SPEED * 10, 1000, 50 + k) for k in range(1, 45)]
    parked += [fix_at(SPEED * (10 + k), 1000, 95 + k) for k in range(0, 10)]
    assert matched(parked, [read(4), read(59)]) == []
    # A declared vehicle: nothing, whatever its spelling on the plate.
    assert matched(fixes, [read(4, vrm="YX19ABC"), read(12, vrm="YX19ABC")]) == []
    # Too unsure a read.
    assert matched(fixes, [read(4, conf=0.5), read(12)]) == []
    # The second read falls in a gap in the trail: no fix for 8 minutes around it.
    assert matched(drive(skip=[(9, 16)]), [read(4), read(12)]) == []
    # Reads before the subject's first fix or after the last place nobody.
    assert matched(fixes, [read(-5), read(-2)]) == []


def test_no_declaration_no_obligation_and_declarations_have_dates():
    reads = [read(4), read(12)]
    # The plate is declared, but only from tomorrow: today it is undeclared.
    orders = [
        dict(
            BASE_DOC["orders"][0],
            conditions=[
                DECLARED,
                dict(
                    DECLARED, id="C-8", vrms=["YX19 ABC", "AB12 CDE"], starts="2026-11-22T00:00:00Z"
                ),
            ],
        )
    ]
    later = make_registry(orders=orders)
    (c,) = matched(drive(), reads, later)
    assert c.condition_id == "C-5"
    day2 = [fix_at(SPEED * k, 1000, 40 + k + 24 * 60) for k in range(31)]
    assert matched(day2, [read(4, day=1), read(12, day=1)], later) == []
    # A condition that only starts tomorrow asks nothing of anyone today.
    assert matched(drive(), reads, reg({"starts": "2026-11-22T00:00:00Z"})) == []
    # A subject whose order has no declared-vehicles condition has nothing to breach.
    plain = make_registry()
    assert matched(drive(), reads, plain) == []


def test_a_better_copy_of_a_read_replaces_the_first():
    fixes = drive()
    good = read(12, rid="R-2")
    wrong_place = read(12, off=5000, rid="R-2", conf=0.99)
    wrong_place.confidence = 0.97  # a worse-ranked copy: its fields differ
    got = matched(fixes, [read(4), good, wrong_place])
    other = matched(fixes, [read(4), wrong_place, good])
    assert [c.to_json() for c in got] == [c.to_json() for c in other]


def test_late_fixes_showing_the_subject_elsewhere_retract_the_candidate():
    """Fixes every 4 minutes put the subject on the road at both reads; a late batch of
    the fixes in between shows a detour 2 km north at the second read."""
    sparse = drive(every=4)
    e = Engine(reg())
    e.process(batch(sparse))
    res = e.process_reads([read(4), read(10)])
    (c,) = res.upserts
    detour = [fix_at(SPEED * k, 3000, 40 + k) for k in (9, 10, 11)]
    res = e.process(batch(detour))
    assert res.retracted == [c.id]
    assert [x for x in e.candidates() if x.kind == "undeclared_vehicle"] == []


def test_poor_accuracy_fixes_place_nobody():
    assert matched(drive(acc=400), [read(4), read(12)]) == []


@st.composite
def stories(draw):
    """A drive with gaps and noise, and reads of two plates at cameras near and far."""
    skip = [(a, a + draw(st.floats(2, 9))) for a in draw(st.lists(st.floats(0, 30), max_size=2))]
    fixes = [
        f for f in drive(skip=skip) if draw(st.booleans()) or draw(st.booleans())
    ]  # some fixes lost
    # Detours: some fixes well off the road (a late one moves the positions around it).
    for k in draw(st.lists(st.integers(0, 30), max_size=4)):
        fixes.append(fix_at(SPEED * k, 1000 + draw(st.sampled_from([150, 400])), 40 + k + 0.5))
    reads = []
    for k in range(draw(st.integers(1, 10))):
        minute = draw(st.floats(-3, 33))
        off = draw(st.sampled_from([0, 60, 105, 300]))
        vrm = draw(st.sampled_from(["AB12CDE", "XY66ZZZ", "YX19ABC"]))
        reads.append(read(round(minute, 2), off=off, vrm=vrm, rid=f"R-{k}"))
    return fixes, reads


@settings(max_examples=100, deadline=None)
@given(story=stories(), seed=st.integers(0, 2**32 - 1))
def test_any_arrival_order_of_fixes_and_reads_gives_the_same_candidates(story, seed):
    fixes, reads = story
    want = [c.to_json() for c in sorted(matched(fixes, reads), key=lambda c: c.id)]
    rng = random.Random(seed)
    items: list = [("f", f) for f in fixes] + [("r", r) for r in reads]
    items += [x for x in items if rng.random() < 0.1]  # duplicates
    rng.shuffle(items)
    e = Engine(reg())
    live: dict[str, dict] = {}
    i = 0
    while i < len(items):
        k = rng.randint(1, 5)
        chunk = items[i : i + k]
        i += k
        fs = [x for t, x in chunk if t == "f"]
        rs = [x for t, x in chunk if t == "r"]
        for res in (e.process(batch(fs)) if fs else None, e.process_reads(rs) if rs else None):
            if res is None:
                continue
            for cid in res.retracted:
                del live[cid]
            for c in res.upserts:
                live[c.id] = c.to_json()
    got = [live[k] for k in sorted(live) if live[k]["kind"] == "undeclared_vehicle"]
    assert got == want


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    speed=st.sampled_from([0.5, 5.0, 15.0, 35.0]),  # metres a second
    every=st.sampled_from([15, 60, 240, 400]),  # seconds between fixes
)
def test_the_index_finds_exactly_the_colocations_a_full_scan_finds(seed, speed, every):
    """Every (read, subject) pair the exact test accepts, and no other, whatever the
    trail's speed and fix rate: the (slot, cell) index loses nothing."""
    from geomonitor.rules.trail import Trail
    from geomonitor.rules.undeclared import UndeclaredVehicles

    rng = np.random.default_rng(seed)
    n = 60
    ts = T0 + np.cumsum(rng.integers(1, every + 1, n)) * 1000
    heading = np.cumsum(rng.normal(0, 0.6, n))
    step = speed * np.diff(ts, prepend=ts[0]) / 1000
    x = CX + np.cumsum(step * np.cos(heading))
    y = CY + np.cumsum(step * np.sin(heading))
    acc = rng.choice([5.0, 20.0, 60.0, 100.0], n)
    trail = Trail()
    trail.add(ts, x, y, acc, np.arange(n), np.zeros(n, np.int32))
    # Reads at random instants, at cameras 0-400 m from where the subject was then.
    m = 300
    rt = rng.integers(int(ts[0]) - 60_000, int(ts[-1]) + 60_000, m)
    known, px, py, _, _ = trail.at(rt, 5 * MINUTE)
    px = np.where(known, px, CX)
    ang, dist = rng.uniform(0, 2 * np.pi, m), rng.uniform(0, 400, m)
    lon, lat = to_wgs84(px + dist * np.cos(ang), py + dist * np.sin(ang))
    reads = [
        Read(f"R-{k}", f"CAM-{k}", "AB12CDE", "AB12CDE", int(rt[k]), float(lat[k]),
             float(lon[k]), None, None)
        for k in range(m)
    ]  # fmt: skip
    r = reg()
    u = UndeclaredVehicles(r, {"S-0001": 0, "S-0002": 1}, ["BUD-0001"])
    half = m // 2  # half the reads before the trail is known, half after
    u.add_reads(reads[:half], {})
    u.trails_changed({0: trail}, {0: (int(ts[0]), int(ts[-1]))})
    u.add_reads(reads[half:], {0: trail})
    got = set(u._coloc.get(0, {}))
    # The full scan: every read against the trail.
    known, px, py, pacc, _ = trail.at(rt, 5 * MINUTE)
    cx, cy = u._positions(reads)
    d = np.hypot(px - cx, py - cy)
    want = set(np.flatnonzero(known & (d <= 100 + pacc)).tolist())
    assert got == want
    assert len(want) > 0 or not known.any()


@pytest.mark.parametrize(
    ("after_ms", "journeys"),
    [(30 * MINUTE - 1000, 1), (30 * MINUTE, 1), (30 * MINUTE + 1000, 0)],
    ids=["journey-1s", "journey", "journey+1s"],
)
def test_reads_up_to_thirty_minutes_apart_are_one_journey(after_ms, journeys):
    """Two cameras read the plate beside the subject: one journey (a candidate) when the
    second read is no more than 30 minutes after the first; otherwise two lone reads."""
    first = read(2)
    second = read(32, off=-40)
    second = dataclasses.replace(second, ts=first.ts + after_ms)
    assert len(matched(drive(minutes=40), [first, second])) == journeys


@pytest.mark.parametrize(("cameras", "raised"), [(1, False), (2, True), (3, True)])
def test_a_journey_takes_reads_at_two_distinct_cameras(cameras, raised):
    reads = [read(2 + 4 * k, off=30 + 10 * k) for k in range(cameras)]
    reads.append(dataclasses.replace(reads[0], read_id="R-again", ts=reads[0].ts + 1000))
    assert bool(matched(drive(), reads)) == raised
