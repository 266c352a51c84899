"""Non-association: two subjects an order says must not meet, found together."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geomonitor.engine import Engine
from geomonitor.io.replay import replay
from geomonitor.rules.association import near_pairs
from geomonitor.rules.trail import Trail
from geomonitor.store.domain import Store

from ..conftest import BASE_DOC, MINUTE, batch, deliver, fix_at, make_registry

NON_ASSOCIATION = {
    "id": "C-6",
    "type": "non_association",
    "subjects": ["S-0002"],
    "distance_m": 50,
    "min_minutes": 10,
}


def reg(cond=None, mutual=False, third=False):
    orders = [dict(BASE_DOC["orders"][0], conditions=[dict(NON_ASSOCIATION, **(cond or {}))])]
    if mutual:
        orders.append(
            dict(
                BASE_DOC["orders"][0],
                id="O-0002",
                subject="S-0002",
                conditions=[dict(NON_ASSOCIATION, id="C-7", subjects=["S-0001"])],
            )
        )
    extra = {}
    if third:  # S-0003 wears BUD-0099 and is named by nobody
        extra["subjects"] = [
            *BASE_DOC["subjects"],
            {"id": "S-0003", "district": "Leeds", "birth_date": "1991-01-01"},
        ]
        extra["fittings"] = [
            *BASE_DOC["fittings"],
            dict(BASE_DOC["fittings"][0], tag="BUD-0099", subject="S-0003"),
        ]
    return make_registry(orders=orders, **extra)


def walk(tag, minutes, dx=0.0, dy=0.0, acc=10.0, every=1.0, offset=0.3):
    """Fixes of ``tag`` at a spot for the given minutes (one every ``every`` minutes)."""
    out = []
    m = minutes[0]
    while m < minutes[1]:
        out.append(fix_at(dx, dy, m + offset, acc=acc, tag=tag))
        m += every
    return out


def matched(fixes, registry=None):
    e = Engine(registry or reg())
    e.process(batch(fixes))
    return [c for c in e.candidates() if c.kind == "non_association"]


def test_two_subjects_together_for_twenty_minutes():
    fixes = walk("BUD-0001", (0, 40)) + walk("BUD-0002", (10, 30), dx=20, offset=0.6)
    fixes += walk("BUD-0002", (30, 40), dx=3000, offset=0.6)  # then far apart
    (c,) = matched(fixes)
    assert c.subject_id == "S-0001" and c.condition_id == "C-6"
    assert c.details["other_subject_id"] == "S-0002"
    assert c.status == "closed"
    assert c.details["minutes"] == 18  # 18:11 to 18:29: the whole minutes both are placed
    assert c.details["closest_m"] == 20.0
    # Evidence: both subjects' fixes through the meeting.
    assert any(e.startswith("BUD-0001@") for e in c.evidence)
    assert any(e.startswith("BUD-0002@") for e in c.evidence)
    assert "S-0002" in c.explanation and "18 min" in c.explanation


def test_a_meeting_still_going_is_open():
    (c,) = matched(walk("BUD-0001", (0, 20)) + walk("BUD-0002", (0, 20), dx=10, offset=0.5))
    assert c.status == "open" and c.closed_at is None
    assert "still together" in c.explanation


def test_near_misses_raise_nothing():
    a = walk("BUD-0001", (0, 40))
    # Together for only 6 minutes.
    assert matched(a + walk("BUD-0002", (10, 16), dx=20)) == []
    # 150 m apart for the whole time (50 m plus 10 m and 10 m accuracy is the reach).
    assert matched(a + walk("BUD-0002", (0, 40), dx=150)) == []
    # At the same spot, but an hour apart.
    assert matched(a + walk("BUD-0002", (60, 100))) == []
    # A gap in the trail: fixes 10 minutes apart cannot place B between them.
    assert matched(a + walk("BUD-0002", (0, 40), every=10, offset=0.5)) == []
    # Cell-site fixes 800 m wide place nobody next to anybody.
    assert matched(a + walk("BUD-0002", (0, 40), acc=800)) == []


def test_accuracy_is_allowed_for():
    a = walk("BUD-0001", (0, 30), acc=20)
    assert len(matched(a + walk("BUD-0002", (0, 30), dx=85, acc=20))) == 1  # 50+20+20 = 90
    assert matched(a + walk("BUD-0002", (0, 30), dx=95, acc=20)) == []


def test_only_while_the_condition_is_in_force_and_only_named_people():
    fixes = walk("BUD-0001", (0, 30)) + walk("BUD-0002", (0, 30), dx=10)
    assert matched(fixes, reg({"starts": "2026-11-22T00:00:00Z"})) == []
    # A third subject, named by nobody, spends the evening with S-0001: nothing.
    third = walk("BUD-0001", (0, 30)) + walk("BUD-0099", (0, 30), dx=10)
    assert matched(third, reg(third=True)) == []


def test_mutual_conditions_give_one_candidate_on_each_order():
    fixes = walk("BUD-0001", (0, 30)) + walk("BUD-0002", (0, 30), dx=10)
    got = matched(fixes, reg(mutual=True))
    assert sorted((c.subject_id, c.order_id) for c in got) == [
        ("S-0001", "O-0001"),
        ("S-0002", "O-0002"),
    ]


def test_the_cell_join_finds_exactly_the_neighbouring_pairs():
    rng = np.random.default_rng(3)
    for k in range(40):
        n = int(rng.integers(1, 120))
        slot = rng.integers(0, 4, n) + 29_000_000  # minutes since 1970
        cx = rng.integers(-3, 4, n)
        cy = rng.integers(-3, 4, n)
        if k % 2:  # some points very far away (a tag abroad): keys must not overflow
            far = rng.random(n) < 0.3
            cx[far] += 10**9 * rng.choice([-1, 1], int(far.sum()))
            cy[far] -= 10**9
        i, j = near_pairs(slot, cx, cy)
        got = {(min(a, b), max(a, b)) for a, b in zip(i.tolist(), j.tolist(), strict=True)}
        assert len(got) == len(i)  # each pair once
        want = {
            (a, b)
            for a in range(n)
            for b in range(a + 1, n)
            if slot[a] == slot[b] and abs(cx[a] - cx[b]) <= 1 and abs(cy[a] - cy[b]) <= 1
        }
        assert got == want


@st.composite
def evenings(draw):
    """Two trails with stretches together and apart, gaps and noisy accuracy."""
    fixes = []
    for tag in ("BUD-0001", "BUD-0002"):
        m = draw(st.floats(0, 5))
        while m < 90:
            # A stretch: somewhere for a while, with fixes at some rate.
            dx = draw(st.sampled_from([0, 20, 40, 75, 200])) if tag == "BUD-0002" else 0
            step = draw(st.sampled_from([0.5, 1.0, 2.0, 3.5, 7.0]))
            end = m + draw(st.floats(2, 30))
            while m < min(end, 90):
                acc = draw(st.sampled_from([5.0, 15.0, 15.0, 40.0, 300.0]))
                fixes.append(fix_at(dx, 0, round(m, 2), acc=acc, tag=tag))
                m += step
    return fixes


def test_a_late_fix_in_a_gap_joins_two_meetings():
    a = walk("BUD-0001", (0, 40))
    b = walk("BUD-0002", (0, 14), dx=10) + walk("BUD-0002", (21, 40), dx=10)
    late = walk("BUD-0002", (17, 17.1), dx=10)  # the fix that fills the 8-minute gap
    want = [c.to_json() for c in matched(a + b + late)]
    assert len(want) == 1 and want[0]["details"]["minutes"] == 38  # 18:01 to 18:39
    e = Engine(reg())
    e.process(batch(a + b))
    assert len(e.candidates()) == 2  # two meetings, for now
    e.process(batch(late))
    assert [c.to_json() for c in e.candidates()] == want


@settings(max_examples=100, deadline=None)
@given(fixes=evenings(), seed=st.integers(0, 2**32 - 1))
def test_any_arrival_order_gives_the_same_candidates(fixes, seed):
    want = [c.to_json() for c in sorted(matched(fixes, reg(mutual=True)), key=lambda c: c.id)]
    rng = random.Random(seed)
    arrival = fixes + [f for f in fixes if rng.random() < 0.1]
    rng.shuffle(arrival)
    e = Engine(reg(mutual=True))
    got = [c for c in deliver(e, arrival, rng, 4) if c["kind"] == "non_association"]
    assert got == want
    assert [
        c.to_json() for c in sorted(e.candidates(), key=lambda c: c.id)
    ] == want  # the engine's own view agrees with its change stream


def test_replay_of_a_late_file_completes_the_meeting(tmp_path):
    """The second subject's fixes arrive a day late, in a second replay."""
    import json

    from geomonitor.model.times import iso

    def write(path, fixes):
        path.write_text(
            "".join(
                json.dumps(
                    {"tag_id": f.tag_id, "ts": iso(f.ts), "lat": f.lat, "lon": f.lon,
                     "accuracy_m": f.accuracy_m}
                ) + "\n"
                for f in fixes
            )
        )  # fmt: skip
        return path

    a = write(tmp_path / "a.jsonl", walk("BUD-0001", (0, 40)))
    b = write(tmp_path / "b.jsonl", walk("BUD-0002", (5, 35), dx=15))
    with Store(tmp_path / "g.db") as store:
        store.load_registry(reg())
        replay(store, a, progress=False)
        assert [c.kind for c in store.candidates()] == []
        replay(store, b, progress=False)
        (c,) = store.candidates()
        assert c.kind == "non_association" and c.details["minutes"] >= 28
        assert c.status == "open"  # B's tag has said nothing since


@pytest.mark.parametrize(
    ("minutes", "raised"), [(9, False), (10, True), (11, True)], ids=["min-1", "min", "min+1"]
)
def test_a_meeting_of_exactly_the_minimum_duration_is_a_breach(minutes, raised):
    """Together at whole minutes 18:10 to 18:10 + ``minutes``, then 3 km apart."""
    a = walk("BUD-0001", (0, 40), offset=0.0)
    b = walk("BUD-0002", (10, 11 + minutes), dx=20, offset=0.0)
    b += walk("BUD-0002", (11 + minutes, 40), dx=3000, offset=0.0)
    got = matched(a + b)
    assert len(got) == int(raised)
    if raised:
        assert got[0].details["minutes"] == minutes


@pytest.mark.parametrize(
    ("span_ms", "known"),
    [(5 * MINUTE - 1, True), (5 * MINUTE, True), (5 * MINUTE + 1, False)],
    ids=["gap-1ms", "gap", "gap+1ms"],
)
def test_positions_are_interpolated_across_gaps_up_to_five_minutes(span_ms, known):
    tr = Trail()
    tr.add(
        np.array([0, span_ms], np.int64),
        np.array([0.0, 100.0]),
        np.zeros(2),
        np.array([10.0, 20.0]),
        np.zeros(2, np.int64),
        np.zeros(2, np.int32),
    )
    ok, x, _, acc, _ = tr.at(np.array([span_ms // 2]), 5 * MINUTE)
    assert bool(ok[0]) == known
    if known:
        assert x[0] == pytest.approx(100.0 * (span_ms // 2) / span_ms) and acc[0] == 20.0


@pytest.mark.parametrize(("apart", "meetings"), [(5, 1), (6, 2)], ids=["join", "join+1"])
def test_together_instants_five_minutes_apart_are_one_meeting(apart, meetings):
    """Together 18:00-18:12, apart, together again ``apart`` minutes after 18:12."""
    a = walk("BUD-0001", (0, 60), offset=0.0)
    b = walk("BUD-0002", (0, 13), dx=20, offset=0.0)
    b += walk("BUD-0002", (13, 12 + apart), dx=3000, offset=0.0)
    b += walk("BUD-0002", (12 + apart, 60), dx=20, offset=0.0)
    assert len(matched(a + b)) == meetings
