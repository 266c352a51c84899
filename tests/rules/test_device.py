"""Device health from the tags' own reports."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geomonitor.engine import Engine
from geomonitor.model.candidate import severity

from ..conftest import T0, batch, deliver, fix_at, make_registry

MIN = 60_000


def engine_after(fixes, reg=None):
    e = Engine(reg or make_registry())
    e.process(batch(fixes))
    return e


def kinds(events):
    return [(ev.kind, ev.tag_id) for ev in events]


def test_tamper_is_a_critical_candidate_and_a_device_event():
    fixes = [fix_at(1000, 0, m, strap="tamper" if 10 <= m < 13 else "ok") for m in range(20)]
    e = engine_after(fixes)
    (c,) = e.candidates()
    assert (c.kind, c.subject_id, c.condition_id, severity(c)) == (
        "strap_tamper",
        "S-0001",
        "BUD-0001",
        "critical",
    )
    assert c.opened_at == T0 + 10 * MIN and c.closed_at == T0 + 13 * MIN
    assert c.fix_count == 3 and "Strap tamper reported by tag BUD-0001" in c.explanation
    assert kinds(e.device_events()) == [("strap_tamper", "BUD-0001")]


def test_unfitted_tag_is_audited_but_never_a_desk_candidate():
    fixes = [fix_at(0, 0, m, tag="BUD-0099", strap="tamper") for m in range(5)]
    fixes.append(fix_at(0, 0, 0, tag="BUD-0001"))
    e = engine_after(fixes)
    assert e.candidates() == []
    assert kinds(e.device_events()) == [("strap_tamper", "BUD-0099")]


def test_low_battery_until_charging():
    levels = [40, 30, 22, 20, 15, 12, 11, 35]
    fixes = [fix_at(1000, 0, m, battery_pct=b, charging=(m == 7)) for m, b in enumerate(levels)]
    (ev,) = engine_after(fixes).device_events()
    assert (ev.kind, ev.started_at, ev.ended_at) == ("low_battery", T0 + 3 * MIN, T0 + 7 * MIN)
    assert ev.details["lowest_pct"] == 11.0


def test_no_contact_closed_when_the_tag_reports_again():
    fixes = [fix_at(1000, 0, m) for m in range(5)] + [fix_at(1000, 0, 200 + m) for m in range(3)]
    e = engine_after(fixes)
    (c,) = e.candidates()
    assert c.kind == "no_contact" and c.opened_at == T0 + 4 * MIN
    assert c.closed_at == T0 + 200 * MIN and c.details["silent_minutes"] == 196


def test_silent_tag_goes_out_of_contact_as_event_time_moves_on():
    e = Engine(make_registry())
    e.process(batch([fix_at(1000, 0, m, battery_pct=12) for m in range(5)]))
    assert e.candidates() == []
    # Another tag keeps reporting: three hours on, BUD-0001 has said nothing.
    r = e.process(batch([fix_at(0, 0, 180, tag="BUD-0002")]))
    (c,) = r.upserts
    assert c.kind == "no_contact" and c.status == "open" and c.subject_id == "S-0001"
    assert "battery 12% at last fix" in c.explanation
    assert ("battery_depleted", "BUD-0001") in kinds(e.device_events())  # missed charging
    # It comes back: the same candidate, now closed.
    r = e.process(batch([fix_at(1000, 0, 190)]))
    assert [(x.id, x.status) for x in r.upserts] == [(c.id, "closed")]


def test_advancing_event_time_is_the_same_as_another_tag_reporting():
    """A stream consumer whose partitions are quiet moves its event time on to what the
    group has seen (Engine.advance): the same as the other tag's fix arriving here."""
    quiet = [fix_at(1000, 0, m, battery_pct=12) for m in range(5)]
    here = Engine(make_registry())
    here.process(batch(quiet))
    moved = here.advance(T0 + 180 * MIN)
    there = Engine(make_registry())
    there.process(batch(quiet))
    reported = there.process(batch([fix_at(0, 0, 180, tag="BUD-0002")]))
    assert [c.to_json() for c in moved.upserts] == [c.to_json() for c in reported.upserts]
    assert [c.kind for c in moved.upserts] == ["no_contact"]
    assert here.advance(T0 + 170 * MIN).upserts == []  # time never goes back


def test_implausible_jump_is_a_device_event_not_a_breach():
    fixes = [fix_at(1000, 0, m) for m in range(10)]
    fixes[5] = fix_at(30_000, 0, 5)  # 29 km in a minute and back
    e = engine_after(fixes)
    assert e.candidates() == []
    evs = [ev for ev in e.device_events() if ev.kind == "implausible_jump"]
    assert [ev.started_at for ev in evs] == [T0 + 5 * MIN, T0 + 6 * MIN]
    assert evs[0].details["km_h"] > 1000


def test_poor_accuracy_streak():
    fixes = [fix_at(1000, 0, m, acc=300.0 if m < 100 else 10.0) for m in range(150)]
    evs = [ev for ev in engine_after(fixes).device_events() if ev.kind == "poor_accuracy"]
    assert len(evs) == 1 and evs[0].details["hours"] == 2


STEPS = ["ok", "tamper", "low", "dead", "jump", "gap"]


@st.composite
def tag_histories(draw):
    fixes, m = [], 0
    for step in draw(st.lists(st.sampled_from(STEPS), min_size=1, max_size=40)):
        m += 150 if step == "gap" else draw(st.sampled_from([1, 2, 5]))
        fixes.append(
            fix_at(
                30_000 if step == "jump" else 1000,
                0,
                m,
                strap="tamper" if step == "tamper" else "ok",
                battery_pct={"low": 15, "dead": 3}.get(step, 80),
            )
        )
    return fixes


@settings(max_examples=100, deadline=None)
@given(fixes=tag_histories(), seed=st.integers(0, 2**32 - 1))
def test_any_arrival_order_gives_the_same_device_events(fixes, seed):
    reg = make_registry()
    one = engine_after(fixes, reg)
    rng = random.Random(seed)
    arrival = fixes + [f for f in fixes if rng.random() < 0.1]
    rng.shuffle(arrival)
    if rng.random() < 0.5:
        arrival.sort(key=lambda f: f.ts)
    e = Engine(reg, index=one.index)
    streamed = deliver(e, arrival, rng, 6)
    assert [ev.signature() for ev in e.device_events()] == [
        ev.signature() for ev in one.device_events()
    ]
    assert streamed == [c.to_json() for c in one.candidates()]


def _story(step: str) -> list:
    """A calm tag history with one device event in the middle."""
    fixes = [fix_at(1000, 0, m) for m in range(0, 20, 2)]
    fixes += {
        "jump": [fix_at(30_000, 0, 21)],
        "gap": [fix_at(1000, 0, 200)],  # 3 h silent, then back
        "low": [fix_at(1000, 0, 21, battery_pct=15)],
        "dead": [fix_at(1000, 0, 21, battery_pct=3)],
        "tamper": [fix_at(1000, 0, 21, strap="tamper")],
        "poor": [fix_at(1000, 0, 21 + k, acc=300.0) for k in range(0, 38, 2)],
    }[step]
    t = max(f.ts for f in fixes)
    return fixes + [fix_at(1000, 0, (t - T0) // MIN + 1 + k) for k in range(0, 10, 2)]


@pytest.mark.parametrize("step", ["jump", "gap", "low", "dead", "tamper", "poor"])
def test_fixes_arriving_one_at_a_time_in_order_find_every_event(step):
    """The incremental path (new fixes after the tag's last one) must see each event."""
    fixes = _story(step)
    whole = engine_after(fixes)
    assert whole.device_events(), step
    e = Engine(make_registry(), index=whole.index)
    for f in fixes:
        e.process(batch([f]))
    assert [ev.signature() for ev in e.device_events()] == [
        ev.signature() for ev in whole.device_events()
    ]


SECOND = 1000


def _fix(minute_ms: int, **kw):
    f = fix_at(1000, 0, 0, **kw)
    f.ts = T0 + minute_ms
    return f


@pytest.mark.parametrize(
    ("silence", "lost"),
    [(120 * MIN - SECOND, False), (120 * MIN, False), (120 * MIN + SECOND, True)],
    ids=["limit-1s", "limit", "limit+1s"],
)
def test_silence_exactly_at_the_no_contact_limit_is_not_lost_contact(silence, lost):
    fixes = [_fix(m * MIN) for m in range(5)]
    fixes += [_fix(4 * MIN + silence + m * MIN) for m in range(3)]
    got = [ev for ev in engine_after(fixes).device_events() if ev.kind == "no_contact"]
    assert [(ev.started_at, ev.ended_at) for ev in got] == (
        [(T0 + 4 * MIN, T0 + 4 * MIN + silence)] if lost else []
    )


@pytest.mark.parametrize(
    ("pct", "low", "depleted"),
    [
        (21, False, False),
        (20, True, False),
        (19, True, False),
        (6, True, False),
        (5, True, True),
        (4, True, True),
    ],
)
def test_battery_thresholds_are_at_or_below(pct, low, depleted):
    """Low at 20% or less, depleted at 5% or less (the national guidance's levels)."""
    fixes = [_fix(m * MIN, battery_pct=80) for m in range(3)]
    fixes += [_fix((3 + m) * MIN, battery_pct=pct) for m in range(3)]
    got = {ev.kind for ev in engine_after(fixes).device_events()}
    assert ("low_battery" in got, "battery_depleted" in got) == (low, depleted)


@pytest.mark.parametrize(
    ("acc", "poor"), [(99.99, False), (100.0, False), (100.01, True)], ids=["-1cm", "at", "+1cm"]
)
def test_poor_accuracy_is_worse_than_the_radius(acc, poor):
    fixes = [_fix(m * MIN, acc=acc) for m in range(60)]
    got = [ev for ev in engine_after(fixes).device_events() if ev.kind == "poor_accuracy"]
    assert bool(got) == poor


@pytest.mark.parametrize(("bad", "poor"), [(5, False), (6, True)], ids=["half", "over-half"])
def test_poor_accuracy_needs_more_than_half_of_the_hour(bad, poor):
    fixes = [_fix(m * 6 * MIN, acc=300.0 if m < bad else 10.0) for m in range(10)]
    got = [ev for ev in engine_after(fixes).device_events() if ev.kind == "poor_accuracy"]
    assert bool(got) == poor
