"""Exclusion-zone matching through the engine, and the arrival-order property."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from geomonitor.engine import Engine, EngineConfig
from geomonitor.model.fix import Fix
from geomonitor.model.times import parse_ts

from .conftest import BASE_DOC, T0, batch, deliver, fix_at, make_registry

MIN = 60_000


def visit(
    minutes_inside: range, dist_inside=100.0, acc=10.0, before=5, after=5, tag="BUD-0001"
) -> list[Fix]:
    """Outside (1 km east), then inside (``dist_inside`` m from the centre), then outside."""
    fixes = []
    start, stop = minutes_inside.start, minutes_inside.stop
    for m in range(start - before, stop + after):
        d = dist_inside if start <= m < stop else 1000.0
        fixes.append(fix_at(d, 0, m, acc, tag=tag))
    return fixes


def run(fixes, registry=None, config=None):
    e = Engine(registry or make_registry(), config)
    e.process(batch(fixes))
    return e.candidates()


def test_a_visit_gives_one_candidate_with_evidence():
    cands = run(visit(range(10, 40)))
    assert len(cands) == 1
    c = cands[0]
    assert (c.kind, c.subject_id, c.order_id, c.condition_id, c.zone_id, c.status) == (
        "exclusion_zone",
        "S-0001",
        "O-0001",
        "C-1",
        "Z-CIRCLE",
        "closed",
    )
    assert c.opened_at == T0 + 10 * MIN and c.closed_at == T0 + 40 * MIN
    assert c.fix_count == 30 and len(c.evidence) == 30
    assert c.evidence[0] == "BUD-0001@2026-11-21T18:10:00Z"
    assert abs(c.max_penetration_m - 200.0) < 1.0
    assert "S-0001 inside exclusion zone Z-CIRCLE (Victim address)" in c.explanation
    assert "30 fixes wholly inside" in c.explanation


def test_accuracy_circle_straddling_the_boundary_raises_nothing():
    # 280 m from the centre of a 300 m zone: inside, but a 25 m circle pokes out.
    assert run(visit(range(10, 40), dist_inside=280.0, acc=25.0)) == []
    # The same place with a 15 m radius is wholly inside.
    assert len(run(visit(range(10, 40), dist_inside=280.0, acc=15.0))) == 1


def test_open_candidate_while_still_inside():
    fixes = visit(range(10, 40), after=0)
    (c,) = run(fixes)
    assert c.status == "open" and c.closed_at is None
    assert "still inside" in c.explanation


def test_fixes_of_an_unfitted_tag_are_never_matched():
    e = Engine(make_registry())
    res = e.process(batch(visit(range(10, 40), tag="BUD-0099")))
    assert e.candidates() == []
    assert res.unattributed == 40 and res.attributed == 0


def test_fix_attributed_by_fitting_history():
    doc_fittings = [dict(f) for f in BASE_DOC["fittings"]]
    doc_fittings[0]["removed_at"] = "2026-11-21T18:20:00Z"
    reg = make_registry(fittings=doc_fittings)
    # Inside from 18:10 to 18:40, but the tag came off at 18:20: only 10 minutes count.
    (c,) = run(visit(range(10, 40)), registry=reg)
    assert c.fix_count == 10 and c.status == "open"


def test_order_validity_and_condition_period():
    orders = [dict(BASE_DOC["orders"][0])]
    orders[0]["starts"] = "2026-11-21T18:30:00Z"
    (c,) = run(visit(range(10, 40)), registry=make_registry(orders=orders))
    assert c.opened_at == T0 + 30 * MIN
    orders[0]["conditions"] = [dict(orders[0]["conditions"][0], ends="2026-11-21T18:35:00Z")]
    (c,) = run(visit(range(10, 40)), registry=make_registry(orders=orders))
    assert c.closed_at == T0 + 35 * MIN and c.close_reason == "condition_inactive"
    assert "stopped applying" in c.explanation


def test_scheduled_zone_only_applies_in_its_hours():
    orders = [dict(BASE_DOC["orders"][0])]
    cond = dict(orders[0]["conditions"][0])
    # T0 is Saturday 18:00 GMT; the zone applies from 19:00.
    cond["schedule"] = [{"days": ["sat"], "start": "19:00", "end": "06:00"}]
    orders[0]["conditions"] = [cond]
    reg = make_registry(orders=orders)
    assert run(visit(range(10, 50)), registry=reg) == []
    (c,) = run(visit(range(50, 80)), registry=reg)
    assert c.opened_at == T0 + 60 * MIN  # first inside fix once the zone applies


def test_condition_threshold_override_and_deployment_default():
    orders = [dict(BASE_DOC["orders"][0])]
    orders[0]["conditions"] = [dict(orders[0]["conditions"][0], open_after=5)]
    reg = make_registry(orders=orders)
    assert run(visit(range(10, 14)), registry=reg) == []
    assert len(run(visit(range(10, 15)), registry=reg)) == 1
    assert run(visit(range(10, 13)), config=EngineConfig(open_after=4)) == []


def test_isolated_outlier_inside_raises_nothing():
    fixes = [fix_at(1000, 0, m) for m in range(60)]
    fixes[30] = fix_at(0, 0, 30)  # one wild fix in the middle of the zone
    assert run(fixes) == []


def test_engine_reports_changes_then_retractions():
    e = Engine(make_registry())
    fixes = visit(range(10, 40), before=0)
    # Everything but the two exit fixes: one open episode.
    r1 = e.process(batch(fixes[:-5]))
    assert [c.status for c in r1.upserts] == ["open"]
    # The exit fixes: the same candidate, now closed.
    r2 = e.process(batch(fixes[-5:]))
    assert [(c.id, c.status) for c in r2.upserts] == [(r1.upserts[0].id, "closed")]
    assert r2.retracted == []
    # Stored fixes from before minute 10 arrive late, showing the subject was already
    # inside at 18:07: the episode started earlier, so the old candidate is superseded.
    r3 = e.process(batch([fix_at(100, 0, m) for m in (7, 8, 9)]))
    assert r3.retracted == [r1.upserts[0].id]
    assert len(r3.upserts) == 1 and r3.upserts[0].opened_at == T0 + 7 * MIN
    assert r3.upserts[0].fix_count == 33


# ---------------------------------------------------------------- arrival order
POSITIONS = {
    "deep": (0.0, 10.0),
    "inside": (250.0, 10.0),
    "edge": (295.0, 10.0),
    "near": (320.0, 10.0),
    "out": (800.0, 10.0),
    "far": (3000.0, 10.0),
    "cell": (100.0, 600.0),
}


@st.composite
def trails(draw):
    steps = draw(st.lists(st.sampled_from(list(POSITIONS)), min_size=1, max_size=80))
    gaps = draw(
        st.lists(st.sampled_from([1, 1, 1, 2, 5, 20]), min_size=len(steps), max_size=len(steps))
    )
    fixes, m = [], 0
    for s, g in zip(steps, gaps, strict=True):
        m += g
        d, acc = POSITIONS[s]
        fixes.append(fix_at(d, 0, m, acc))
    return fixes


def scheduled_registry():
    orders = [dict(BASE_DOC["orders"][0])]
    c1 = dict(orders[0]["conditions"][0])
    c2 = dict(
        c1, id="C-2", schedule=[{"days": ["sat"], "start": "19:00", "end": "20:30"}], open_after=3
    )
    c3 = {"id": "C-3", "type": "inclusion_zone", "zone": "Z-CIRCLE"}
    orders[0]["conditions"] = [c1, c2, c3]
    return make_registry(orders=orders)


REG = scheduled_registry()


@settings(max_examples=150, deadline=None)
@given(fixes=trails(), seed=st.integers(0, 2**32 - 1))
def test_any_arrival_order_gives_the_same_candidates(fixes, seed):
    rng = random.Random(seed)
    in_order = Engine(REG)
    in_order.process(batch(fixes))
    want = [c.to_json() for c in in_order.candidates()]

    # Shuffle, duplicate some, deliver in random-sized batches.
    arrival = fixes + [f for f in fixes if rng.random() < 0.2]
    rng.shuffle(arrival)
    e = Engine(REG, index=in_order.index)
    streamed = deliver(e, arrival, rng, 12)
    assert [c.to_json() for c in e.candidates()] == want
    # The change stream, applied in order, ends in the same place.
    assert streamed == want


def test_conflicting_duplicates_resolve_the_same_way_whatever_arrives_first():
    good = fix_at(0, 0, 11, acc=5.0)
    bad = fix_at(1000, 0, 11, acc=50.0)  # same tag and instant, worse accuracy, outside
    base = [fix_at(0, 0, 10, 5.0), fix_at(0, 0, 12, 5.0), fix_at(1000, 0, 13), fix_at(1000, 0, 14)]
    out = []
    for order in ([good, bad], [bad, good]):
        e = Engine(make_registry())
        e.process(batch(base))
        for f in order:
            e.process(batch([f]))
        out.append([c.to_json() for c in e.candidates()])
    assert out[0] == out[1] and out[0][0]["fix_count"] == 3


def test_order_ending_during_a_long_silence_closes_at_the_last_evidence():
    """Ten days of silence, the order ending in them: the episode is not stretched to the
    order's end (that would read as days in the zone) but ends at its last evidence."""
    orders = [dict(BASE_DOC["orders"][0], ends="2026-11-25T00:00:00Z")]
    reg = make_registry(orders=orders)
    fixes = [fix_at(0, 0, m) for m in range(5)]
    fixes.append(fix_at(0, 0, 60 * 24 * 10))  # ten days later, after the order ended
    cands = run(fixes, registry=reg)
    assert sorted(c.kind for c in cands) == ["exclusion_zone", "no_contact"]  # the silence too
    (c,) = [c for c in cands if c.kind == "exclusion_zone"]
    assert c.status == "closed" and c.close_reason == "signal_lost"
    assert c.closed_at == fix_at(0, 0, 4).ts


def test_order_ending_during_a_short_silence_closes_at_the_order_end():
    orders = [dict(BASE_DOC["orders"][0], ends="2026-11-21T18:30:00Z")]
    reg = make_registry(orders=orders)
    fixes = [fix_at(0, 0, m) for m in range(25)] + [fix_at(0, 0, 40)]  # 16 min silent
    (c,) = run(fixes, registry=reg)
    assert c.status == "closed" and c.close_reason == "condition_inactive"
    assert c.closed_at == parse_ts("2026-11-21T18:30:00Z")


# ---------------------------------------------------------------- travel limits
def inclusion_registry(**cond):
    orders = [dict(BASE_DOC["orders"][0])]
    orders[0]["conditions"] = [{"id": "C-9", "type": "inclusion_zone", "zone": "Z-CIRCLE", **cond}]
    return make_registry(orders=orders)


def trip_out(minutes_out: range, dist_out=1000.0, acc=10.0) -> list[Fix]:
    """Inside the 300 m zone (100 m from the centre), out to ``dist_out``, and back."""
    start, stop = minutes_out.start, minutes_out.stop
    return [
        fix_at(dist_out if start <= m < stop else 100.0, 0, m, acc)
        for m in range(start - 5, stop + 5)
    ]


def test_leaving_an_inclusion_zone_raises_a_travel_limit_candidate():
    (c,) = run(trip_out(range(10, 30)), registry=inclusion_registry())
    assert (c.kind, c.condition_id, c.zone_id, c.status) == (
        "outside_inclusion_zone",
        "C-9",
        "Z-CIRCLE",
        "closed",
    )
    assert c.opened_at == T0 + 10 * MIN and c.closed_at == T0 + 30 * MIN
    assert c.fix_count == 20 and c.close_reason == "returned"
    assert abs(c.max_penetration_m - 700.0) < 1.0  # 1000 m from the centre of a 300 m zone
    assert "outside inclusion zone Z-CIRCLE" in c.explanation
    assert "back inside by" in c.explanation


def test_straddling_the_inclusion_boundary_is_not_a_breach():
    # 310 m from the centre: outside, but a 25 m circle reaches back inside.
    assert (
        run(trip_out(range(10, 30), dist_out=310.0, acc=25.0), registry=inclusion_registry()) == []
    )
    assert (
        len(run(trip_out(range(10, 30), dist_out=310.0, acc=5.0), registry=inclusion_registry()))
        == 1
    )


def test_inclusion_zone_only_from_its_start():
    reg = inclusion_registry(starts="2026-11-21T18:20:00Z")
    (c,) = run(trip_out(range(10, 30)), registry=reg)
    assert c.opened_at == T0 + 20 * MIN and c.fix_count == 10


def test_a_wild_fix_neither_closes_nor_opens_an_episode_on_its_own():
    fixes = visit(range(10, 40))
    inside = [f for f in fixes if T0 + 10 * MIN <= f.ts < T0 + 40 * MIN]
    wild = fix_at(25_000, 0, 25)  # 25 km away for one minute: a GPS fault
    fixes = [f for f in fixes if f.ts != wild.ts] + [wild]
    (c,) = run(fixes)
    assert c.opened_at == T0 + 10 * MIN and c.closed_at == T0 + 40 * MIN
    assert c.fix_count == len(inside) - 1
