"""Declared vehicles read by ANPR cameras inside exclusion zones or away during curfews."""

from __future__ import annotations

import json
import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from geomonitor.engine import Engine
from geomonitor.io.replay import replay
from geomonitor.model.crs import to_wgs84
from geomonitor.model.read import Read
from geomonitor.model.times import iso
from geomonitor.store.domain import Store

from ..conftest import BASE_DOC, CX, CY, MINUTE, T0, make_registry

# Zone Z-CIRCLE: 300 m around the centre. Curfew: 19:00-07:00 at the centre, 100 m.
CONDITIONS = [
    {"id": "C-1", "type": "exclusion_zone", "zone": "Z-CIRCLE"},
    {
        "id": "C-2",
        "type": "curfew",
        "location": {"lat": 53.7997, "lon": -1.5492},
        "radius_m": 100,
        "timetable": [
            {
                "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "start": "19:00",
                "end": "07:00",
            }
        ],
    },
    {
        "id": "C-4",
        "type": "declared_vehicles",
        "vrms": ["YX19 ABC"],
        "starts": "2026-11-01T00:00:00Z",
    },
]


def reg():
    orders = [dict(BASE_DOC["orders"][0], conditions=CONDITIONS)]
    return make_registry(orders=orders)


def read_at(dx: float, minute: float, vrm: str = "YX19ABC", rid=None, conf=0.95, day=0) -> Read:
    """A read by a camera ``dx`` metres east of the centre, ``minute`` after T0 (18:00)."""
    lon, lat = to_wgs84(np.array([CX + dx]), np.array([CY]))
    ts = T0 + int(minute * MINUTE) + day * 86_400_000
    return Read(
        rid or f"R-{vrm}-{ts}-{dx}",
        f"CAM-{int(dx)}",
        vrm,
        vrm,
        ts,
        float(lat[0]),
        float(lon[0]),
        conf,
        None,
    )


def matched(reads, registry=None):
    e = Engine(registry or reg())
    e.process_reads(reads)
    return e.candidates()


def test_declared_vehicle_in_an_exclusion_zone():
    # 18:05 and 18:20 inside the zone (before the curfew): one sighting, two reads.
    (c,) = matched([read_at(100, 5), read_at(250, 20)])
    assert c.kind == "vehicle_in_exclusion_zone" and c.zone_id == "Z-CIRCLE"
    assert c.fix_count == 2 and c.details["cameras"] == ["CAM-100", "CAM-250"]
    assert c.evidence == [f"ANPR:{r.read_id}" for r in (read_at(100, 5), read_at(250, 20))]
    assert "YX19ABC" in c.explanation


def test_near_misses_raise_nothing():
    assert matched([read_at(450, 5)]) == []  # camera 150 m outside the zone's edge
    assert matched([read_at(100, 5, vrm="AB12CDE")]) == []  # not a declared vehicle
    assert matched([read_at(100, 5, conf=0.5)]) == []  # too unsure a read
    assert matched([read_at(100, 5, day=-30)]) == []  # before the declaration date


def test_reads_far_apart_are_separate_sightings():
    got = matched([read_at(100, 0), read_at(100, 25), read_at(100, 60)])
    assert [c.fix_count for c in sorted(got, key=lambda c: c.opened_at)] == [2, 1]
    # A chain of reads each within 30 minutes of the last is one sighting.
    (c,) = matched([read_at(100, 0), read_at(100, 25), read_at(100, 50)])
    assert c.fix_count == 3


def test_declared_vehicle_far_from_home_during_the_curfew():
    # 21:00 and 23:00, 3 km and 5 km away: one candidate for the night.
    (c,) = matched([read_at(3000, 180), read_at(5000, 300)])
    assert c.kind == "curfew_vehicle_sighting" and c.condition_id == "C-2"
    assert c.fix_count == 2 and c.details["nearest_km"] == 3.0
    assert c.details["window_start"] == "2026-11-21T19:00:00Z"
    # 1.5 km away, or before the window starts: nothing.
    assert matched([read_at(1500, 180), read_at(3000, 30)]) == []


def test_a_read_can_be_in_a_zone_during_a_curfew_too():
    kinds = sorted(c.kind for c in matched([read_at(100, 120)]))
    assert kinds == ["vehicle_in_exclusion_zone"]  # 100 m from home: not a curfew sighting
    kinds = sorted(c.kind for c in matched([read_at(2500, 120)]))
    assert kinds == ["curfew_vehicle_sighting"]


@st.composite
def read_stories(draw):
    reads = []
    for k in range(draw(st.integers(1, 12))):
        dx = draw(st.sampled_from([100, 250, 450, 2500, 4000]))
        minute = draw(st.integers(0, 14 * 60))
        vrm = draw(st.sampled_from(["YX19ABC", "AB12CDE"]))
        reads.append(read_at(dx, minute, vrm=vrm, rid=f"R-{k}"))
    return reads


@settings(max_examples=100, deadline=None)
@given(reads=read_stories(), seed=st.integers(0, 2**32 - 1))
def test_any_arrival_order_gives_the_same_candidates(reads, seed):
    want = [c.to_json() for c in sorted(matched(reads), key=lambda c: c.id)]
    rng = random.Random(seed)
    arrival = reads + [r for r in reads if rng.random() < 0.2]
    rng.shuffle(arrival)
    e = Engine(reg())
    live: dict[str, dict] = {}
    i = 0
    while i < len(arrival):
        k = rng.randint(1, 4)
        res = e.process_reads(arrival[i : i + k])
        for cid in res.retracted:
            del live[cid]
        for c in res.upserts:
            live[c.id] = c.to_json()
        i += k
    assert [live[k] for k in sorted(live)] == want
    assert [c.to_json() for c in sorted(e.candidates(), key=lambda c: c.id)] == want


def write_reads(path):
    """An ANPR file: two reads in the zone, one 3 km away during the curfew, passing
    traffic, and a read of the declared vehicle before its declaration."""
    reads = [read_at(100, 5), read_at(250, 20), read_at(3000, 180)]
    reads += [read_at(100 * k, 7 * k, vrm=f"AB{k:02d}CDE") for k in range(1, 30)]
    reads.append(read_at(100, 5, day=-30))
    path.write_text(
        "\n".join(
            json.dumps(
                {
                    "read_id": r.read_id,
                    "camera_id": r.camera_id,
                    "vrm": "yx19 abc" if r.vrm == "YX19ABC" else r.vrm,
                    "ts": iso(r.ts),
                    "lat": r.lat,
                    "lon": r.lon,
                    "confidence": r.confidence,
                }
            )
            for r in reads
        )
        + "\n"
    )
    return path


def test_replay_stores_vehicle_candidates_and_a_second_replay_changes_nothing(tmp_path):
    p = write_reads(tmp_path / "anpr.jsonl")
    with Store(tmp_path / "g.db") as store:
        store.load_registry(reg())
        replay(store, None, p, progress=False)
        first = [c.to_json() for c in store.candidates()]
        assert sorted(c["kind"] for c in first) == [
            "curfew_vehicle_sighting",
            "vehicle_in_exclusion_zone",
        ]
        replay(store, None, p, progress=False)
        assert [c.to_json() for c in store.candidates()] == first


def test_an_authorised_absence_covers_the_declared_vehicle_on_the_way():
    """A hospital visit 3 km east authorised 20:30-22:30: the car read on the way at 21:00
    and at the hospital at 21:30 is no sighting; read 5 km north-west, off the way, it is;
    read after the window it is."""
    from dataclasses import replace as with_

    from geomonitor.model.orders import Absence

    lon, lat = to_wgs84(np.array([CX + 3000]), np.array([CY]))
    a = Absence("A-1", "S-0001", T0 + 150 * MINUTE, T0 + 270 * MINUTE, "OM", "hospital visit",
                float(lat[0]), float(lon[0]), 200.0)  # fmt: skip
    absent = with_(reg(), absences=(a,))
    assert matched([read_at(1500, 180), read_at(3000, 210)], absent) == []
    assert [c.kind for c in matched([read_at(1500, 180), read_at(3000, 210)])] == [
        "curfew_vehicle_sighting"
    ]
    (c,) = matched([read_at(-5000, 210)], absent)  # off the way: still a sighting
    assert c.kind == "curfew_vehicle_sighting"
    (c,) = matched([read_at(3000, 280)], absent)  # after the window: due back, a sighting
    assert c.opened_at == T0 + 280 * MINUTE


def test_a_sighting_on_a_night_at_another_address_is_measured_from_it():
    """Weekend nights at an address 3 km east: a read there is home, 3 km west is not."""
    week = {"days": ["mon", "tue", "wed", "thu", "fri", "sun"], "start": "19:00", "end": "07:00"}
    sat = {"days": ["sat"], "start": "19:00", "end": "07:00", "location": _latlon(3000)}
    at_partner = dict(CONDITIONS[1], timetable=[week, sat])
    orders = [dict(BASE_DOC["orders"][0], conditions=[CONDITIONS[0], at_partner, CONDITIONS[2]])]
    weekend = make_registry(orders=orders)
    assert matched([read_at(3000, 180)], weekend) == []  # Saturday 21 Nov, at the partner's
    (c,) = matched([read_at(-3000, 180)], weekend)
    assert c.details["nearest_km"] == 6.0  # from the partner's, not from home (3.0)


def _latlon(dx: float) -> dict:
    lon, lat = to_wgs84(np.array([CX + dx]), np.array([CY]))
    return {"lat": float(lat[0]), "lon": float(lon[0])}
