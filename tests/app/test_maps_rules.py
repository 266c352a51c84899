"""The curfew check's rules pinned at, just below and just above (issue 24): the status by
the accuracy circle against the curfew area, the no-signal limit, a curfew's start and the
look-ahead."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geomonitor.app.maps.curfew import curfew_visits
from geomonitor.model.registry_load import parse_registry
from geomonitor.store.domain import Store

from .test_maps import AT, PEOPLE, _doc, _fix

MIN = 60_000
HOME = {sid: home for sid, (home, _, _) in PEOPLE.items()}


@pytest.fixture
def empty(tmp_path):
    st = Store(tmp_path / "r.db")
    st.load_registry(parse_registry(_doc()))
    yield st
    st.close()


def _status(st, sid: str, at: int = AT, ahead_min: float = 120) -> str | None:
    visits, _ = curfew_visits(st, "Leeds", at, int(ahead_min * MIN))
    return next((v.status for v in visits if v.subject_id == sid), None)


@pytest.mark.parametrize(
    "east, acc, status",
    [
        (89.99, 10.0, "home"),  # the whole circle inside the 100 m area
        (90.01, 10.0, "not sure"),  # just across the edge
        (109.99, 10.0, "not sure"),
        (110.01, 10.0, "away"),  # the whole circle outside
        (0.0, 99.99, "home"),
        (0.0, 100.01, "not sure"),  # a circle wider than the area is never "home"
    ],
)
def test_the_status_is_the_accuracy_circle_against_the_area(empty, east, acc, status):
    hx, hy = HOME["S-0001"]
    empty.insert_fixes([_fix("BUD-0001", hx + east, hy, AT - 5 * MIN, acc)])
    assert _status(empty, "S-0001") == status


@pytest.mark.parametrize("age_ms, status", [(30 * MIN - 1, "home"), (30 * MIN, "home"),
                                            (30 * MIN + 1, "no signal")])  # fmt: skip
def test_no_signal_is_no_fix_for_over_30_minutes(empty, age_ms, status):
    hx, hy = HOME["S-0001"]
    empty.insert_fixes([_fix("BUD-0001", hx, hy, AT - age_ms, 10.0)])
    assert _status(empty, "S-0001") == status


def test_a_fix_after_the_instant_is_not_used(empty):
    hx, hy = HOME["S-0001"]
    empty.insert_fixes([_fix("BUD-0001", hx + 5000, hy, AT - 60 * MIN, 10.0),
                        _fix("BUD-0001", hx, hy, AT + 1, 10.0)])  # fmt: skip
    assert _status(empty, "S-0001") == "no signal"


# S-0004's curfew starts at 23:00 (one hour after AT); the others' at 19:00
@pytest.mark.parametrize("ahead_min, shown", [(59.99, False), (60, True), (61, True)])
def test_a_curfew_starting_within_ahead_is_shown_as_not_yet_due(empty, ahead_min, shown):
    got = _status(empty, "S-0004", ahead_min=ahead_min)
    assert got == ("not yet due" if shown else None)


@pytest.mark.parametrize("offset_ms, status", [(-1, "not yet due"), (0, "no signal"),
                                               (1, "no signal")])  # fmt: skip
def test_a_curfew_is_in_force_from_its_first_instant(empty, offset_ms, status):
    start = AT + 60 * MIN  # 23:00
    assert _status(empty, "S-0004", at=start + offset_ms) == status


def _best(start, stops) -> float:
    """The shortest visiting order, by trying every one."""
    import itertools

    from geomonitor.app.maps.route import route_length

    return min(
        route_length(start, stops, list(p)) for p in itertools.permutations(range(len(stops)))
    )


def test_a_round_that_nearest_first_and_2_opt_get_wrong_is_still_the_shortest():
    from geomonitor.app.maps.route import route_length, visiting_order

    start = (0.0, 0.0)
    stops = [(940.0, -543.0), (291.0, 284.0), (193.0, 940.0), (-874.0, 181.0), (199.0, -188.0)]
    got = route_length(start, stops, visiting_order(start, stops))
    assert got == pytest.approx(_best(start, stops)) and got < 4120  # not 4,168 m


@given(st.lists(st.tuples(st.integers(-2000, 2000), st.integers(-2000, 2000)), min_size=1,
                max_size=7, unique=True))  # fmt: skip
@settings(max_examples=150, deadline=None)
def test_up_to_seven_stops_the_round_is_the_shortest_there_is(pts):
    from geomonitor.app.maps.route import route_length, visiting_order

    start = (0.0, 0.0)
    stops = [(float(x), float(y)) for x, y in pts]
    order = visiting_order(start, stops)
    assert sorted(order) == list(range(len(stops)))
    assert route_length(start, stops, order) == pytest.approx(_best(start, stops))
