"""A queue the desk can trust: one outage one candidate, honest episode ends, absences on
evidence an officer would accept."""

from __future__ import annotations

import copy

import pytest

from geomonitor.engine import Engine
from geomonitor.model.times import iso as iso_of
from geomonitor.model.times import parse_ts

from ..conftest import BASE_DOC, batch, fix_at, make_registry
from .test_curfew import at, curfew, registry, trail

MIN = 60_000


def run(fixes, reg=None, now=None):
    e = Engine(reg or registry())
    e.process(batch(fixes))
    if now is not None:
        e.advance(now)
    return e.candidates()


def kinds(cands):
    return sorted(c.kind for c in cands)


# ---------------------------------------------------------------- outages
def test_a_three_week_outage_across_21_curfew_nights_is_one_candidate():
    home = [fix_at(0, 0, m) for m in range(0, 60, 5)]  # Sat 21 Nov 18:00-18:55, home
    back = [fix_at(0, 0, 21 * 24 * 60 + m) for m in range(0, 60, 5)]  # three weeks later
    cands = run(home + back)
    assert kinds(cands) == ["no_contact"]
    (c,) = cands
    assert len(c.details["curfew_nights"]) == 21
    assert c.details["curfew_conditions"] == ["C-3"]
    assert "spans 21 curfew nights" in c.explanation and "(21 days)" in c.explanation
    assert c.opened_at == fix_at(0, 0, 55).ts and c.closed_at == fix_at(0, 0, 21 * 1440).ts


def test_a_silence_just_over_the_no_contact_limit_is_an_outage_just_under_is_not():
    """At 121 minutes the silence is an outage (one no_contact, no per-night silence); at
    119 it is a curfew silence of the night and no outage."""
    for gap, want in ((121, ["no_contact"]), (119, ["curfew_no_signal"])):
        fixes = trail(*("2026-11-21T18:00:00Z", "2026-11-21T20:00:00Z"), lambda t: 0)
        last = fix_at(0, 0, 115)  # 19:55
        fixes.append(fix_at(0, 0, 115 + gap))
        fixes += [fix_at(0, 0, 115 + gap + m) for m in range(5, 60, 5)]
        assert kinds(run([*fixes, last])) == want, gap


def test_no_silence_before_the_fitting():
    """Fitted at 23:00 on a curfew night (19:00-07:00): the four hours before are not
    silence."""
    doc = copy.deepcopy(BASE_DOC)
    doc["orders"][0]["conditions"] = [curfew()]
    doc["fittings"][0]["fitted_at"] = "2026-11-21T23:00:00Z"
    doc["fittings"][0]["consent"]["recorded_at"] = "2026-11-21T22:00:00Z"
    reg = make_registry(**{k: doc[k] for k in ("orders", "fittings")})
    fixes = trail("2026-11-21T23:00:00Z", "2026-11-22T08:00:00Z", lambda t: 0)
    assert run(fixes, reg) == []


def test_no_silence_after_the_removal():
    doc = copy.deepcopy(BASE_DOC)
    doc["orders"][0]["conditions"] = [curfew()]
    doc["fittings"][0]["removed_at"] = "2026-11-21T20:00:00Z"
    reg = make_registry(**{k: doc[k] for k in ("orders", "fittings")})
    fixes = trail("2026-11-21T18:00:00Z", "2026-11-21T20:00:00Z", lambda t: 0)
    # S-0002's tag goes on reporting all night: event time moves past the removal.
    other = [f for f in trail("2026-11-21T18:00:00Z", "2026-11-22T08:00:00Z", lambda t: 5000)]
    for f in other:
        f.tag_id = "BUD-0002"
    assert run(fixes + other, reg) == []


def test_an_outage_ends_at_the_removal():
    doc = copy.deepcopy(BASE_DOC)
    doc["fittings"][0]["removed_at"] = "2026-11-22T06:00:00Z"
    reg = make_registry(fittings=doc["fittings"])
    fixes = [fix_at(1000, 0, m) for m in range(0, 30, 5)]  # to 18:25, then silent
    other = [fix_at(1000, 0, m, tag="BUD-0002") for m in range(0, 24 * 60, 30)]
    (c,) = [c for c in run(fixes + other, reg) if c.kind == "no_contact"]
    assert c.closed_at == parse_ts("2026-11-22T06:00:00Z") and c.status == "closed"
    assert "when the tag was removed" in c.explanation


# ---------------------------------------------------------------- episodes ending in silence
def zone_fixes():
    inside = [fix_at(0, 0, m) for m in range(10)]  # in the zone 18:00-18:09
    return inside


def test_an_episode_followed_by_12_days_of_silence_closes_at_its_last_fix():
    fixes = zone_fixes() + [fix_at(0, 0, 12 * 1440 + m) for m in range(3)]  # inside again
    cands = sorted(run(fixes, make_registry()), key=lambda c: c.opened_at)
    zones = [c for c in cands if c.kind == "exclusion_zone"]
    assert len(zones) == 2  # the next fixes, inside again, are a new episode
    first = zones[0]
    assert first.status == "closed" and first.close_reason == "signal_lost"
    assert first.closed_at == fix_at(0, 0, 9).ts
    assert "last seen inside at 18:09 GMT, then no signal for 12 days" in first.explanation
    assert zones[1].opened_at == fix_at(0, 0, 12 * 1440).ts


def test_an_episode_whose_tag_goes_silent_is_closed_by_event_time():
    """No fix after the silence yet, but other tags show that time has moved on: the
    episode is shown closed at its last evidence, and reopens if late fixes fill the gap."""
    e = Engine(make_registry())
    e.process(batch(zone_fixes()))
    e.process(batch([fix_at(5000, 0, 60 * 3, tag="BUD-0002")]))  # 3 h later, elsewhere
    (c,) = [c for c in e.candidates() if c.kind == "exclusion_zone"]
    assert c.status == "closed" and c.close_reason == "signal_lost"
    assert "last seen inside at 18:09 GMT, then no signal, the tag still silent" in c.explanation
    # The tag stored and forwarded: the gap is filled, the episode is open again.
    e.process(batch([fix_at(0, 0, m) for m in range(10, 200, 5)]))
    (c,) = [c for c in e.candidates() if c.kind == "exclusion_zone"]
    assert c.status == "open" and c.close_reason is None


@pytest.mark.parametrize(("minutes", "lost"), [(119, False), (120, False), (121, True)])
def test_signal_lost_at_the_no_contact_limit(minutes, lost):
    fixes = [*zone_fixes(), fix_at(0, 0, 9 + minutes), fix_at(0, 0, 10 + minutes)]
    cands = sorted(run(fixes, make_registry()), key=lambda c: c.opened_at)
    zones = [c for c in cands if c.kind == "exclusion_zone"]
    assert len(zones) == (2 if lost else 1)
    assert (zones[0].close_reason == "signal_lost") is lost


# ---------------------------------------------------------------- absences on evidence
NIGHT = ("2026-11-21T18:00:00Z", "2026-11-22T07:30:00Z")


def home_with(extra):
    """Home every 5 minutes all night, plus ``extra`` fixes."""
    return trail(*NIGHT, lambda t: 0) + extra


def test_two_wide_cell_fixes_away_do_not_open_an_absence():
    cell = [fix_at(749, 0, 60 * 4 + 1, acc=300.0), fix_at(749, 0, 60 * 4 + 2, acc=400.0)]
    assert run(home_with(cell)) == []


def test_two_good_gps_fixes_away_do_open_an_absence():
    gps = [fix_at(749, 0, 60 * 4 + 1, acc=10.0), fix_at(749, 0, 60 * 4 + 2, acc=10.0)]
    assert kinds(run(home_with(gps))) == ["curfew_absent"]


def test_wide_fixes_away_for_long_enough_do_open_an_absence():
    """Poor fixes, but away for 12 minutes on end: evidence enough."""
    far = [fix_at(3000, 0, 60 * 4 + m, acc=800.0) for m in range(1, 14)]
    home = [f for f in home_with([]) if not 60 * 4 < (f.ts - at("18:00")) / MIN < 60 * 4 + 14]
    assert kinds(run(home + far)) == ["curfew_absent"]
    # ... but not for nine minutes
    assert run(home + far[:10]) == []


@pytest.mark.parametrize(("acc", "opens"), [(99.0, True), (100.0, True), (101.0, False)])
def test_the_good_accuracy_limit(acc, opens):
    fixes = home_with([fix_at(900, 0, 60 * 4 + 1, acc=acc), fix_at(900, 0, 60 * 4 + 2, acc=acc)])
    assert bool(run(fixes)) is opens


def test_one_implausible_fix_does_not_reset_a_run_of_home_fixes():
    """Away, then home every minute; one fix 560 m off (claiming 49 m) a minute into the
    homecoming must not push the return later."""
    base = at("18:00")
    away = [fix_at(2000, 0, 60 + m) for m in range(0, 30, 5)]  # 19:00-19:25 away
    home = [fix_at(0, 0, 90 + m) for m in range(0, 40)]  # home from 19:30, every minute
    spike = fix_at(560, 0, 91.5, acc=49.0)
    (c,) = run([*away, *home, spike])
    assert c.kind == "curfew_late_return"
    assert c.closed_at == fix_at(0, 0, 90).ts, (c.closed_at - base) / MIN


def test_an_absence_that_turns_into_silence_says_so_and_owns_the_silence():
    fixes = trail("2026-11-21T18:00:00Z", "2026-11-21T21:00:00Z", lambda t: 0)
    fixes += [fix_at(2000, 0, 180 + m) for m in range(0, 30, 5)]  # 21:00-21:25 away
    fixes += trail("2026-11-21T22:30:00Z", "2026-11-22T08:00:00Z", lambda t: 0)  # home again
    cands = run(fixes)
    assert kinds(cands) == ["curfew_absent"]  # no separate no-signal for 21:25-22:30
    (c,) = cands
    assert c.closed_at == fix_at(0, 0, 205).ts and c.details["signal_lost"]
    assert "last seen away at 21:25 GMT, then no signal for 1 h 5 min" in c.explanation


def test_the_rules_are_pure_of_arrival_order_with_outages_and_spikes():
    import random

    fixes = home_with([fix_at(560, 0, 91.5, acc=49.0), fix_at(749, 0, 241, acc=300.0)])
    fixes += [fix_at(0, 0, 3 * 1440 + m) for m in range(0, 60, 5)]
    want = [c.to_json() for c in run(fixes)]
    for seed in range(5):
        shuffled = fixes[:]
        random.Random(seed).shuffle(shuffled)
        e = Engine(registry())
        for i in range(0, len(shuffled), 7):
            e.process(batch(shuffled[i : i + 7]))
        assert [c.to_json() for c in e.candidates()] == want


def test_what_the_desk_was_sent_equals_what_the_engine_holds_whatever_the_batching():
    """Episodes and absences ended by silence, outages and spikes: the candidates built
    from the change stream (upserts and retractions, as the store and the topics get them)
    are those the engine holds, and the same for every arrival order and batching."""
    import random

    from ..conftest import deliver

    mine = home_with([fix_at(560, 0, 91.5, acc=49.0), fix_at(2000, 0, 302), fix_at(2000, 0, 303)])
    mine += [fix_at(0, 0, 3 * 1440 + m) for m in range(0, 60, 5)]
    other = [fix_at(5000, 0, m, tag="BUD-0002") for m in range(0, 4 * 1440, 7)]
    doc = copy.deepcopy(BASE_DOC)
    doc["orders"][0]["conditions"] = [curfew(), {"id": "C-1", "type": "exclusion_zone",
                                                 "zone": "Z-CIRCLE"}]  # fmt: skip
    reg = make_registry(orders=doc["orders"])
    want = [c.to_json() for c in run(mine + other, reg)]
    assert {c["kind"] for c in want} >= {"exclusion_zone", "no_contact", "curfew_absent"}
    for seed in range(4):
        fixes = sorted(mine + other, key=lambda f: f.ts)  # in order: time moves on after
        if seed:  # ... or any order at all
            random.Random(seed).shuffle(fixes)
        e = Engine(reg)
        sent = deliver(e, fixes, random.Random(seed), 60)
        assert sent == [c.to_json() for c in e.candidates()] == want, seed


def test_an_absence_near_the_end_of_the_night_is_judged_the_same_in_any_order():
    """Away in the last quarter hour of the window, next fix two hours after it: what the
    night says may not depend on whether that fix came before or after event time moved
    past the window's end."""
    night = trail("2026-11-21T18:00:00Z", "2026-11-22T06:40:00Z", lambda t: 0)
    away = [fix_at(2000, 0, 12 * 60 + 45), fix_at(2000, 0, 12 * 60 + 46)]  # 06:45, 06:46
    later = fix_at(0, 0, 15 * 60)  # 09:00, home
    other = [fix_at(5000, 0, m, tag="BUD-0002") for m in range(0, 16 * 60, 10)]
    orders = [
        [*night, *away, *other, later],  # event time passes 07:00 before the 09:00 fix
        [later, *night, *away, *other],  # the 09:00 fix first
    ]
    seen = []
    for fixes in orders:
        e = Engine(registry())
        for f in fixes:
            e.process(batch([f]))
        seen.append([c.to_json() for c in e.candidates()])
    assert seen[0] == seen[1]
    (c,) = [c for c in seen[0] if c["kind"] == "curfew_absent"]
    assert c["closed_at"] == "2026-11-22T07:00:00Z"  # not home before the curfew ended


def test_a_silence_ended_by_a_fix_after_the_night_is_judged_the_same_in_any_order():
    """Last fix 05:10, next one 09:30: an outage (one no_contact), never a per-night
    silence, whether the 09:30 fix came before or after event time passed 07:00."""
    night = trail("2026-11-21T18:00:00Z", "2026-11-22T05:11:00Z", lambda t: 0)
    later = fix_at(0, 0, 15 * 60 + 30)  # Sun 09:30
    other = [fix_at(5000, 0, m, tag="BUD-0002") for m in range(0, 13 * 60 + 5, 5)]
    seen = []
    for fixes in ([*night, *other, later], [later, *night, *other]):
        e = Engine(registry())
        for f in fixes:
            e.process(batch([f]))
        mine = [c for c in e.candidates() if c.subject_id == "S-0001"]
        seen.append(sorted((c.kind, c.opened_at, c.closed_at) for c in mine))
    assert seen[0] == seen[1]
    assert [k for k, *_ in seen[0]] == ["no_contact"]


@pytest.mark.parametrize(
    ("x", "acc", "spike"),
    [
        ([0, 228, 0], [10, 10, 10], False),  # 25 km/h less both radii is 228.3 m in 30 s
        ([0, 229, 0], [10, 10, 10], True),
        ([0, 229, 0], [10, 100, 10], False),  # a fix that says it is vague is no spike
        ([0, 400, 800], [10, 10, 10], False),  # its neighbours far apart: a journey
        ([0, 229, 0, 0], [10, 10, 10, 10], True),
    ],
)
def test_a_spike_is_beyond_25_kmh_both_ways_less_the_accuracy(x, acc, spike):
    import numpy as np

    from geomonitor.rules.curfew.night import spikes

    n = len(x)
    got = spikes(np.arange(n, dtype=np.int64) * 30_000, np.array(x, float), np.zeros(n),
                 np.array(acc, float), 25.0)  # fmt: skip
    assert bool(got[1]) is spike and not got[0] and not got[-1]


def test_one_implausible_fix_far_away_is_not_evidence_of_how_far():
    """Away at 2 km from 19:00 to 20:30, one fix 8 km off at 19:45:30, half a minute from
    two fixes 2 km off: a spike, so the absence went 2 km, not 8, and the spike is not
    among its evidence."""
    away = [fix_at(2000, 0, 60 + m) for m in range(0, 90)]  # 19:00-20:29 away
    home = [fix_at(0, 0, 150 + m) for m in range(0, 30)]  # home from 20:30
    spike = fix_at(8000, 0, 105.5)
    (c,) = run([*away, *home, spike])
    assert c.details["furthest_m"] == pytest.approx(2000.0, abs=1.0)
    assert not any(ref.endswith(iso_of(spike.ts)) for ref in c.evidence)
