"""The monthly audit held to plain references (issue 24): for random fleets, each unit's
life a random run of valid changes across the month's edges, the district figures equal a
minute-by-minute count of who held what, and the findings equal a plain loop over the fixes
and the history. Months chosen for their edges: October (the clocks go back), March (they go
forward) and December (into January)."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geomonitor.app.audit.figures import district_rows
from geomonitor.app.audit.findings import AuditConfig, find
from geomonitor.app.audit.report import month_bounds, previous
from geomonitor.model.inventory import TagEvent, timeline
from geomonitor.model.times import parse_ts

MIN = 60_000
DISTRICTS = {"E08000032": "Bradford", "E08000035": "Leeds"}
#: each month's first and next month's first instant, UK local time, written out by hand
MONTHS = {
    "2026-10": ("2026-09-30T23:00:00Z", "2026-11-01T00:00:00Z"),  # BST to GMT on the 25th
    "2027-03": ("2027-03-01T00:00:00Z", "2027-03-31T23:00:00Z"),  # GMT to BST on the 28th
    "2026-12": ("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),  # into the new year
    "2027-01": ("2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z"),
}
HELD = ("allocated", "fitted", "faulty", "damaged")


@pytest.mark.parametrize("month", MONTHS)
def test_month_bounds_are_uk_midnights(month):
    a, b = MONTHS[month]
    assert month_bounds(month) == (parse_ts(a), parse_ts(b))


def test_the_months_before_january_are_last_years():
    assert previous("2027-01", 2) == ["2026-11", "2026-12"]
    assert previous("2026-03", 3) == ["2025-12", "2026-01", "2026-02"]


def _next(state: str, district: str | None, draw) -> tuple[str, dict] | None:
    """A valid change from a state, as the inventory's rules allow (None: no more)."""
    if state == "in_stock":
        return "allocate", {"district": draw(st.sampled_from(list(DISTRICTS)))}
    if state == "allocated":
        other = [d for d in DISTRICTS if d != district]
        return draw(st.sampled_from([
            ("fit", {"subject_id": "S-1"}), ("fit", {"subject_id": "S-1"}),
            ("transfer", {"district": other[0]}), ("flag", {"status": "faulty"}),
            ("flag", {"status": "lost"}), ("flag", {"status": "retired"})]))  # fmt: skip
    if state == "fitted":
        return "remove", {}
    if state in ("faulty", "damaged"):
        return draw(st.sampled_from([("flag", {"status": "repaired"}),
                                     ("flag", {"status": "returned"})]))  # fmt: skip
    if state == "lost":
        return "flag", {"status": "found"}
    return None


@st.composite
def fleets(draw):
    month = draw(st.sampled_from(list(MONTHS)))
    lo, hi = (parse_ts(t) for t in MONTHS[month])
    events, fixes = [], {}
    for k in range(draw(st.integers(1, 4))):
        tag = f"BUD-{k:04d}"
        # whole minutes, from ten days before the month to five days after it; some on
        # the month's first and last minute exactly
        edges = st.sampled_from([lo, hi - MIN, hi, lo - MIN])
        times = sorted(draw(st.lists(st.one_of(
            st.integers((lo - 10 * 1440 * MIN) // MIN, (hi + 5 * 1440 * MIN) // MIN).map(
                lambda m: m * MIN), edges), min_size=1, max_size=8)))  # fmt: skip
        district = draw(st.sampled_from([None, *DISTRICTS]))
        events.append(TagEvent(tag, times[0], "add", district))
        state = "allocated" if district else "in_stock"
        for t in times[1:]:
            nxt = _next(state, district, draw)
            if nxt is None:
                break
            action, kw = nxt
            events.append(TagEvent(tag, t, action, **kw))
            if action in ("allocate", "transfer"):
                district, state = kw["district"], "allocated"
            elif action == "fit":
                state = "fitted"
            elif action == "remove":
                state = "allocated"
            else:
                back = kw["status"] in ("repaired", "found")
                state = "allocated" if back else kw["status"]
                if state in ("returned", "retired"):
                    district = None
        n = draw(st.integers(0, 30))
        minutes = draw(st.lists(st.integers(lo // MIN, hi // MIN - 1), min_size=n, max_size=n))
        fixes[tag] = np.array(sorted(set(minutes)), np.int64) * MIN
    return month, lo, hi, events, fixes


def _states(events: list[TagEvent]) -> dict[str, list[tuple[int, str, str | None]]]:
    """Each unit's (from, state, district), applied by hand from its changes."""
    out: dict[str, list[tuple[int, str, str | None]]] = {}
    for e in sorted(events, key=lambda e: e.at):
        prev = out.get(e.tag_id, [(0, "", None)])[-1]
        _, state, district = prev
        if e.action == "add":
            state, district = ("allocated" if e.district else "in_stock"), e.district
        elif e.action in ("allocate", "transfer"):
            state, district = "allocated", e.district
        elif e.action == "fit":
            state = "fitted"
        elif e.action == "remove":
            state = "allocated"
        elif e.status in ("repaired", "found"):
            state = "allocated"
        else:
            state = e.status or state
            if state in ("returned", "retired"):
                district = None
        out.setdefault(e.tag_id, []).append((e.at, state, district))
    return out


def _at(states: list[tuple[int, str, str | None]], t: int) -> tuple[str, str | None] | None:
    now = None
    for since, s, d in states:
        if since <= t:
            now = (s, d)
    return now


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleets(), st.data())
def test_district_figures_equal_a_minute_by_minute_count(fleet, data):
    month, lo, hi, events, fixes = fleet
    reported = {t for t in fixes if data.draw(st.booleans())}
    rows = {r.district: r for r in district_rows(month, timeline(events), reported, {},
                                                 DISTRICTS, lo, hi)}  # fmt: skip
    hand = _states(events)
    held = dict.fromkeys(DISTRICTS.values(), 0)
    worn = dict.fromkeys(DISTRICTS.values(), 0)
    for states in hand.values():
        for minute in range(lo, hi, MIN):  # every minute of the month, unit by unit
            now = _at(states, minute)
            if now and now[0] in HELD and now[1] in DISTRICTS:
                held[DISTRICTS[now[1]]] += 1
                worn[DISTRICTS[now[1]]] += now[0] == "fitted"
    for name in DISTRICTS.values():
        r = rows[name]
        assert r.unit_days_allocated == pytest.approx(held[name] / 1440, abs=1e-9), name
        assert r.unit_days_fitted == pytest.approx(worn[name] / 1440, abs=1e-9), name
        want = round(100 * worn[name] / held[name], 1) if held[name] else 0.0
        assert r.utilisation_pct == want
        ends = [(tag, _at(s, hi - MIN)) for tag, s in hand.items()]
        mine = [
            (tag, e) for tag, e in ends if e and e[1] is not None and DISTRICTS.get(e[1]) == name
        ]
        assert r.units_allocated == sum(e[0] in HELD for _, e in mine)
        assert r.units_fitted == sum(e[0] == "fitted" for _, e in mine)
        assert r.units_faulty == sum(e[0] == "faulty" for _, e in mine)
        assert r.units_lost == sum(e[0] == "lost" for _, e in mine)
        assert r.units_active == sum(e[0] in HELD and t in reported for t, e in mine)
        assert r.units_inactive == sum(e[0] in HELD and t not in reported for t, e in mine)
    force = rows["West Yorkshire"] if "West Yorkshire" in rows else list(rows.values())[-1]
    assert force.unit_days_allocated == pytest.approx(sum(held.values()) / 1440, abs=1e-9)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleets())
def test_silences_and_fixes_while_unfitted_equal_a_plain_loop(fleet):
    _, lo, hi, events, fixes = fleet
    cfg = AuditConfig()
    cols = [(t, {"ts": f, "acc": np.full(len(f), 10.0), "batt": np.full(len(f), np.nan),
                 "charging": np.zeros(len(f))}) for t, f in fixes.items() if len(f)]  # fmt: skip
    got = {(f.tag_id, f.finding) for f in find(timeline(events), cols, {}, DISTRICTS, lo, hi, cfg)
           if f.finding in ("silent_while_fitted", "reports_while_unfitted")}  # fmt: skip
    want = set()
    for tag, states in _states(events).items():
        f = [int(t) for t in fixes.get(tag, [])]
        # fitted spans within the month, by walking the history
        bounds = [*(since for since, _, _ in states), hi]
        spans = []
        for k, (since, s, _) in enumerate(states):
            a, b = max(since, lo), min(bounds[k + 1], hi)
            if b > a and s == "fitted":
                spans.append((a, b))
        for a, b in spans:  # a silence: two contacts (a fix, or the span's ends) > 24 h apart
            contacts = [a, *[t for t in f if a <= t < b], b]
            if any(q - p > cfg.silent_hours * 3_600_000 for p, q in pairwise(contacts)):
                want.add((tag, "silent_while_fitted"))
        for t in f:
            now = _at(states, t)
            if now and now[0] in ("in_stock", "allocated"):
                want.add((tag, "reports_while_unfitted"))
    assert got == want


@pytest.mark.parametrize(("offset", "state"), [(-1, "allocated"), (0, "fitted"), (1, "fitted")])
def test_a_change_is_in_force_from_its_own_instant(offset, state):
    from geomonitor.model.inventory import state_at

    t = parse_ts("2026-11-01T00:00:00Z")  # a fitting at midnight on the 1st is November's
    states = timeline([TagEvent("BUD-1", t - 86_400_000, "add", "E08000035"),
                       TagEvent("BUD-1", t, "fit", subject_id="S-1")])["BUD-1"]  # fmt: skip
    assert state_at(states, t + offset).state == state
