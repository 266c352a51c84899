"""Curfews: late returns, absences and silences, judged per night in local UK time."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geomonitor.engine import Engine
from geomonitor.model.crs import to_bng
from geomonitor.model.fix import Fix
from geomonitor.model.times import iso, parse_ts

from ..conftest import BASE_DOC, CENTRE_LAT, CENTRE_LON, batch, deliver, fix_at, make_registry

MIN = 60_000
EVERY_NIGHT = [
    {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "19:00", "end": "07:00"}
]


def curfew(cid="C-3", timetable=EVERY_NIGHT, **extra):
    return {
        "id": cid,
        "type": "curfew",
        "location": {"lat": CENTRE_LAT, "lon": CENTRE_LON},
        "radius_m": 100,
        "timetable": timetable,
        "timezone": "Europe/London",
        "grace_minutes": 15,
        **extra,
    }


def registry(*conds):
    orders = [dict(BASE_DOC["orders"][0], conditions=list(conds) or [curfew()])]
    return make_registry(orders=orders)


def trail(start: str, end: str, where, every=5, acc=10.0) -> list[Fix]:
    """Fixes every ``every`` minutes; ``where(t)`` gives metres east of home at ``t``."""
    t0, t1 = parse_ts(start), parse_ts(end)
    out = []
    t = t0
    while t < t1:
        d = where(t)
        if d is not None:
            out.append(fix_at(d, 0, (t - parse_ts("2026-11-21T18:00:00Z")) / MIN, acc))
        t += every * MIN
    return out


def at(hhmm: str, day="2026-11-21") -> int:
    return parse_ts(f"{day}T{hhmm}:00Z")


def run(fixes, reg=None):
    e = Engine(reg or registry())
    e.process(batch(fixes))
    return e.candidates()


NIGHT = ("2026-11-21T18:00:00Z", "2026-11-22T07:30:00Z")  # Saturday, GMT


def test_home_all_night_raises_nothing():
    assert run(trail(*NIGHT, lambda t: 0)) == []


def test_home_within_the_grace_period_is_fine():
    assert run(trail(*NIGHT, lambda t: 2000 if t < at("19:10") else 0)) == []


def test_late_return_records_minutes_late():
    (c,) = run(trail(*NIGHT, lambda t: 2000 if t < at("19:45") else 0))
    assert c.kind == "curfew_late_return" and c.status == "closed"
    assert c.opened_at == at("19:00") and c.closed_at == at("19:45")
    assert c.details["minutes_late"] == 45 and c.details["grace_minutes"] == 15
    assert "home late" in c.explanation and "45 min after the start" in c.explanation


def test_away_all_night_is_an_absence_that_ends_with_the_curfew():
    (c,) = run(trail(*NIGHT, lambda t: 3000))
    assert c.kind == "curfew_absent" and c.details["away_at_start"] is True
    assert c.opened_at == at("19:15") and c.closed_at == at("07:00", "2026-11-22")
    assert "not home before the curfew ended" in c.explanation


def test_absence_still_running_is_open():
    (c,) = run(trail("2026-11-21T18:00:00Z", "2026-11-21T23:00:00Z", lambda t: 3000))
    assert c.kind == "curfew_absent" and c.status == "open" and c.closed_at is None


def test_leaving_during_the_window():
    def where(t):
        return 1500 if at("23:00") <= t < at("01:00", "2026-11-22") else 0

    (c,) = run(trail(*NIGHT, where))
    assert c.kind == "curfew_absent" and c.details["away_at_start"] is False
    assert c.opened_at == at("23:00") and c.closed_at == at("01:00", "2026-11-22")
    assert c.fix_count == 24


def test_accuracy_near_the_radius():
    # 95 m from home with a 10 m circle: not wholly inside the 100 m radius, not wholly out.
    assert run(trail(*NIGHT, lambda t: 95)) == []
    # 115 m with a 10 m circle is wholly outside.
    (c,) = run(trail(*NIGHT, lambda t: 115))
    assert c.kind == "curfew_absent"


def test_spring_forward_night_ends_at_six_utc():
    night = ("2026-03-28T18:00:00Z", "2026-03-29T08:00:00Z")
    # Away from 06:30 UTC = 07:30 BST: after the curfew (07:00 BST = 06:00 UTC).
    assert run(trail(*night, lambda t: 2000 if t >= at("06:30", "2026-03-29") else 0)) == []
    (c,) = run(trail(*night, lambda t: 2000 if t >= at("05:30", "2026-03-29") else 0))
    assert c.kind == "curfew_absent" and c.closed_at == at("06:00", "2026-03-29")


def test_fall_back_night_ends_at_seven_utc():
    night = ("2026-10-24T17:00:00Z", "2026-10-25T08:00:00Z")
    # 19:00 BST is 18:00 UTC: away until 18:10 UTC is within grace; the window runs to 07:00.
    assert run(trail(*night, lambda t: 2000 if t < at("18:10", "2026-10-24") else 0)) == []
    (c,) = run(trail(*night, lambda t: 2000 if t >= at("06:30", "2026-10-25") else 0))
    assert c.closed_at == at("07:00", "2026-10-25")


def test_timetable_change_during_the_order():
    early = curfew("C-3", ends="2026-11-22T12:00:00Z")
    later = curfew(
        "C-4",
        starts="2026-11-22T12:00:00Z",
        timetable=[
            {
                "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "start": "21:00",
                "end": "07:00",
            }
        ],
    )
    reg = registry(early, later)

    def where(t):
        evening = any(at("19:30", d) <= t < at("20:30", d) for d in ("2026-11-21", "2026-11-22"))
        return 2000 if evening else 0

    cands = run(trail("2026-11-21T18:00:00Z", "2026-11-23T07:30:00Z", where), reg)
    assert [(c.condition_id, c.kind, c.opened_at) for c in cands] == [
        ("C-3", "curfew_absent", at("19:30"))
    ]


def test_silence_then_late_fixes_update_the_night_not_duplicate_it():
    gap = (at("22:00"), at("22:45"))
    fixes = trail(*NIGHT, lambda t: 0)
    heard = [f for f in fixes if not gap[0] <= f.ts < gap[1]]
    e = Engine(registry())
    r1 = e.process(batch(heard))
    (c1,) = r1.upserts
    assert c1.kind == "curfew_no_signal" and c1.opened_at == at("21:55")
    assert c1.details["last_known_position"] == "home"
    assert "No fix from S-0001's tag for 50 min" in c1.explanation
    # The tag forwards what it stored: the subject was out.
    late = trail("2026-11-21T22:00:00Z", "2026-11-21T22:45:00Z", lambda t: 2000)
    r2 = e.process(batch(late))
    assert r2.retracted == [c1.id]
    (c2,) = r2.upserts
    assert c2.kind == "curfew_absent" and c2.opened_at == at("22:00")
    # Same as if everything had arrived on time.
    assert [c.to_json() for c in e.candidates()] == [c.to_json() for c in run(heard + late)]


def test_silence_filled_with_home_fixes_resolves():
    fixes = trail(*NIGHT, lambda t: 0)
    e = Engine(registry())
    e.process(batch([f for f in fixes if not at("22:00") <= f.ts < at("22:45")]))
    r = e.process(batch([f for f in fixes if at("22:00") <= f.ts < at("22:45")]))
    assert len(r.retracted) == 1 and r.upserts == [] and e.candidates() == []


def test_late_fixes_that_swap_evidence_at_the_same_count_update_the_candidate():
    """Two late fixes turn a lone away fix into home-time and extend the first spell:
    the absence keeps its times and count but its evidence changes, and so must the
    candidate the desk sees."""
    away = {"19:55", "20:00", "20:05", "20:10", "20:15", "20:20", "20:25", "20:30"}
    away |= {"21:35", "21:45", "21:50"}
    fixes = trail(
        "2026-11-21T18:00:00Z",
        "2026-11-21T22:05:00Z",
        lambda t: 150 if iso(t)[11:16] in away else 0,
    )
    late = {at("20:30"), at("21:40")}
    e = Engine(registry())
    e.process(batch([f for f in fixes if f.ts not in late]))
    res = e.process(batch([f for f in fixes if f.ts in late]))
    (want,) = run(fixes)
    assert [c.to_json() for c in res.upserts] == [want.to_json()]
    assert [c.to_json() for c in e.candidates()] == [want.to_json()]


PLACES = {"home": 0, "edge": 95, "near": 150, "out": 2000}


@st.composite
def nights(draw):
    steps = draw(st.lists(st.sampled_from([*PLACES, "silent"]), min_size=10, max_size=60))
    fixes = []
    # Start anywhere from before the window to near its end, so trails cross both edges.
    t = parse_ts("2026-11-21T18:00:00Z") + draw(st.integers(0, 13 * 12)) * 5 * MIN
    for s in steps:
        span = draw(st.sampled_from([5, 10, 20, 40]))
        for k in range(0, span, 5):
            if s != "silent":
                fixes.append(
                    fix_at(PLACES[s], 0, (t + k * MIN - parse_ts("2026-11-21T18:00:00Z")) / MIN)
                )
        t += span * MIN
    return fixes


REG = registry()


@settings(max_examples=80, deadline=None)
@given(fixes=nights(), seed=st.integers(0, 2**32 - 1))
def test_any_arrival_order_gives_the_same_nights(fixes, seed):
    want = [c.to_json() for c in run(fixes, REG)]
    rng = random.Random(seed)
    arrival = fixes + [f for f in fixes if rng.random() < 0.1]
    rng.shuffle(arrival)
    if rng.random() < 0.5:  # in order, a few at a time: event time alone must close nights
        arrival.sort(key=lambda f: f.ts)
    e = Engine(REG)
    streamed = deliver(e, arrival, rng, 25)
    assert [c.to_json() for c in e.candidates()] == want
    assert streamed == want


def test_event_time_passing_the_end_closes_the_night():
    fixes = trail(*NIGHT, lambda t: 3000 if t < at("07:00", "2026-11-22") else 0)
    e = Engine(registry())
    for i in range(0, len(fixes), 6):  # the last chunk in the window ends at 06:55
        e.process(batch(fixes[i : i + 6]))
    (c,) = e.candidates()
    assert c.kind == "curfew_absent" and c.status == "closed"
    assert c.closed_at == at("07:00", "2026-11-22")


def test_condition_thresholds_apply_to_curfews():
    # Two fixes away at 23:00 and 23:05, home again: an absence by default...
    def where(t):
        return 1500 if at("23:00") <= t < at("23:10") else 0

    assert [c.kind for c in run(trail(*NIGHT, where))] == ["curfew_absent"]
    # ...but not when the condition asks for three in a row.
    assert run(trail(*NIGHT, where), registry(curfew(open_after=3))) == []


SECOND = 1000


def _at_ms(dx: float, ts: int, acc: float = 10.0) -> Fix:
    """A fix ``dx`` metres east of home at exactly ``ts``."""
    f = fix_at(dx, 0, 0, acc)
    f.ts = ts
    return f


@pytest.mark.parametrize(
    ("home_at", "late"),
    [(-SECOND, False), (0, False), (SECOND, True)],
    ids=["grace-1s", "grace", "grace+1s"],
)
def test_home_exactly_at_the_end_of_the_grace_period_is_in_time(home_at, late):
    """Away at 19:00 (15 minutes' grace): home at 19:15 is in time, a second later is late."""
    s = at("19:00")
    away = [_at_ms(2000, s - 10 * MIN), _at_ms(2000, s - 5 * MIN), _at_ms(2000, s)]
    away.append(_at_ms(2000, s + 10 * MIN))
    back = s + 15 * MIN + home_at
    home = [_at_ms(0, back + k * 5 * MIN) for k in range(6)]
    cands = run(away + home)
    assert [c.kind for c in cands] == (["curfew_late_return"] if late else [])
    if late:
        assert cands[0].closed_at == back and cands[0].details["minutes_late"] == 16


@pytest.mark.parametrize(
    ("silence", "raised"),
    [(30 * MIN - SECOND, False), (30 * MIN, False), (30 * MIN + SECOND, True)],
    ids=["limit-1s", "limit", "limit+1s"],
)
def test_silence_exactly_at_the_no_signal_limit_is_not_reported(silence, raised):
    s = at("22:00")
    before = [_at_ms(0, s - k * 5 * MIN) for k in range(48, -1, -1)]  # home from 18:00
    after = [_at_ms(0, s + silence + k * 5 * MIN) for k in range(6)]
    cands = run(before + after)
    assert [c.kind for c in cands] == (["curfew_no_signal"] if raised else [])
    if raised:
        assert cands[0].opened_at == s and cands[0].closed_at == s + silence


def _metres_from_home(f: Fix) -> float:
    """The distance of ``f`` from the curfew address as the rule computes it (BNG)."""
    x, y = to_bng(np.array([f.lon, CENTRE_LON]), np.array([f.lat, CENTRE_LAT]))
    return float(np.hypot(x[0] - x[1], y[0] - y[1]))


@pytest.mark.parametrize(
    ("extra", "kind"),
    [(-0.01, ["curfew_absent"]), (0.0, []), (0.01, [])],
    ids=["touching-1cm", "touching", "touching+1cm"],
)
def test_away_only_when_the_whole_accuracy_circle_is_outside(extra, kind):
    """A 100 m curfew radius, fixes about 110 m out: a circle that reaches exactly to the
    radius (or past it) may be home; one a centimetre short of it is away."""
    s = at("21:00")
    d = _metres_from_home(fix_at(110, 0, 0))
    acc = (d - 100.0) + extra  # exact: d - (d - 100) == 100 in floating point here
    fixes = [_at_ms(0, s - k * 5 * MIN) for k in range(36, 0, -1)]  # home from 18:00
    fixes += [_at_ms(110, s + k * 5 * MIN, acc) for k in range(6)]
    fixes += [_at_ms(0, s + 30 * MIN + k * 5 * MIN) for k in range(3)]
    assert [c.kind for c in run(fixes)] == kind


@pytest.mark.parametrize(
    ("fitted", "raised"),
    [("21:30:01", False), ("21:30:00", False), ("21:29:59", True)],
    ids=["limit-1s", "limit", "limit+1s"],
)
def test_only_the_silence_while_a_tag_is_fitted_counts_towards_the_limit(fitted, raised):
    """Fitted during the night, first heard at 22:00: silent for only as long as it was
    worn, however long since the window started (another tag reports all evening, so the
    feed was observed throughout)."""
    doc_fittings = [dict(BASE_DOC["fittings"][0], fitted_at=f"2026-11-21T{fitted}Z")]
    orders = [dict(BASE_DOC["orders"][0], conditions=[curfew()])]
    reg = make_registry(orders=orders, fittings=[*doc_fittings, BASE_DOC["fittings"][1]])
    s = at("22:00")
    fixes = [_at_ms(0, s + k * 5 * MIN) for k in range(12)]
    for k in range(60):  # BUD-0002 from 18:00
        other = _at_ms(500, at("18:00") + k * 5 * MIN)
        other.tag_id = "BUD-0002"
        fixes.append(other)
    got = [c for c in run(fixes, reg) if c.subject_id == "S-0001"]
    assert [(c.kind, c.opened_at) for c in got] == (
        [("curfew_no_signal", parse_ts(f"2026-11-21T{fitted}Z"))] if raised else []
    )
