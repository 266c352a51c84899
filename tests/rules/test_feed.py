"""The feed: silence judged only from the first fix received and while the feed is up;
feed outages found, pinned at their thresholds, against a plain reference and in any
arrival order."""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geomonitor.engine import Engine
from geomonitor.model.times import parse_ts
from geomonitor.rules.config import EngineConfig, FeedConfig
from geomonitor.rules.feed.watch import FeedWatch, subtract

from ..conftest import BASE_DOC, batch, fix_at, make_registry
from .test_curfew import curfew

MIN = 60_000
SLOT = 5 * MIN
T0 = parse_ts("2026-11-21T18:00:00Z")  # a Saturday, GMT; fix_at's minute 0


def fleet_registry(n: int, fitted_at: str = "2026-11-11T12:00:00Z", curfews: bool = True):
    """``n`` subjects, each wearing tag BUD-1xxx since ``fitted_at``, each on a 19:00-07:00
    curfew at fix_at's origin (when ``curfews``)."""
    doc = copy.deepcopy(BASE_DOC)
    subj, tags, fits, orders = [], [], [], []
    for i in range(n):
        sid, tid = f"S-1{i:03d}", f"BUD-1{i:03d}"
        subj.append({"id": sid, "district": "Leeds", "birth_date": "1990-01-01"})
        tags.append({"id": tid, "district": "Leeds"})
        fits.append(
            {
                "tag": tid,
                "subject": sid,
                "fitted_at": fitted_at,
                "removed_at": None,
                "consent": {"recorded_at": "2026-11-01T12:00:00Z", "guardian": None},
            }
        )
        if curfews:
            orders.append(
                {
                    "id": f"O-1{i:03d}",
                    "subject": sid,
                    "type": "scpo",
                    "starts": "2026-01-01T00:00:00Z",
                    "conditions": [curfew()],
                }
            )
    doc["subjects"], doc["tags"], doc["fittings"], doc["orders"] = subj, tags, fits, orders
    return make_registry(**{k: doc[k] for k in ("subjects", "tags", "fittings", "orders")})


def home_fixes(tags: range, minutes: range, skip: tuple[int, int] | None = None):
    """A fix a minute at home from each tag over ``minutes`` (after T0), none in ``skip``."""
    out = []
    for i in tags:
        for m in minutes:
            if skip is not None and skip[0] <= m < skip[1]:
                continue
            f = fix_at(0, 0, m)
            f.tag_id = f"BUD-1{i:03d}"
            out.append(f)
    return out


def run(fixes, reg, cfg=None, batches=1, seed=0):
    e = Engine(reg, cfg)
    fixes = list(fixes)
    if batches > 1:
        random.Random(seed).shuffle(fixes)
    size = max(1, -(-len(fixes) // batches))
    for i in range(0, len(fixes), size):
        e.process(batch(fixes[i : i + size]))
    return e


def kinds(e):
    return sorted(c.kind for c in e.candidates())


# ------------------------------------------------------------------ the horizon
def test_no_silence_before_the_first_fix_received():
    """Tags fitted ten days before go-live, data from 23:00 on a curfew night (19:00-07:00):
    nobody is silent for the four hours before the service held any fix."""
    reg = fleet_registry(8)
    fixes = home_fixes(range(8), range(5 * 60, 14 * 60))  # 23:00 to 08:00
    e = run(fixes, reg)
    assert kinds(e) == []
    assert e.feed.first == T0 + 5 * 60 * MIN


def test_silence_after_the_first_fix_received_still_counts():
    """One tag reports from 19:00; the others first at 23:00: they were silent while the
    feed was observed (from 19:00), so each raises its curfew silence."""
    reg = fleet_registry(3)
    fixes = home_fixes(range(1), range(60, 14 * 60)) + home_fixes(
        range(1, 3), range(5 * 60, 14 * 60)
    )
    e = run(fixes, reg)
    silent = [c for c in e.candidates() if c.kind == "curfew_no_signal"]
    assert sorted(c.subject_id for c in silent) == ["S-1001", "S-1002"]
    assert all(c.opened_at == T0 + 60 * MIN for c in silent)


def test_a_late_fix_from_before_moves_the_horizon_and_raises_what_it_reveals():
    """A stored fix from 19:00 arrives after the rest (any order, same result)."""
    reg = fleet_registry(3)
    fixes = home_fixes(range(1), range(60, 61)) + home_fixes(range(3), range(5 * 60, 14 * 60))
    one = run(fixes, reg)
    for seed in range(3):
        assert [c.to_json() for c in run(fixes, reg, batches=7, seed=seed).candidates()] == [
            c.to_json() for c in one.candidates()
        ]
    assert sorted(c.subject_id for c in one.candidates()) == ["S-1000", "S-1001", "S-1002"]


# ------------------------------------------------------------------ feed outages
def test_three_hours_of_nothing_from_every_tag_is_one_feed_outage():
    """Eight tags at home all night; every fix from 01:00 to 04:00 missing: one
    feed_outage from 01:00 to 04:00, and no per-subject silence (curfew or contact)."""
    reg = fleet_registry(8)
    fixes = home_fixes(range(8), range(0, 15 * 60), skip=(7 * 60, 10 * 60))
    e = run(fixes, reg)
    assert kinds(e) == ["feed_outage"]
    (c,) = e.candidates()
    assert (c.opened_at, c.closed_at) == (T0 + 7 * 60 * MIN, T0 + 10 * 60 * MIN)
    assert c.details["tags_reporting"] == 8 and c.details["tags_silent"] == 8
    assert c.details["districts"] == {"Leeds": 8}
    assert c.subject_id == "-" and c.status == "closed"
    assert "8 of 8 reporting tags" in c.explanation and "(3 h)" in c.explanation


def test_one_tag_silent_while_the_others_report_is_that_tags_silence():
    reg = fleet_registry(8)
    fixes = home_fixes(range(7), range(0, 15 * 60)) + home_fixes(
        range(7, 8), range(0, 15 * 60), skip=(7 * 60, 10 * 60)
    )
    e = run(fixes, reg)
    assert [(c.kind, c.subject_id) for c in e.candidates()] == [("no_contact", "S-1007")]


def test_fixes_forwarded_after_the_feed_returns_fill_the_gap():
    """The outage's fixes arrive last (stored and forwarded): the outage goes, and the
    candidates are those of in-order delivery with no gap at all."""
    reg = fleet_registry(8)
    gap = (7 * 60, 10 * 60)
    fixes = home_fixes(range(8), range(0, 15 * 60), skip=gap)
    late = [f for f in home_fixes(range(8), range(*gap))]
    e = Engine(reg)
    e.process(batch(fixes))
    assert kinds(e) == ["feed_outage"]
    e.process(batch(late))
    assert kinds(e) == []


def test_a_partial_outage_leaves_the_reporting_tags_judged_as_ever():
    """Six of ten tags go quiet at 01:00 for three hours (a link to part of the fleet); one
    of the four still reporting leaves home at 01:30: it is absent, and the six are one
    outage, not six silences."""
    reg = fleet_registry(10)
    fixes = home_fixes(range(6), range(0, 15 * 60), skip=(7 * 60, 10 * 60))
    fixes += home_fixes(range(6, 10), range(0, 15 * 60))
    fixes = [f for f in fixes if not (f.tag_id == "BUD-1009" and f.ts >= T0 + 450 * MIN)]
    away = [fix_at(3000, 0, m) for m in range(450, 15 * 60)]
    for f in away:
        f.tag_id = "BUD-1009"
    e = run(fixes + away, reg)
    got = sorted((c.kind, c.subject_id) for c in e.candidates())
    assert got == [("curfew_absent", "S-1009"), ("feed_outage", "-")]
    (o,) = [c for c in e.candidates() if c.kind == "feed_outage"]
    assert o.details["tags_reporting"] == 10 and o.details["tags_silent"] == 6


@pytest.mark.parametrize(
    ("reporting", "silent", "outage"),
    [(5, 5, True), (4, 4, False), (6, 3, True), (6, 2, False), (7, 4, True), (7, 3, False)],
    ids=["min-tags", "min-tags-1", "half", "half-1", "over-half", "under-half"],
)
def test_outage_thresholds_at_and_either_side(reporting, silent, outage):
    """At least 5 tags reporting, at least half of them silent: pinned at both."""
    reg = fleet_registry(reporting, curfews=False)
    fixes = home_fixes(range(reporting - silent), range(0, 8 * 60))
    fixes += home_fixes(range(reporting - silent, reporting), range(0, 8 * 60), skip=(120, 300))
    e = run(fixes, reg)
    assert ("feed_outage" in kinds(e)) is outage


@pytest.mark.parametrize(
    ("minutes", "outage"), [(15, True), (10, False), (20, True)], ids=["min", "min-5", "min+5"]
)
def test_an_outage_lasts_at_least_the_minimum(minutes, outage):
    """Slots are five minutes, so the minimum (15) is pinned a slot either side."""
    reg = fleet_registry(6, curfews=False)
    fixes = home_fixes(range(6), range(0, 8 * 60), skip=(120, 120 + minutes))
    e = run(fixes, reg)
    assert ("feed_outage" in kinds(e)) is outage


def test_an_outage_still_running_is_open_and_closes_when_the_feed_returns():
    reg = fleet_registry(6, curfews=False)
    fixes = home_fixes(range(6), range(0, 120)) + home_fixes(range(1), range(120, 200))
    e = run(fixes, reg)
    (c,) = e.candidates()
    assert c.kind == "feed_outage" and c.status == "open" and c.closed_at is None
    e.process(batch(home_fixes(range(6), range(200, 240))))
    (c,) = e.candidates()
    assert c.status == "closed" and c.closed_at == T0 + 200 * MIN


def test_no_contact_counts_only_the_silence_outside_feed_outages():
    """A tag silent 60 min before a three-hour feed outage and 70 min after it (from its
    last fix a minute earlier): 131 min of its own silence is over the 120-minute limit;
    50 + 50 + 1 is not."""
    for before, after, want in ((60, 70, ["feed_outage", "no_contact"]), (50, 50, ["feed_outage"])):
        reg = fleet_registry(8, curfews=False)
        gap = (7 * 60, 10 * 60)
        fixes = home_fixes(range(7), range(0, 15 * 60), skip=gap)
        fixes += home_fixes(range(7, 8), range(0, 15 * 60), skip=(gap[0] - before, gap[1] + after))
        e = run(fixes, reg)
        assert kinds(e) == want, (before, after)
        if "no_contact" in want:
            (nc,) = [c for c in e.candidates() if c.kind == "no_contact"]
            assert nc.details["feed_outage_minutes"] == 180
            assert nc.details["silent_minutes"] == before + after + 1


# ------------------------------------------------------------------ against a reference
def reference(fixes: list[tuple[int, int]], now: int, cfg: FeedConfig) -> list[tuple]:
    """Outages by the documented rule, with plain loops: (start, end or None, cohort)."""
    slot = int(cfg.slot_minutes * MIN)
    look = int(cfg.lookback_minutes / cfg.slot_minutes)
    have: dict[int, set[int]] = {}
    for t, tag in fixes:
        have.setdefault(t // slot, set()).add(tag)
    first = min(t for t, _ in fixes) // slot
    last = now // slot - 1
    out = []
    cohort = None
    for b in range(first, last + 1):
        if cohort is None:
            before = set()
            for j in range(b - look, b):
                before |= have.get(j, set())
            quiet = [t for t in before if t not in have.get(b, set())]
            if len(before) >= cfg.min_tags and len(quiet) * 2 >= len(before):
                cohort, start = before, b
        else:
            quiet = [t for t in cohort if t not in have.get(b, set())]
            if len(quiet) * 2 < len(cohort):
                out.append((start, b, frozenset(cohort)))
                cohort = None
    if cohort is not None:
        out.append((start, None, frozenset(cohort)))
    return [
        (a * slot, None if b is None else b * slot, c)
        for a, b, c in out
        if ((b if b is not None else last + 1) - a) * slot >= cfg.min_minutes * MIN
    ]


@st.composite
def feeds(draw):
    """Up to 9 tags over 6 hours, each reporting with gaps of its own, and feed-wide
    silences that some tags ride through."""
    n = draw(st.integers(3, 9))
    horizon = 6 * 60
    down = draw(st.lists(st.tuples(st.integers(0, horizon), st.integers(5, 120)), max_size=3))
    fixes = []
    for tag in range(n):
        own = draw(st.lists(st.tuples(st.integers(0, horizon), st.integers(1, 90)), max_size=2))
        immune = draw(st.booleans()) and draw(st.booleans())
        step = draw(st.sampled_from([1, 2, 3, 7]))
        for m in range(draw(st.integers(0, 30)), horizon, step):
            if any(a <= m < a + d for a, d in own):
                continue
            if not immune and any(a <= m < a + d for a, d in down):
                continue
            fixes.append((T0 + m * MIN + draw(st.integers(0, 59)) * 1000, tag))
    return fixes


@settings(max_examples=150, deadline=None)
@given(fixes=feeds(), seed=st.integers(0, 2**16), parts=st.integers(1, 6))
def test_outages_match_the_reference_in_any_arrival_order(fixes, seed, parts):
    if not fixes:
        return
    cfg = FeedConfig()
    rng = random.Random(seed)
    shuffled = list(fixes)
    rng.shuffle(shuffled)
    w = FeedWatch(cfg)
    size = max(1, -(-len(shuffled) // parts))
    now = None
    for i in range(0, len(shuffled), size):
        part = shuffled[i : i + size]
        ts = np.array([t for t, _ in part], np.int64)
        w.add(ts, np.array([g for _, g in part], np.int64))
        now = max(now or 0, int(ts.max()))
        w.judge(now)
    want = reference(fixes, max(t for t, _ in fixes), cfg)
    got = [(o.start, o.end, o.reporting) for o in w.outages]
    assert got == want


def test_subtract():
    assert subtract([(0, 10), (20, 30)], [(5, 22), (25, 26)]) == [(0, 5), (22, 25), (26, 30)]
    assert subtract([(0, 10)], []) == [(0, 10)]
    assert subtract([(0, 10)], [(-5, 50)]) == []


def test_feed_settings_are_the_engines():
    cfg = EngineConfig(feed=FeedConfig(min_tags=9))
    reg = fleet_registry(8, curfews=False)
    fixes = home_fixes(range(8), range(0, 8 * 60), skip=(120, 300))
    assert "feed_outage" not in kinds(run(fixes, reg, cfg))
    assert "feed_outage" in kinds(run(fixes, reg))


def test_a_horizon_moved_earlier_judges_again_the_nights_of_every_subject():
    """Everything from 23:00 first (nobody silent), then one stored fix of S-1000's tag
    from 19:00: the other two subjects' nights are judged again, and were silent (S-1000
    itself was out of contact from 19:00 to 23:00, over the two-hour limit)."""
    reg = fleet_registry(3)
    e = Engine(reg)
    e.process(batch(home_fixes(range(3), range(5 * 60, 14 * 60))))
    assert kinds(e) == []
    e.process(batch(home_fixes(range(1), range(60, 61))))
    got = sorted((c.kind, c.subject_id) for c in e.candidates())
    assert got == [
        ("curfew_no_signal", "S-1001"),
        ("curfew_no_signal", "S-1002"),
        ("no_contact", "S-1000"),
    ]


def test_an_outage_found_late_takes_back_the_silences_it_explains():
    """Four tags with a three-hour gap arrive first: too few for an outage, so each is out
    of contact; then four more with the same gap: one outage, and the four silences are
    taken back."""
    reg = fleet_registry(8)
    gap = (7 * 60, 10 * 60)
    e = Engine(reg)
    e.process(batch(home_fixes(range(4), range(0, 15 * 60), skip=gap)))
    assert kinds(e) == ["no_contact"] * 4
    e.process(batch(home_fixes(range(4, 8), range(0, 15 * 60), skip=gap)))
    assert kinds(e) == ["feed_outage"]


def test_a_late_fix_inside_an_outage_updates_who_was_silent():
    """One tag's stored fix from the middle of the outage arrives late: the outage keeps
    its extent (7 of 8 still silent in that slot) and now says 7 tags were silent."""
    reg = fleet_registry(8)
    gap = (7 * 60, 10 * 60)
    e = Engine(reg)
    e.process(batch(home_fixes(range(8), range(0, 15 * 60), skip=gap)))
    (before,) = e.candidates()
    assert before.details["tags_silent"] == 8
    e.process(batch(home_fixes(range(7, 8), range(8 * 60, 8 * 60 + 1))))
    (after,) = e.candidates()
    assert (after.id, after.opened_at, after.closed_at) == (
        before.id,
        before.opened_at,
        before.closed_at,
    )
    assert after.details["tags_silent"] == 7 and "7 of 8 reporting tags" in after.explanation
