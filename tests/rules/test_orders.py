"""Orders as they really are, in the engine: authorised absences, a curfew address per day,
release-day rows, and minutes late that add up over a month; each against a plain
reference (hand-placed trails with the answer worked out, or a loop written apart)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geomonitor.engine import Engine, EngineConfig
from geomonitor.model.crs import to_wgs84
from geomonitor.model.fix import Fix
from geomonitor.model.orders import Absence
from geomonitor.model.registry_load import parse_registry
from geomonitor.model.times import MS_PER_MINUTE, from_datetime, parse_ts

from ..conftest import BASE_DOC, CX, CY, batch, deliver, fix_at, make_doc
from .test_curfew import MIN, at, curfew, trail

UK = ZoneInfo("Europe/London")
HOSPITAL_E = 3000.0  # metres east of home
PUB_N = 2500.0  # metres north of home: off the way to the hospital


def _latlon(dx: float, dy: float = 0.0) -> tuple[float, float]:
    lon, lat = to_wgs84(np.array([CX + dx]), np.array([CY + dy]))
    return float(lat[0]), float(lon[0])


HOSPITAL = _latlon(HOSPITAL_E)


def hospital_registry(absences=()):
    """A curfew 19:00-07:00 at home (grace 15 min) and an exclusion zone round the hospital."""
    doc = make_doc(
        zones=[
            {
                "id": "Z-H",
                "name": "hospital area",
                "center": {"lat": HOSPITAL[0], "lon": HOSPITAL[1]},
                "radius_m": 400,
            }
        ],
        orders=[
            dict(
                BASE_DOC["orders"][0],
                conditions=[curfew(), {"id": "C-1", "type": "exclusion_zone", "zone": "Z-H"}],
            )
        ],
    )
    return replace(parse_registry(doc), absences=tuple(absences))


def visit(back: str = "20:55", pub: tuple[str, str] | None = None) -> list[Fix]:
    """Home until 19:30, to the hospital by 19:45, there until 20:40, home by ``back``
    (fixes every two minutes); with ``pub``, at the pub between those times instead."""
    home_at = at(back)

    def where(t: int) -> float:
        if t < at("19:30"):
            return 0.0
        if t < at("19:45"):
            return (t - at("19:30")) / (15 * MIN) * HOSPITAL_E
        if t < at("20:40"):
            return HOSPITAL_E
        if t < home_at:
            return HOSPITAL_E * (1 - (t - at("20:40")) / (home_at - at("20:40")))
        return 0.0

    out = []
    for f in trail("2026-11-21T18:00:00Z", "2026-11-22T07:30:00Z", where, every=2):
        if pub is not None and at(pub[0]) <= f.ts < at(pub[1]):
            f = fix_at(0, PUB_N, (f.ts - at("18:00")) / MIN)
        out.append(f)
    return out


def hospital_absence(starts="19:30", ends="21:00", destination=True, aid="A-0001"):
    lat, lon = HOSPITAL if destination else (None, None)
    return Absence(aid, "S-0001", at(starts), at(ends), "PO Smith", "hospital appointment",
                   lat, lon, 200.0 if destination else None)  # fmt: skip


def judged(reg, fixes):
    e = Engine(reg)
    e.process(batch(fixes))
    return e


def kinds(cands):
    return sorted(c.kind for c in cands)


# --------------------------------------------------------------------------- absences
def test_without_the_absence_the_visit_is_an_absence_and_a_zone_entry():
    e = judged(hospital_registry(), visit())
    assert kinds(e.candidates()) == ["curfew_absent", "exclusion_zone"]
    assert e.authorised() == []


def test_an_authorised_hospital_visit_raises_nothing_and_is_recorded_as_authorised():
    e = judged(hospital_registry([hospital_absence()]), visit())
    assert e.candidates() == []
    # what it would have raised: the same candidates, named with the absence
    plain = judged(hospital_registry(), visit()).candidates()
    got = e.authorised()
    assert sorted(c.id for c in got) == sorted(c.id for c in plain)
    assert {c.details["absence_id"] for c in got} == {"A-0001"}


def test_an_absence_without_a_destination_covers_anywhere():
    e = judged(
        hospital_registry([hospital_absence(destination=False)]), visit(pub=("20:00", "20:30"))
    )
    assert e.candidates() == []


def test_the_pub_during_the_window_raises_a_candidate():
    e = judged(hospital_registry([hospital_absence()]), visit(pub=("20:00", "20:30")))
    (c,) = e.candidates()
    assert c.kind == "curfew_absent"
    assert c.opened_at == at("20:00") and c.closed_at == at("20:30")
    assert c.details["during_absence"] == "A-0001"
    assert "went elsewhere than authorised absence A-0001 allows at 20:00" in c.explanation


@pytest.mark.parametrize(
    ("back", "expected"),
    [
        ("21:14", []),  # within the 15 minutes' grace after the absence ends
        ("21:16", ["curfew_late_return"]),  # just past it
        ("21:40", ["curfew_late_return"]),
    ],
)
def test_coming_back_late_after_the_absence(back, expected):
    """Due back at 21:00 (the absence's end), as at a curfew's start: the grace runs from
    then. The hospital area is left before 21:00, so the zone raises nothing."""
    fixes = visit(back="20:58")
    # on the way home (covered until 21:00), halfway, outside the zone, until ``back``
    fixes = [f for f in fixes if not at("20:50") <= f.ts < at(back)]
    fixes += [
        fix_at(1500, 0, (t - at("18:00")) / MIN) for t in range(at("20:50"), at(back), 2 * MIN)
    ]
    e = judged(hospital_registry([hospital_absence()]), sorted(fixes, key=lambda f: f.ts))
    got = e.candidates()
    assert kinds(got) == expected
    if expected:
        (c,) = got
        assert c.opened_at == at("21:00") and c.details["due_back_at"] == "2026-11-21T21:00:00Z"
        # minutes late from 21:00 to the first fix home (on the two-minute grid)
        assert c.details["minutes_late"] == (c.closed_at - at("21:00") + MIN - 1) // MIN
        assert "not back when an authorised absence ended at 21:00" in c.explanation


def test_home_after_the_absence_then_out_again_is_leaving_not_a_late_return():
    """Back by 20:58, out again at 21:30: the absence is over and the subject was home, so
    this is an absence that began at 21:30 (not a late return from 21:00)."""
    fixes = [f for f in visit(back="20:58") if not at("21:30") <= f.ts < at("22:00")]
    fixes += [
        fix_at(0, 1500, (t - at("18:00")) / MIN) for t in range(at("21:30"), at("22:00"), 2 * MIN)
    ]
    (c,) = judged(
        hospital_registry([hospital_absence()]), sorted(fixes, key=lambda f: f.ts)
    ).candidates()
    assert c.kind == "curfew_absent" and c.opened_at == at("21:30")
    assert "due_back_at" not in c.details and "left at 21:30" in c.explanation


def test_an_absence_covers_from_its_start_up_to_but_not_at_its_end():
    from geomonitor.rules.absence import Cover

    cover = Cover([hospital_absence(destination=False)], None, 500.0)
    ts = np.array([at("19:30") - 1, at("19:30"), at("21:00") - 1, at("21:00")], np.int64)
    zero = np.zeros(4)
    assert cover.covered(ts, zero, zero, zero).tolist() == [False, True, True, False]
    # with a destination: its circle (radius plus the fix's accuracy) ...
    x = np.array([CX + HOSPITAL_E + 209.0, CX + HOSPITAL_E + 211.0])
    inside = np.full(2, at("20:00"), np.int64)
    only_there = Cover([hospital_absence()], None, 500.0)  # (no curfew address: no corridor)
    assert only_there.covered(inside, x, np.full(2, CY), np.full(2, 10.0)).tolist() == [
        True,
        False,
    ]
    # ... and the corridor either side of the straight line from the curfew address
    cover = Cover([hospital_absence()], (CX, CY), 500.0)
    x = np.array([CX + 1500.0, CX + 1500.0, CX - 509.0, CX - 511.0])
    y = np.array([CY + 509.0, CY + 511.0, CY, CY])
    got = cover.covered(np.full(4, at("20:00"), np.int64), x, y, np.full(4, 10.0))
    assert got.tolist() == [True, False, True, False]


def test_a_silence_inside_the_absence_is_not_a_curfew_silence():
    fixes = [f for f in visit() if not at("19:35") <= f.ts < at("20:50")]
    assert "curfew_absent" in kinds(judged(hospital_registry(), fixes).candidates())
    assert judged(hospital_registry([hospital_absence()]), fixes).candidates() == []


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), max_batch=st.integers(1, 60))
def test_absences_give_the_same_result_in_any_arrival_order(seed, max_batch):
    fixes = visit(pub=("20:00", "20:30")) + visit(back="21:30")[::7]
    reg = hospital_registry([hospital_absence()])
    ref = judged(reg, fixes)
    arrival = list(fixes)
    random.Random(seed).shuffle(arrival)
    e = Engine(reg)
    got = deliver(e, arrival, random.Random(seed), max_batch)
    assert got == [c.to_json() for c in sorted(ref.candidates(), key=lambda c: c.id)]
    assert [c.id for c in e.authorised()] == [c.id for c in ref.authorised()]
    curfews = e.family("curfews")
    assert curfews._held == {c.id for c in curfews.candidates()}  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- per-day rows
PARTNER = _latlon(-2000.0)  # the partner's address, 2 km west


def weekend_registry():
    """Weeknights 19:00-07:00 at home; Friday and Saturday nights 21:00-08:00 at the
    partner's; a release-day row on Monday 16 March 2026 from 14:00."""
    timetable = [
        {"days": ["sun", "mon", "tue", "wed", "thu"], "start": "19:00", "end": "07:00"},
        {
            "days": ["fri", "sat"],
            "start": "21:00",
            "end": "08:00",
            "location": {"lat": PARTNER[0], "lon": PARTNER[1]},
            "radius_m": 150,
        },
        {"date": "2026-03-16", "start": "14:00", "end": "07:00"},
    ]
    orders = [dict(BASE_DOC["orders"][0], conditions=[curfew(timetable=timetable)])]
    return parse_registry(make_doc(orders=orders))


def local_window(day: date, start: str, end: str) -> tuple[int, int]:
    """The plain reference: local wall-clock times through the zone database."""
    h0, m0 = map(int, start.split(":"))
    h1, m1 = map(int, end.split(":"))
    s = datetime(day.year, day.month, day.day, h0, m0, tzinfo=UK)
    e_day = day + timedelta(days=1)
    e = datetime(e_day.year, e_day.month, e_day.day, h1, m1, tzinfo=UK)
    return from_datetime(s), from_datetime(e)


def night_trail(s: int, e: int, dx: float) -> list[Fix]:
    """Fixes every ten minutes from an hour before ``s`` to an hour after ``e`` at ``dx``."""
    return [fix_at(dx, 0, (t - parse_ts("2026-11-21T18:00:00Z")) / MIN)
            for t in range(s - 60 * MIN, e + 60 * MIN, 10 * MIN)]  # fmt: skip


@pytest.mark.parametrize(
    "saturday",
    [date(2026, 3, 28), date(2026, 10, 24)],  # the nights the clocks go forward and back
)
def test_the_weekend_address_across_the_clock_changes(saturday):
    reg = weekend_registry()
    s, e = local_window(saturday, "21:00", "08:00")
    assert e - s == (10 if saturday.month == 3 else 12) * 60 * MIN
    rules = [r for r in Engine(reg).family("curfews").rules]  # type: ignore[attr-defined]
    assert len(rules) == 2 and rules[1].elsewhere
    assert (s, e) in rules[1].nights(s - MIN, s + MIN)
    # at the partner's all night: nothing; at home (2 km from the partner's): absent
    assert judged(reg, night_trail(s, e, -2000.0)).candidates() == []
    (c,) = judged(reg, night_trail(s, e, 0.0)).candidates()
    assert c.kind == "curfew_absent" and c.opened_at == s + 15 * MIN and c.closed_at == e
    assert c.details["address"] == "the timetable's address for this night"
    # the Sunday night after is at home again, starting 19:00 local
    sunday = saturday + timedelta(days=1)
    s2, e2 = local_window(sunday, "19:00", "07:00")
    assert judged(reg, night_trail(s2, e2, 0.0)).candidates() == []
    (c2,) = judged(reg, night_trail(s2, e2, -2000.0)).candidates()
    assert c2.opened_at == s2 + 15 * MIN


def test_a_release_day_row_replaces_that_days_weekly_row():
    reg = weekend_registry()
    s, e = local_window(date(2026, 3, 16), "14:00", "07:00")
    rule = Engine(reg).family("curfews").rules[0]  # type: ignore[attr-defined]
    assert rule.nights(s - MIN, s + MIN) == [(s, e)]
    (c,) = judged(reg, night_trail(s, e, 2000.0)).candidates()
    assert c.opened_at == s + 15 * MIN
    # the Monday after keeps its weekly 19:00 start
    s2, _ = local_window(date(2026, 3, 23), "19:00", "07:00")
    assert [n[0] for n in rule.nights(s2 - MIN, s2 + MIN)] == [s2]


# --------------------------------------------------------------------------- lateness
def month_of_lateness(minutes: list[int], start_day: int = 1) -> list[Fix]:
    """November 2026 (GMT): each night ``d`` the subject is home ``minutes[d]`` minutes
    after 19:00 (a fix a minute from 18:50, then every ten minutes to the morning)."""
    out = []
    for k, late in enumerate(minutes):
        s = parse_ts(f"2026-11-{start_day + k:02d}T19:00:00Z")
        for m in [*range(-10, 40), *range(40, 12 * 60 + 10, 10)]:
            t = s + m * MIN
            out.append(
                fix_at(2000.0 if m < late else 0.0, 0, (t - parse_ts("2026-11-21T18:00:00Z")) / MIN)
            )
    return out


def reference_crossing(minutes: list[int], limit: float) -> int | None:
    """The plain reference: the first night (index) whose running total passes the limit."""
    total = 0
    for k, m in enumerate(minutes):
        total += m
        if total > limit:
            return k
    return None


def lateness_engine(limit: float) -> Engine:
    orders = [dict(BASE_DOC["orders"][0], conditions=[curfew()])]
    cfg = EngineConfig(curfew_lateness_minutes=limit)
    # (the fixes stop by day: curfews only, not the tag's lost contact)
    return Engine(parse_registry(make_doc(orders=orders)), cfg, families={"curfews"})


@pytest.mark.parametrize(
    ("limit", "night"),
    [(119, 14), (120, 15), (121, 15), (127, 15), (128, 16)],  # 8 a night: 120 after 15
)
def test_eight_minutes_a_night_passes_the_monthly_limit_on_the_right_night(limit, night):
    minutes = [8] * 30
    assert reference_crossing(minutes, limit) == night
    e = lateness_engine(limit)
    e.process(batch(month_of_lateness(minutes)))
    got = [c for c in e.candidates() if c.kind == "curfew_lateness"]
    assert [c for c in e.candidates() if c.kind != "curfew_lateness"] == []  # all within grace
    (c,) = got
    assert c.opened_at == parse_ts(f"2026-11-{night + 1:02d}T19:00:00Z")
    assert c.details["minutes_late"] == 8 * (night + 1) and c.details["nights_late"] == night + 1
    assert c.details["month"] == "2026-11"
    assert e.family("curfews").lateness()[("O-0001", "2026-11")] == (240, 30)  # type: ignore[attr-defined]


def test_below_the_limit_no_candidate():
    e = lateness_engine(240)
    e.process(batch(month_of_lateness([8] * 30)))
    assert e.candidates() == []


@settings(max_examples=20, deadline=None)
@given(
    minutes=st.lists(st.sampled_from([0, 0, 3, 8, 14, 15]), min_size=5, max_size=20),
    limit=st.sampled_from([20, 40, 60]),
    seed=st.integers(0, 1000),
)
def test_lateness_against_a_plain_sum_in_any_order(minutes, limit, seed):
    fixes = month_of_lateness(minutes)
    random.Random(seed).shuffle(fixes)
    e = lateness_engine(limit)
    got = deliver(e, fixes, random.Random(seed), 200)
    late = [c for c in got if c["kind"] == "curfew_lateness"]
    k = reference_crossing(minutes, limit)
    if k is None:
        assert late == []
    else:
        (c,) = late
        assert c["opened_at"] == f"2026-11-{k + 1:02d}T19:00:00Z"
        assert c["details"]["minutes_late"] == sum(minutes[: k + 1])


def test_each_month_is_counted_on_its_own():
    """The last nights of November and the first of December: two separate totals."""
    e = lateness_engine(30)
    e.process(batch(month_of_lateness([10, 10, 10, 10, 10], start_day=26)))  # 26 Nov - 30 Nov
    dec = []
    for d in (1, 2):
        s = parse_ts(f"2026-12-{d:02d}T19:00:00Z")
        t0 = parse_ts("2026-11-21T18:00:00Z")
        dec += [fix_at(2000.0 if m < 10 else 0.0, 0, (s + m * MIN - t0) / MIN)
                for m in [*range(-10, 40), *range(40, 12 * 60 + 10, 10)]]  # fmt: skip
    e.process(batch(dec))
    (c,) = [c for c in e.candidates() if c.kind == "curfew_lateness"]
    assert c.details["month"] == "2026-11" and c.opened_at == parse_ts("2026-11-29T19:00:00Z")
    late = e.family("curfews").lateness()  # type: ignore[attr-defined]
    assert late[("O-0001", "2026-12")] == (20, 2)
    assert MS_PER_MINUTE == MIN


def test_the_address_and_the_condition_of_a_given_night():
    """What maps and evidence packs draw: the night's own address, and after a variation
    the condition as varied (an order holds one version per stretch)."""
    from geomonitor.model.registry import condition_at

    reg = weekend_registry()
    order = reg.orders["O-0001"]
    sat, _ = local_window(date(2026, 10, 24), "21:00", "08:00")
    sun, _ = local_window(date(2026, 10, 25), "19:00", "07:00")
    cond = condition_at(order, "C-3", sat)
    assert cond is not None
    assert cond.curfew_place(sat) == (PARTNER[0], PARTNER[1], 150.0)
    assert cond.curfew_place(sat + 3 * 60 * MIN) == (PARTNER[0], PARTNER[1], 150.0)
    own = BASE_DOC["zones"][0]["center"]  # (the curfew's own address is the centre too)
    assert cond.curfew_place(sun)[:2] == pytest.approx((own["lat"], own["lon"]))
    varied = dict(BASE_DOC["orders"][0], variations=[
        {"id": "V-1", "type": "correction", "reason": "wrong zone typed",
         "effective": "2026-11-09T00:00:00Z",
         "conditions": [{"id": "C-1", "type": "exclusion_zone", "zone": "Z-CIRCLE",
                         "open_after": 3}]}])  # fmt: skip
    order = parse_registry(make_doc(orders=[varied])).orders["O-0001"]
    assert [c.open_after for c in order.conditions] == [None, 3]
    assert condition_at(order, "C-1", parse_ts("2026-11-08T23:59:59Z")).open_after is None  # type: ignore[union-attr]
    assert condition_at(order, "C-1", parse_ts("2026-11-09T00:00:00Z")).open_after == 3  # type: ignore[union-attr]
