"""Each faulty-unit finding's thresholds pinned at, just below and just above (issue 24), on
small fleets built by hand: a quiet fleet and one unit that differs."""

from __future__ import annotations

import numpy as np
import pytest

from geomonitor.app.audit.findings import AuditConfig, find
from geomonitor.model.inventory import TagEvent, timeline
from geomonitor.model.times import parse_ts

MIN, HOUR = 60_000, 3_600_000
LO = parse_ts("2026-11-01T00:00:00Z")
HI = parse_ts("2026-12-01T00:00:00Z")
DISTRICTS = {"E08000035": "Leeds", "E08000032": "Bradford"}
CFG = AuditConfig()


def _fleet(n: int = 5, fitted: bool = True) -> list[TagEvent]:
    ev = []
    for k in range(n):
        tag = f"BUD-{k:04d}"
        ev.append(TagEvent(tag, LO - 10 * 24 * HOUR, "add", "E08000035"))
        if fitted:
            ev.append(TagEvent(tag, LO - 9 * 24 * HOUR, "fit", subject_id=f"S-{k}"))
    return ev


def _cols(ts, acc=None, batt=None, charging=None) -> dict[str, np.ndarray]:
    ts = np.asarray(ts, np.int64)
    n = len(ts)
    return {
        "ts": ts,
        "acc": np.full(n, 10.0) if acc is None else np.asarray(acc, float),
        "batt": np.full(n, np.nan) if batt is None else np.asarray(batt, float),
        "charging": np.zeros(n) if charging is None else np.asarray(charging, float),
    }


def _steady(step=10 * MIN) -> np.ndarray:
    return np.arange(LO, HI, step, dtype=np.int64)


def _found(events, cols, device=None, kinds=None):
    got = find(timeline(events), cols, device or {}, DISTRICTS, LO, HI, CFG)
    return {(f.tag_id, f.finding): f for f in got if kinds is None or f.finding in kinds}


def _with_silence(length_ms: int) -> np.ndarray:
    ts = _steady()
    a = parse_ts("2026-11-10T12:00:00Z")
    return np.sort(np.concatenate([ts[(ts <= a) | (ts >= a + length_ms)], [a, a + length_ms]]))


@pytest.mark.parametrize("extra, found", [(-MIN, False), (0, False), (MIN, True)])
def test_silent_while_fitted_is_over_24_hours(extra, found):
    cols = [(f"BUD-{k:04d}", _cols(_steady())) for k in range(1, 5)]
    cols.append(("BUD-0000", _cols(_with_silence(24 * HOUR + extra))))
    got = _found(_fleet(), cols, kinds={"silent_while_fitted"})
    assert (("BUD-0000", "silent_while_fitted") in got) is found and len(got) == int(found)


@pytest.mark.parametrize("gaps, found", [(5, False), (6, True)])
def test_frequent_gaps_need_six(gaps, found):
    ts = _steady()
    starts = [parse_ts(f"2026-11-{d:02d}T10:00:00Z") for d in range(3, 3 + gaps)]
    for a in starts:  # 40 minutes without a fix
        ts = ts[(ts <= a) | (ts >= a + 40 * MIN)]
    cols = [(f"BUD-{k:04d}", _cols(_steady())) for k in range(1, 5)] + [("BUD-0000", _cols(ts))]
    got = _found(_fleet(), cols, kinds={"frequent_gaps"})
    assert (("BUD-0000", "frequent_gaps") in got) is found


@pytest.mark.parametrize("minutes, found", [(30, False), (31, True)])
def test_a_gap_is_over_30_minutes(minutes, found):
    ts = _steady()
    for d in range(3, 10):  # seven silences of this length
        a = parse_ts(f"2026-11-{d:02d}T10:00:00Z")
        ts = np.sort(np.concatenate([ts[(ts <= a) | (ts >= a + minutes * MIN)],
                                     [a + minutes * MIN]]))  # fmt: skip
    cols = [(f"BUD-{k:04d}", _cols(_steady())) for k in range(1, 5)] + [("BUD-0000", _cols(ts))]
    got = _found(_fleet(), cols, kinds={"frequent_gaps"})
    assert (("BUD-0000", "frequent_gaps") in got) is found


@pytest.mark.parametrize("acc, found", [(100.0, False), (100.5, True)])
def test_poor_accuracy_is_wider_than_100_m(acc, found):
    ts = _steady()
    poor = np.where(np.arange(len(ts)) % 2 == 0, acc, 10.0)  # half the fixes
    cols = [(f"BUD-{k:04d}", _cols(_steady())) for k in range(1, 5)]
    cols.append(("BUD-0000", _cols(ts, acc=poor)))
    got = _found(_fleet(), cols, kinds={"poor_accuracy"})
    assert (("BUD-0000", "poor_accuracy") in got) is found


@pytest.mark.parametrize("share, found", [(0.20, False), (0.25, True)])
def test_poor_accuracy_needs_a_quarter_of_the_fixes(share, found):
    ts = _steady()
    poor = np.where(np.arange(len(ts)) % 100 < share * 100, 300.0, 10.0)
    cols = [(f"BUD-{k:04d}", _cols(_steady())) for k in range(1, 5)]
    cols.append(("BUD-0000", _cols(ts, acc=poor)))
    assert (("BUD-0000", "poor_accuracy") in _found(_fleet(), cols)) is found


def test_poor_accuracy_is_judged_against_the_fleet():
    ts = _steady()
    poor = np.where(np.arange(len(ts)) % 100 < 30, 300.0, 10.0)  # 30%: like everyone
    cols = [(f"BUD-{k:04d}", _cols(ts, acc=poor)) for k in range(5)]
    assert not _found(_fleet(), cols, kinds={"poor_accuracy"})


def _battery(ts: np.ndarray, per_hour: float, charging_drop: float = 0.0):
    hours = (ts - LO) / HOUR
    off = (hours % 24) < 20  # charging four hours a day
    batt = np.where(off, 100 - (hours % 24) * per_hour, 100 - charging_drop * ((hours % 24) - 20))
    return np.clip(batt, 0, 100), np.where(off, 0.0, 1.0)


@pytest.mark.parametrize("rate, found", [(1.9, False), (2.1, True)])
def test_battery_drain_is_twice_the_fleets(rate, found):
    ts = _steady()
    cols = [(f"BUD-{k:04d}", _cols(ts, batt=_battery(ts, 1.0)[0], charging=_battery(ts, 1.0)[1]))
            for k in range(1, 5)]  # fmt: skip
    b, ch = _battery(ts, rate)
    cols.append(("BUD-0000", _cols(ts, batt=b, charging=ch)))
    assert (("BUD-0000", "battery_drain") in _found(_fleet(), cols)) is found


def test_readings_while_charging_are_not_drain():
    ts = _steady()
    cols = [(f"BUD-{k:04d}", _cols(ts, batt=_battery(ts, 1.0)[0], charging=_battery(ts, 1.0)[1]))
            for k in range(1, 5)]  # fmt: skip
    b, ch = _battery(ts, 1.0, charging_drop=20.0)  # a gauge that reads low while charging
    cols.append(("BUD-0000", _cols(ts, batt=b, charging=ch)))
    assert ("BUD-0000", "battery_drain") not in _found(_fleet(), cols)


@pytest.mark.parametrize("jumps, found", [(2, False), (3, True)])
def test_repeated_jumps_need_three(jumps, found):
    cols = [(f"BUD-{k:04d}", _cols(_steady())) for k in range(5)]
    t = parse_ts("2026-11-05T10:00:00Z")
    device = {"BUD-0000": [("implausible_jump", t + k * HOUR, t + k * HOUR) for k in range(jumps)]}
    assert (("BUD-0000", "repeated_jumps") in _found(_fleet(), cols, device)) is found


@pytest.mark.parametrize(
    "removed_after, found", [(23, False), (24, False), (25, True), (None, True)]
)
def test_a_tamper_without_removal_within_24_hours(removed_after, found):
    t = parse_ts("2026-11-05T10:00:00Z")
    events = _fleet()
    if removed_after is not None:
        events.append(TagEvent("BUD-0000", t + removed_after * HOUR, "remove"))
    cols = [(f"BUD-{k:04d}", _cols(_steady())) for k in range(5)]
    device = {"BUD-0000": [("strap_tamper", t, None)]}
    got = _found(events, cols, device, kinds={"tamper_without_removal"})
    assert (("BUD-0000", "tamper_without_removal") in got) is found


def test_conflicting_fixes_are_found_and_named_by_where_the_unit_is_at_the_end():
    events = _fleet()
    events += [
        TagEvent("BUD-0000", parse_ts("2026-11-20T00:00:00Z"), "remove"),
        TagEvent("BUD-0000", parse_ts("2026-11-21T00:00:00Z"), "transfer", "E08000032"),
    ]
    cols = [(f"BUD-{k:04d}", _cols(_steady())) for k in range(5)]
    t = parse_ts("2026-11-05T10:00:00Z")
    device = {"BUD-0000": [("conflicting_fix", t, t), ("conflicting_fix", t + HOUR, t + HOUR)]}
    got = _found(events, cols, device, kinds={"conflicting_fixes"})
    f = got[("BUD-0000", "conflicting_fixes")]
    assert f.district == "Bradford" and f.suggested_status == "faulty"
    assert "2 instants with two different fixes" in f.evidence
