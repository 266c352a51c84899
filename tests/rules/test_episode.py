"""The episode state machine on its own: observations in, episodes out."""

import numpy as np

from geomonitor.rules.zones.episode import BREACH, CLEAR, INACTIVE, UNCERTAIN, Track

B, C, U, OFF = BREACH, CLEAR, UNCERTAIN, INACTIVE
MIN = 60_000


def run(
    obs: list[int], open_after=2, close_after=2, gap_min=15, times=None, active_until=lambda t: t
):
    tr = Track(open_after, close_after, gap_min * MIN, active_until)
    n = len(obs)
    ts = np.array(times if times is not None else [i * MIN for i in range(n)], np.int64)
    tr.add(
        ts,
        np.array(obs, np.int8),
        np.zeros(n, np.int64),
        np.zeros(n, np.int32),
        np.where(np.array(obs) == B, 50.0, np.nan),
        np.full(n, 10.0),
    )
    return tr.episodes


def spans(eps):
    return [(e.opened_at // MIN, None if e.closed_at is None else e.closed_at // MIN) for e in eps]


def test_one_inside_fix_is_not_enough():
    assert run([C, B, C, C, B, C]) == []


def test_two_consecutive_inside_fixes_open_and_two_outside_close():
    eps = run([C, B, B, B, C, C, C])
    assert spans(eps) == [(1, 4)]
    assert eps[0].breach_count == 3 and eps[0].close_reason == "cleared"


def test_single_outside_fix_does_not_close():
    assert spans(run([B, B, C, B, B, C, C])) == [(0, 5)]


def test_uncertain_fixes_neither_count_nor_break():
    assert spans(run([B, U, B, U, U, C, U, C])) == [(0, 5)]
    assert run([B, U, U, U, C]) == []


def test_still_open_at_the_end():
    eps = run([C, B, B, B])
    assert spans(eps) == [(1, None)]


def test_inside_fixes_far_apart_are_not_consecutive():
    assert run([B, B], times=[0, 20 * MIN]) == []
    assert spans(run([B, B], times=[0, 10 * MIN])) == [(0, None)]


def test_condition_stopping_closes_at_the_end_of_its_window():
    eps = run([B, B, B, OFF, OFF], active_until=lambda t: 150_000)
    assert eps[0].closed_at == 150_000 and eps[0].close_reason == "condition_inactive"


def test_per_condition_thresholds():
    assert spans(run([B, B, C, B, B, B, C], open_after=3)) == [(3, None)]
    assert spans(run([B, B, C, C, B], close_after=3)) == [(0, None)]


def test_late_fix_splits_an_episode_exactly_as_in_order_delivery():
    obs = [B, B, B, C, C, B, B]
    in_order = spans(run(obs))
    tr = Track(2, 2, 15 * MIN, lambda t: t)
    n = len(obs)
    ts = np.arange(n, dtype=np.int64) * MIN
    arr = np.array(obs, np.int8)
    z = np.zeros(n, np.int64)
    # Everything except the two outside fixes, then those two hours late.
    keep = np.array([0, 1, 2, 5, 6])
    late = np.array([3, 4])
    for idx in (keep, late):
        tr.add(
            ts[idx],
            arr[idx],
            z[idx],
            z[idx].astype(np.int32),
            np.full(len(idx), 5.0),
            np.full(len(idx), 10.0),
        )
    assert spans(tr.episodes) == in_order == [(0, 3), (5, None)]
