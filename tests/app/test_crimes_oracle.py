"""Crime correlation held to plain references (issue 24): every coordinate layout and datum
against pyproj and a published survey point, the national layout's times as UTC, the
window's limits at, below and above, and the verdicts against a brute-force check of
every fix and every interpolated minute, for any trail (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from geomonitor.app.crimes.match import CrimeConfig, judge
from geomonitor.model.crime import MAX_WINDOW_MS, Crime, parse_crime_rows, parse_national_row
from geomonitor.model.times import parse_ts

MIN = 60_000
#: Leeds Town Hall and Halifax Minster (WGS84), places a batch names
PLACES = [(53.80001, -1.54918), (53.72113, -1.85813)]
WGS84_TO_BNG = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
OSGB36_TO_BNG = Transformer.from_crs("EPSG:4277", "EPSG:27700", always_xy=True)
BNG_TO_WGS84 = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)


def _national(lat="", lon="", e="", n="", datum="", start="20261121200000",
              end="20261121210000") -> list[str]:  # fmt: skip
    return ["West Yorkshire", "BIAD", "", "B1", "13/1", start, end, e, n, lat, lon, datum, ""]


@pytest.mark.parametrize("lat, lon", PLACES)
def test_every_layout_and_datum_agrees_with_pyproj(lat, lon):
    x84, y84 = WGS84_TO_BNG.transform(lon, lat)
    x36, y36 = OSGB36_TO_BNG.transform(lon, lat)
    # the two datums put the same numbers about 100 m apart here: reading one as the other
    # would move a crime out of its vicinity
    assert 70 < math.hypot(x84 - x36, y84 - y36) < 150
    own = (f"crime_ref,type,from,to,lat,lon,easting,northing\n"
           f"A,BIAD,2026-11-21T20:00Z,2026-11-21T21:00Z,{lat},{lon},,\n"
           f"B,BIAD,2026-11-21T20:00Z,2026-11-21T21:00Z,,,{x84:.3f},{y84:.3f}\n")  # fmt: skip
    (a, b), bad = parse_crime_rows(own)
    assert not bad
    cases = [
        (a, x84, y84),
        (b, x84, y84),
        (parse_national_row(_national(lat=str(lat), lon=str(lon), datum="WGS84"), 1), x84, y84),
        (parse_national_row(_national(lat=str(lat), lon=str(lon), datum=""), 1), x84, y84),
        (parse_national_row(_national(lat=str(lat), lon=str(lon), datum="OSGB36"), 1), x36, y36),
        (parse_national_row(_national(e=f"{x84:.3f}", n=f"{y84:.3f}"), 1), x84, y84),
    ]
    for c, x, y in cases:
        assert (c.x, c.y) == (pytest.approx(x, abs=0.01), pytest.approx(y, abs=0.01)), c
        lon_, lat_ = BNG_TO_WGS84.transform(c.x, c.y)  # its WGS84 place is the grid's
        assert (c.lat, c.lon) == (pytest.approx(lat_, abs=1e-7), pytest.approx(lon_, abs=1e-7))


def test_an_osgb36_position_lands_on_the_ordnance_surveys_worked_example():
    # "A guide to coordinate systems in Great Britain" (Ordnance Survey), worked example:
    # Caister water tower, OSGB36 52°39'27.2531"N 1°43'4.5177"E is E 651409.903, N 313177.270
    lat = 52 + 39 / 60 + 27.2531 / 3600
    lon = 1 + 43 / 60 + 4.5177 / 3600
    c = parse_national_row(_national(lat=f"{lat:.9f}", lon=f"{lon:.9f}", datum="OSGB36"), 1)
    assert c.x == pytest.approx(651409.903, abs=0.01)
    assert c.y == pytest.approx(313177.270, abs=0.01)


@pytest.mark.parametrize(
    "start, end, utc_start",
    [
        ("20261121200000", "20261121210000", "2026-11-21T20:00:00Z"),  # winter: GMT
        ("20260710200000", "20260710210000", "2026-07-10T20:00:00Z"),  # summer: not BST
        ("20261025003000", "20261025013000", "2026-10-25T00:30:00Z"),  # the clocks go back
        ("20261231233000", "20270101003000", "2026-12-31T23:30:00Z"),  # into the new year
    ],
)
def test_national_times_are_utc_whatever_the_season(start, end, utc_start):
    c = parse_national_row(_national(e="429950", n="433420", start=start, end=end), 1)
    assert c.start == parse_ts(utc_start) and c.end - c.start == 60 * MIN


@pytest.mark.parametrize("extra_ms, ok", [(-1, True), (0, True), (1, False)])
def test_the_window_is_at_most_12_hours(extra_ms, ok):
    a = parse_ts("2026-11-21T08:00:00Z")
    b = a + MAX_WINDOW_MS + extra_ms
    assert MAX_WINDOW_MS == 12 * 3_600_000
    from geomonitor.model.times import iso

    text = (f"crime_ref,type,from,to,easting,northing\n"
            f"A,BIAD,{iso(a)},{iso(b)},429950,433420\n")  # fmt: skip
    crimes, bad = parse_crime_rows(text)
    assert (len(crimes), len(bad)) == ((1, 0) if ok else (0, 1))


@pytest.mark.parametrize("before_ms, ok", [(0, True), (1, False)])
def test_the_window_may_be_an_instant_but_not_end_before_it_starts(before_ms, ok):
    from geomonitor.model.times import iso

    a = parse_ts("2026-11-21T20:00:00Z")
    text = (f"crime_ref,type,from,to,easting,northing\n"
            f"A,BIAD,{iso(a)},{iso(a - before_ms)},429950,433420\n")  # fmt: skip
    crimes, bad = parse_crime_rows(text)
    assert (len(crimes), len(bad)) == ((1, 0) if ok else (0, 1))


# --------------------------------------------------------------------------- the verdicts
T0 = parse_ts("2026-11-21T20:00:00Z")
CFG = CrimeConfig()
SCENE = (430000.0, 433000.0)


def _brute(ts, x, y, acc, t0, t1, r, v, fit_a, fit_b):
    """What an analyst would check by hand: every fix in the window, every whole minute
    between two fixes at most five minutes apart; if none is near, whether the scene could
    have been reached and left between any two fixes, or the trail does not cover it."""
    near = set()
    for k in range(len(ts)):
        if t0 <= ts[k] <= t1 and math.hypot(x[k] - SCENE[0], y[k] - SCENE[1]) - acc[k] <= r:
            near.add((int(ts[k]), "fix"))
    for k in range(len(ts) - 1):
        a, b = int(ts[k]), int(ts[k + 1])
        if b - a > CFG.between_gap_minutes * MIN:
            continue
        t = (a // MIN + 1) * MIN
        while t < b:
            if t0 <= t <= t1:
                g = (t - a) / (b - a)
                px, py = x[k] + g * (x[k + 1] - x[k]), y[k] + g * (y[k + 1] - y[k])
                if math.hypot(px - SCENE[0], py - SCENE[1]) - max(acc[k], acc[k + 1]) <= r:
                    near.add((t, "between"))
            t += MIN
    if near:
        return "hit", near
    if not len(ts) or fit_a > t0 or fit_b <= t1 or ts[0] > t0 or ts[-1] < t1:
        return "cannot_eliminate", near
    for k in range(len(ts) - 1):
        a, b = int(ts[k]), int(ts[k + 1])
        if b <= t0 or a >= t1:
            continue
        da = max(math.hypot(x[k] - SCENE[0], y[k] - SCENE[1]) - acc[k] - r, 0.0)
        db = max(math.hypot(x[k + 1] - SCENE[0], y[k + 1] - SCENE[1]) - acc[k + 1] - r, 0.0)
        arrive, leave = a + da / v * 1000, b - db / v * 1000  # in the vicinity between
        if max(arrive, t0) <= min(leave, t1):
            return "cannot_eliminate", near
    return "eliminated", near


@st.composite
def trails(draw):
    # "covering": a trail around the whole window, mostly far away, fixes minutes apart
    # (eliminations, and the gaps that stop one); else anything (hits, near misses, gaps)
    covering = draw(st.booleans())
    n = draw(st.integers(14, 22) if covering else st.integers(0, 14))
    step = st.integers(2 * MIN, 6 * MIN) if covering else st.integers(10_000, 40 * MIN)
    gaps = draw(st.lists(step, min_size=n, max_size=n))
    start = T0 - draw(st.integers(0, 10 * MIN) if covering else st.integers(0, 90 * MIN))
    ts = np.cumsum([start, *gaps])[:n].astype(np.int64)
    far = [1500.0, 3000.0, 3000.0, 8000.0, 8000.0, 400.0]
    close = [0.0, 60.0, 95.0, 105.0, 180.0, 400.0, 1500.0, 3000.0]
    d = draw(st.lists(st.sampled_from(far if covering else close), min_size=n, max_size=n))
    ang = draw(st.lists(st.floats(0, 2 * math.pi), min_size=n, max_size=n))
    acc = np.array(draw(st.lists(st.sampled_from([5.0, 20.0, 60.0, 150.0]), min_size=n,
                                 max_size=n)), float)  # fmt: skip
    x = np.array([SCENE[0] + d[k] * math.cos(ang[k]) for k in range(n)], float)
    y = np.array([SCENE[1] + d[k] * math.sin(ang[k]) for k in range(n)], float)
    fit_a = T0 - draw(st.sampled_from([-30 * MIN, 0, 5 * 3_600_000, 5 * 3_600_000]))
    fit_b = T0 + 60 * MIN + draw(st.sampled_from([-10 * MIN, 0, 1, 5 * 3_600_000] * 1))
    return ts, x, y, acc, fit_a, fit_b


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trails())
def test_verdicts_equal_a_brute_force_check_of_every_fix_and_minute(trail):
    ts, x, y, acc, fit_a, fit_b = trail
    c = Crime("CR", "BIAD", SCENE[0], SCENE[1], 53.8, -1.55, T0, T0 + 60 * MIN)
    v = judge(c, "S-1", ts, x, y, acc, fit_a, fit_b, CFG)
    want, near = _brute(ts, x, y, acc, c.start, c.end, CFG.radius(c), CFG.speed_ms(c),
                        fit_a, fit_b)  # fmt: skip
    assert v.verdict == want, (v.verdict, v.reason)
    assert {(p.ts, p.kind) for p in v.positions} == near


def test_a_subject_with_two_tags_in_the_window_gets_the_stronger_verdict(tmp_path):
    """The first tag comes off ten minutes into the window (cannot eliminate on its own);
    the second, fitted then, was at the scene: the subject is a hit."""
    from geomonitor.app.crimes.match import FixIndex, match_crime
    from geomonitor.model.crs import to_wgs84
    from geomonitor.model.fix import Fix
    from geomonitor.model.registry_load import parse_registry
    from geomonitor.model.times import iso
    from geomonitor.store.domain import Store

    from ..conftest import BASE_DOC, make_doc

    swap = T0 + 10 * MIN
    consent = {"recorded_at": "2025-12-31T12:00:00Z", "guardian": None}
    doc = make_doc(
        tags=[{"id": "BUD-0001", "district": "Leeds"}, {"id": "BUD-0006", "district": "Leeds"}],
        fittings=[
            {"tag": "BUD-0001", "subject": "S-0001", "fitted_at": "2026-01-01T00:00:00Z",
             "removed_at": iso(swap), "consent": consent},
            {"tag": "BUD-0006", "subject": "S-0001", "fitted_at": iso(swap),
             "removed_at": None, "consent": consent},
        ],
        subjects=[BASE_DOC["subjects"][0]], orders=[],
    )  # fmt: skip
    st_ = Store(tmp_path / "two.db")
    st_.load_registry(parse_registry(doc))

    def fix(tag, dx, t):
        lon, lat = to_wgs84(np.array([SCENE[0] + dx]), np.array([SCENE[1]]))
        return Fix(tag, t, float(lat[0]), float(lon[0]), 10.0)

    fixes = [fix("BUD-0001", 5000, T0 - 30 * MIN + k * MIN) for k in range(40)]
    fixes += [fix("BUD-0006", 20, swap + k * MIN) for k in range(1, 60)]
    st_.insert_fixes(fixes)
    c = Crime("CR", "BIAD", SCENE[0], SCENE[1], 53.8, -1.55, T0, T0 + 60 * MIN)
    index = FixIndex(st_, st_.current_registry(), T0 - 3 * 3_600_000, T0 + 3 * 3_600_000)
    (v,) = match_crime(index, c)
    assert v.subject_id == "S-0001" and v.verdict == "hit"
    st_.close()
