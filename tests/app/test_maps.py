"""Map exports read back: what each shows (counts, coordinates, colours, times, the
visiting order), and that an offline export fetches nothing."""

from __future__ import annotations

import itertools
import json
import math
import re

import numpy as np
import pytest

from geomonitor.app.cli import main
from geomonitor.app.maps.alert import alert_map
from geomonitor.app.maps.base import COLOURS, bng
from geomonitor.app.maps.curfew import curfew_map, curfew_visits
from geomonitor.app.maps.route import route_length, visiting_order
from geomonitor.app.maps.trail import MAX_DRAWN, trail_map
from geomonitor.app.maps.zones import zones_map
from geomonitor.engine import Engine
from geomonitor.model.crs import to_wgs84
from geomonitor.model.fix import Fix
from geomonitor.model.registry_load import parse_registry
from geomonitor.model.times import parse_ts
from geomonitor.store.domain import Store

from ..conftest import BASE_DOC, CX, CY, batch, make_doc

AT = parse_ts("2026-11-21T22:00:00Z")  # a Saturday night, GMT
NIGHT = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "19:00",
          "end": "07:00"}]  # fmt: skip
LATE = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "23:00",
         "end": "07:00"}]  # fmt: skip
#: subject: (home metres east and north of the centre, timetable, last fix: metres from
#: home east, minutes before 22:00, accuracy)
PEOPLE = {
    "S-0001": ((0, 0), NIGHT, (10, 5, 10.0)),  # home
    "S-0002": ((1500, 500), NIGHT, (900, 8, 15.0)),  # away
    "S-0003": ((-1200, 800), NIGHT, (0, 120, 12.0)),  # no signal (2 h old)
    "S-0004": ((600, -1400), LATE, (0, 3, 10.0)),  # not yet due (starts 23:00)
    "S-0005": ((-700, -900), NIGHT, (95, 2, 20.0)),  # not sure (circle across the edge)
}


def _ll(dx: float, dy: float) -> tuple[float, float]:
    lon, lat = to_wgs84(np.array([CX + dx]), np.array([CY + dy]))
    return float(lat[0]), float(lon[0])


def _doc():
    subjects, orders, tags, fittings = [], [], [], []
    for k, (sid, ((hx, hy), tt, _)) in enumerate(PEOPLE.items(), 1):
        lat, lon = _ll(hx, hy)
        subjects.append({"id": sid, "district": "Leeds", "birth_date": "1980-01-01"})
        conds = [{"id": f"C-{k}", "type": "curfew", "location": {"lat": lat, "lon": lon},
                  "radius_m": 100, "timetable": tt, "timezone": "Europe/London",
                  "grace_minutes": 15}]  # fmt: skip
        if sid == "S-0001":
            conds.append({"id": "C-Z", "type": "exclusion_zone", "zone": "Z-CIRCLE"})
        orders.append({"id": f"O-{k}", "subject": sid, "type": "scpo", "ends": None,
                       "starts": "2026-01-01T00:00:00Z", "conditions": conds})  # fmt: skip
        tags.append({"id": f"BUD-{k:04d}", "district": "Leeds", "model": "Buddi"})
        fittings.append(dict(BASE_DOC["fittings"][0], tag=f"BUD-{k:04d}", subject=sid))
    # Someone in Bradford under curfew too: not on a Leeds map.
    lat, lon = _ll(0, 0)
    subjects.append({"id": "S-0009", "district": "Bradford", "birth_date": "1980-01-01"})
    cond = {"id": "C-9", "type": "curfew", "location": {"lat": lat, "lon": lon},
            "radius_m": 100, "timetable": NIGHT, "timezone": "Europe/London"}  # fmt: skip
    orders.append({"id": "O-9", "subject": "S-0009", "type": "scpo", "ends": None,
                   "starts": "2026-01-01T00:00:00Z", "conditions": [cond]})  # fmt: skip
    tags.append({"id": "BUD-0009", "district": "Bradford", "model": "Buddi"})
    fittings.append(dict(BASE_DOC["fittings"][0], tag="BUD-0009", subject="S-0009"))
    return make_doc(districts=[*BASE_DOC["districts"], {"code": "E08000032", "name": "Bradford"}],
                    subjects=subjects, orders=orders, tags=tags, fittings=fittings)  # fmt: skip


def _fix(tag: str, dx: float, dy: float, ts: int, acc: float) -> Fix:
    lat, lon = _ll(dx, dy)
    return Fix(tag, ts, lat, lon, acc)


@pytest.fixture
def store(tmp_path):
    st = Store(tmp_path / "m.db")
    st.load_registry(parse_registry(_doc()))
    fixes = []
    for k, (_sid, ((hx, hy), _, (off, mins, acc))) in enumerate(PEOPLE.items(), 1):
        fixes.append(_fix(f"BUD-{k:04d}", hx + off, hy, AT - mins * 60_000, acc))
        fixes.append(_fix(f"BUD-{k:04d}", hx, hy, AT - (mins + 60) * 60_000, 10.0))  # earlier
    fixes.append(_fix("BUD-0001", 0, 0, AT + 60_000, 10.0))  # after the instant: not used
    st.insert_fixes(fixes)
    yield st
    st.close()


def summary(path) -> dict:
    text = path.read_text()
    m = re.search(r'<script type="application/json" id="geomonitor-map">(.*?)</script>', text, re.S)
    assert m, "the export carries its summary"
    return json.loads(m.group(1).replace("<\\/", "</"))


FETCHED = re.compile(
    r"""<(?:script|img|iframe|source|audio|video|embed)\b[^>]*\bsrc\s*=\s*["']?(?:https?:)?//"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']?(?:https?:)?//"""
    r"""|url\(\s*["']?(?:https?:)?//|@import\s+["']?(?:url\()?["']?(?:https?:)?//"""
    r"""|\.tileLayer\(\s*["'](?:https?:)?//""",
    re.I,
)


def test_the_curfew_map_shows_each_subject_with_status_fix_and_order(store, tmp_path):
    out = curfew_map(store, "Leeds", AT, tmp_path / "c.html")
    d = summary(out)
    got = {v["subject_id"]: v for v in d["visits"]}
    assert set(got) == set(PEOPLE)  # Bradford's subject is not on a Leeds map
    want = {"S-0001": "home", "S-0002": "away", "S-0003": "no signal",
            "S-0004": "not yet due", "S-0005": "not sure"}  # fmt: skip
    assert {s: v["status"] for s, v in got.items()} == want
    for sid, v in got.items():
        assert v["colour"] == COLOURS[v["status"]]
        (hx, hy), _, (off, mins, acc) = PEOPLE[sid]
        lat, lon = _ll(hx + off, hy)
        f = v["last_fix"]
        assert (f["lat"], f["lon"], f["accuracy_m"], f["age_minutes"]) == pytest.approx(
            (lat, lon, acc, mins)
        )
        assert (v["lat"], v["lon"]) == pytest.approx(_ll(hx, hy))
    assert got["S-0004"]["window_start"] == "2026-11-21T23:00:00Z"
    assert got["S-0001"]["zones"] == ["Z-CIRCLE"]
    html = out.read_text()
    # Drawn: an accuracy circle per last fix (radius in metres), a curfew area each.
    radii = re.findall(r'L\.circle\(\s*\[[^\]]+\],\s*\{[^}]*"className": "accuracy[^"]*"[^}]*'
                       r'"radius": ([0-9.]+)', html)  # fmt: skip
    assert sorted(float(r) for r in radii) == sorted(p[2][2] for p in PEOPLE.values())
    assert html.count('"className": "curfew-area') == len(PEOPLE)
    for status, colour in COLOURS.items():
        assert f'background:{colour}">{status}</span>' in html
    # Local times in the list beside the map (GMT in November).
    assert "21:55 GMT" in html and "23:00 to 07:00" in html
    assert "1980-01-01" not in html  # nothing personal beyond pseudonymous ids


def test_the_visiting_order_is_the_shortest_route(store):
    start = _ll(-3000, 0)
    visits, s = curfew_visits(store, "Leeds", AT, 2 * 3_600_000, start)
    assert s == start and [v.order for v in visits] == [1, 2, 3, 4, 5]
    origin = bng(*start)
    pts = [bng(v.lat, v.lon) for v in visits]
    best = min(route_length(origin, pts, list(p)) for p in itertools.permutations(range(5)))
    assert route_length(origin, pts, list(range(5))) == pytest.approx(best)
    assert sum(v.leg_m for v in visits) == pytest.approx(best, abs=1.0)
    # Without --start: from the district's centre.
    assert curfew_visits(store, "Leeds", AT, 2 * 3_600_000)[1] != start


@pytest.mark.parametrize("n", [2, 6, 9, 15, 40])
def test_route_orders_against_brute_force_or_never_worse_than_nearest(n):
    rng = np.random.default_rng(n)
    pts = [tuple(p) for p in rng.uniform(0, 10_000, (n, 2))]
    start = (5000.0, 5000.0)
    order = visiting_order(start, pts)
    assert sorted(order) == list(range(n))
    got = route_length(start, pts, order)
    if n <= 8:
        best = min(route_length(start, pts, list(p)) for p in itertools.permutations(range(n)))
        assert got == pytest.approx(best)
    else:  # 2-opt improves on the nearest neighbour, never worse
        left, here, nn = set(range(n)), start, []
        while left:
            j = min(left, key=lambda k: math.dist(here, pts[k]))
            nn.append(j)
            left.remove(j)
            here = pts[j]
        assert got <= route_length(start, pts, nn) + 1e-6


def test_ahead_decides_which_curfews_not_yet_started_are_shown(store):
    assert len(curfew_visits(store, "Leeds", AT, 0)[0]) == 4
    assert len(curfew_visits(store, "Leeds", AT, 61 * 60_000)[0]) == 5


def test_offline_exports_fetch_nothing_and_the_default_is_the_tiled_map(store, tmp_path):
    online = curfew_map(store, "Leeds", AT, tmp_path / "on.html").read_text()
    assert FETCHED.search(online) and "tile.openstreetmap.org" in online
    for path in (
        curfew_map(store, "Leeds", AT, tmp_path / "off.html", offline=True),
        zones_map(store, tmp_path / "z.html", offline=True),
    ):
        html = path.read_text()
        assert not FETCHED.search(html), FETCHED.search(html)
        assert "Leaflet" in html and "Redistribution and use" in html  # inlined, with licence
        assert '"className": "ward"' in html and '"className": "district"' in html


def _exclusion_candidate(st: Store, gap: bool = False):
    """S-0001 inside the 300 m exclusion zone for ten minutes (a 12-minute gap in the
    middle when asked), raised and stored."""
    reg = st.current_registry()
    minutes = [0, 1, 2, 3, 4, 16, 17, 18] if gap else list(range(0, 10))
    fixes = [_fix("BUD-0001", 50, 0, AT + 3_600_000 + m * 60_000, 10.0) for m in minutes]
    fixes += [_fix("BUD-0001", 2000, 0, AT + 3_600_000 + (30 + m) * 60_000, 10.0) for m in range(3)]
    st.insert_fixes(fixes)
    e = Engine(reg)
    res = e.process(batch(fixes))
    st.apply_candidates(res.upserts, res.retracted)
    return next(c for c in e.candidates() if c.kind == "exclusion_zone")


@pytest.mark.parametrize("gap", [False, True])
def test_the_alert_map_draws_every_evidence_fix_and_the_gaps(store, tmp_path, gap):
    c = _exclusion_candidate(store, gap)
    d = summary(alert_map(store, c.id, tmp_path / "a.html"))
    assert d["candidate"] == c.id and d["zone"] == "Z-CIRCLE"
    assert [f"{f['tag_id']}@{f['ts'].replace('.000', '')}" for f in d["fixes"]] == c.evidence
    assert d["segments"] == ({"path": len(c.evidence) - 2, "gap": 1} if gap
                             else {"path": len(c.evidence) - 1, "gap": 0})  # fmt: skip
    assert d["explanation"] == c.explanation


def test_a_non_association_alert_shows_the_other_subject(tmp_path):
    from ..rules.test_association import reg, walk

    st = Store(tmp_path / "n.db")
    st.load_registry(reg())
    fixes = walk("BUD-0001", (0, 40)) + walk("BUD-0002", (10, 30), dx=20, offset=0.6)
    fixes += walk("BUD-0002", (30, 40), dx=3000, offset=0.6)
    st.insert_fixes(fixes)
    e = Engine(reg())
    r = e.process(batch(fixes))
    st.apply_candidates(r.upserts, r.retracted)
    (c,) = [c for c in e.candidates() if c.kind == "non_association"]
    d = summary(alert_map(st, c.id, tmp_path / "n.html"))
    assert d["other_subject_id"] == "S-0002"
    assert {f["tag_id"] for f in d["fixes"]} == {"BUD-0001", "BUD-0002"}
    st.close()


def test_a_month_of_minute_fixes_is_thinned_but_keeps_every_evidence_fix_and_gap(store, tmp_path):
    t0 = parse_ts("2026-10-20T00:00:00Z")
    ts = t0 + np.arange(0, 30 * 1440) * 60_000
    keep = np.ones(len(ts), bool)
    keep[[1000, 1001, 1002]] = False  # a 4-minute gap (under 10)
    keep[5000:5014] = False  # a 15-minute gap (10 or more)
    keep[ts >= AT - 200 * 60_000] = False  # the fixture's and the candidate's own fixes
    ts = ts[keep]
    lat, lon = _ll(-2000, 0)
    rng = np.random.default_rng(3)
    store.insert_fixes([Fix("BUD-0001", int(t), lat + rng.normal(0, 1e-4), lon, 10.0) for t in ts])
    c = _exclusion_candidate(store)
    evidence = {r for x in store.candidates() if x.subject_id == "S-0001" for r in x.evidence}
    assert set(c.evidence) <= evidence
    lo, hi = t0, parse_ts("2026-11-22T12:00:00Z")
    d = summary(trail_map(store, "S-0001", lo, hi, tmp_path / "t.html"))
    assert d["fixes"] > 40_000 and d["drawn"] <= MAX_DRAWN + 50
    # Under 10 minutes: the 4-minute gap, and 21:55 to 22:01 among the fixture's fixes.
    assert d["gap_segments"][1] == 2 and d["gap_segments"][2] >= 2
    assert d["evidence_in_window"] == len(evidence) == d["evidence_drawn"]


def test_the_zones_map_lists_zones_with_their_conditions(store, tmp_path):
    d = summary(zones_map(store, tmp_path / "z.html", district="Leeds"))
    assert d["district"] == "Leeds"
    (z,) = d["zones"]
    assert z["id"] == "Z-CIRCLE" and z["districts"] == ["Leeds"]
    assert z["conditions"] == ["exclusion_zone C-Z (S-0001)"]


def test_the_map_command(store, tmp_path, capsys):
    db = str(tmp_path / "m.db")
    out = tmp_path / "cli.html"
    code = main(["map", "curfew", "--district", "Leeds", "--at", "2026-11-21T22:00:00Z",
                 "--start", "53.79,-1.56", "--out", str(out), "--db", db])  # fmt: skip
    assert code == 0 and capsys.readouterr().out.strip() == str(out)
    assert summary(out)["start"] == {"lat": 53.79, "lon": -1.56}
    code = main(["map", "curfew", "--district", "Leeds", "--start", "north", "--db", db])
    assert code == 2 and "--start 'north': expected LAT,LON" in capsys.readouterr().err
    code = main(["map", "alert", "C-nope", "--purpose", "warning letter", "--db", db])
    assert code == 2 and "no candidate C-nope" in capsys.readouterr().err
